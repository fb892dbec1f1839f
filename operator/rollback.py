"""The revision decision of a ModelDeployment: what to run, and when to go back. Pure.

:func:`decide` takes the recorded history, what ``spec.model`` resolves to now, what the
Deployment reports and what the Monitors say, and returns the new history and the revision the
Deployment must run. The reconciler writes the result to ``status`` *before* it touches the
Deployment, so a decision taken is never lost to a restart.

Rules:

* A new revision starts only when the resolved digest differs from ``status.desiredDigest``
  (``spec.model`` changed). So a digest that was rolled back is not deployed again — the
  desired digest stays the same — until the user asks for another model.
* A revision becomes ``Serving`` when its rollout is complete, and ``Failed`` when its rollout
  misses ``progressDeadlineSeconds`` or its pods cannot start (a failed fetch, an exit, a
  crash loop, an image pull failure: the pod's own reason is recorded); with
  ``rollback.onFailedRollout`` the Deployment then goes back to the last good revision.
* A degraded verdict of a Monitor with ``action: rollback`` for the digest being served marks
  it ``RolledBack`` and goes back to the last good revision (``rollback.onDegraded``). Verdicts
  that are not degraded (Healthy, Inconclusive) never cause a rollback.
* "Good" means a revision that once served and was then replaced by a newer one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from yardarm.api.modeldeployment import Revision

ACTIVE = ("Progressing", "Serving")
#: Reasons of superseded revisions; only the first kind is a rollback target.
SUPERSEDED_AFTER_SERVING = "Superseded by revision"
REPLACED_BEFORE_SERVING = "Replaced by revision"
#: Reason of a rollout that missed ``progressDeadlineSeconds``.
DEADLINE = "ProgressDeadlineExceeded"


@dataclass(frozen=True)
class Resolved:
    """The model that ``spec.model`` resolves to."""

    digest: str
    uri: str
    training_run: str | None = None


class RolloutState(StrEnum):
    """What the Deployment says about the revision its template runs."""

    UNKNOWN = "Unknown"  # no Deployment yet, or the controller has not seen the latest template
    PROGRESSING = "Progressing"
    AVAILABLE = "Available"
    FAILED = "Failed"  # ProgressDeadlineExceeded, or the new revision's pods cannot start


@dataclass(frozen=True)
class Rollout:
    """The Deployment's rollout of one revision."""

    revision: int | None
    state: RolloutState
    message: str = ""
    #: Why a FAILED rollout failed: the deadline, or a pod's reason (FetchFailed, CrashLoopBackOff, …).
    reason: str = DEADLINE


def failure_reason(rollout: Rollout) -> str:
    """The sentence recorded on a revision whose rollout failed."""
    if rollout.reason == DEADLINE:
        return f"Not available within progressDeadlineSeconds: {rollout.message}".rstrip(": ")
    return f"Pods cannot start ({rollout.reason}): {rollout.message}"


@dataclass(frozen=True)
class MonitorVerdict:
    """One Monitor's verdict on the target ModelDeployment."""

    monitor: str
    action: Literal["rollback", "alert"]
    degraded: bool
    digest: str | None
    reason: str | None = None


@dataclass(frozen=True)
class Policy:
    """``spec.rollback``."""

    on_degraded: bool = True
    on_failed_rollout: bool = True


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to emit once the decision is recorded."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class RollbackRecord:
    """A rollback taken in this decision."""

    trigger: Literal["monitor", "rollout"]
    from_revision: int
    from_digest: str
    to_revision: int
    reason: str


@dataclass
class Decision:
    """The new history, the revision the Deployment runs, and what to tell people."""

    history: list[Revision]
    target: Revision | None
    desired_digest: str | None
    events: list[Event] = field(default_factory=list)
    rollback: RollbackRecord | None = None
    #: Set when a rollback was due but no good revision exists to go back to.
    blocked: str | None = None


def short(digest: str | None) -> str:
    """``sha256:0123456789ab`` — enough of a digest for a message."""
    return (digest or "")[:19]


def _latest_active(history: Sequence[Revision]) -> Revision | None:
    return max((r for r in history if r.outcome in ACTIVE), key=lambda r: r.revision, default=None)


def last_good(history: Sequence[Revision], *, excluding: int | None = None) -> Revision | None:
    """The newest revision that served and was later replaced: where a rollback goes."""
    good = [r for r in history if r.revision != excluding and r.outcome == "Superseded" and r.served_at is not None]
    return max(good, key=lambda r: r.revision, default=None)


def _replace(history: list[Revision], updated: Revision) -> list[Revision]:
    return [updated if r.revision == updated.revision else r for r in history]


def _go_back(
    history: list[Revision], bad: Revision, outcome: Literal["RolledBack", "Failed"], reason: str
) -> tuple[list[Revision], Revision | None]:
    """Mark ``bad`` and make the last good revision the target again (``None``: there is none)."""
    history = _replace(history, bad.model_copy(update={"outcome": outcome, "reason": reason}))
    good = last_good(history, excluding=bad.revision)
    if good is None:
        return history, None
    back = good.model_copy(
        update={"outcome": "Progressing", "reason": f"Rolled back to after revision {bad.revision}: {reason}"}
    )
    return _replace(history, back), back


