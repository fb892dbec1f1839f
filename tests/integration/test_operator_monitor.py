"""A Monitor judged by the real operator against the real API server and a real inference server.

The control plane has no kubelet, so the test plays it: a real ``yardarm-serve`` process listens on
127.0.0.1, and a Pod object labelled as a serving pod of the ModelDeployment gets
``status.podIP: 127.0.0.1`` and ``Ready``. The ModelDeployment asks for 0 replicas, so its
Deployment is complete at once and the operator's own reconciler records the revision as served
(``status.currentDigest``); the test's Pod carries no ``pod-template-hash`` and is never adopted.
The real ``yardarm-operator`` (a subprocess) scrapes that pod every 5 s: a trickle of traffic is
Inconclusive, reference-like traffic Healthy, and shifted traffic Degraded with a verdict.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from clusters import LocalCluster
from sklearn.datasets import load_iris

from yardarm.operator.names import serving_labels

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
SERVE = shutil.which("yardarm-serve") or str(BIN / "yardarm-serve")
OPERATOR = shutil.which("yardarm-operator") or str(BIN / "yardarm-operator")
FEATURES = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
MD = "iris"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _train(store: Path, name: str, params: dict[str, object]) -> tuple[Path, str]:
    from yardarm.training.train import run_training

    outcome = run_training(
        {
            "datasetRef": {"name": "iris"},
            "task": "classification",
            "estimator": {"kind": "LogisticRegression", "params": params},
        },
        {"source": {"uri": "builtin://iris"}, "target": "target"},
        store,
        name=name,
        namespace="default",
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return outcome.bundle_dir, outcome.digest


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file:// artifact store the operator (on this machine) can read."""
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def bundle(store: Path) -> tuple[Path, str]:
    """A real iris bundle from the training runtime."""
    return _train(store, "iris-monitor", {})


@pytest.fixture(scope="module")
def cluster(yardarm_crds: LocalCluster) -> LocalCluster:
    return yardarm_crds


@pytest.fixture(scope="module")
def namespace(cluster: LocalCluster) -> Iterator[str]:
    name = cluster.create_namespace("mon")
    try:
        yield name
    finally:
        cluster.delete_namespace(name)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Serve:
    """A ``yardarm-serve`` process on a free loopback port."""

    def __init__(self, directory: Path, digest: str, log: Path, revision: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [SERVE, "--bundle", str(directory), "--digest", digest, "--model-name", MD, "--revision", str(revision)]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--threads", "1", "--access-log-sample", "0"]
        with log.open("wb") as out:
            self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                _stop(self.process)
                raise AssertionError(log.read_text())
            time.sleep(0.1)

    def stop(self) -> None:
        _stop(self.process)


@pytest.fixture(scope="module")
def server(bundle: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``yardarm-serve`` of :func:`bundle`; yields its base URL."""
    serve = Serve(*bundle, tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        yield serve.url
    finally:
        serve.stop()


@pytest.fixture(scope="module")
def operator(cluster: LocalCluster, namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The real operator, watching the test namespace; yields its log file."""
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    cmd = [OPERATOR, "--namespace", namespace, "--kubeconfig", str(cluster.kubeconfig)]
    cmd += ["--metrics-port", "0", "--health-port", "0", "--log-format", "text"]
    # KUBECONFIG too: Kopf's own login reads the environment, not --kubeconfig.
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        time.sleep(1)
        assert process.poll() is None, log.read_text()
        yield log
    finally:
        _stop(process)


class Traffic:
    """Background single-row V2 requests on loopback: bounded in rate, count and time."""

    def __init__(self, url: str, *, rate: float = 40.0, max_seconds: float = 240.0, max_requests: int = 20000) -> None:
        self.url, self.rate, self.max_seconds, self.max_requests = url, rate, max_seconds, max_requests
        self.shift = 0.0
        self.paused = True
        self.sent = 0
        self._stop = threading.Event()
        self._rows = load_iris().data.tolist()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _body(self, i: int) -> dict[str, Any]:
        a, b, c, d = self._rows[i % len(self._rows)]
        row = [a, b, c + self.shift, d + self.shift / 2]
        return {
            "inputs": [
                {"name": n, "shape": [1, 1], "datatype": "FP32", "data": [v]}
                for n, v in zip(FEATURES, row, strict=True)
            ]
        }

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(base_url=self.url, timeout=5) as client:
            i = 0
            while not self._stop.is_set() and time.monotonic() < deadline and self.sent < self.max_requests:
                if self.paused:
                    self._stop.wait(0.05)
                    continue
                client.post(f"/v2/models/{MD}/infer", json=self._body(i))
                self.sent += 1
                i += 1
                self._stop.wait(1.0 / self.rate)

    def trickle(self, n: int) -> None:
        """A handful of requests, in the foreground."""
        with httpx.Client(base_url=self.url, timeout=5) as client:
            for i in range(n):
                assert client.post(f"/v2/models/{MD}/infer", json=self._body(i)).status_code == 200


def _status(cluster: LocalCluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    return cluster.get_json(kind, name, "-n", namespace).get("status") or {}


def _ready_pod(
    cluster: LocalCluster, namespace: str, digest: str, port: int, *, revision: int = 1, md: str = MD
) -> None:
    """Create a serving Pod object and mark it Running/Ready on 127.0.0.1, as a kubelet would."""
    name = f"{md}-serving-test-{revision}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": serving_labels(md, revision, digest)},
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "serving",
                    "image": "yardarm/serving:dev",
                    "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
                }
            ],
        },
    }
    cluster.wait_for("the default ServiceAccount", lambda: cluster.apply(pod, check=False).returncode == 0, timeout=60)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {
        "status": {
            "phase": "Running",
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
        }
    }
    cluster.kubectl(
        "patch", "pod", name, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )


