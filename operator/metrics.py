"""The operator's Prometheus metrics, defined once here and imported by whoever updates them.

Kept in their own registry (not the process-global default) so tests can create operators
repeatedly and read exact values. Label values are bounded: kinds, results and reasons are
short fixed vocabularies, never object names.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

#: One reconcile of one object; ``result`` is ok, requeue (waiting on something) or error.
RECONCILES = Counter(
    "yardarm_reconciles_total",
    "Reconciles by kind and result.",
    ["kind", "result"],
    registry=REGISTRY,
)
RECONCILE_DURATION = Histogram(
    "yardarm_reconcile_duration_seconds",
    "Time one reconcile took, by kind and result.",
    ["kind", "result"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
#: Automatic rollbacks of a ModelDeployment; ``trigger`` is monitor or rollout.
ROLLBACKS = Counter(
    "yardarm_rollbacks_total",
    "Automatic rollbacks to the last good revision, by trigger.",
    ["trigger"],
    registry=REGISTRY,
)
#: Monitor evaluations (incremented by the Monitor evaluation); ``result`` is the phase reached.
MONITOR_EVALUATIONS = Counter(
    "yardarm_monitor_evaluations_total",
    "Monitor evaluations, by result (Healthy, Degraded, Inconclusive, Error).",
    ["result"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "yardarm_workqueue_depth",
    "Objects waiting to be reconciled.",
    registry=REGISTRY,
)