def trim(history: Sequence[Revision], limit: int, keep: int | None) -> list[Revision]:
    """The newest ``limit`` revisions, oldest first, always including revision ``keep``."""
    ordered = sorted(history, key=lambda r: r.revision)
    if len(ordered) <= limit:
        return ordered
    newest = ordered[-limit:]
    if keep is not None and all(r.revision != keep for r in newest):
        kept = next(r for r in ordered if r.revision == keep)
        newest = [kept, *ordered[-(limit - 1) :]] if limit > 1 else [kept]
    return newest


def decide(
    *,
    history: Sequence[Revision],
    desired_before: str | None,
    resolved: Resolved | None,
    rollout: Rollout,
    verdicts: Sequence[MonitorVerdict],
    policy: Policy,
    history_limit: int,
    now: datetime,
) -> Decision:
    """The next state of a ModelDeployment's revisions, history trimmed to ``history_limit``."""
    decision = _decide(
        history=history,
        desired_before=desired_before,
        resolved=resolved,
        rollout=rollout,
        verdicts=verdicts,
        policy=policy,
        now=now,
    )
    keep = decision.target.revision if decision.target else None
    decision.history = trim(decision.history, history_limit, keep)
    return decision


def _decide(
    *,
    history: Sequence[Revision],
    desired_before: str | None,
    resolved: Resolved | None,
    rollout: Rollout,
    verdicts: Sequence[MonitorVerdict],
    policy: Policy,
    now: datetime,
) -> Decision:
    """The next state of a ModelDeployment's revisions (see the module docstring for the rules)."""
    hist = sorted(history, key=lambda r: r.revision)
    events: list[Event] = []
    desired = desired_before
    target = _latest_active(hist)
    if target is None and hist:
        # Nothing active (a failed rollout with nowhere to go back to): keep running the newest.
        target = hist[-1]

    # 1. spec.model changed: start a new revision.
    if resolved is not None and resolved.digest != desired_before:
        desired = resolved.digest
        if target is None or target.model_digest != resolved.digest or target.outcome not in ACTIVE:
            number = max((r.revision for r in hist), default=0) + 1
            if target is not None and target.outcome in ACTIVE:
                served = target.outcome == "Serving"
                prefix = SUPERSEDED_AFTER_SERVING if served else REPLACED_BEFORE_SERVING
                suffix = "." if served else " before it became available."
                hist = _replace(
                    hist, target.model_copy(update={"outcome": "Superseded", "reason": f"{prefix} {number}{suffix}"})
                )
            target = Revision(
                revision=number,
                model_digest=resolved.digest,
                model_uri=resolved.uri,
                training_run=resolved.training_run,
                deployed_at=now,
                outcome="Progressing",
                reason="Rolling out.",
            )
            hist.append(target)
            events.append(
                Event("Normal", "RolloutStarted", f"Rolling out revision {number} ({short(resolved.digest)}).")
            )

    decision = Decision(history=hist, target=target, desired_digest=desired, events=events)
    if target is None:
        return decision

    # 2. The Deployment's verdict on the revision it runs.
    if rollout.revision == target.revision and target.outcome == "Progressing":
        if rollout.state is RolloutState.AVAILABLE:
            serving = target.model_copy(
                update={"outcome": "Serving", "reason": "Available.", "served_at": target.served_at or now}
            )
            decision.history = _replace(decision.history, serving)
            decision.target = serving
            events.append(Event("Normal", "RolloutComplete", f"Revision {target.revision} is serving."))
        elif rollout.state is RolloutState.FAILED:
            reason = failure_reason(rollout)
            events.append(Event("Warning", "RolloutFailed", f"Revision {target.revision}: {reason}"))
            if policy.on_failed_rollout:
                hist2, back = _go_back(decision.history, target, "Failed", reason)
                decision.history = hist2
                if back is not None:
                    decision.target = back
                    decision.rollback = RollbackRecord(
                        "rollout", target.revision, target.model_digest, back.revision, reason
                    )
                    events.append(
                        Event(
                            "Warning",
                            "RolledBack",
                            f"Rolled back from revision {target.revision} ({short(target.model_digest)}) "
                            f"to revision {back.revision}: {reason}",
                        )
                    )
                else:
                    decision.target = next(r for r in hist2 if r.revision == target.revision)
                    decision.blocked = f"Revision {target.revision} failed and no earlier revision served."
            else:
                failed = target.model_copy(update={"outcome": "Failed", "reason": reason})
                decision.history = _replace(decision.history, failed)
                decision.target = failed
        return decision

    # 3. Monitor verdicts on the digest being served.
    if target.outcome == "Serving" and policy.on_degraded:
        for verdict in verdicts:
            if verdict.action != "rollback" or not verdict.degraded or verdict.digest != target.model_digest:
                continue
            reason = f"Monitor {verdict.monitor}: {verdict.reason or 'degraded'}"
            good = last_good(decision.history, excluding=target.revision)
            if good is None:
                decision.blocked = f"{reason}; no earlier good revision to roll back to."
                break
            hist2, back = _go_back(decision.history, target, "RolledBack", reason)
            assert back is not None
            decision.history = hist2
            decision.target = back
            decision.rollback = RollbackRecord("monitor", target.revision, target.model_digest, back.revision, reason)
            events.append(
                Event(
                    "Warning",
                    "RolledBack",
                    f"Rolled back from revision {target.revision} ({short(target.model_digest)}) "
                    f"to revision {back.revision}: {reason}",
                )
            )
            break
    return decision
