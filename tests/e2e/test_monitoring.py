"""The Monitor on a real node: healthy traffic is never judged degraded, a mild shift is caught, and
accuracy from feedback works behind a plain Service at three replicas.

The Monitor is ``examples/iris/monitor.yaml`` as shipped (its interval, window, ``minSamples``,
thresholds and the default ``falseAlarmRate``), pointed at a three-replica ModelDeployment, with an
accuracy check added and ``action: alert`` so the verdict is read rather than acted on. Traffic is
drawn from the training distribution (a seeded bootstrap of the 150 iris rows) at a rate that puts
windows near ``minSamples``, where the old PSI-only Monitor cried wolf most.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
import yaml
from sklearn.datasets import load_iris

from tests.e2e.conftest import REPO, demo
from yardarm.operator.names import selector_string, serving_selector

pytestmark = pytest.mark.timeout(1500)

MD = "iris-three"
MONITOR = "iris-three-health"
REPLICAS = 3
#: Evaluations of healthy traffic the Monitor must pass through without a Degraded verdict.
HEALTHY_ROUNDS = 20
#: Two rows a request with ground truth for both, from four senders at once (each call goes through
#: the API server's proxy, about a third of a second; two senders gave 97 requests a minute):
#: 1-minute windows of roughly 190 requests and 380 rows, within 2x of minSamples (100).
ROWS_PER_REQUEST = 2
SENDERS = 4


def _post(cluster: Any, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST JSON through the Service proxy; (status code, JSON body) for 2xx and 4xx alike."""
    service = demo.service_of(cluster, MD)
    url = f"{cluster.server}/api/v1/namespaces/{cluster.namespace}/services/{service}:http/proxy/{path.lstrip('/')}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=cluster.ssl_context(), timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _pod_metrics(cluster: Any, pod: dict[str, Any]) -> str:
    """One serving pod's /metrics page, read through the API server's pod proxy."""
    port = pod["spec"]["containers"][0]["ports"][0]["containerPort"]
    name = pod["metadata"]["name"]
    url = f"{cluster.server}/api/v1/namespaces/{cluster.namespace}/pods/{name}:{port}/proxy/metrics"
    with urllib.request.urlopen(url, context=cluster.ssl_context(), timeout=30) as response:
        return str(response.read().decode())


def _feedback_scored(page: str) -> float:
    """Feedback items a pod scored (``yardarm_feedback_total`` over every outcome)."""
    return sum(float(m.group(1)) for m in re.finditer(r"^yardarm_feedback_total\{[^}]*\} (\S+)$", page, re.M))


class Traffic:
    """Bootstrap iris rows (optionally shifted) to the ModelDeployment, with ground truth as feedback."""

    def __init__(self, cluster: Any, seed: int) -> None:
        iris = load_iris()
        self.cluster = cluster
        self.rows = [[float(v) for v in row] for row in iris.data]
        self.labels = [str(iris.target_names[t]) for t in iris.target]
        self.sd = [float(s) for s in iris.data.std(axis=0)]
        self.random = random.Random(seed)
        self.feedback_codes: dict[int, int] = {}
        self.feedback_sent = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    @contextmanager
    def flowing(self, shift_sd: float = 0.0, feedback: bool = True) -> Iterator[None]:
        """SENDERS threads sending requests back to back until the block ends; their errors re-raised."""

        def loop() -> None:
            while not self.stop.is_set():
                try:
                    self.send(shift_sd, feedback)
                except BaseException as error:  # re-raised in the test's thread by check()
                    self.errors.append(error)
                    return

        self.stop.clear()
        threads = [threading.Thread(target=loop, daemon=True) for _ in range(SENDERS)]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=60)
        self.check()

    def check(self) -> None:
        if self.errors:
            raise self.errors[0]

    def send(self, shift_sd: float = 0.0, feedback: bool = True) -> None:
        """One request of ROWS_PER_REQUEST rows; the first three features moved by ``shift_sd`` SDs."""
        with self.lock:
            picks = [self.random.randrange(len(self.rows)) for _ in range(ROWS_PER_REQUEST)]
        rows = [[v + shift_sd * self.sd[i] * (i < 3) for i, v in enumerate(self.rows[p])] for p in picks]
        code, reply = _post(self.cluster, f"/v1/models/{MD}:predict", {"instances": rows})
        assert code == 200, reply
        if not feedback:
            return
        for row, pick in enumerate(picks):
            code, answer = _post(
                self.cluster,
                f"/v2/models/{MD}/feedback",
                {"id": f"{reply['feedback_id']}:{row}", "label": self.labels[pick]},
            )
            with self.lock:
                self.feedback_codes[code] = self.feedback_codes.get(code, 0) + 1
                self.feedback_sent += 1
            assert code == 200, (code, answer)


