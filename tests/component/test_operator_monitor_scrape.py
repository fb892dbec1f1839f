"""The Monitor's scraper and evaluation against a real ``yardarm-serve`` over real HTTP.

One iris server (a real bundle from the training runtime) on a free loopback port: reference-like
traffic passes, shifted traffic fails featureDrift, a trickle is Inconclusive, and a restarted
server's reset counters are measured from zero rather than as a negative increase.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_iris

from yardarm.api.monitor import MonitorSpec
from yardarm.bundle import read_bundle
from yardarm.operator.evaluate import Outcome, Served, Snapshot, evaluate
from yardarm.operator.scrape import Target, parse_exposition, scrape_pods, scrape_prometheus

SERVE = shutil.which("yardarm-serve") or str(Path(__file__).resolve().parents[2] / ".venv/bin/yardarm-serve")
NOW = datetime(2026, 3, 1, tzinfo=UTC)
SPEC = MonitorSpec.model_validate(
    {
        "targetRef": {"name": "iris"},
        "minSamples": 100,
        "failureThreshold": 2,
        "checks": [
            # iris: 150 reference rows, so only a PSI of about 0.2 or more can ever be significant
            {"name": "drift", "type": "featureDrift", "threshold": 0.5},
            {"name": "errors", "type": "errorRate", "threshold": 0.01},
            {"name": "p99", "type": "latency", "threshold": 1.0},
            {"name": "predictions", "type": "predictionDrift", "threshold": 0.5, "method": "ks"},
        ],
    }
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Serve:
    """A ``yardarm-serve`` process on 127.0.0.1 that can be restarted on the same port."""

    def __init__(self, bundle: Path, digest: str, log: Path) -> None:
        self.bundle, self.digest, self.log_path = bundle, digest, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [SERVE, "--bundle", str(self.bundle), "--digest", self.digest, "--model-name", "iris"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--threads", "1", "--access-log-sample", "0"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"yardarm-serve not ready in 60 s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None


@pytest.fixture(scope="module")
def server(iris_bundle: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    directory, digest = iris_bundle[0], iris_bundle[1]
    serve = Serve(directory, digest, tmp_path_factory.mktemp("serve") / "serve.log")
    serve.start()
    try:
        yield serve
    finally:
        serve.stop()


def rows(shift: float = 0.0) -> list[list[float]]:
    """The 150 iris rows; ``shift`` moves the petal measurements far from the training data."""
    data = load_iris().data
    return [[a, b, c + shift, d + shift / 2] for a, b, c, d in data.tolist()]


def send(serve: Serve, data: list[list[float]]) -> None:
    """One single-row V2 request per row (bounded: at most a few hundred, loopback only)."""
    names = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
    with httpx.Client(base_url=serve.url, timeout=10) as client:
        for row in data[:400]:
            body = {
                "inputs": [
                    {"name": n, "shape": [1, 1], "datatype": "FP32", "data": [v]}
                    for n, v in zip(names, row, strict=True)
                ]
            }
            response = client.post("/v2/models/iris/infer", json=body)
            assert response.status_code == 200, response.text


def scrape(serve: Serve) -> Snapshot:
    return asyncio.run(scrape_pods([Target("iris-0", f"{serve.url}/metrics")], timeout=5))


def judge(before: Snapshot, after: Snapshot, digest: str, profile: Any, previous: Any = None) -> Outcome:
    return evaluate(SPEC, previous, before, after, profile, Served(1, digest), generation=1, now=NOW)


def results(outcome: Outcome) -> dict[str, str]:
    return {c.name: c.result for c in outcome.status.checks or []}


def test_scraped_counters_identify_the_model_and_count_every_row(server: Serve) -> None:
    before = scrape(server)
    send(server, rows()[:30])
    after = scrape(server)
    pod = after.pods["iris-0"]
    assert pod.digest == server.digest
    assert pod.start_time is not None
    assert pod.feature_reference["petal_length_cm"].categorical is False
    assert pod.prediction_reference is not None
    assert pod.prediction_reference.categorical
    # The reference sizes the two-sample tests need: every iris row, and the 30 test predictions.
    assert {r.rows for r in pod.feature_reference.values()} == {150}
    assert pod.prediction_reference.rows == 30
    grew = {k: v - before.pods["iris-0"].counters.get(k, 0) for k, v in pod.counters.items()}
    assert grew[("requests", "infer", "200")] == 30
    assert grew[("rows",)] == 30
    assert sum(v for k, v in grew.items() if k[:2] == ("feature", "petal_length_cm")) == 30
    assert sum(v for k, v in grew.items() if k[0] == "prediction") == 30


def test_a_scrape_of_a_dead_port_is_an_error_not_an_exception() -> None:
    snapshot = asyncio.run(scrape_pods([Target("gone", f"http://127.0.0.1:{free_port()}/metrics")], timeout=1))
    assert snapshot.pods == {}
    assert "gone" in snapshot.errors


def test_evaluation_goes_from_pass_to_fail_on_shifted_traffic_and_inconclusive_on_a_trickle(
    server: Serve, iris_bundle: Any
) -> None:
    manifest, _ = read_bundle(iris_bundle[0], server.digest)
    profile = manifest.profile

    start = scrape(server)
    send(server, rows())
    normal = scrape(server)
    first = judge(start, normal, server.digest, profile)
    assert results(first) == {"drift": "Pass", "errors": "Pass", "p99": "Pass", "predictions": "Pass"}
    assert first.status.phase == "Healthy"
    assert first.status.samples == 150

    send(server, rows(shift=4.0))
    shifted = scrape(server)
    second = judge(normal, shifted, server.digest, profile, first.status)
    assert results(second)["drift"] == "Fail"
    drift = next(c for c in second.status.checks or [] if c.name == "drift")
    assert "petal_length_cm" in (drift.message or "")
    assert second.status.consecutive_failures == 1
    assert second.status.phase == "Failing"  # one failing evaluation is not yet a verdict

    send(server, rows(shift=4.0))
    again = scrape(server)
    third = judge(shifted, again, server.digest, profile, second.status)
    assert third.status.phase == "Degraded"
    assert third.newly_degraded
    assert third.status.verdict is not None
    assert third.status.verdict.digest == server.digest
    assert "drift" in (third.status.verdict.reason or "")

    send(server, rows()[:20])
    trickle = scrape(server)
    fourth = judge(again, trickle, server.digest, profile)
    assert set(results(fourth).values()) == {"Inconclusive"}
    assert fourth.status.phase == "Inconclusive"
    assert fourth.status.consecutive_failures == 0


def test_a_restarted_server_is_measured_from_zero(server: Serve) -> None:
    send(server, rows()[:50])
    before = scrape(server)
    server.stop()
    server.start()
    send(server, rows()[:120])
    after = scrape(server)
    outcome = judge(before, after, server.digest, None)
    assert outcome.status.samples == 120
    assert "counters reset in iris-0" in (outcome.status.message or "")
    assert results(outcome)["drift"] in ("Pass", "Fail")  # measured, from the pods' own reference gauges


def test_the_parser_reads_the_servers_own_exposition(server: Serve) -> None:
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    pod = parse_exposition(text)
    assert pod.digest == server.digest
    assert any(k[0] == "latency" for k in pod.counters)


class FakePrometheus(ThreadingHTTPServer):
    """Answers ``/api/v1/query`` with the real server's current samples, labelled as Kubernetes SD would."""

    def __init__(self, serve: Serve) -> None:
        self.serve = serve
        self.queries: list[dict[str, list[str]]] = []
        super().__init__(("127.0.0.1", 0), _PrometheusHandler)


