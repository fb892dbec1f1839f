"""The operator's RBAC, as data: the least it needs, from which the chart's Role is generated.

Kept next to the code that makes the calls (``kube.py``, ``main.py`` and the Monitor evaluation)
so that a new call and its permission change together. The operator never writes a user's
``spec``: on its own kinds it may only read, write ``status``, and (for Monitors, whose Kopf
daemon needs one) manage a finalizer through ``patch``.
"""

from __future__ import annotations

from typing import Any

from yardarm.api.common import GROUP

READ = ["get", "list", "watch"]

RULES: list[dict[str, Any]] = [
    {"apiGroups": [GROUP], "resources": ["datasets", "trainingruns", "modeldeployments"], "verbs": READ},
    # Monitors: Kopf's per-Monitor daemon puts a finalizer on them (metadata only).
    {"apiGroups": [GROUP], "resources": ["monitors"], "verbs": [*READ, "patch"]},
    {
        "apiGroups": [GROUP],
        "resources": [
            "datasets/status",
            "trainingruns/status",
            "modeldeployments/status",
            "monitors/status",
        ],
        "verbs": ["get", "patch"],
    },
    # Profiling and training Jobs: created once, never changed (a Job's template is immutable).
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": [*READ, "create"]},
    # Pods: termination messages and waiting reasons of Job pods; ready serving pods for Monitors.
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    # Serving children, applied server-side (create on first apply, patch after).
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": [*READ, "create", "patch"]},
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "create", "patch"]},
    {
        "apiGroups": ["autoscaling"],
        "resources": ["horizontalpodautoscalers"],
        "verbs": ["get", "create", "patch", "delete"],
    },
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["get", "create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    # The artifact claim's access modes (a ReadWriteOnce claim on many nodes gets a warning).
    {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
]

#: Kopf peering (HA with --peering): namespaced or cluster-wide peering objects.
PEERING_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["kopf.dev"], "resources": ["kopfpeerings", "clusterkopfpeerings"], "verbs": [*READ, "patch"]},
]

#: Cluster-wide mode (--all-namespaces) also lists namespaces, and nodes (how many can run pods:
#: see storagecheck.py; a namespaced install skips that check).
CLUSTER_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": READ},
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]},
]


def role(name: str, *, cluster: bool, peering: bool = False, namespace: str | None = None) -> dict[str, Any]:
    """A Role (namespaced mode) or ClusterRole (``--all-namespaces``) holding the rules."""
    rules = [*RULES, *(PEERING_RULES if peering else []), *(CLUSTER_RULES if cluster else [])]
    metadata: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/part-of": "yardarm"}}
    if not cluster:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole" if cluster else "Role",
        "metadata": metadata,
        "rules": rules,
    }
