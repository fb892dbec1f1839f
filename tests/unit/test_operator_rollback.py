"""The ModelDeployment revision decision: new revisions, rollout outcomes, rollbacks on verdicts."""

from __future__ import annotations

from datetime import UTC, datetime

from yardarm.api.modeldeployment import Revision
from yardarm.operator.rollback import (
    MonitorVerdict,
    Policy,
    Resolved,
    Rollout,
    RolloutState,
    decide,
    last_good,
    trim,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


def rev(number: int, digest: str, outcome: str, reason: str | None = None, *, served: bool | None = None) -> Revision:
    """A history entry; it has served when its outcome says so, unless ``served`` says otherwise."""
    if served is None:
        served = outcome in ("Serving", "RolledBack") or (reason or "").startswith("Superseded by")
    return Revision(
        revision=number,
        model_digest=digest,
        model_uri=f"pvc://models/bundles/{digest[7:15]}",
        deployed_at=NOW,
        served_at=NOW if served else None,
        outcome=outcome,
        reason=reason,
    )


DEFAULT_POLICY = Policy()


def run(history, desired_before, resolved_digest, rollout=None, verdicts=(), policy=DEFAULT_POLICY, limit=10):
    resolved = Resolved(resolved_digest, f"pvc://models/bundles/{resolved_digest[7:15]}") if resolved_digest else None
    return decide(
        history=history,
        desired_before=desired_before,
        resolved=resolved,
        rollout=rollout or Rollout(None, RolloutState.UNKNOWN),
        verdicts=list(verdicts),
        policy=policy,
        history_limit=limit,
        now=NOW,
    )


def serving_b_after_a() -> list[Revision]:
    return [rev(1, A, "Superseded", "Superseded by revision 2."), rev(2, B, "Serving", "Available.")]


def degraded(digest: str, action: str = "rollback", is_degraded: bool = True) -> MonitorVerdict:
    return MonitorVerdict(
        monitor="quality", action=action, degraded=is_degraded, digest=digest, reason="error rate 0.3"
    )


def test_a_first_model_starts_revision_one_progressing() -> None:
    d = run([], None, A)
    assert d.target is not None
    assert (d.target.revision, d.target.outcome, d.target.model_digest) == (1, "Progressing", A)
    assert d.desired_digest == A
    assert [e.reason for e in d.events] == ["RolloutStarted"]


def test_a_complete_rollout_makes_the_revision_serving() -> None:
    d = run([rev(1, A, "Progressing", served=False)], A, A, Rollout(1, RolloutState.AVAILABLE))
    assert d.target is not None and d.target.outcome == "Serving"
    assert d.target.served_at == NOW, "status.history records when a revision first served"
    assert [e.reason for e in d.events] == ["RolloutComplete"]


def test_an_unchanged_spec_on_a_serving_revision_does_nothing() -> None:
    history = serving_b_after_a()
    d = run(history, B, B, Rollout(2, RolloutState.AVAILABLE))
    assert d.history == history
    assert d.events == []


def test_a_new_model_supersedes_the_serving_one() -> None:
    d = run([rev(1, A, "Serving")], A, B)
    assert [(r.revision, r.outcome) for r in d.history] == [(1, "Superseded"), (2, "Progressing")]
    assert d.history[0].reason == "Superseded by revision 2."


def test_a_revision_replaced_before_serving_is_not_a_rollback_target() -> None:
    d = run([rev(1, A, "Serving")], A, B)
    d = run(d.history, B, C)
    assert [(r.revision, r.outcome) for r in d.history] == [(1, "Superseded"), (2, "Superseded"), (3, "Progressing")]
    good = last_good(d.history, excluding=3)
    assert good is not None and good.revision == 1


def test_a_degraded_verdict_on_the_served_digest_rolls_back_to_the_last_good_revision() -> None:
    d = run(serving_b_after_a(), B, B, Rollout(2, RolloutState.AVAILABLE), [degraded(B)])
    assert d.target is not None and (d.target.revision, d.target.outcome) == (1, "Progressing")
    bad = d.history[1]
    assert bad.outcome == "RolledBack"
    assert "Monitor quality: error rate 0.3" in (bad.reason or "")
    assert d.rollback is not None and d.rollback.trigger == "monitor"
    assert [e.reason for e in d.events] == ["RolledBack"]


def test_the_rolled_back_digest_is_not_deployed_again_while_spec_model_is_unchanged() -> None:
    first = run(serving_b_after_a(), B, B, Rollout(2, RolloutState.AVAILABLE), [degraded(B)])
    again = run(first.history, first.desired_digest, B, Rollout(1, RolloutState.AVAILABLE), [degraded(B)])
    assert again.target is not None and again.target.revision == 1
    assert again.target.outcome == "Serving"
    assert again.rollback is None
    assert max(r.revision for r in again.history) == 2


def test_a_changed_spec_model_deploys_again_after_a_rollback() -> None:
    first = run(serving_b_after_a(), B, B, Rollout(2, RolloutState.AVAILABLE), [degraded(B)])
    settled = run(first.history, B, B, Rollout(1, RolloutState.AVAILABLE))
    d = run(settled.history, B, C)
    assert d.target is not None and (d.target.revision, d.target.model_digest) == (3, C)


def test_inconclusive_or_healthy_verdicts_never_roll_back() -> None:
    history = serving_b_after_a()
    d = run(history, B, B, Rollout(2, RolloutState.AVAILABLE), [degraded(B, is_degraded=False)])
    assert d.rollback is None and d.target is not None and d.target.revision == 2


def test_an_alert_only_monitor_never_rolls_back() -> None:
    d = run(serving_b_after_a(), B, B, Rollout(2, RolloutState.AVAILABLE), [degraded(B, action="alert")])
    assert d.rollback is None


def test_a_verdict_on_another_digest_is_ignored() -> None:
    d = run(serving_b_after_a(), B, B, Rollout(2, RolloutState.AVAILABLE), [degraded(A)])
    assert d.rollback is None


def test_rollback_on_degraded_can_be_switched_off() -> None:
    policy = Policy(on_degraded=False)
    d = run(serving_b_after_a(), B, B, Rollout(2, RolloutState.AVAILABLE), [degraded(B)], policy=policy)
    assert d.rollback is None


def test_a_degraded_first_revision_has_nowhere_to_go() -> None:
    d = run([rev(1, A, "Serving")], A, A, Rollout(1, RolloutState.AVAILABLE), [degraded(A)])
    assert d.rollback is None
    assert d.blocked and "no earlier good revision" in d.blocked
    assert d.target is not None and d.target.outcome == "Serving"


def test_a_failed_rollout_rolls_back_when_the_policy_says_so() -> None:
    history = [rev(1, A, "Superseded", "Superseded by revision 2."), rev(2, B, "Progressing")]
    d = run(history, B, B, Rollout(2, RolloutState.FAILED, "ReplicaSet has timed out progressing."))
    assert d.target is not None and d.target.revision == 1
    assert d.history[1].outcome == "Failed"
    assert d.rollback is not None and d.rollback.trigger == "rollout"
    assert [e.reason for e in d.events] == ["RolloutFailed", "RolledBack"]


def test_a_failed_rollout_stays_when_rollback_on_failed_rollout_is_off() -> None:
    history = [rev(1, A, "Superseded", "Superseded by revision 2."), rev(2, B, "Progressing")]
    d = run(history, B, B, Rollout(2, RolloutState.FAILED, "x"), policy=Policy(on_failed_rollout=False))
    assert d.target is not None and (d.target.revision, d.target.outcome) == (2, "Failed")
    assert d.rollback is None


def test_a_stale_rollout_of_another_revision_is_not_judged() -> None:
    history = [rev(1, A, "Superseded", "Superseded by revision 2."), rev(2, B, "Progressing")]
    d = run(history, B, B, Rollout(1, RolloutState.FAILED, "old condition"))
    assert d.rollback is None and d.target is not None and d.target.outcome == "Progressing"


def test_an_unresolved_model_keeps_what_serves() -> None:
    history = serving_b_after_a()
    d = run(history, B, None, Rollout(2, RolloutState.AVAILABLE))
    assert d.target is not None and d.target.revision == 2 and d.desired_digest == B


def test_history_is_trimmed_but_never_drops_the_target() -> None:
    history = [rev(1, A, "Serving")] + [rev(n, C, "RolledBack") for n in range(2, 8)]
    kept = trim(history, 3, keep=1)
    assert [r.revision for r in kept] == [1, 6, 7]
    assert [r.revision for r in trim(history, 3, keep=7)] == [5, 6, 7]


def test_decide_trims_to_the_history_limit() -> None:
    d = run([rev(1, A, "Serving")], A, B, limit=1)
    assert [r.revision for r in d.history] == [2]