class _PrometheusHandler(BaseHTTPRequestHandler):
    server: FakePrometheus

    def do_POST(self) -> None:
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.server.queries.append(form)
        text = httpx.get(f"{self.server.serve.url}/metrics", timeout=5).text
        result = [
            {"metric": {"__name__": s.name, **s.labels, "namespace": "ns", "pod": "iris-0"}, "value": [0, str(s.value)]}
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


def test_reading_through_prometheus_gives_the_same_counters_as_scraping(server: Serve) -> None:
    send(server, rows()[:10])
    prometheus = FakePrometheus(server)
    thread = threading.Thread(target=prometheus.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{prometheus.server_address[1]}"
        via_prometheus = asyncio.run(scrape_prometheus(url, "ns", ["iris-0"], timeout=5))
        direct = scrape(server)
    finally:
        prometheus.shutdown()
        prometheus.server_close()
        thread.join(timeout=5)
    (query,) = prometheus.queries
    assert 'pod=~"iris-0"' in query["query"][0]
    got, want = via_prometheus.pods["iris-0"], direct.pods["iris-0"]
    assert got.digest == want.digest == server.digest
    # The direct scrape came second and counts one more /metrics request; everything else is equal.
    differing = {k for k in want.counters if got.counters.get(k) != want.counters[k]}
    assert differing <= {("requests", "metrics", "200"), *[k for k in want.counters if k[:2] == ("latency", "metrics")]}


def test_accuracy_from_real_feedback_passes_then_fails_when_labels_disagree(server: Serve) -> None:
    spec = MonitorSpec.model_validate(
        {
            "targetRef": {"name": "iris"},
            "minSamples": 100,
            "checks": [{"name": "acc", "type": "accuracy", "threshold": 0.9}],
        }
    )
    iris = load_iris()
    names = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]

    def predict_and_label(wrong: bool) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for i, (row, target) in enumerate(zip(iris.data.tolist()[:120], iris.target.tolist()[:120], strict=True)):
                inputs = [
                    {"name": n, "shape": [1, 1], "datatype": "FP32", "data": [v]}
                    for n, v in zip(names, row, strict=True)
                ]
                request_id = f"{'w' if wrong else 'r'}-{i}"
                reply = client.post("/v2/models/iris/infer", json={"id": request_id, "inputs": inputs})
                assert reply.status_code == 200, reply.text
                feedback_id = reply.json()["parameters"]["feedback_id"]
                label = str(iris.target_names[(target + 1) % 3 if wrong else target])
                answer = client.post("/v2/models/iris/feedback", json={"id": feedback_id, "label": label})
                assert answer.status_code == 200, answer.text

    def accuracy(before: Snapshot, after: Snapshot) -> Any:
        outcome = evaluate(spec, None, before, after, None, Served(1, server.digest), generation=1, now=NOW)
        return outcome.status.checks[0]

    start = scrape(server)
    predict_and_label(wrong=False)
    right = scrape(server)
    good = accuracy(start, right)
    assert (good.result, good.samples) == ("Pass", 120)
    assert good.value > 0.9
    predict_and_label(wrong=True)
    bad = accuracy(right, scrape(server))
    assert (bad.result, bad.samples) == ("Fail", 120)
    assert bad.value < 0.1
