"""The Monitor's judgement: counter snapshots in, per-check results and a verdict out.

Pure and deterministic (time is passed in), so every rule is unit-tested without a cluster:

* **Window values by counter deltas.** Serving pods expose cumulative Prometheus counters. The
  window's values are the increase between the oldest snapshot still inside ``spec.window`` and
  the current one, summed over pods.
* **Counter resets.** A pod whose process restarted (its ``process_start_time_seconds`` changed, or
  any counter went down) or that is new since the baseline contributes its current values as the
  increase, as Prometheus ``increase()`` does per series. Deciding per *pod* rather than per
  series keeps one pod's counters consistent with each other (bins still sum to rows).
* **Only the served model counts.** Pods are kept when their ``yardarm_model_info`` digest is the
  digest the ModelDeployment serves, so a rollout's old pods never speak for the new model.
* **Inconclusive is not failure.** A check with fewer than ``minSamples`` samples is Inconclusive;
  an evaluation with no failing check leaves ``consecutiveFailures`` unchanged (neither confirms
  nor refutes) and an all-Pass one resets it. ``failureThreshold`` failing evaluations in a row
  latch a Degraded verdict for the (revision, digest) served; a new revision starts from zero.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from yardarm.api.common import parse_duration
from yardarm.api.conditions import Condition, State, summarize
from yardarm.api.monitor import (
    Check,
    CheckResult,
    CheckStatus,
    LastAction,
    MonitorPhase,
    MonitorSpec,
    MonitorStatus,
    Verdict,
)
from yardarm.bundle import CategoricalBins, FeatureProfile, ReferenceProfile

from .drift import (
    BinMismatchError,
    chi_square_test,
    histogram_quantile,
    ks_distance,
    psi_effect,
    rows_needed,
    total_variation,
)
from .stats import binom_cdf, binom_sf, holm

#: Endpoints whose requests are model traffic (probes and /metrics are not).
INFERENCE_ENDPOINTS = frozenset({"infer", "predict"})
DEFAULT_QUANTILE = 0.99
#: Snapshots kept per Monitor at most, whatever window/interval say (bounds operator memory).
MAX_RING = 720

# Counter keys. Each is a tuple whose first element names the metric family:
#   ("requests", endpoint, code)        yardarm_requests_total
#   ("latency", endpoint, le)           yardarm_request_duration_seconds_bucket (cumulative)
#   ("feature", feature, bin)           yardarm_feature_bin_total
#   ("missing", feature)                yardarm_feature_missing_total
#   ("prediction", bin)                 yardarm_prediction_bin_total
#   ("rows",)                           yardarm_inference_rows_total
#   ("feedback", outcome)               yardarm_feedback_total
CounterKey = tuple[str | int | float, ...]


@dataclass(frozen=True)
class Reference:
    """Reference proportions of one variable and whether its bins are unordered categories."""

    proportions: tuple[float, ...]
    categorical: bool
    #: Values the proportions were counted from (None when unknown: then they are taken as exact).
    rows: int | None = None


@dataclass(frozen=True)
class PodMetrics:
    """One serving pod's cumulative counters at one scrape, plus what identifies its process."""

    counters: Mapping[CounterKey, float] = field(default_factory=dict)
    digest: str | None = None
    revision: str | None = None
    start_time: float | None = None
    #: Reference proportions the pod advertises per feature (``yardarm_feature_bin_reference_ratio``);
    #: a fallback when ``bundle.json`` cannot be read.
    feature_reference: Mapping[str, Reference] = field(default_factory=dict)
    prediction_reference: Reference | None = None


@dataclass(frozen=True)
class Snapshot:
    """Every reachable serving pod's metrics at one moment (``time`` in epoch seconds)."""

    time: float
    pods: Mapping[str, PodMetrics]
    errors: Mapping[str, str] = field(default_factory=dict)


class SnapshotRing:
    """A bounded, time-ordered ring of snapshots: the operator's memory of the window.

    It lives in the operator process only. After an operator restart the ring is empty and the
    first evaluation has no baseline (the window simply starts again); nothing is persisted.
    """

    def __init__(self, maxlen: int = MAX_RING, keep: Iterable[Snapshot] = ()) -> None:
        self._items: deque[Snapshot] = deque(keep, maxlen=maxlen)

    @property
    def maxlen(self) -> int:
        return self._items.maxlen or MAX_RING

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Snapshot]:
        return iter(self._items)

    def add(self, snapshot: Snapshot, window_seconds: float) -> list[Snapshot]:
        """Store ``snapshot``; return the earlier ones still within the window, oldest first."""
        cutoff = snapshot.time - window_seconds
        while self._items and self._items[0].time < cutoff:
            self._items.popleft()
        earlier = list(self._items)
        self._items.append(snapshot)
        return earlier


