"""Shared setup of the e2e tests: the chart installed on the node cluster, the iris data, chaos helpers.

The steps are ``hack/demo.py``'s (imported from its path), so the demo and the tests walk the same
flow. Everything runs in one namespace (``yardarm-e2e``) with one operator; each test names its
own objects. The images are built by :func:`demo.build_images` only when the sources changed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.clusters import LocalCluster

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "yardarm-e2e"
OPERATOR_SELECTOR = "app.kubernetes.io/name=yardarm,app.kubernetes.io/component=operator"


def load_hack_module(name: str) -> ModuleType:
    """Import ``hack/<name>.py`` (hack/ is not a package) under a private module name."""
    module_name = f"_yardarm_hack_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, REPO / "hack" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


demo = load_hack_module("demo")


@pytest.fixture(scope="session")
def release(node_cluster: LocalCluster) -> Iterator[Any]:
    """Images in containerd and the chart installed into a fresh ``yardarm-e2e`` namespace.

    Yields a ``demo.Cluster`` bound to that namespace. The namespace and its volume are removed at
    the end unless ``YARDARM_KEEP_CLUSTER=1`` (then they stay for a look).
    """
    if os.geteuid() != 0:
        pytest.skip("e2e tests need root (local Kubernetes node, image builds)")
    demo.build_images()
    cluster = demo.Cluster(node_cluster.kubeconfig, NAMESPACE, release=NAMESPACE)
    # A short resync keeps the waits short after the chaos tests interrupt watches.
    demo.install_chart(cluster, {"operator.resyncSeconds": "10"})
    yield cluster
    if os.environ.get("YARDARM_KEEP_CLUSTER") != "1":
        cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", "--ignore-not-found", check=False)
        cluster.kubectl("delete", "pv", f"{NAMESPACE}-artifacts", "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="session")
def iris_dataset(release: Any) -> dict[str, Any]:
    """``examples/iris/dataset.yaml`` profiled and Ready (its status)."""
    return demo.dataset(release)


@pytest.fixture(scope="session")
def logreg_run(release: Any, iris_dataset: dict[str, Any]) -> dict[str, Any]:
    """``examples/iris/trainingrun.yaml`` Succeeded (its status): the model the failure tests serve."""
    return demo.first_training(release)


@pytest.fixture(scope="session")
def iris_rows() -> list[list[float]]:
    """The 150 iris flowers, in the feature order the model takes: traffic without drift."""
    from sklearn.datasets import load_iris

    return [[float(v) for v in row] for row in load_iris().data]


def events(cluster: Any, kind: str, name: str) -> list[dict[str, Any]]:
    """Events whose involved object is ``kind/name`` in the release namespace."""
    selector = f"involvedObject.kind={kind},involvedObject.name={name}"
    out = cluster.kubectl("get", "events", "-n", cluster.namespace, "--field-selector", selector, "-o", "json")
    return json.loads(out)["items"]


def operator_pods(cluster: Any) -> list[dict[str, Any]]:
    """The operator's pods (running or terminating)."""
    out = cluster.kubectl("get", "pods", "-n", cluster.namespace, "-l", OPERATOR_SELECTOR, "-o", "json")
    return json.loads(out)["items"]


def wait_operator_ready(cluster: Any, timeout: float = 180) -> str:
    """Wait until one operator pod is Ready and no other is left; return its name."""

    def ready() -> str | None:
        pods = operator_pods(cluster)
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        if len(pods) != 1 or len(live) != 1:
            return None
        conditions = {c["type"]: c["status"] for c in live[0]["status"].get("conditions") or []}
        return live[0]["metadata"]["name"] if conditions.get("Ready") == "True" else None

    return cluster.wait("the operator pod to be Ready", ready, timeout=timeout, every=1)


def restart_apiserver(down_seconds: float = 5.0) -> float:
    """Stop kube-apiserver of the node cluster (SIGTERM via its pidfile), wait, start it again.

    ``hack/cluster.py`` has no per-component restart command; its ``Cluster`` class has the pieces
    (``stop``, ``start``, ``wait_ready``) and the component's exact command line, so a helper
    process uses them (the new API server is then not a child of pytest). Returns the wall-clock
    time at which the API server answered again.
    """
    script = (
        "import importlib.util, sys, time\n"
        f"spec = importlib.util.spec_from_file_location('cluster', {str(REPO / 'hack' / 'cluster.py')!r})\n"
        "cluster = importlib.util.module_from_spec(spec); sys.modules['cluster'] = cluster\n"
        "spec.loader.exec_module(cluster)\n"
        "node = cluster.Cluster('node')\n"
        "api = next(c for c in node.components() if c.name == 'kube-apiserver')\n"
        "node.stop('kube-apiserver')\n"
        f"time.sleep({down_seconds})\n"
        "node.start(api)\n"
        "node.wait_ready(api, timeout=120)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=240)
    return time.time()


def send_rows(cluster: Any, name: str, rows: list[list[float]], seconds: float, batch: int = 25) -> int:
    """Send ``rows`` to a ModelDeployment in batches for about ``seconds``; returns the rows answered."""
    service = demo.service_of(cluster, name)
    deadline = time.monotonic() + seconds
    answered = 0
    while time.monotonic() < deadline:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            reply = cluster.proxy(service, f"/v1/models/{name}:predict", {"instances": chunk})
            answered += len(reply["predictions"])
        time.sleep(0.5)
    return answered
