"""The Monitor's evaluation: window deltas, resets, Inconclusive, failure bookkeeping, verdicts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from yardarm.api.conditions import find
from yardarm.api.monitor import MonitorSpec, MonitorStatus
from yardarm.bundle import CategoricalBins, FeatureProfile, NumericBins, ReferenceProfile
from yardarm.operator.evaluate import (
    Outcome,
    PodMetrics,
    Reference,
    Served,
    Snapshot,
    SnapshotRing,
    evaluate,
    ring_size,
    window_between,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SERVED = Served(revision=1, digest=D1)
LATENCY_BOUNDS = (0.01, 0.05, 0.1, float("inf"))

PROFILE = ReferenceProfile(
    rows=100_000,  # a large reference: its own sampling noise is negligible here
    features=[
        FeatureProfile(name="x", bins=NumericBins(edges=[0.0, 1.0, 2.0], proportions=[0.25, 0.25, 0.25, 0.25])),
        FeatureProfile(
            name="color", bins=CategoricalBins(categories=["red", "blue", "__other__"], proportions=[0.5, 0.5, 0.0])
        ),
    ],
    predictions=FeatureProfile(
        name="prediction", bins=CategoricalBins(categories=["a", "b", "__other__"], proportions=[0.5, 0.5, 0.0])
    ),
)


def spec(*checks: dict[str, Any], **kw: Any) -> MonitorSpec:
    return MonitorSpec.model_validate(
        {"targetRef": {"name": "iris"}, "minSamples": 100, "failureThreshold": 3, "checks": list(checks), **kw}
    )


FEATURE_DRIFT = {"name": "drift", "type": "featureDrift", "threshold": 0.2}


def pod(
    *,
    ok: float = 0,
    err: float = 0,
    bad_request: float = 0,
    x: tuple[float, ...] = (0, 0, 0, 0),
    color: tuple[float, ...] = (0, 0, 0),
    pred: tuple[float, ...] = (0, 0, 0),
    latency: tuple[float, ...] | None = None,
    correct: float = 0,
    incorrect: float = 0,
    digest: str = D1,
    start: float = 1000.0,
) -> PodMetrics:
    counters: dict[tuple[Any, ...], float] = {
        ("requests", "infer", "200"): ok,
        ("requests", "infer", "500"): err,
        ("requests", "infer", "400"): bad_request,
        ("requests", "ready", "200"): 1000,  # probes are not model traffic
        ("feedback", "correct"): correct,
        ("feedback", "incorrect"): incorrect,
    }
    counters.update({("feature", "x", i): v for i, v in enumerate(x)})
    counters.update({("feature", "color", i): v for i, v in enumerate(color)})
    counters.update({("prediction", i): v for i, v in enumerate(pred)})
    cumulative = latency if latency is not None else (ok + err + bad_request,) * len(LATENCY_BOUNDS)
    counters.update({("latency", "infer", le): v for le, v in zip(LATENCY_BOUNDS, cumulative, strict=True)})
    return PodMetrics(counters=counters, digest=digest, revision="1", start_time=start)


def snap(seconds: float, **pods: PodMetrics) -> Snapshot:
    return Snapshot(time=seconds, pods=pods)


def run(
    s: MonitorSpec,
    before: Snapshot,
    after: Snapshot,
    previous: MonitorStatus | None = None,
    served: Served = SERVED,
    profile: ReferenceProfile | None = PROFILE,
    at: int = 0,
) -> Outcome:
    return evaluate(s, previous, before, after, profile, served, generation=4, now=T0 + timedelta(minutes=at))


ZERO = snap(0, a=pod())
NORMAL = snap(60, a=pod(ok=200, x=(50, 50, 50, 50), color=(100, 100, 0), pred=(100, 100, 0)))
SHIFTED = snap(60, a=pod(ok=200, x=(0, 0, 0, 200), color=(100, 100, 0), pred=(100, 100, 0)))
FEW = snap(60, a=pod(ok=20, x=(0, 0, 0, 20), color=(10, 10, 0), pred=(10, 10, 0)))


# -- windows --------------------------------------------------------------------------------------


def test_window_sums_increases_over_pods() -> None:
    before = snap(0, a=pod(ok=10), b=pod(ok=5))
    after = snap(30, a=pod(ok=25, err=1), b=pod(ok=9))
    window = window_between(before, after, D1)
    assert window.requests() == (15 + 1 + 4, 1)
    assert window.seconds == 30
    assert window.pods == ("a", "b")


def test_a_counter_that_went_down_means_the_pod_restarted_and_counts_from_zero() -> None:
    before = snap(0, a=pod(ok=500))
    after = snap(30, a=pod(ok=40))
    window = window_between(before, after, D1)
    assert window.requests() == (40, 0)
    assert window.restarted == ("a",)


def test_a_new_process_start_time_is_a_reset_even_when_counters_grew_past_the_old_values() -> None:
    before = snap(0, a=pod(ok=10, start=1000))
    after = snap(30, a=pod(ok=70, start=2000))
    assert window_between(before, after, D1).requests() == (70, 0)


def test_a_pod_new_since_the_baseline_counts_whole() -> None:
    before = snap(0, a=pod(ok=10))
    after = snap(30, a=pod(ok=20), b=pod(ok=7))
    assert window_between(before, after, D1).requests() == (17, 0)


def test_a_series_created_since_the_baseline_counts_from_zero() -> None:
    before = snap(0, a=PodMetrics(counters={("requests", "infer", "200"): 5}, digest=D1))
    after = snap(
        30, a=PodMetrics(counters={("requests", "infer", "200"): 8, ("requests", "infer", "503"): 2}, digest=D1)
    )
    assert window_between(before, after, D1).requests() == (5, 2)


def test_a_pod_missing_from_the_oldest_snapshot_is_measured_from_the_next_one_that_has_it() -> None:
    first = snap(0, a=pod(ok=10))  # b's scrape failed here
    second = snap(30, a=pod(ok=20), b=pod(ok=100))
    after = snap(60, a=pod(ok=30), b=pod(ok=130))
    window = window_between([first, second], after, D1)
    assert window.requests() == (20 + 30, 0)
    assert window.seconds == 60


def test_a_pod_running_since_before_the_window_but_in_none_of_its_snapshots_is_left_out() -> None:
    # E.g. no evaluation while the API server was away: b's lifetime counters (old shifted traffic)
    # are not this window's increase; b is measured from the next round on.
    before = snap(5000, a=pod(ok=10, start=1000))
    after = snap(5030, a=pod(ok=20, start=1000), b=pod(ok=900, x=(0, 0, 0, 900), start=1000))
    window = window_between(before, after, D1)
    assert window.requests() == (10, 0)
    assert window.pods == ("a",)


def test_pods_serving_another_digest_are_left_out() -> None:
    before = snap(0, a=pod(), old=pod(digest=D2))
    after = snap(30, a=pod(ok=10), old=pod(ok=1000, err=1000, digest=D2))
    window = window_between(before, after, D1)
    assert window.requests() == (10, 0)
    assert window.pods == ("a",)


def test_ring_returns_the_oldest_snapshot_inside_the_window() -> None:
    ring = SnapshotRing(maxlen=10)
    assert ring.add(snap(0), 90) == []
    assert [s.time for s in ring.add(snap(30), 90)] == [0]
    assert [s.time for s in ring.add(snap(60), 90)] == [0, 30]
    assert [s.time for s in ring.add(snap(90), 90)] == [0, 30, 60]
    assert [s.time for s in ring.add(snap(120), 90)] == [30, 60, 90]  # 0 fell out of the window
    assert len(ring) == 4


def test_ring_is_bounded() -> None:
    ring = SnapshotRing(maxlen=3)
    for t in range(10):
        ring.add(snap(t), 1000)
    assert len(ring) == 3
    assert ring_size(spec(FEATURE_DRIFT, interval="30s", window="5m")) == 12
    assert ring_size(spec(FEATURE_DRIFT, interval="5s", window="24h")) == 720


# -- checks -----------------------------------------------------------------------------------------


def test_feature_drift_passes_on_reference_traffic_and_fails_on_shifted_traffic() -> None:
    s = spec(FEATURE_DRIFT)
    passing = run(s, ZERO, NORMAL)
    (check,) = passing.status.checks
    assert (check.result, check.value, check.samples) == ("Pass", 0.0, 200)
    failing = run(s, ZERO, SHIFTED)
    (check,) = failing.status.checks
    assert check.result == "Fail"
    assert check.value > 0.2
    assert "x (" in check.message
    assert "color" not in check.message


def test_feature_drift_with_ks_uses_cumulative_gap_for_numeric_and_total_variation_for_categories() -> None:
    s = spec({**FEATURE_DRIFT, "method": "ks", "threshold": 0.3})
    shifted = snap(60, a=pod(ok=200, x=(0, 0, 100, 100), color=(200, 0, 0)))
    (check,) = run(s, ZERO, shifted).status.checks
    # x: cumulative gap .5; color: TV .5
    assert check.value == pytest.approx(0.5)
    assert check.result == "Fail"
    assert "x" in check.message
    assert "color" in check.message


def test_feature_drift_on_a_named_subset_ignores_the_others() -> None:
    s = spec({**FEATURE_DRIFT, "features": ["color"]})
    (check,) = run(s, ZERO, SHIFTED).status.checks
    assert check.result == "Pass"


def test_feature_drift_with_an_unknown_feature_is_inconclusive_not_a_failure() -> None:
    s = spec({**FEATURE_DRIFT, "features": ["nope"]})
    (check,) = run(s, ZERO, SHIFTED).status.checks
    assert check.result == "Inconclusive"
    assert "nope" in check.message


def test_bins_that_do_not_match_the_reference_are_inconclusive() -> None:
    after = snap(60, a=PodMetrics(counters={**pod(ok=200).counters, ("feature", "x", 9): 200.0}, digest=D1))
    (check,) = run(spec({**FEATURE_DRIFT, "features": ["x"]}), ZERO, after).status.checks
    assert check.result == "Inconclusive"


def test_too_few_samples_is_inconclusive_and_never_a_failure() -> None:
    s = spec(FEATURE_DRIFT, {"name": "errors", "type": "errorRate", "threshold": 0.01})
    previous = MonitorStatus(consecutive_failures=2, verdict={"degraded": False, "revision": 1, "digest": D1})
    outcome = run(s, ZERO, FEW, previous=previous)
    assert [c.result for c in outcome.status.checks] == ["Inconclusive", "Inconclusive"]
    # The count is unchanged (neither confirmed nor refuted), and the phase says it still stands.
    assert outcome.status.phase == "Failing"
    assert "2 of 3 consecutive failing windows; the latest window was inconclusive" in outcome.status.message
    assert outcome.status.consecutive_failures == 2
    assert not outcome.status.verdict.degraded
    assert "fewer than 100" in outcome.status.message


def test_prediction_drift_against_class_proportions() -> None:
    s = spec({"name": "pred", "type": "predictionDrift", "threshold": 0.1})
    (ok,) = run(s, ZERO, NORMAL).status.checks
    assert ok.result == "Pass"
    skewed = snap(60, a=pod(ok=200, pred=(190, 10, 0)))
    (bad,) = run(s, ZERO, skewed).status.checks
    assert bad.result == "Fail"


def test_prediction_drift_without_a_reference_is_inconclusive() -> None:
    s = spec({"name": "pred", "type": "predictionDrift", "threshold": 0.1})
    profile = ReferenceProfile(rows=1, features=PROFILE.features)
    (check,) = run(s, ZERO, NORMAL, profile=profile).status.checks
    assert check.result == "Inconclusive"


def test_references_fall_back_to_the_gauges_the_pods_advertise() -> None:
    s = spec(FEATURE_DRIFT, {"name": "pred", "type": "predictionDrift", "threshold": 0.1})
    advertised = PodMetrics(
        counters=pod(ok=200, x=(0, 0, 0, 200), pred=(100, 100, 0)).counters,
        digest=D1,
        feature_reference={"x": Reference((0.25, 0.25, 0.25, 0.25), False)},
        prediction_reference=Reference((0.5, 0.5, 0.0), True),
    )
    drift, pred = run(s, ZERO, snap(60, a=advertised), profile=None).status.checks
    assert drift.result == "Fail"
    assert pred.result == "Pass"


def test_error_rate_counts_only_5xx_of_inference_requests() -> None:
    s = spec({"name": "errors", "type": "errorRate", "threshold": 0.05})
    after = snap(60, a=pod(ok=180, err=10, bad_request=10))
    (check,) = run(s, ZERO, after).status.checks
    assert check.value == pytest.approx(10 / 200)
    assert check.samples == 200
    assert check.result == "Pass"
    worse = snap(60, a=pod(ok=170, err=20, bad_request=10))
    assert run(s, ZERO, worse).status.checks[0].result == "Fail"


def test_latency_quantile_from_bucket_deltas() -> None:
    s = spec({"name": "p90", "type": "latency", "threshold": 0.05, "quantile": 0.9})
    # 200 requests this window: 100 under 10 ms, 60 more under 50 ms, 40 more under 100 ms.
    before = snap(0, a=pod(ok=1000, latency=(1000, 1000, 1000, 1000)))
    after = snap(60, a=pod(ok=1200, latency=(1100, 1160, 1200, 1200)))
    (check,) = run(s, before, after).status.checks
    # rank 180 lies in (0.05, 0.1]: 0.05 + 0.05 * (180 - 160) / 40
    assert check.value == pytest.approx(0.075)
    assert check.result == "Fail"
    assert check.samples == 200


def test_latency_quantile_defaults_to_p99() -> None:
    s = spec({"name": "p99", "type": "latency", "threshold": 0.2})
    after = snap(60, a=pod(ok=200, latency=(100, 200, 200, 200)))
    (check,) = run(s, ZERO, after).status.checks
    assert check.value == pytest.approx(0.01 + 0.04 * (198 - 100) / 100)
    assert check.result == "Pass"


def test_accuracy_from_feedback_counters() -> None:
    s = spec({"name": "acc", "type": "accuracy", "threshold": 0.9})
    good = snap(60, a=pod(ok=500, correct=95, incorrect=5))
    assert run(s, ZERO, good).status.checks[0].result == "Pass"
    bad = snap(60, a=pod(ok=500, correct=80, incorrect=20))
    (check,) = run(s, ZERO, bad).status.checks
    assert (check.result, check.value, check.samples) == ("Fail", 0.8, 100)
    few = snap(60, a=pod(ok=500, correct=9, incorrect=1))
    assert run(s, ZERO, few).status.checks[0].result == "Inconclusive"


def test_accuracy_on_regression_feedback_is_inconclusive() -> None:
    s = spec({"name": "acc", "type": "accuracy", "threshold": 0.9})
    after = snap(60, a=PodMetrics(counters={("feedback", "scored"): 500.0}, digest=D1))
    (check,) = run(s, ZERO, after).status.checks
    assert check.result == "Inconclusive"


# -- bookkeeping and verdicts -------------------------------------------------------------------------


def chain(
    s: MonitorSpec, afters: list[Snapshot], served: Served = SERVED, previous: MonitorStatus | None = None
) -> list[Outcome]:
    """Evaluate back-to-back, non-overlapping one-minute windows (each counts toward the streak)."""
    outcomes = []
    for i, after in enumerate(afters):
        before = Snapshot(time=60.0 * i, pods=ZERO.pods)
        current = Snapshot(time=60.0 * (i + 1), pods=after.pods, errors=after.errors)
        outcome = run(s, before, current, previous=previous, served=served, at=i)
        outcomes.append(outcome)
        previous = outcome.status
    return outcomes


def test_degraded_after_failure_threshold_consecutive_failures_naming_the_checks() -> None:
    s = spec(FEATURE_DRIFT, {"name": "errors", "type": "errorRate", "threshold": 0.01})
    outcomes = chain(s, [SHIFTED, SHIFTED, SHIFTED, SHIFTED])
    assert [o.status.consecutive_failures for o in outcomes] == [1, 2, 3, 4]
    assert [o.status.phase for o in outcomes] == ["Failing", "Failing", "Degraded", "Degraded"]
    assert [o.newly_degraded for o in outcomes] == [False, False, True, False]
    verdict = outcomes[2].status.verdict
    assert verdict.degraded
    assert (verdict.revision, verdict.digest) == (1, D1)
    assert verdict.since == T0 + timedelta(minutes=2)
    assert "drift" in verdict.reason
    assert "errors" not in verdict.reason
    assert outcomes[3].status.verdict == verdict  # latched: since does not move
    action = outcomes[2].status.last_action
    assert (action.type, action.digest, action.time) == ("rollback", D1, verdict.since)
    assert outcomes[2].failing == ("drift",)


def test_degraded_sets_stalled_and_not_ready() -> None:
    outcome = chain(spec(FEATURE_DRIFT, failureThreshold=1), [SHIFTED])[0]
    conditions = outcome.status.conditions
    assert find(conditions, "Ready").status == "False"
    assert find(conditions, "Stalled").status == "True"
    assert find(conditions, "Stalled").reason == "Degraded"
    assert outcome.status.observed_generation == 4


def test_alert_action_is_recorded_as_the_last_action() -> None:
    outcome = chain(spec(FEATURE_DRIFT, failureThreshold=1, action="alert"), [SHIFTED])[0]
    assert outcome.status.last_action.type == "alert"
    assert outcome.status.verdict.degraded


def test_a_passing_evaluation_resets_the_count() -> None:
    outcomes = chain(spec(FEATURE_DRIFT), [SHIFTED, SHIFTED, NORMAL, SHIFTED, SHIFTED])
    assert [o.status.consecutive_failures for o in outcomes] == [1, 2, 0, 1, 2]
    assert not any(o.status.verdict.degraded for o in outcomes)
    assert find(outcomes[2].status.conditions, "Ready").status == "True"


def test_inconclusive_evaluations_neither_count_nor_reset() -> None:
    outcomes = chain(spec(FEATURE_DRIFT), [SHIFTED, FEW, SHIFTED, FEW, SHIFTED])
    assert [o.status.consecutive_failures for o in outcomes] == [1, 1, 2, 2, 3]
    assert outcomes[-1].status.verdict.degraded


def test_inconclusive_alone_never_degrades() -> None:
    outcomes = chain(spec(FEATURE_DRIFT, failureThreshold=1), [FEW] * 5)
    assert all(o.status.phase == "Inconclusive" for o in outcomes)
    assert not any(o.status.verdict.degraded for o in outcomes)
    assert all(o.status.last_action is None for o in outcomes)


def test_a_new_revision_resets_the_count_and_the_verdict() -> None:
    s = spec(FEATURE_DRIFT, failureThreshold=2)
    first = chain(s, [SHIFTED, SHIFTED])
    assert first[-1].status.verdict.degraded
    served = Served(revision=2, digest=D2)
    shifted_new = snap(60, a=pod(ok=200, x=(0, 0, 0, 200), digest=D2))
    second = chain(s, [shifted_new], served=served, previous=first[-1].status)
    status = second[0].status
    assert status.consecutive_failures == 1
    assert not status.verdict.degraded
    assert (status.verdict.revision, status.verdict.digest) == (2, D2)
    assert status.last_action == first[-1].status.last_action  # history of what was asked is kept


def test_pods_of_the_previous_revision_do_not_speak_for_the_new_one() -> None:
    s = spec(FEATURE_DRIFT)
    after = snap(60, old=pod(ok=200, x=(0, 0, 0, 200), digest=D1))
    outcome = run(s, ZERO, after, served=Served(revision=2, digest=D2))
    assert outcome.status.checks[0].result == "Inconclusive"
    assert "no ready serving pod" in outcome.status.message


def test_status_round_trips_through_the_wire_form() -> None:
    outcome = chain(spec(FEATURE_DRIFT, failureThreshold=1), [SHIFTED])[0]
    wire = outcome.status.to_wire()
    assert wire["phase"] == "Degraded"
    assert wire["verdict"]["degraded"] is True
    assert wire["consecutiveFailures"] == 1
    assert MonitorStatus.model_validate(wire) == outcome.status


def test_a_feature_with_too_few_values_is_skipped_while_the_others_are_tested() -> None:
    after = snap(60, a=pod(ok=200, x=(0, 0, 0, 200), color=(5, 5, 0)))
    (check,) = run(spec(FEATURE_DRIFT), ZERO, after).status.checks
    assert check.result == "Fail"
    assert "too few values to test color" in check.message


# -- statistics in the verdict ------------------------------------------------------------------------


def test_overlapping_windows_do_not_count_the_same_evidence_twice() -> None:
    # Every 30 s, a window reaching back 5 minutes: only windows starting at or after the end of the
    # last counted one move the streak.
    s = spec(FEATURE_DRIFT, failureThreshold=2)
    previous: MonitorStatus | None = None
    counted = []
    for i in range(12):
        end = 300.0 + 30 * i
        outcome = run(s, Snapshot(time=max(0.0, end - 300), pods=ZERO.pods), Snapshot(end, SHIFTED.pods), previous)
        counted.append(outcome.counted)
        previous = outcome.status
    # windows [0,300] counted; [30,330] ... [270,570] overlap it; [300,600] is the next one
    assert counted == [True] + [False] * 9 + [True, False]
    assert previous.consecutive_failures == 2
    assert previous.verdict.degraded
    assert "not counted" not in previous.message


def test_a_non_counted_failing_window_says_so_and_keeps_the_count() -> None:
    s = spec(FEATURE_DRIFT)
    first = run(s, ZERO, SHIFTED)
    second = run(s, Snapshot(30, ZERO.pods), Snapshot(90, SHIFTED.pods), first.status)
    assert first.status.consecutive_failures == second.status.consecutive_failures == 1
    assert not second.counted
    assert "not counted" in second.status.message
    assert second.status.counted_until == first.status.counted_until


def test_a_significant_drift_below_the_threshold_passes() -> None:
    # 20,000 rows shifted slightly: overwhelming significance, tiny effect.
    slight = snap(60, a=pod(ok=20_000, x=(5400, 4800, 4900, 4900), color=(10_000, 10_000, 0)))
    (check,) = run(spec(FEATURE_DRIFT), ZERO, slight).status.checks
    assert check.p_value is not None and check.p_value < 1e-6
    assert check.value < 0.2
    assert check.result == "Pass"


def test_a_large_effect_that_is_not_significant_passes() -> None:
    # One empty bin at the smallest testable window: PSI-sized, but chance at this size.
    profile = ReferenceProfile(
        rows=100_000,
        features=[FeatureProfile(name="x", bins=NumericBins(edges=[1.0], proportions=[0.97, 0.03]))],
    )
    after = snap(60, a=pod(ok=200, x=(200, 0, 0, 0)))
    counters = {k: v for k, v in after.pods["a"].counters.items() if not (k[0] == "feature" and k[2] not in (0, 1))}
    current = Snapshot(60, {"a": PodMetrics(counters=counters, digest=D1, start_time=1000.0)})
    (check,) = run(spec({**FEATURE_DRIFT, "features": ["x"]}), ZERO, current, profile=profile).status.checks
    assert check.result == "Pass"
    assert check.p_value > 0.01


def test_too_few_rows_for_the_threshold_names_the_count_needed() -> None:
    s = spec({**FEATURE_DRIFT, "threshold": 0.05, "features": ["x"]}, minSamples=10)
    (check,) = run(s, ZERO, NORMAL).status.checks
    assert check.result == "Inconclusive"
    assert "200 rows in the window, fewer than" in check.message
    assert "needed for a psi of 0.05 to be significant" in check.message


def test_a_reference_too_small_for_the_threshold_says_so() -> None:
    small = PROFILE.model_copy(update={"rows": 150})
    (check,) = run(spec({**FEATURE_DRIFT, "threshold": 0.05}), ZERO, NORMAL, profile=small).status.checks
    assert check.result == "Inconclusive"
    assert "too small" in check.message


def test_p_values_are_adjusted_over_every_feature_of_the_evaluation() -> None:
    # The same marginal drift in x is less significant when 50 more features are tested with it.
    features = [FeatureProfile(name=f"z{i}", bins=NumericBins(edges=[0.0], proportions=[0.5, 0.5])) for i in range(50)]
    wide = PROFILE.model_copy(update={"features": [*PROFILE.features, *features]})
    mild = snap(60, a=pod(ok=400, x=(130, 100, 90, 80), color=(200, 200, 0)))
    counters = dict(mild.pods["a"].counters)
    counters.update({("feature", f"z{i}", b): 200.0 for i in range(50) for b in (0, 1)})
    current = Snapshot(60, {"a": PodMetrics(counters=counters, digest=D1, start_time=1000.0)})
    s = spec({**FEATURE_DRIFT, "threshold": 0.05}, minSamples=10)
    (alone,) = run(
        spec({**FEATURE_DRIFT, "threshold": 0.05, "features": ["x"]}, minSamples=10), ZERO, current
    ).status.checks
    (together,) = run(s, ZERO, current, profile=wide).status.checks
    assert together.p_value > alone.p_value


def test_error_rate_at_its_threshold_is_not_a_failure_but_far_above_it_is() -> None:
    s = spec({"name": "errors", "type": "errorRate", "threshold": 0.01})
    at = snap(60, a=pod(ok=990, err=10))
    above = snap(60, a=pod(ok=970, err=30))
    assert run(s, ZERO, at).status.checks[0].result == "Pass"
    assert run(s, ZERO, above).status.checks[0].result == "Fail"


def test_accuracy_just_below_the_threshold_in_a_small_window_is_not_a_failure() -> None:
    s = spec({"name": "acc", "type": "accuracy", "threshold": 0.9})
    slightly = snap(60, a=pod(ok=100, correct=88, incorrect=12))
    clearly = snap(60, a=pod(ok=100, correct=70, incorrect=30))
    assert run(s, ZERO, slightly).status.checks[0].result == "Pass"
    assert run(s, ZERO, clearly).status.checks[0].result == "Fail"


@pytest.mark.parametrize("seed", range(20))
def test_phase_and_failure_count_tell_one_story(seed: int) -> None:
    """Over any run of passing, failing and inconclusive windows: Healthy or Inconclusive means no
    failing window counts, Failing means some do (fewer than the threshold)."""
    rng = random.Random(seed)
    s = spec(FEATURE_DRIFT, failureThreshold=4)
    for outcome in chain(s, [rng.choice([NORMAL, SHIFTED, FEW]) for _ in range(30)]):
        status = outcome.status
        failures = status.consecutive_failures or 0
        if status.phase in ("Healthy", "Inconclusive"):
            assert failures == 0, status
        elif status.phase == "Failing":
            assert 1 <= failures < 4, status
        else:  # the verdict is latched for the revision; the count goes on below it
            assert status.phase == "Degraded" and status.verdict is not None and status.verdict.degraded, status
