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

import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

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

from .drift import BinMismatchError, histogram_quantile, ks_distance, psi, total_variation

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

    def bins(self, family: str, *prefix: str) -> dict[int, float]:
        """Bin index → count for ``("feature", name)`` or ``("prediction",)``."""
        width = 1 + len(prefix)
        out: dict[int, float] = {}
        for key, value in self.totals.items():
            if key[0] == family and tuple(key[1:width]) == prefix and len(key) == width + 1:
                index = int(key[width])
                out[index] = out.get(index, 0.0) + value
        return out


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


def _status(check: Check, result: CheckResult, value: float | None, samples: float, message: str | None) -> CheckStatus:
    if value is not None and not math.isfinite(value):
        value = None
    return CheckStatus(
        name=check.name,
        type=check.type,
        result=result,
        value=None if value is None else round(value, 6),
        threshold=check.threshold,
        samples=int(samples),
        message=message,
    )


def _too_few(check: Check, samples: float, min_samples: int, what: str) -> CheckStatus:
    return _status(
        check, "Inconclusive", None, samples, f"{int(samples)} {what} in the window, fewer than {min_samples}"
    )


def _upper_bound(check: Check, value: float, samples: float, message: str) -> CheckStatus:
    result: CheckResult = "Fail" if value > check.threshold else "Pass"
    return _status(check, result, value, samples, message)


def check_latency(check: Check, window: Window, min_samples: int) -> CheckStatus:
    q = check.quantile or DEFAULT_QUANTILE
    buckets = window.latency_buckets()
    samples = buckets[-1][1] if buckets else 0.0
    if samples < min_samples:
        return _too_few(check, samples, min_samples, "requests")
    value = histogram_quantile(q, buckets)
    if math.isnan(value):
        return _status(check, "Inconclusive", None, samples, "no latency histogram")
    return _upper_bound(check, value, samples, f"p{q * 100:g} latency {value * 1000:.1f} ms")


def check_error_rate(check: Check, window: Window, min_samples: int) -> CheckStatus:
    total, errors = window.requests()
    if total < min_samples:
        return _too_few(check, total, min_samples, "requests")
    rate = errors / total
    return _upper_bound(check, rate, total, f"{int(errors)} of {int(total)} requests failed with 5xx")


def check_accuracy(check: Check, window: Window, min_samples: int) -> CheckStatus:
    correct = window.totals.get(("feedback", "correct"), 0.0)
    incorrect = window.totals.get(("feedback", "incorrect"), 0.0)
    scored = window.totals.get(("feedback", "scored"), 0.0)
    total = correct + incorrect
    if total == 0 and scored > 0:
        return _status(check, "Inconclusive", None, scored, "accuracy needs classification feedback (labels)")
    if total < min_samples:
        return _too_few(check, total, min_samples, "feedback items")
    value = correct / total
    result: CheckResult = "Fail" if value < check.threshold else "Pass"
    return _status(check, result, value, total, f"{int(correct)} of {int(total)} feedback items correct")


def _distance(method: str, categorical: bool, reference: Sequence[float], counts: Sequence[float]) -> float:
    if method == "ks":
        return total_variation(reference, counts) if categorical else ks_distance(reference, counts)
    return psi(reference, counts)


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

    def of(p: FeatureProfile) -> Reference:
        return Reference(tuple(p.bins.proportions), isinstance(p.bins, CategoricalBins))

    if profile is not None:
        features = {p.name: of(p) for p in profile.features}
        if profile.predictions is not None:
            prediction = of(profile.predictions)
    for pod in current.pods.values():
        if digest is not None and pod.digest != digest:
            continue
        for name, reference in pod.feature_reference.items():
            features.setdefault(name, reference)
        if prediction is None:
            prediction = pod.prediction_reference
    return features, prediction


def check_feature_drift(
    check: Check, window: Window, min_samples: int, references: Mapping[str, Reference]
) -> CheckStatus:
    names = check.features if check.features is not None else sorted(references)
    if not names:
        return _status(check, "Inconclusive", None, 0, "no reference profile for any feature")
    unknown = [n for n in names if n not in references]
    if unknown:
        return _status(check, "Inconclusive", None, 0, f"no reference bins for feature(s) {', '.join(unknown)}")
    method = check.method or "psi"
    scores: dict[str, float] = {}
    sparse: list[str] = []
    samples = 0.0
    for name in names:
        ref = references[name]
        try:
            counts = _observed(window.bins("feature", name), len(ref.proportions))
        except BinMismatchError as exc:
            return _status(check, "Inconclusive", None, 0, f"feature {name}: {exc}")
        n = sum(counts)
        samples = max(samples, n)
        if n >= min_samples:
            scores[name] = _distance(method, ref.categorical, ref.proportions, counts)
        else:
            sparse.append(name)
    if not scores:
        return _too_few(check, samples, min_samples, "rows")
    skipped = f"; too few values to test {', '.join(sparse)}" if sparse else ""
    worst = max(scores.values())
    drifted = sorted((n for n, s in scores.items() if s > check.threshold), key=lambda n: -scores[n])
    if drifted:
        listed = ", ".join(f"{n} ({scores[n]:.3f})" for n in drifted[:5])
        more = f" and {len(drifted) - 5} more" if len(drifted) > 5 else ""
        return _status(check, "Fail", worst, samples, f"{method} drift in {listed}{more}{skipped}")
    top = max(scores, key=lambda n: scores[n])
    return _status(check, "Pass", worst, samples, f"largest {method} {worst:.3f} ({top}){skipped}")