@pytest.fixture(scope="module")
def watched(release: Any, logreg_run: dict[str, Any]) -> Iterator[Any]:
    """A three-replica ModelDeployment of the iris model and the shipped iris Monitor on it."""
    release.apply(
        {
            "apiVersion": "mlops.yardarm.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": MD},
            "spec": {
                "model": {"trainingRunRef": {"name": "iris-logreg-1"}},
                "replicas": REPLICAS,
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
            },
        }
    )
    demo.serving(release, MD, logreg_run["model"]["digest"])

    def all_ready() -> bool:
        deployment = release.get("deployment", demo.service_of(release, MD))
        return int(deployment.get("status", {}).get("readyReplicas") or 0) == REPLICAS

    release.wait(f"{REPLICAS} ready serving pods", all_ready, timeout=300, every=2)

    monitor = yaml.safe_load((REPO / "examples" / "iris" / "monitor.yaml").read_text())
    monitor["metadata"] = {"name": MONITOR}
    monitor["spec"]["targetRef"] = {"name": MD}
    monitor["spec"]["action"] = "alert"
    monitor["spec"]["checks"].append({"name": "accuracy", "type": "accuracy", "threshold": 0.9})
    release.apply(monitor)
    yield release
    release.kubectl("delete", "monitor", MONITOR, "-n", release.namespace, "--ignore-not-found", check=False)
    release.kubectl("delete", "modeldeployment", MD, "-n", release.namespace, "--ignore-not-found", check=False)


def _evaluated_at(status: dict[str, Any]) -> datetime | None:
    stamp = status.get("lastEvaluationTime")
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def test_healthy_traffic_near_min_samples_is_never_judged_degraded(watched: Any) -> None:
    traffic = Traffic(watched, seed=20261205)
    rounds: list[dict[str, Any]] = []
    seen: set[datetime] = set()
    deadline = time.monotonic() + 900
    # Judged rounds start once a window holds minSamples rows; before that the Monitor is Pending
    # or Inconclusive by design, and those rounds are not counted.
    with traffic.flowing():
        while len(rounds) < HEALTHY_ROUNDS:
            assert time.monotonic() < deadline, f"only {len(rounds)} judged rounds in 900 s: {rounds[-3:]}"
            traffic.check()
            time.sleep(5)  # three looks an interval
            status = watched.status("monitor", MONITOR)
            stamp = _evaluated_at(status)
            if stamp is not None and stamp not in seen:
                seen.add(stamp)
                checks = status.get("checks") or []
                text = " ".join([status.get("message") or ""] + [c.get("message") or "" for c in checks])
                assert "scrape" not in text, status  # whole metric pages from every pod, every round
                assert not (status.get("verdict") or {}).get("degraded"), status
                assert status.get("phase") != "Degraded", status
                drift = next((c for c in checks if c["name"] == "input-drift"), {})
                if drift.get("result") in ("Pass", "Fail"):
                    rounds.append(status)

    # The rounds were real judgements (the drift test ran on a full window), and the failure count a
    # phase shows never contradicts it (Healthy means no failure in a row).
    phases = [r["phase"] for r in rounds]
    assert phases.count("Healthy") >= HEALTHY_ROUNDS // 2, phases
    for status in rounds:
        if status["phase"] == "Healthy":
            assert not status.get("consecutiveFailures"), status
    accuracy = [c for r in rounds for c in r.get("checks") or [] if c["name"] == "accuracy" and c["samples"]]
    assert accuracy and all(c["result"] in ("Pass", "Inconclusive") for c in accuracy), accuracy
    assert any(c["result"] == "Pass" for c in accuracy), accuracy

    # Feedback through a plain Service reached whichever pod it landed on, and every pod scored it.
    assert traffic.feedback_codes == {200: traffic.feedback_sent}
    pods = json.loads(
        watched.kubectl(
            "get", "pods", "-n", watched.namespace, "-l", selector_string(serving_selector(MD)), "-o", "json"
        )
    )["items"]
    scored = [_feedback_scored(_pod_metrics(watched, pod)) for pod in pods if pod["status"].get("phase") == "Running"]
    assert len(scored) == REPLICAS, scored
    assert sum(scored) == traffic.feedback_sent, (scored, traffic.feedback_sent)
    assert sum(1 for s in scored if s > 0) >= 2, scored


def test_a_mild_shift_of_three_features_is_caught(watched: Any) -> None:
    """Three of iris' four features moved by one standard deviation: Degraded, naming the drift check."""
    traffic = Traffic(watched, seed=7)
    deadline = time.monotonic() + 600
    while True:
        status = watched.status("monitor", MONITOR)
        verdict = status.get("verdict") or {}
        if verdict.get("degraded"):
            break
        assert time.monotonic() < deadline, f"no Degraded verdict within 600 s: {status}"
        with traffic.flowing(shift_sd=1.0, feedback=False):
            time.sleep(5)
    assert status["phase"] == "Degraded", status
    assert "input-drift" in (verdict.get("reason") or ""), verdict
    drift = next(c for c in status["checks"] if c["name"] == "input-drift")
    assert drift["result"] == "Fail" and drift["pValue"] < 0.01, drift
