"""Say so when a ReadWriteOnce artifact claim meets a cluster with more than one schedulable node.

A ReadWriteOnce volume attaches to one node at a time. The training Job writes the bundle on one
node; serving pods scheduled elsewhere then wait in ``ContainerCreating`` (Multi-Attach) with no
word in any Yardarm status. :func:`single_node_claim` decides (pure) from the claim and the
nodes; the reconciler turns its sentence into a ``SingleNodeStorage`` condition and a Warning
Event. When the operator may not list nodes (a namespaced install), the check says nothing
rather than guess.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from yardarm.operator import kube

CONDITION = "SingleNodeStorage"
REASON = "ReadWriteOnceOnManyNodes"
#: Access modes that let pods on several nodes mount the claim at once.
SHARED_MODES = frozenset({"ReadWriteMany", "ReadOnlyMany"})
#: Taint effects that keep ordinary pods off a node.
_REPELLING = frozenset({"NoSchedule", "NoExecute"})
#: Seconds a node count is trusted (nodes come and go slowly; reconciles run every few seconds).
NODES_TTL = 60.0


def schedulable(node: Mapping[str, Any]) -> bool:
    """Ready, not cordoned, and without a taint that repels pods that do not tolerate it."""
    spec, status = node.get("spec") or {}, node.get("status") or {}
    if spec.get("unschedulable"):
        return False
    if any(t.get("effect") in _REPELLING for t in spec.get("taints") or []):
        return False
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    return bool(ready and ready.get("status") == "True")


def single_node_claim(claim: Mapping[str, Any] | None, nodes: Sequence[Mapping[str, Any]] | None) -> str | None:
    """A sentence when ``claim`` attaches to one node only and more than one node can run pods. Pure."""
    if claim is None or nodes is None:
        return None
    modes = set((claim.get("status") or {}).get("accessModes") or (claim.get("spec") or {}).get("accessModes") or [])
    if not modes or modes & SHARED_MODES:
        return None
    count = sum(1 for node in nodes if schedulable(node))
    if count <= 1:
        return None
    name = (claim.get("metadata") or {}).get("name", "")
    mode = "ReadWriteOncePod" if modes == {"ReadWriteOncePod"} else "ReadWriteOnce"
    return (
        f"Artifact claim {name} is {mode} and {count} nodes can run pods, so pods on another node than the one "
        "holding it wait in ContainerCreating (Multi-Attach): use artifacts.type s3 or a ReadWriteMany claim."
    )


_nodes: tuple[float, list[dict[str, Any]] | None] = (0.0, None)


async def check(namespace: str, claim_name: str) -> str | None:
    """Read the claim and the nodes (cached) and decide; ``None`` when either cannot be read."""
    global _nodes
    stamp, nodes = _nodes
    if nodes is None or time.monotonic() - stamp > NODES_TTL:
        try:
            nodes = await kube.call(kube.list_objects, "Node", None)
        except kube.KubeError:
            nodes = None  # forbidden in a namespaced install: say nothing rather than guess
        _nodes = (time.monotonic(), nodes)
    if nodes is None:
        return None
    try:
        claim = await kube.call(kube.get, "PersistentVolumeClaim", namespace, claim_name)
    except kube.KubeError:
        return None
    return single_node_claim(claim, nodes)
