"""Conditions follow kstatus: Ready, Reconciling and Stalled never contradict each other."""

from __future__ import annotations

from datetime import UTC, datetime

from yardarm.api.conditions import State, find, is_true, set_condition, summarize

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


def test_summarize_sets_exactly_one_abnormal_or_ready_state() -> None:
    for state in State:
        conditions = summarize([], state, "Because", "it is so", generation=3, now=T0)
        truths = {c.type: c.status for c in conditions}
        assert truths == {
            "Ready": "True" if state is State.READY else "False",
            "Reconciling": "True" if state is State.RECONCILING else "False",
            "Stalled": "True" if state is State.STALLED else "False",
        }
        assert all(c.observed_generation == 3 for c in conditions)


def test_transition_time_moves_only_when_status_changes() -> None:
    first = set_condition([], "Ready", "False", "Waiting", now=T0)
    same = set_condition(first, "Ready", "False", "StillWaiting", "new message", now=T1)
    assert find(same, "Ready").last_transition_time == T0
    assert find(same, "Ready").reason == "StillWaiting"
    flipped = set_condition(same, "Ready", "True", "Done", now=T1)
    assert find(flipped, "Ready").last_transition_time == T1
    assert is_true(flipped, "Ready")


def test_wire_form_is_the_metav1_condition_shape() -> None:
    (ready,) = set_condition([], "Ready", "True", "Serving", "ok", generation=1, now=T0)
    assert ready.to_wire() == {
        "type": "Ready",
        "status": "True",
        "reason": "Serving",
        "message": "ok",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": 1,
    }