def ring_size(spec: MonitorSpec) -> int:
    """Enough slots to hold a whole window of snapshots, capped at :data:`MAX_RING`."""
    interval = max(parse_duration(spec.interval), 1.0)
    return min(MAX_RING, math.ceil(parse_duration(spec.window) / interval) + 2)


# -- window increases ------------------------------------------------------------------------------


def pod_restarted(before: PodMetrics, after: PodMetrics) -> bool:
    """True when the pod's counters started again between the two scrapes."""
    if before.start_time is not None and after.start_time is not None and before.start_time != after.start_time:
        return True
    return any(value < before.counters.get(key, 0.0) for key, value in after.counters.items())


def pod_increase(before: PodMetrics | None, after: PodMetrics) -> dict[CounterKey, float]:
    """Per-counter increase of one pod; a new or restarted pod's current values are the increase."""
    if before is None or pod_restarted(before, after):
        return dict(after.counters)
    # A series absent before was created since, at zero (prometheus-client creates children lazily).
    return {key: value - before.counters.get(key, 0.0) for key, value in after.counters.items()}


@dataclass(frozen=True)
class Window:
    """Counter increases over one window, summed over the pods serving the judged model."""

    seconds: float
    pods: tuple[str, ...]
    totals: Mapping[CounterKey, float]
    restarted: tuple[str, ...] = ()

    def requests(self) -> tuple[float, float]:
        """(inference requests, of which 5xx)."""
        total = errors = 0.0
        for key, value in self.totals.items():
            if key[0] == "requests" and key[1] in INFERENCE_ENDPOINTS:
                total += value
                if str(key[2]).startswith("5"):
                    errors += value
        return total, errors

    def latency_buckets(self) -> list[tuple[float, float]]:
        """Cumulative latency buckets of inference endpoints, summed by bound."""
        by_le: dict[float, float] = {}
        for key, value in self.totals.items():
            if key[0] == "latency" and key[1] in INFERENCE_ENDPOINTS:
                le = float(key[2])
                by_le[le] = by_le.get(le, 0.0) + value
        return sorted(by_le.items())

    @functools.cached_property
    def _bins_by_variable(self) -> dict[tuple[str | int | float, ...], dict[int, float]]:
        """Bin counts grouped by variable once (a Monitor with 100 features asks 100 times)."""
        out: dict[tuple[str | int | float, ...], dict[int, float]] = {}
        for key, value in self.totals.items():
            if key[0] == "feature" and len(key) == 3:
                variable: tuple[str | int | float, ...] = ("feature", str(key[1]))
            elif key[0] == "prediction" and len(key) == 2:
                variable = ("prediction",)
            else:
                continue
            bins = out.setdefault(variable, {})
            index = int(key[-1])
            bins[index] = bins.get(index, 0.0) + value
        return out

    def bins(self, family: str, *prefix: str) -> dict[int, float]:
        """Bin index → count for ``("feature", name)`` or ``("prediction",)``."""
        return dict(self._bins_by_variable.get((family, *prefix), {}))


def window_between(baselines: Snapshot | Sequence[Snapshot], current: Snapshot, digest: str | None) -> Window:
    """Sum the increases up to ``current`` over pods serving ``digest`` (all pods if None).

    ``baselines`` are the earlier snapshots in the window, oldest first. Each pod is compared with
    the oldest of them that has it, so a pod that one scrape missed is still measured over (almost)
    the whole window instead of counting from its start.
    """
    earlier = [baselines] if isinstance(baselines, Snapshot) else list(baselines)
    totals: dict[CounterKey, float] = {}
    pods: list[str] = []
    restarted: list[str] = []
    for name, after in sorted(current.pods.items()):
        if digest is not None and after.digest != digest:
            continue
        # Same pod name with another model has nothing in common with this one.
        before = next((s.pods[name] for s in earlier if name in s.pods and s.pods[name].digest == after.digest), None)
        if before is None and earlier and after.start_time is not None and after.start_time < earlier[0].time:
            # Running since before the window but in none of its snapshots (missed scrapes, or no
            # evaluation while the API server was away): its lifetime counters are not this
            # window's increase. It is measured from the next round, with this scrape as baseline.
            continue
        if before is not None and pod_restarted(before, after):
            restarted.append(name)
        pods.append(name)
        for key, value in pod_increase(before, after).items():
            totals[key] = totals.get(key, 0.0) + value
    seconds = current.time - earlier[0].time if earlier else 0.0
    return Window(seconds, tuple(pods), totals, tuple(restarted))


