"""The Monitor handler's rounds with a fake API and a fake scraper: status writes, events, windows."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from yardarm.bundle import CategoricalBins, FeatureProfile, NumericBins, ReferenceProfile, sha256_bytes
from yardarm.operator import kube, monitoring
from yardarm.operator.evaluate import PodMetrics, Reference, Snapshot
from yardarm.operator.monitoring import MonitorEvaluator, merge_patch
from yardarm.operator.scrape import Target

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PROFILE = ReferenceProfile(
    rows=100,
    features=[FeatureProfile(name="x", bins=NumericBins(edges=[0.0], proportions=[0.5, 0.5]))],
    predictions=FeatureProfile(name="p", bins=CategoricalBins(categories=["a", "__other__"], proportions=[1.0, 0.0])),
)


class FakeApi:
    """What the handler reads and writes, in memory."""

    def __init__(self, bundle_dir: Path, digest: str) -> None:
        self.monitor: dict[str, Any] = {
            "apiVersion": "mlops.yardarm.dev/v1alpha1",
            "kind": "Monitor",
            "metadata": {"name": "mon", "namespace": "ns", "uid": "u1", "generation": 2},
            "spec": {
                "targetRef": {"name": "md"},
                "interval": "10s",
                "window": "10s",  # = interval: every window is new evidence
                "minSamples": 10,
                "failureThreshold": 2,
                "checks": [{"name": "drift", "type": "featureDrift", "threshold": 0.2}],
            },
        }
        self.md: dict[str, Any] | None = {
            "spec": {"model": {"uri": f"file://{bundle_dir}", "digest": digest}},
            "status": {"currentRevision": 1, "currentDigest": digest},
        }
        self.pods = [{"metadata": {"name": "md-0"}, "status": {"podIP": "10.0.0.1"}}]
        self.events: list[tuple[str, str]] = []
        self.patches: list[dict[str, Any]] = []

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.monitor if kind == "Monitor" else self.md

    def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        self.patches.append(status)
        current = self.monitor.setdefault("status", {})
        _apply(current, status)
        return self.monitor

    def emit_event(self, owner: Any, *, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason))


def _apply(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _apply(target[key], value)
        else:
            target[key] = value


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[Path, str]:
    from yardarm.bundle import BundleManifest, Lineage, ParityReport

    manifest = BundleManifest(
        task="classification",
        model_sha256=sha256_bytes(b"m"),
        opset=17,
        inputs=[{"name": "x", "type": "numeric", "datatype": "FP32"}],
        outputs=["label"],
        class_labels=["a"],
        target="y",
        metrics={},
        parity=ParityReport(max_abs_diff=0.0, tolerance=1e-4, passed=True),
        profile=PROFILE,
        lineage=Lineage(estimator="X", created_at=T0),
    )
    data = manifest.model_dump_json().encode()
    (tmp_path / "bundle.json").write_bytes(data)
    return tmp_path, sha256_bytes(data)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, bundle: tuple[Path, str]) -> FakeApi:
    fake = FakeApi(*bundle)

    async def call(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    monkeypatch.setattr(kube, "call", call)
    monkeypatch.setattr(kube, "get", fake.get)
    monkeypatch.setattr(kube, "serving_pods", lambda namespace, name: fake.pods)
    monkeypatch.setattr(kube, "patch_status", fake.patch_status)
    monkeypatch.setattr(kube, "emit_event", fake.emit_event)
    return fake


class Traffic:
    """A fake scraper: each call returns the next cumulative counters of one pod."""

    def __init__(self, digest: str, *, references: bool = True) -> None:
        self.digest = digest
        self.t = 0.0
        self.low = self.high = 0.0
        self.targets: list[Sequence[Target]] = []
        # What yardarm_feature_bin_reference_ratio / _reference_rows advertise (PROFILE's x).
        self.references = {"x": Reference((0.5, 0.5), False, 100)} if references else {}
        self.errors: dict[str, str] = {}

    def add(self, low: int, high: int) -> None:
        self.low += low
        self.high += high

    async def __call__(self, targets: Sequence[Target], *, timeout: float) -> Snapshot:
        self.targets.append(targets)
        self.t += 10
        counters = {("feature", "x", 0): self.low, ("feature", "x", 1): self.high}
        pod = PodMetrics(counters=counters, digest=self.digest, start_time=1.0, feature_reference=self.references)
        return Snapshot(self.t, {"md-0": pod}, errors=self.errors)


def rounds(evaluator: MonitorEvaluator, api: FakeApi, traffic: Traffic, plan: list[tuple[int, int]]) -> list[str]:
    phases = []
    for low, high in plan:
        traffic.add(low, high)
        asyncio.run(evaluator.evaluate(api.monitor))
        phases.append(api.monitor["status"]["phase"])
    return phases


def clock() -> Any:
    ticks = iter(range(1000))
    return lambda: T0 + timedelta(seconds=10 * next(ticks))


def test_rounds_go_from_collecting_to_healthy_to_degraded_with_events(api: FakeApi, bundle: tuple[Path, str]) -> None:
    traffic = Traffic(bundle[1])
    evaluator = MonitorEvaluator(clock=clock(), scrape=traffic)
    phases = rounds(evaluator, api, traffic, [(0, 0), (50, 50), (100, 0), (100, 0)])
    assert phases == ["Pending", "Healthy", "Failing", "Degraded"]
    status = api.monitor["status"]
    assert status["verdict"]["degraded"] is True
    assert status["verdict"]["digest"] == bundle[1]
    assert status["lastAction"]["type"] == "rollback"
    assert status["observedGeneration"] == 2
    assert ("Warning", "Degraded") in api.events
    assert ("Warning", "ChecksFailing") in api.events
    assert traffic.targets[0] == [Target("md-0", "http://10.0.0.1:8080/metrics")]


def test_the_first_round_after_a_restart_keeps_the_last_judgement(api: FakeApi, bundle: tuple[Path, str]) -> None:
    traffic = Traffic(bundle[1])
    rounds(MonitorEvaluator(clock=clock(), scrape=traffic), api, traffic, [(0, 0), (100, 0)])
    assert api.monitor["status"]["consecutiveFailures"] == 1
    restarted = MonitorEvaluator(clock=clock(), scrape=traffic)  # a new operator process: empty rings
    phases = rounds(restarted, api, traffic, [(100, 0), (100, 0)])
    assert phases == ["Failing", "Degraded"]  # the count survived in status


def test_a_missing_target_stalls_with_a_clear_message(api: FakeApi) -> None:
    api.md = None
    asyncio.run(MonitorEvaluator(clock=clock(), scrape=Traffic("x")).evaluate(api.monitor))
    status = api.monitor["status"]
    assert status["phase"] == "Pending"
    assert "ModelDeployment md does not exist" in status["message"]
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "TargetNotFound")
    assert api.events == [("Warning", "TargetNotFound")]
    asyncio.run(MonitorEvaluator(clock=clock(), scrape=Traffic("x")).evaluate(api.monitor))
    assert len(api.events) == 1  # no second event while nothing changes


def test_without_reference_bins_from_the_pods_the_drift_check_is_inconclusive_and_says_why(
    api: FakeApi, bundle: tuple[Path, str]
) -> None:
    # The operator pod mounts no artifact store: the pods' gauges are the only reference source.
    traffic = Traffic(bundle[1], references=False)
    rounds(MonitorEvaluator(clock=clock(), scrape=traffic), api, traffic, [(0, 0), (50, 50)])
    status = api.monitor["status"]
    assert "no serving pod advertises reference bins" in status["message"]
    assert "Errno" not in status["message"]
    assert status["checks"][0]["result"] == "Inconclusive"


def test_scrape_errors_are_in_the_message_and_verdicts_are_logged_at_info(
    api: FakeApi, bundle: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    traffic = Traffic(bundle[1])
    traffic.errors = {"md-1": "http://10.0.0.2:8080/metrics: body cut short (400 of 9000 bytes)"}
    with caplog.at_level(logging.INFO, logger="yardarm.operator.monitoring"):
        rounds(MonitorEvaluator(clock=clock(), scrape=traffic), api, traffic, [(0, 0), (100, 0), (100, 0)])
    assert "could not scrape md-1: http://10.0.0.2:8080/metrics: body cut short" in api.monitor["status"]["message"]
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("could not scrape md-1" in m for m in logged)
    assert any("Degraded" in m and "rollback requested" in m for m in logged)
    assert any("Failing, 1 of 2 consecutive failing windows" in m for m in logged)


def test_merge_patch_deletes_keys_that_are_gone() -> None:
    old = {"verdict": {"degraded": True, "reason": "x", "since": "t"}, "phase": "Degraded", "samples": 5}
    new = {"verdict": {"degraded": False}, "phase": "Healthy", "samples": 5}
    assert merge_patch(old, new) == {"verdict": {"degraded": False, "reason": None, "since": None}, "phase": "Healthy"}
    assert merge_patch(new, new) == {}


def test_register_adds_an_event_handler_and_no_finalizer_needing_handlers() -> None:
    import kopf

    registry = kopf.OperatorRegistry()
    monitoring.register(registry)
    assert [h.id for h in registry._watching.get_all_handlers()] == ["monitor-evaluation"]
    assert list(registry._spawning.get_all_handlers()) == []  # no daemons/timers: no finalizers
    assert [h.id for h in registry._activities.get_all_handlers()] == ["monitor-evaluation-stop"]


def test_observe_runs_one_loop_per_monitor_and_stops_it_on_deletion(api: FakeApi, bundle: tuple[Path, str]) -> None:
    traffic = Traffic(bundle[1])
    api.monitor["spec"]["interval"] = "5s"

    async def scenario() -> None:
        evaluator = MonitorEvaluator(clock=clock(), scrape=traffic)
        evaluator.observe(api.monitor, None)
        evaluator.observe(api.monitor, "MODIFIED")  # same generation: no second loop
        await asyncio.sleep(0.2)
        assert len(traffic.targets) == 1  # one round, then sleeping its interval
        api.monitor["metadata"]["generation"] = 3
        evaluator.observe(api.monitor, "MODIFIED")  # spec changed: wake up now
        await asyncio.sleep(0.2)
        assert len(traffic.targets) == 2
        evaluator.observe(api.monitor, "DELETED")
        await asyncio.sleep(0)
        assert evaluator.rings == {}
        await evaluator.stop()

    asyncio.run(scenario())


def test_a_round_is_not_due_before_the_interval_since_the_last_evaluation() -> None:
    monitor = {"status": {"lastEvaluationTime": "2026-03-01T12:00:00Z"}}
    assert monitoring._too_early(monitor, T0 + timedelta(seconds=10), 30) == 20
    assert monitoring._too_early(monitor, T0 + timedelta(seconds=29.5), 30) == 0
    assert monitoring._too_early({}, T0, 30) == 0


def test_status_fields_that_are_not_the_monitors_are_neither_read_nor_deleted(
    api: FakeApi, bundle: tuple[Path, str]
) -> None:
    traffic = Traffic(bundle[1])
    evaluator = MonitorEvaluator(clock=clock(), scrape=traffic)
    rounds(evaluator, api, traffic, [(0, 0), (100, 0)])
    api.monitor["status"]["kopf"] = {"progress": {}}
    rounds(evaluator, api, traffic, [(100, 0)])
    assert api.monitor["status"]["consecutiveFailures"] == 2
    assert api.monitor["status"]["kopf"] == {"progress": {}}
    assert all("kopf" not in patch for patch in api.patches)
