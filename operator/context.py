"""What every reconcile gets besides the object's key: config, clock, and the operator's memory.

The memory is an index of who waits on whom (a TrainingRun on its Dataset, a ModelDeployment on
its TrainingRun) and the latest Monitor verdicts per target. Both are rebuilt from watch events
after a restart (Kopf lists every object first), and losing them only delays a reconcile until
the next resync: no decision lives only here.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from yardarm.api.conditions import now_utc
from yardarm.operator.config import Config
from yardarm.operator.rollback import MonitorVerdict

Key = tuple[str, str, str]  # kind, namespace, name


@dataclass
class Context:
    """Shared by all reconciles of one operator process."""

    config: Config
    enqueue: Callable[[str, str, str], None] = lambda kind, namespace, name: None
    clock: Callable[[], datetime] = now_utc
    #: (kind, namespace, name) of a dependency → keys of the objects that wait on it.
    dependents: dict[Key, set[Key]] = field(default_factory=lambda: defaultdict(set))
    #: (namespace, ModelDeployment name) → Monitor name → its verdict.
    verdicts: dict[tuple[str, str], dict[str, MonitorVerdict]] = field(default_factory=lambda: defaultdict(dict))
    #: (namespace, Monitor name) → its target, so a retargeted or deleted Monitor is forgotten.
    monitor_targets: dict[tuple[str, str], str] = field(default_factory=dict)

    #: Degraded verdicts already announced without a rollback (alert-only), so each is told once.
    announced: set[tuple[str, str, str, str]] = field(default_factory=set)
    #: (namespace, name) → the latest serving Deployment seen on the watch, and when.
    deployments: dict[tuple[str, str], tuple[dict[str, Any], float]] = field(default_factory=dict)
    #: How long a watched Deployment may stand in for a GET (bounds staleness after a missed event).
    deployment_ttl: float = 30.0

    def saw_deployment(self, body: Mapping[str, Any], deleted: bool) -> None:
        """Remember (or forget) a Deployment from its watch event."""
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        if deleted:
            self.deployments.pop(key, None)
        else:
            self.deployments[key] = (_slim_deployment(body), time.monotonic())

    def deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A recently watched Deployment, or ``None`` (then read it from the API)."""
        entry = self.deployments.get((namespace, name))
        if entry is None or time.monotonic() - entry[1] > self.deployment_ttl:
            return None
        return entry[0]

    def depend(self, dependent: Key, on: Key) -> None:
        """Remember that ``dependent`` must be reconciled when ``on`` changes."""
        self.dependents[on].add(dependent)

    def notify(self, kind: str, namespace: str, name: str) -> None:
        """``kind/namespace/name`` changed: reconcile whoever waits on it."""
        for dependent in tuple(self.dependents.get((kind, namespace, name), ())):
            self.enqueue(*dependent)

    def set_verdict(self, namespace: str, monitor: str, target: str | None, verdict: MonitorVerdict | None) -> None:
        """Record (or forget, with ``None``) a Monitor's verdict on its target."""
        previous = self.monitor_targets.pop((namespace, monitor), None)
        if previous is not None:
            self.verdicts[(namespace, previous)].pop(monitor, None)
        if target is not None and verdict is not None:
            self.monitor_targets[(namespace, monitor)] = target
            self.verdicts[(namespace, target)][monitor] = verdict

    def verdicts_for(self, namespace: str, model_deployment: str) -> list[MonitorVerdict]:
        """Current verdicts of the Monitors targeting a ModelDeployment."""
        return list(self.verdicts.get((namespace, model_deployment), {}).values())


def _slim_deployment(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the rollout observation reads of a Deployment (a thousand full bodies cost megabytes)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    template_meta = (spec.get("template") or {}).get("metadata") or {}
    return {
        "metadata": {k: meta.get(k) for k in ("name", "namespace", "generation", "resourceVersion")},
        "spec": {"replicas": spec.get("replicas"), "template": {"metadata": {"labels": template_meta.get("labels")}}},
        "status": dict(body.get("status") or {}),
    }