# -- checks ------------------------------------------------------------------------------------------
#
# Each check first *measures*: an effect size for what it watches and one or more hypothesis tests
# (a p-value each, with whether the effect is beyond the threshold). Then :func:`decide` adjusts all
# p-values of the evaluation together (Holm) and a test fails only when it is significant at
# ``spec.falseAlarmRate`` after adjustment *and* its effect is beyond the threshold. So the chance
# that an evaluation of a healthy model fails anything is at most ``falseAlarmRate``, whatever the
# number of checks and features.


@dataclass(frozen=True)
class Test:
    """One hypothesis test of a check: e.g. one feature's drift."""

    label: str
    p_value: float
    effect: float
    exceeds: bool
    detail: str


@dataclass(frozen=True)
class Measurement:
    """What a check measured in the window, before the evaluation-wide decision."""

    check: Check
    samples: float
    tests: tuple[Test, ...] = ()
    value: float | None = None
    summary: str = ""
    inconclusive: str | None = None
    note: str = ""


def _status(
    check: Check,
    result: CheckResult,
    value: float | None,
    samples: float,
    message: str | None,
    p_value: float | None = None,
) -> CheckStatus:
    if value is not None and not math.isfinite(value):
        value = None
    return CheckStatus(
        name=check.name,
        type=check.type,
        result=result,
        value=None if value is None else round(value, 6),
        p_value=None if p_value is None else float(f"{p_value:.3g}"),
        threshold=check.threshold,
        samples=int(samples),
        message=message,
    )


def _too_few(check: Check, samples: float, needed: float, what: str, why: str = "") -> Measurement:
    if math.isinf(needed):
        return Measurement(check, samples, inconclusive=f"{int(samples)} {what} in the window{why}")
    reason = f"{int(samples)} {what} in the window, fewer than {int(needed)}{why}"
    return Measurement(check, samples, inconclusive=reason)


def _p(value: float) -> str:
    return f"p={value:.2g}"


def measure_latency(check: Check, window: Window, min_samples: int) -> Measurement:
    """The quantile from the histogram; the test: are more than ``1 - q`` of requests slower than the threshold?

    The count slower than the smallest bucket bound at or above the threshold is a lower bound of
    the count slower than the threshold, so the one-sided binomial test on it is exact or
    conservative. A threshold above every finite bound cannot be shown exceeded (the test never rejects).
    """
    q = check.quantile or DEFAULT_QUANTILE
    buckets = window.latency_buckets()
    samples = buckets[-1][1] if buckets else 0.0
    if samples < min_samples:
        return _too_few(check, samples, min_samples, "requests")
    value = histogram_quantile(q, buckets)
    if math.isnan(value):
        return Measurement(check, samples, inconclusive="no latency histogram")
    bound = next(((le, cum) for le, cum in buckets if le >= check.threshold and math.isfinite(le)), None)
    if bound is None:
        p_value, slower = 1.0, "no bucket bound at or above the threshold"
    else:
        above = max(0.0, samples - bound[1])
        p_value = binom_sf(above, samples, 1.0 - q)
        slower = f"{int(above)} of {int(samples)} slower than {bound[0] * 1000:g} ms"
    text = f"p{q * 100:g} latency {value * 1000:.1f} ms; {slower}"
    test = Test("latency", p_value, value, value > check.threshold, text)
    return Measurement(check, samples, (test,), value, text)


def measure_error_rate(check: Check, window: Window, min_samples: int) -> Measurement:
    """The 5xx share; the test: exact one-sided binomial, is the true rate above the threshold?"""
    total, errors = window.requests()
    if total < min_samples:
        return _too_few(check, total, min_samples, "requests")
    rate = errors / total
    text = f"{int(errors)} of {int(total)} requests failed with 5xx"
    test = Test("errors", binom_sf(errors, total, check.threshold), rate, rate > check.threshold, text)
    return Measurement(check, total, (test,), rate, text)


