"""What every reconcile gets besides the object's key: config, clock, and the operator's memory.

The memory is an index of who waits on whom (a TrainingRun on its Dataset, a ModelDeployment on
its TrainingRun) and the latest Monitor verdicts per target. Both are rebuilt from watch events
after a restart (Kopf lists every object first), and losing them only delays a reconcile until
the next resync: no decision lives only here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

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