def test_monitor_goes_inconclusive_healthy_then_degraded_with_a_verdict(
    cluster: LocalCluster,
    namespace: str,
    bundle: tuple[Path, str],
    server: str,
    operator: Path,
) -> None:
    directory, digest = bundle
    cluster.apply(
        {
            "apiVersion": "mlops.yardarm.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": MD, "namespace": namespace},
            "spec": {"model": {"uri": f"file://{directory}", "digest": digest}, "replicas": 0},
        }
    )

    def served() -> bool:
        return _status(cluster, namespace, "modeldeployment", MD).get("currentDigest") == digest

    try:
        cluster.wait_for("the ModelDeployment to serve the bundle", served, timeout=90)
    except AssertionError:
        raise AssertionError(operator.read_text()[-4000:]) from None
    _ready_pod(cluster, namespace, digest, int(server.rsplit(":", 1)[1]))
    cluster.apply(
        {
            "apiVersion": "mlops.yardarm.dev/v1alpha1",
            "kind": "Monitor",
            "metadata": {"name": "iris-drift", "namespace": namespace},
            "spec": {
                "targetRef": {"name": MD},
                "interval": "5s",
                "window": "10s",
                "minSamples": 100,
                "failureThreshold": 2,
                "action": "alert",
                "checks": [
                    # iris has 150 reference rows: PSI 0.5 is significant from ~85 rows a window
                    {"name": "drift", "type": "featureDrift", "threshold": 0.5},
                    {"name": "errors", "type": "errorRate", "threshold": 0.01},
                ],
            },
        }
    )

    def monitor() -> dict[str, Any]:
        return _status(cluster, namespace, "monitor", "iris-drift")

    def phase_after(phase: str, since: float) -> dict[str, Any] | None:
        status = monitor()
        when = status.get("lastEvaluationTime")
        if status.get("phase") == phase and when and datetime.fromisoformat(when).timestamp() >= since:
            return status
        return None

    with Traffic(server) as traffic:
        try:
            # 1. A trickle: too few samples in any window, so Inconclusive (never a failure).
            traffic.trickle(5)
            inconclusive = cluster.wait_for("Inconclusive", lambda: phase_after("Inconclusive", 0), timeout=60)
            assert {c["result"] for c in inconclusive["checks"]} == {"Inconclusive"}
            assert not inconclusive["verdict"]["degraded"]

            # 2. Reference-like traffic: Healthy once a window holds enough of it.
            traffic.paused = False
            since = time.time() + 5
            healthy = cluster.wait_for("Healthy", lambda: phase_after("Healthy", since), timeout=60)
            assert {c["name"]: c["result"] for c in healthy["checks"]} == {"drift": "Pass", "errors": "Pass"}
            assert healthy["consecutiveFailures"] == 0
            assert healthy["samples"] >= 100

            # 3. Shifted traffic: featureDrift fails, twice in a row makes the verdict.
            traffic.shift = 4.0
            degraded = cluster.wait_for("Degraded", lambda: phase_after("Degraded", 0), timeout=90)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{monitor()}\n--- operator log ---\n{operator.read_text()[-4000:]}") from None

    verdict = degraded["verdict"]
    assert verdict["degraded"] is True
    assert (verdict["revision"], verdict["digest"]) == (1, digest)
    assert "drift" in verdict["reason"]
    assert "petal_length_cm" in verdict["reason"]
    assert degraded["consecutiveFailures"] >= 2
    assert degraded["lastAction"]["type"] == "alert"
    conditions = {c["type"]: c for c in degraded["conditions"]}
    assert conditions["Stalled"]["status"] == "True"
    assert conditions["Stalled"]["reason"] == "Degraded"
    assert conditions["Ready"]["status"] == "False"

    events = cluster.get_json("events", "-n", namespace)["items"]
    reasons = {(e["involvedObject"]["name"], e["reason"], e["type"]) for e in events}
    assert ("iris-drift", "Degraded", "Warning") in reasons
    assert traffic.sent < 20000