def measure_accuracy(check: Check, window: Window, min_samples: int) -> Measurement:
    """Accuracy from feedback; the test: exact one-sided binomial, is the true accuracy below the threshold?"""
    correct = window.totals.get(("feedback", "correct"), 0.0)
    incorrect = window.totals.get(("feedback", "incorrect"), 0.0)
    scored = window.totals.get(("feedback", "scored"), 0.0)
    total = correct + incorrect
    if total == 0 and scored > 0:
        return Measurement(check, scored, inconclusive="accuracy needs classification feedback (labels)")
    if total < min_samples:
        return _too_few(check, total, min_samples, "feedback items")
    value = correct / total
    text = f"{int(correct)} of {int(total)} feedback items correct"
    test = Test("accuracy", binom_cdf(correct, total, check.threshold), value, value < check.threshold, text)
    return Measurement(check, total, (test,), value, text)


def _effect(method: str, reference: Reference, counts: Sequence[float]) -> float:
    if method == "ks":
        if reference.categorical:
            return total_variation(reference.proportions, counts)
        return ks_distance(reference.proportions, counts)
    return psi_effect(reference.proportions, counts, reference.rows)


def _observed(bins: Mapping[int, float], size: int) -> list[float]:
    extra = [i for i in bins if i >= size or i < 0]
    if extra:
        raise BinMismatchError(f"bin {extra[0]} is outside the {size} reference bins")
    return [bins.get(i, 0.0) for i in range(size)]


def references_from(
    profile: ReferenceProfile | None, current: Snapshot, digest: str | None
) -> tuple[dict[str, Reference], Reference | None]:
    """Reference bins per feature and for predictions: from ``bundle.json``, else from the pods' gauges."""
    features: dict[str, Reference] = {}
    prediction: Reference | None = None

    def of(p: FeatureProfile, rows: int | None) -> Reference:
        return Reference(tuple(p.bins.proportions), isinstance(p.bins, CategoricalBins), p.rows or rows)

    if profile is not None:
        features = {p.name: of(p, round(profile.rows * (1.0 - p.missing_fraction))) for p in profile.features}
        if profile.predictions is not None:
            prediction = of(profile.predictions, None)
    for pod in current.pods.values():
        if digest is not None and pod.digest != digest:
            continue
        for name, reference in pod.feature_reference.items():
            features.setdefault(name, reference)
        if prediction is None:
            prediction = pod.prediction_reference
    return features, prediction


def _needed(check: Check, reference: Reference, min_samples: int, alpha: float) -> float:
    """Rows a drift test of this variable needs: ``minSamples``, or more when the statistics say so."""
    bins = sum(1 for p in reference.proportions if p > 0)
    return max(float(min_samples), rows_needed(check.threshold, bins, alpha, reference.rows, check.method or "psi"))


def _drift_test(check: Check, label: str, reference: Reference, counts: Sequence[float]) -> Test:
    method = check.method or "psi"
    effect = _effect(method, reference, counts)
    test = chi_square_test(reference.proportions, counts, reference.rows, ordered=not reference.categorical)
    return Test(label, test.p_value, effect, effect >= check.threshold, f"{label} ({effect:.3f})")


def _why_needed(check: Check, needed: float, reference: Reference) -> str:
    method = check.method or "psi"
    if math.isinf(needed):
        return (
            f": the reference ({reference.rows} rows) is too small for a {method} of {check.threshold:g} "
            "ever to be significant; raise the threshold or train on more data"
        )
    return f" needed for a {method} of {check.threshold:g} to be significant"


