"""Failing a rollout at once when the new revision's pods cannot start, with the pods' own reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from yardarm.api.modeldeployment import Revision
from yardarm.operator.modeldeployment import rollout_to_check
from yardarm.operator.podfailure import describe, pod_failure
from yardarm.operator.rollback import Policy, Resolved, Rollout, RolloutState, decide

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
FETCH_MESSAGE = "The bundle s3://m/x is not in the object store (NoSuchKey: no object x/bundle.json)."


def pod(name: str = "p", *, init: list[dict[str, Any]] | None = None, main: list[dict[str, Any]] | None = None) -> dict:
    return {
        "metadata": {"name": name, "creationTimestamp": "2026-12-05T02:00:00Z"},
        "status": {"initContainerStatuses": init or [], "containerStatuses": main or []},
    }


def status(name: str, state: dict[str, Any], last: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "state": state, "lastState": last or {}}


def test_a_failed_fetch_reports_the_init_container_termination_message() -> None:
    failed = status("fetch", {"terminated": {"exitCode": 3, "reason": "Error", "message": FETCH_MESSAGE}})
    found = pod_failure([pod(init=[failed], main=[status("server", {"waiting": {"reason": "PodInitializing"}})])])
    assert found is not None and (found.reason, found.message, found.container) == (
        "FetchFailed",
        FETCH_MESSAGE,
        "fetch",
    )
    assert describe(found).startswith(FETCH_MESSAGE)


def test_a_crash_loop_reports_the_last_termination_and_its_last_log_line() -> None:
    last = {"terminated": {"exitCode": 2, "reason": "Error", "message": "loading\nbundle digest mismatch"}}
    crashing = status("server", {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}, last)
    found = pod_failure([pod(main=[crashing])])
    assert found is not None and found.reason == "CrashLoopBackOff" and found.message == "bundle digest mismatch"


def test_a_first_exit_fails_at_once_and_without_a_message_the_exit_code_is_told() -> None:
    exited = status("server", {"terminated": {"exitCode": 1, "reason": "Error"}})
    found = pod_failure([pod(main=[exited])])
    assert found is not None and found.reason == "ContainerExited" and found.message == "exit code 1 (Error)"


def test_an_image_that_cannot_be_pulled_is_a_failure() -> None:
    waiting = status("server", {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling "x:y"'}})
    found = pod_failure([pod(main=[waiting])])
    assert found is not None and found.reason == "ImagePullBackOff" and "x:y" in found.message


def test_pods_being_deleted_are_ignored() -> None:
    exited = status("server", {"terminated": {"exitCode": 1}})
    going = pod(main=[exited])
    going["metadata"]["deletionTimestamp"] = "2026-12-05T02:00:01Z"
    assert pod_failure([going]) is None


_healthy_state = st.sampled_from(
    [
        {"running": {"startedAt": "t"}},
        {"waiting": {"reason": "ContainerCreating"}},
        {"waiting": {"reason": "PodInitializing"}},
        {"terminated": {"exitCode": 0, "reason": "Completed"}},
    ]
)


@given(st.lists(st.tuples(_healthy_state, _healthy_state), max_size=4))
def test_pods_that_are_starting_or_running_never_fail_a_rollout(states: list[tuple[dict, dict]]) -> None:
    pods = [
        pod(f"p{i}", init=[status("fetch", init_state)], main=[status("server", main_state)])
        for i, (init_state, main_state) in enumerate(states)
    ]
    assert pod_failure(pods) is None


def test_decide_fails_the_new_revision_with_the_pod_reason_and_goes_back_to_the_last_good_one() -> None:
    history = [
        Revision(
            revision=1, model_digest=A, model_uri="s3://m/a", deployed_at=NOW, served_at=NOW, outcome="Superseded"
        ),
        Revision(revision=2, model_digest=B, model_uri="s3://m/b", deployed_at=NOW, outcome="Progressing"),
    ]
    rollout = Rollout(2, RolloutState.FAILED, FETCH_MESSAGE, reason="FetchFailed")
    decision = decide(
        history=history,
        desired_before=B,
        resolved=Resolved(digest=B, uri="s3://m/b"),
        rollout=rollout,
        verdicts=[],
        policy=Policy(),
        history_limit=10,
        now=NOW,
    )
    assert decision.target is not None and decision.target.revision == 1
    failed = next(r for r in decision.history if r.revision == 2)
    assert failed.outcome == "Failed" and failed.reason is not None and FETCH_MESSAGE in failed.reason
    assert "FetchFailed" in failed.reason and "progressDeadlineSeconds" not in failed.reason
    warnings = [e for e in decision.events if e.type == "Warning"]
    assert {e.reason for e in warnings} == {"RolloutFailed", "RolledBack"}
    assert all(FETCH_MESSAGE in e.message for e in warnings)


def test_only_a_revision_still_rolling_out_is_judged_by_its_pods() -> None:
    progressing = Rollout(2, RolloutState.PROGRESSING, "0/1 pods available.")
    rolling = Revision(revision=2, model_digest=B, model_uri="s3://m/b", deployed_at=NOW, outcome="Progressing")
    served = rolling.model_copy(update={"outcome": "Serving", "served_at": NOW})
    assert rollout_to_check(progressing, [rolling])
    assert not rollout_to_check(progressing, [served])  # a crash after serving is the Deployment's to restart
    assert not rollout_to_check(Rollout(2, RolloutState.AVAILABLE), [rolling])
    assert not rollout_to_check(progressing, [])  # not recorded yet: its pods do not exist yet either