def test_a_monitor_of_a_missing_modeldeployment_says_so(cluster: LocalCluster, namespace: str, operator: Path) -> None:
    cluster.apply(
        {
            "apiVersion": "mlops.yardarm.dev/v1alpha1",
            "kind": "Monitor",
            "metadata": {"name": "orphan", "namespace": namespace},
            "spec": {
                "targetRef": {"name": "nope"},
                "interval": "5s",
                "checks": [{"name": "e", "type": "errorRate", "threshold": 0.1}],
            },
        }
    )

    def stalled() -> dict[str, Any] | None:
        status = _status(cluster, namespace, "monitor", "orphan")
        conditions = {c["type"]: c for c in status.get("conditions") or []}
        return status if conditions.get("Stalled", {}).get("reason") == "TargetNotFound" else None

    status = cluster.wait_for("Stalled TargetNotFound", stalled, timeout=60)
    assert "ModelDeployment nope does not exist" in status["message"]


def test_a_degraded_verdict_makes_the_operator_roll_back_and_the_monitor_judges_the_old_revision_afresh(
    cluster: LocalCluster,
    namespace: str,
    store: Path,
    bundle: tuple[Path, str],
    operator: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Revision 1 (bundle A) → revision 2 (bundle B) → B drifts → Degraded → back to A, verdict reset."""
    md = "iris-rb"
    good_dir, good = bundle
    bad_dir, bad = _train(store, "iris-monitor-b", {"C": 0.5})
    assert good != bad
    logs = tmp_path_factory.mktemp("serve-rb")
    serve_a = Serve(good_dir, good, logs / "a.log", revision=1)
    serve_b = Serve(bad_dir, bad, logs / "b.log", revision=2)

    def model_deployment(directory: Path, digest: str) -> dict[str, Any]:
        return {
            "apiVersion": "mlops.yardarm.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": md, "namespace": namespace},
            "spec": {"model": {"uri": f"file://{directory}", "digest": digest}, "replicas": 0},
        }

    def serving(digest: str) -> Any:
        return lambda: _status(cluster, namespace, "modeldeployment", md).get("currentDigest") == digest

    def monitor() -> dict[str, Any]:
        return _status(cluster, namespace, "monitor", "iris-rb-drift")

    try:
        cluster.apply(model_deployment(good_dir, good))
        cluster.wait_for("revision 1 serving", serving(good), timeout=90)
        _ready_pod(cluster, namespace, good, serve_a.port, revision=1, md=md)
        cluster.apply(model_deployment(bad_dir, bad))
        cluster.wait_for("revision 2 serving", serving(bad), timeout=90)
        revision = _status(cluster, namespace, "modeldeployment", md)["currentRevision"]
        _ready_pod(cluster, namespace, bad, serve_b.port, revision=revision, md=md)
        cluster.apply(
            {
                "apiVersion": "mlops.yardarm.dev/v1alpha1",
                "kind": "Monitor",
                "metadata": {"name": "iris-rb-drift", "namespace": namespace},
                "spec": {
                    "targetRef": {"name": md},
                    "interval": "5s",
                    "window": "10s",
                    "minSamples": 100,
                    "failureThreshold": 2,
                    "action": "rollback",
                    # iris' 150 reference rows: PSI 0.5 is significant from ~85 rows, 0.25 needs 318.
                    "checks": [{"name": "drift", "type": "featureDrift", "threshold": 0.5}],
                },
            }
        )
        with Traffic(serve_b.url) as to_b, Traffic(serve_a.url) as to_a:
            to_b.shift, to_b.paused = 4.0, False  # the new model gets drifted inputs...
            to_a.paused = False  # ...while the old one (no longer judged) sees normal ones
            cluster.wait_for("the rollback to bundle A", serving(good), timeout=120)
            status = _status(cluster, namespace, "modeldeployment", md)
            rolled = [h for h in status["history"] if h["modelDigest"] == bad]
            assert rolled[-1]["outcome"] == "RolledBack", status["history"]
            # The Monitor now judges what is served: a fresh verdict, from the old model's pods only.
            fresh = cluster.wait_for(
                "a Healthy verdict on bundle A",
                lambda: (m := monitor()).get("phase") == "Healthy" and m["verdict"]["digest"] == good and m,
                timeout=90,
            )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{monitor()}\n--- operator log ---\n{operator.read_text()[-4000:]}") from None
    finally:
        serve_a.stop()
        serve_b.stop()
    assert fresh["verdict"]["degraded"] is False
    assert fresh["lastAction"]["type"] == "rollback"
    assert fresh["lastAction"]["digest"] == bad
    events = cluster.get_json("events", "-n", namespace)["items"]
    assert any(e["involvedObject"]["name"] == "iris-rb-drift" and e["reason"] == "Degraded" for e in events)