def measure_feature_drift(
    check: Check, window: Window, min_samples: int, references: Mapping[str, Reference], alpha: float
) -> Measurement:
    """One chi-square test per feature (see :func:`yardarm.operator.drift.chi_square_test`)."""
    names = check.features if check.features is not None else sorted(references)
    if not names:
        return Measurement(check, 0, inconclusive="no reference profile for any feature")
    unknown = [n for n in names if n not in references]
    if unknown:
        return Measurement(check, 0, inconclusive=f"no reference bins for feature(s) {', '.join(unknown)}")
    method = check.method or "psi"
    tests: list[Test] = []
    sparse: list[str] = []
    samples = 0.0
    short: tuple[float, float, Reference] | None = None
    for name in names:
        ref = references[name]
        try:
            counts = _observed(window.bins("feature", name), len(ref.proportions))
        except BinMismatchError as exc:
            return Measurement(check, 0, inconclusive=f"feature {name}: {exc}")
        n = sum(counts)
        samples = max(samples, n)
        needed = _needed(check, ref, min_samples, alpha)
        if n >= needed:
            tests.append(_drift_test(check, name, ref, counts))
        else:
            sparse.append(name)
            if short is None or needed > short[1]:
                short = (n, needed, ref)
    if not tests:
        assert short is not None
        why = _why_needed(check, short[1], short[2]) if short[1] > min_samples else ""
        return _too_few(check, short[0], short[1], "rows", why)
    note = f"; too few values to test {', '.join(sparse)}" if sparse else ""
    top = max(tests, key=lambda t: t.effect)
    summary = f"largest {method} {top.effect:.3f} ({top.label})"
    return Measurement(check, samples, tuple(tests), top.effect, summary, note=note)


def measure_prediction_drift(
    check: Check, window: Window, min_samples: int, reference: Reference | None, alpha: float
) -> Measurement:
    """The same test as one feature's drift, on the prediction bins."""
    if reference is None:
        return Measurement(check, 0, inconclusive="no reference profile for predictions")
    try:
        counts = _observed(window.bins("prediction"), len(reference.proportions))
    except BinMismatchError as exc:
        return Measurement(check, 0, inconclusive=f"predictions: {exc}")
    samples = sum(counts)
    needed = _needed(check, reference, min_samples, alpha)
    if samples < needed:
        why = _why_needed(check, needed, reference) if needed > min_samples else ""
        return _too_few(check, samples, needed, "predictions", why)
    test = _drift_test(check, "predictions", reference, counts)
    method = check.method or "psi"
    return Measurement(check, samples, (test,), test.effect, f"prediction {method} {test.effect:.3f}")


def planned_tests(spec: MonitorSpec, references: Mapping[str, Reference]) -> int:
    """How many hypotheses an evaluation of ``spec`` tests at most (sets the per-test level for needed counts)."""
    total = 0
    for check in spec.checks:
        if check.type == "featureDrift":
            total += len(check.features) if check.features is not None else max(len(references), 1)
        else:
            total += 1
    return max(total, 1)


def decide(measurements: Sequence[Measurement], alpha: float) -> list[CheckStatus]:
    """Holm-adjust every test of the evaluation together, then give each check its result.

    A test fails when its adjusted p-value is at most ``alpha`` and its effect is beyond the
    threshold; a check fails when any of its tests fails.
    """
    flat = [t for m in measurements for t in m.tests]
    adjusted = iter(holm([t.p_value for t in flat]))
    out: list[CheckStatus] = []
    for m in measurements:
        pairs = [(t, next(adjusted)) for t in m.tests]
        if m.inconclusive is not None or not pairs:
            out.append(_status(m.check, "Inconclusive", None, m.samples, m.inconclusive or "nothing to test"))
            continue
        best = min(a for _, a in pairs)
        failing = sorted(((t, a) for t, a in pairs if a <= alpha and t.exceeds), key=lambda ta: ta[1])
        if failing:
            if m.check.type in ("featureDrift", "predictionDrift"):
                method = m.check.method or "psi"
                listed = ", ".join(f"{t.detail[:-1]}, {_p(a)})" for t, a in failing[:5])
                more = f" and {len(failing) - 5} more" if len(failing) > 5 else ""
                message = f"{method} drift in {listed}{more}{m.note}"
            else:
                message = f"{failing[0][0].detail} ({_p(failing[0][1])})"
            out.append(_status(m.check, "Fail", m.value, m.samples, message, best))
        else:
            out.append(_status(m.check, "Pass", m.value, m.samples, f"{m.summary} ({_p(best)}){m.note}", best))
    return out


def run_checks(
    spec: MonitorSpec,
    window: Window,
    references: Mapping[str, Reference],
    prediction: Reference | None,
) -> list[CheckStatus]:
    """Every check of the spec against one window, decided together."""
    alpha = spec.false_alarm_rate
    per_test = alpha / planned_tests(spec, references)
    measured: list[Measurement] = []
    for check in spec.checks:
        if check.type == "latency":
            measured.append(measure_latency(check, window, spec.min_samples))
        elif check.type == "errorRate":
            measured.append(measure_error_rate(check, window, spec.min_samples))
        elif check.type == "accuracy":
            measured.append(measure_accuracy(check, window, spec.min_samples))
        elif check.type == "featureDrift":
            measured.append(measure_feature_drift(check, window, spec.min_samples, references, per_test))
        else:
            measured.append(measure_prediction_drift(check, window, spec.min_samples, prediction, per_test))
    return decide(measured, alpha)


