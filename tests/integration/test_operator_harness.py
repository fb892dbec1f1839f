"""Shared fixtures for the operator's integration tests (no tests here).

The control plane has no kubelet, so the tests play it: they patch Pod status (a finished
container with its termination message, a waiting reason, a Ready condition) and let the real
Job, ReplicaSet and Deployment controllers do the rest. The operator runs as a real subprocess
(``yardarm-operator --namespace <ns>``), so restarts are real restarts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from yardarm.api.common import GROUP, VERSION
from yardarm.operator import kube

REPO = Path(__file__).resolve().parents[2]
OPERATOR = [sys.executable, "-m", "yardarm.operator.main"]
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2) -> Any:
    """Poll until ``predicate()`` is truthy; fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Operator:
    """A ``yardarm-operator`` subprocess watching one namespace."""

    def __init__(self, kubeconfig: Path, namespace: str, log_dir: Path, **env: str) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.log_path = log_dir / f"operator-{namespace}-{uuid.uuid4().hex[:6]}.log"
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "YARDARM_ARTIFACTS_CLAIM": "artifacts",
            "YARDARM_RESYNC_SECONDS": "30",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Operator:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                *OPERATOR,
                "--namespace",
                self.namespace,
                "--metrics-port",
                str(self.metrics_port),
                "--health-port",
                str(self.health_port),
                "--log-format",
                "text",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd="/",
        )
        log.close()
        wait_for("the operator's liveness endpoint", self.alive, timeout=60)
        return self

    def alive(self) -> bool:
        import urllib.request

        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"operator exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=1) as res:
                return res.status == 200
        except OSError:
            return False

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as res:
            return res.read().decode()

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@pytest.fixture(scope="module")
def cluster(yardarm_crds: Any) -> Any:
    """The control plane with Yardarm's CRDs installed and this process's API client configured."""
    kube.configure(str(yardarm_crds.kubeconfig))
    return yardarm_crds


@pytest.fixture(scope="module")
def namespace(cluster: Any) -> Iterator[str]:
    """A fresh namespace for one test module."""
    name = cluster.create_namespace("op")
    yield name
    cluster.delete_namespace(name)


@pytest.fixture(scope="module")
def operator(cluster: Any, namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    """The operator, running for the whole module."""
    op = Operator(cluster.kubeconfig, namespace, tmp_path_factory.mktemp("operator")).start()
    yield op
    release_monitors(namespace)
    op.stop()
    print(f"--- operator log ({op.log_path}) ---\n{op.log_tail(40)}")


def release_monitors(namespace: str) -> None:
    """Delete Monitors while the operator runs, so their Kopf finalizer does not pin the namespace."""
    for mon in kube.list_objects("Monitor", namespace):
        kube.delete("Monitor", namespace, mon["metadata"]["name"])
    deadline = time.monotonic() + 15
    while kube.list_objects("Monitor", namespace) and time.monotonic() < deadline:
        time.sleep(0.2)


# --- objects ------------------------------------------------------------------------------------


def create(kind: str, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return kube.create(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


def get(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    return kube.get(kind, namespace, name)


def status(kind: str, namespace: str, name: str) -> dict[str, Any]:
    obj = kube.get(kind, namespace, name)
    return (obj or {}).get("status") or {}


def cond(kind: str, namespace: str, name: str, type_: str) -> dict[str, Any]:
    return next((c for c in status(kind, namespace, name).get("conditions") or [] if c["type"] == type_), {})


def events_of(namespace: str, name: str) -> list[dict[str, Any]]:
    return [e for e in kube.list_objects("Event", namespace) if e["involvedObject"].get("name") == name]


# --- playing the kubelet ------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def job_pods(namespace: str, job: str) -> list[dict[str, Any]]:
    return kube.list_objects("Pod", namespace, labels={"batch.kubernetes.io/job-name": job})


def wait_job_pod(namespace: str, job: str) -> dict[str, Any]:
    return wait_for(f"a pod of Job {job}", lambda: job_pods(namespace, job), timeout=60)[0]


def _container_status(pod: dict[str, Any], state: dict[str, Any], ready: bool = False) -> dict[str, Any]:
    container = pod["spec"]["containers"][0]
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": "",
        "ready": ready,
        "restartCount": 0,
        "started": ready,
        "state": state,
    }


def finish_pod(namespace: str, pod: dict[str, Any], *, exit_code: int, message: str = "", reason: str = "") -> None:
    """The pod's container terminated (Succeeded on exit 0, else Failed) with a termination message."""
    terminated = {"exitCode": exit_code, "startedAt": _now(), "finishedAt": _now()}
    if message:
        terminated["message"] = message
    terminated["reason"] = reason or ("Completed" if exit_code == 0 else "Error")
    phase = "Succeeded" if exit_code == 0 else "Failed"
    kube.patch_status(
        "Pod",
        namespace,
        pod["metadata"]["name"],
        {
            "phase": phase,
            "startTime": _now(),
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": _now()}],
            "containerStatuses": [_container_status(pod, {"terminated": terminated})],
        },
    )


def wait_pod(namespace: str, pod: dict[str, Any], *, reason: str, message: str) -> None:
    """The pod's container is stuck waiting (e.g. ImagePullBackOff)."""
    kube.patch_status(
        "Pod",
        namespace,
        pod["metadata"]["name"],
        {
            "phase": "Pending",
            "containerStatuses": [_container_status(pod, {"waiting": {"reason": reason, "message": message}})],
        },
    )


def make_ready(namespace: str, pod: dict[str, Any], ready: bool = True) -> None:
    """The pod runs and its readiness probe passes (or fails)."""
    flag = "True" if ready else "False"
    kube.patch_status(
        "Pod",
        namespace,
        pod["metadata"]["name"],
        {
            "phase": "Running",
            "startTime": _now(),
            "podIP": "10.244.0.99",
            "conditions": [
                {"type": "Ready", "status": flag, "lastTransitionTime": _now()},
                {"type": "ContainersReady", "status": flag, "lastTransitionTime": _now()},
            ],
            "containerStatuses": [
                _container_status(pod, {"running": {"startedAt": _now()}}, ready=ready),
            ],
        },
    )


def serving_pods(namespace: str, md: str, revision: int | None = None) -> list[dict[str, Any]]:
    pods = kube.serving_pods(namespace, md, ready_only=False)
    pods = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    if revision is not None:
        pods = [p for p in pods if p["metadata"]["labels"].get(f"{GROUP}/revision") == str(revision)]
    return pods


def ready_all(namespace: str, md: str, revision: int, count: int = 1) -> None:
    """Make ``count`` pods of ``revision`` ready (waiting for the ReplicaSet to create them)."""
    pods = wait_for(
        f"{count} pod(s) of {md} revision {revision}",
        lambda: (lambda ps: ps if len(ps) >= count else None)(serving_pods(namespace, md, revision)),
        timeout=60,
    )
    for pod in pods:
        make_ready(namespace, pod)


def result_json(**fields: Any) -> str:
    return json.dumps(fields)