def check_prediction_drift(check: Check, window: Window, min_samples: int, reference: Reference | None) -> CheckStatus:
    if reference is None:
        return _status(check, "Inconclusive", None, 0, "no reference profile for predictions")
    try:
        counts = _observed(window.bins("prediction"), len(reference.proportions))
    except BinMismatchError as exc:
        return _status(check, "Inconclusive", None, 0, f"predictions: {exc}")
    samples = sum(counts)
    if samples < min_samples:
        return _too_few(check, samples, min_samples, "predictions")
    method = check.method or "psi"
    value = _distance(method, reference.categorical, reference.proportions, counts)
    return _upper_bound(check, value, samples, f"prediction {method} {value:.3f}")


def run_checks(
    spec: MonitorSpec,
    window: Window,
    references: Mapping[str, Reference],
    prediction: Reference | None,
) -> list[CheckStatus]:
    """Every check of the spec against one window."""
    out: list[CheckStatus] = []
    for check in spec.checks:
        if check.type == "latency":
            out.append(check_latency(check, window, spec.min_samples))
        elif check.type == "errorRate":
            out.append(check_error_rate(check, window, spec.min_samples))
        elif check.type == "accuracy":
            out.append(check_accuracy(check, window, spec.min_samples))
        elif check.type == "featureDrift":
            out.append(check_feature_drift(check, window, spec.min_samples, references))
        else:
            out.append(check_prediction_drift(check, window, spec.min_samples, prediction))
    return out


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


def _same_subject(verdict: Verdict | None, served: Served) -> bool:
    return verdict is not None and verdict.revision == served.revision and verdict.digest == served.digest


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
) -> Outcome:
    """Apply the consecutive-failure rule to one evaluation's checks and build the status."""
    previous = previous or MonitorStatus()
    same = _same_subject(previous.verdict, served)
    failures = (previous.consecutive_failures or 0) if same else 0
    old = previous.verdict if same else None

    failing = tuple(c.name for c in checks if c.result == "Fail")
    inconclusive = tuple(c.name for c in checks if c.result == "Inconclusive")
    if failing:
        failures += 1
    elif not inconclusive:
        failures = 0

    newly_degraded = False
    if old is not None and old.degraded:
        verdict = old  # latched for this revision: the reconciler must not miss it
    elif failing and failures >= spec.failure_threshold:
        reason = _failing_reason(checks, failures)
        verdict = Verdict(degraded=True, revision=served.revision, digest=served.digest, since=now, reason=reason)
        newly_degraded = True
    else:
        verdict = Verdict(degraded=False, revision=served.revision, digest=served.digest)

    last_action = previous.last_action
    if newly_degraded:
        last_action = LastAction(type=spec.action, time=now, digest=served.digest)

    phase: MonitorPhase
    if verdict.degraded:
        phase = "Degraded"
        message = f"Degraded: {verdict.reason}"
    elif failing:
        phase = "Healthy"
        message = (
            f"{', '.join(failing)} failing: {failures} of {spec.failure_threshold} consecutive failing evaluations"
        )
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
        verdict=verdict,
        last_action=last_action,
        message=message[:1024],
    )
    return Outcome(status=status, failing=failing, newly_degraded=newly_degraded)


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
    references, prediction = references_from(profile, current, served.digest)
    checks = run_checks(spec, window, references, prediction)
    total, _ = window.requests()
    notes = list(notes)
    if not window.pods:
        notes.append(f"no ready serving pod reports digest {served.digest}")
    if window.restarted:
        notes.append(f"counters reset in {', '.join(window.restarted)}")
    if current.errors:
        notes.append(f"could not scrape {', '.join(sorted(current.errors))}")
    return judge(
        spec,
        previous,
        checks,
        served,
        samples=int(total),
        generation=generation,
        now=now,
        extra_message="; ".join(notes),
    )