# -- bookkeeping and status ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """What the target ModelDeployment serves now: the subject of the verdict."""

    revision: int | None
    digest: str | None


@dataclass(frozen=True)
class Outcome:
    """One evaluation: the new status and what happened, for Events."""

    status: MonitorStatus
    failing: tuple[str, ...]
    newly_degraded: bool
    #: Whether this evaluation's window counted toward ``consecutiveFailures`` (see :func:`counts`).
    counted: bool = True


def _same_subject(verdict: Verdict | None, served: Served) -> bool:
    return verdict is not None and verdict.revision == served.revision and verdict.digest == served.digest


def counts(counted_until: datetime | None, window_start: datetime | None) -> bool:
    """True when this evaluation's window does not overlap the last one counted toward the streak.

    Evaluations come every ``interval`` but each looks back a whole ``window``: consecutive windows
    share most of their rows, so three overlapping failures would be one piece of evidence seen three
    times. Only an evaluation whose window starts at or after the end of the last counted window
    (``status.countedUntil``) moves ``consecutiveFailures``; with independent windows, a healthy
    model is degraded with probability at most ``falseAlarmRate ** failureThreshold`` per window.
    """
    if window_start is None or counted_until is None:
        return True
    return window_start >= counted_until


def judge(
    spec: MonitorSpec,
    previous: MonitorStatus | None,
    checks: list[CheckStatus],
    served: Served,
    *,
    samples: int,
    generation: int | None,
    now: datetime,
    extra_message: str = "",
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> Outcome:
    """Apply the consecutive-failure rule to one evaluation's checks and build the status.

    ``window_start``/``window_end`` are the times of the window's baseline and current snapshots;
    without them every evaluation counts (as if windows never overlapped).
    """
    previous = previous or MonitorStatus()
    same = _same_subject(previous.verdict, served)
    failures = (previous.consecutive_failures or 0) if same else 0
    old = previous.verdict if same else None
    counted_until = previous.counted_until if same else None
    counted = counts(counted_until, window_start)

    failing = tuple(c.name for c in checks if c.result == "Fail")
    inconclusive = tuple(c.name for c in checks if c.result == "Inconclusive")
    if counted:
        counted_until = window_end or now
        if failing:
            failures += 1
        elif not inconclusive:
            failures = 0

    newly_degraded = False
    if old is not None and old.degraded:
        verdict = old  # latched for this revision: the reconciler must not miss it
    elif counted and failing and failures >= spec.failure_threshold:
        reason = _failing_reason(checks, failures)
        verdict = Verdict(degraded=True, revision=served.revision, digest=served.digest, since=now, reason=reason)
        newly_degraded = True
    else:
        verdict = Verdict(degraded=False, revision=served.revision, digest=served.digest)

    last_action = previous.last_action
    if newly_degraded:
        last_action = LastAction(type=spec.action, time=now, digest=served.digest)

    overlap = "" if counted else "; window overlaps the last counted one, not counted"
    phase: MonitorPhase
    if verdict.degraded:
        phase = "Degraded"
        message = f"Degraded: {verdict.reason}"
    elif failing:
        phase = "Failing"
        details = "; ".join(f"{c.name}: {c.message}" for c in checks if c.result == "Fail")
        message = (
            f"{', '.join(failing)} failing: {failures} of {spec.failure_threshold} consecutive failing windows"
            f"{overlap} ({details})"
        )
    elif failures:
        # Passing (or inconclusive) now, but a failing window still counts: the phase says so, so
        # that Healthy always means "no failing window in a row".
        phase = "Failing"
        why = "overlaps the last counted one" if not counted else "was inconclusive"
        message = f"{failures} of {spec.failure_threshold} consecutive failing windows; the latest window {why}"
        if inconclusive:
            message += " (" + "; ".join(f"{c.name}: {c.message}" for c in checks if c.result == "Inconclusive") + ")"
    elif inconclusive:
        phase = "Inconclusive"
        message = "; ".join(f"{c.name}: {c.message}" for c in checks if c.result == "Inconclusive")
    else:
        phase = "Healthy"
        message = "all checks pass"
    if extra_message:
        message = f"{message} ({extra_message})"

    conditions = monitor_conditions(previous.conditions or [], phase, message, generation=generation, now=now)
    status = MonitorStatus(
        phase=phase,
        observed_generation=generation,
        conditions=conditions,
        last_evaluation_time=now,
        samples=samples,
        checks=checks,
        consecutive_failures=failures,
        counted_until=counted_until,
        verdict=verdict,
        last_action=last_action,
        message=message[:1024],
    )
    return Outcome(status=status, failing=failing, newly_degraded=newly_degraded, counted=counted)


def _failing_reason(checks: Sequence[CheckStatus], failures: int) -> str:
    parts = [f"{c.name} ({c.message})" if c.message else c.name for c in checks if c.result == "Fail"]
    return f"{failures} consecutive failing evaluations; failing: {'; '.join(parts)}"


def monitor_conditions(
    conditions: list[Condition], phase: MonitorPhase, message: str, *, generation: int | None, now: datetime
) -> list[Condition]:
    """Conditions for a phase: Degraded needs a person (Stalled); the others are the Monitor doing its job."""
    if phase == "Degraded":
        return summarize(conditions, State.STALLED, "Degraded", message, generation=generation, now=now)
    if phase == "Pending":
        return summarize(conditions, State.RECONCILING, "CollectingWindow", message, generation=generation, now=now)
    return summarize(conditions, State.READY, phase, message, generation=generation, now=now)


def halted_status(
    previous: MonitorStatus | None, reason: str, message: str, *, generation: int | None, now: datetime
) -> MonitorStatus:
    """A problem a person must fix (no target, bad spec): Stalled, phase Pending; the last judgement stays."""
    conditions = summarize(
        (previous.conditions or []) if previous else [], State.STALLED, reason, message, generation=generation, now=now
    )
    return (previous or MonitorStatus()).model_copy(
        update={"phase": "Pending", "observed_generation": generation, "conditions": conditions, "message": message}
    )


def waiting_status(
    previous: MonitorStatus | None,
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: datetime,
    keep_phase: bool = False,
) -> MonitorStatus:
    """Nothing to judge yet: Pending (Reconciling), or the last phase kept (``keep_phase``), saying why."""
    base = previous or MonitorStatus()
    phase: MonitorPhase = (base.phase or "Pending") if keep_phase else "Pending"
    if phase == "Pending":
        conditions = summarize(
            base.conditions or [], State.RECONCILING, reason, message, generation=generation, now=now
        )
    else:
        conditions = monitor_conditions(base.conditions or [], phase, message, generation=generation, now=now)
    return base.model_copy(
        update={"phase": phase, "observed_generation": generation, "conditions": conditions, "message": message}
    )


def evaluate(
    spec: MonitorSpec,
    previous: MonitorStatus | None,
    baseline: Snapshot | Sequence[Snapshot],
    current: Snapshot,
    profile: ReferenceProfile | None,
    served: Served,
    *,
    generation: int | None,
    now: datetime,
    notes: Sequence[str] = (),
) -> Outcome:
    """The whole evaluation: the window up to ``current``, every check, then :func:`judge`.

    ``baseline`` is the earlier snapshot (or the snapshots, oldest first) within the window.
    """
    window = window_between(baseline, current, served.digest)
    earlier = [baseline] if isinstance(baseline, Snapshot) else list(baseline)
    start = datetime.fromtimestamp(earlier[0].time, tz=UTC) if earlier else None
    references, prediction = references_from(profile, current, served.digest)
    checks = run_checks(spec, window, references, prediction)
    total, _ = window.requests()
    notes = list(notes)
    if not window.pods:
        notes.append(f"no ready serving pod reports digest {served.digest}")
    if window.restarted:
        notes.append(f"counters reset in {', '.join(window.restarted)}")
    if current.errors:
        failed = "; ".join(f"{pod}: {error}"[:200] for pod, error in sorted(current.errors.items()))
        notes.append(f"could not scrape {failed}")
    return judge(
        spec,
        previous,
        checks,
        served,
        samples=int(total),
        generation=generation,
        now=now,
        extra_message="; ".join(notes),
        window_start=start,
        window_end=datetime.fromtimestamp(current.time, tz=UTC),
    )
