"""A ReadWriteOnce artifact claim on a cluster where more than one node can run pods is reported."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from yardarm.api.modeldeployment import Revision
from yardarm.operator.modeldeployment import md_status
from yardarm.operator.rollback import Decision, Rollout, RolloutState
from yardarm.operator.storagecheck import CONDITION, REASON, schedulable, single_node_claim

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
A = "sha256:" + "a" * 64


def node(*, ready: bool = True, cordoned: bool = False, taint: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"unschedulable": cordoned}
    if taint:
        spec["taints"] = [{"key": "k", "effect": taint}]
    return {"spec": spec, "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def claim(*modes: str) -> dict[str, Any]:
    return {"metadata": {"name": "yardarm-artifacts"}, "spec": {"accessModes": list(modes)}}


def test_read_write_once_on_two_schedulable_nodes_is_reported_with_the_way_out() -> None:
    message = single_node_claim(claim("ReadWriteOnce"), [node(), node()])
    assert message is not None and "yardarm-artifacts is ReadWriteOnce and 2 nodes" in message
    assert "Multi-Attach" in message and "s3" in message and "ReadWriteMany" in message


def test_shared_claims_and_single_node_clusters_are_fine() -> None:
    assert single_node_claim(claim("ReadWriteMany"), [node(), node(), node()]) is None
    assert single_node_claim(claim("ReadWriteOnce", "ReadOnlyMany"), [node(), node()]) is None
    assert single_node_claim(claim("ReadWriteOnce"), [node()]) is None
    assert single_node_claim(claim("ReadWriteOnce"), None) is None  # nodes unreadable: no guess
    assert single_node_claim(None, [node(), node()]) is None


def test_nodes_that_cannot_run_pods_do_not_count() -> None:
    others = [node(ready=False), node(cordoned=True), node(taint="NoSchedule"), node(taint="NoExecute")]
    assert not any(schedulable(n) for n in others)
    assert schedulable(node(taint="PreferNoSchedule"))
    assert single_node_claim(claim("ReadWriteOnce"), [node(), *others]) is None


@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.sampled_from([None, "NoSchedule", "PreferNoSchedule"]))))
def test_reported_exactly_when_more_than_one_node_is_schedulable(flags: list[tuple[bool, bool, str | None]]) -> None:
    nodes = [node(ready=r, cordoned=c, taint=t) for r, c, t in flags]
    count = sum(1 for r, c, t in flags if r and not c and t != "NoSchedule")
    assert (single_node_claim(claim("ReadWriteOnce"), nodes) is not None) == (count > 1)


def test_the_modeldeployment_carries_the_condition_and_clears_it_later() -> None:
    md = {"metadata": {"name": "iris", "namespace": "ml", "generation": 1}, "spec": {}}
    serving = Revision(
        revision=1, model_digest=A, model_uri="pvc://c/b", deployed_at=NOW, served_at=NOW, outcome="Serving"
    )
    decision = Decision(history=[serving], target=serving, desired_digest=A)
    rollout = Rollout(1, RolloutState.AVAILABLE, "1/1 pods available.")
    warned = md_status(md, decision, None, rollout, url="u", now=NOW, storage_warning="Claim c is ReadWriteOnce.")  # type: ignore[arg-type]
    cond = next(c for c in warned["conditions"] if c["type"] == CONDITION)
    assert (cond["status"], cond["reason"], cond["message"]) == ("True", REASON, "Claim c is ReadWriteOnce.")
    assert warned["phase"] == "Ready"  # a warning, not a failure: a single-node scheduler may still cope
    cleared = md_status({**md, "status": warned}, decision, None, rollout, url="u", now=NOW)  # type: ignore[arg-type]
    assert next(c for c in cleared["conditions"] if c["type"] == CONDITION)["status"] == "False"
