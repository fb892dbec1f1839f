"""gRPC on a real node: a ModelDeployment with ``spec.serving.grpc.enabled`` answers a stock gRPC
client through its Service's ``grpc`` port, and turning it off takes the port away again."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from tests.e2e.conftest import demo

pytestmark = pytest.mark.timeout(1800)

NAME = "grpc-iris"


def _manifest(enabled: bool) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.yardarm.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": NAME},
        "spec": {"model": {"trainingRunRef": {"name": "iris-logreg-1"}}, "serving": {"grpc": {"enabled": enabled}}},
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _service_ports(release: Any) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in release.get("service", f"{NAME}-serving")["spec"]["ports"]}


def _infer_through_port_forward(release: Any) -> list[str]:
    """``kubectl port-forward svc/<name>-serving <local>:grpc`` and a tritonclient inference through it."""
    port = _free_port()
    forward = subprocess.Popen(
        [
            release.kubectl_bin,
            f"--kubeconfig={release.kubeconfig}",
            "-n",
            release.namespace,
            "port-forward",
            f"svc/{NAME}-serving",
            f"{port}:grpc",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()  # "Forwarding from 127.0.0.1:<port> -> 8081" once listening
        assert "Forwarding from" in line and "8081" in line, line
        client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{port}")
        try:
            deadline = time.monotonic() + 30
            while not client.is_model_ready(NAME) and time.monotonic() < deadline:
                time.sleep(1)
            meta = client.get_model_metadata(NAME, as_json=True)
            assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": ["-1", "4"]}]
            rows = np.asarray(demo.NORMAL_ROWS, dtype=np.float32)
            features = grpcclient.InferInput("input", list(rows.shape), "FP32")
            features.set_data_from_numpy(rows)
            result = client.infer(NAME, [features])
        finally:
            client.close()
        return [v.decode() for v in result.as_numpy("label").tolist()]
    finally:
        forward.terminate()
        forward.wait(timeout=10)
        if forward.stdout is not None:
            forward.stdout.close()


def test_grpc_is_served_through_the_service_when_enabled_and_removed_when_disabled(
    release: Any, logreg_run: dict[str, Any]
) -> None:
    digest = logreg_run["model"]["digest"]
    release.apply(_manifest(True))
    try:
        status = demo.serving(release, NAME, digest, timeout=300)
        assert status["grpcAddress"] == f"{NAME}-serving.{release.namespace}.svc:8081"
        grpc_port = _service_ports(release)["grpc"]
        assert (grpc_port["port"], grpc_port["targetPort"], grpc_port["appProtocol"]) == (
            8081,
            "grpc",
            "kubernetes.io/h2c",
        )
        assert _infer_through_port_forward(release) == [str(c) for c in demo.EXPECTED_CLASSES]
        # REST keeps working next to it, on the same pods.
        assert [str(v) for v in demo.labels_of(demo.predict_rows(release, demo.NORMAL_ROWS, NAME))] == [
            str(c) for c in demo.EXPECTED_CLASSES
        ]

        release.apply(_manifest(False))
        release.wait(
            "the grpc Service port and status.grpcAddress to go away",
            lambda: (
                "grpc" not in _service_ports(release) and "grpcAddress" not in release.status("modeldeployment", NAME)
            ),
            timeout=120,
            every=2,
        )
        assert list(_service_ports(release)) == ["http"]
    finally:
        release.kubectl("delete", "modeldeployment", NAME, "-n", release.namespace, "--wait=false", check=False)
