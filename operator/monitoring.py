"""Kopf handler code for Monitor: evaluate every ``spec.interval``, record the verdict in status.

Scheduling: Kopf timers have one interval per handler, but each Monitor has its own
``spec.interval``; a short timer plus "has the interval elapsed?" would wake every Monitor every
few seconds for nothing, and both ``@kopf.timer`` and ``@kopf.daemon`` put a Kopf finalizer on
every Monitor (the operator's other kinds use raw events only, so users' objects stay clean and
deletion never waits for the operator). So :func:`register` adds a raw watch-event handler that
keeps one asyncio task per Monitor: the task sleeps exactly ``spec.interval`` (re-read each round;
a spec change wakes it), ends when the Monitor is deleted, and is cancelled at shutdown. A round is
never sooner than ``interval`` after ``status.lastEvaluationTime``, so a restart or a second
operator replica cannot make failures count faster.

One round (:meth:`MonitorEvaluator.evaluate`): find the target ModelDeployment and what it
serves (``status.currentRevision``/``currentDigest``) → list its ready serving pods → scrape them
(or query ``spec.prometheusUrl``); the pods advertise the served bundle's reference bins and row
counts beside their counters, so the operator pod needs no artifact store →
:func:`yardarm.operator.evaluate.evaluate` against the oldest snapshot of the window →
patch ``status`` → Events on transitions; verdicts and scrape errors logged at INFO. The window's
snapshots live in memory only, keyed by the Monitor's uid: after an operator restart the first
round just records a snapshot and the window starts again; ``consecutiveFailures`` and the
verdict are in status and survive.

The Monitor only records its verdict; the ModelDeployment reconciler rolls back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import kopf
from pydantic import ValidationError

from yardarm.api.common import GROUP, VERSION, parse_duration
from yardarm.api.conditions import now_utc
from yardarm.api.monitor import MonitorSpec, MonitorStatus
from yardarm.operator import kube
from yardarm.operator.evaluate import (
    Outcome,
    Served,
    Snapshot,
    SnapshotRing,
    evaluate,
    halted_status,
    ring_size,
    waiting_status,
)
from yardarm.operator.metrics import MONITOR_EVALUATIONS
from yardarm.operator.scrape import DEFAULT_TIMEOUT, ScrapeError, scrape_pods, scrape_prometheus, targets_of
from yardarm.operator.statuses import problem

Body = dict[str, Any]
KIND = "Monitor"
log = logging.getLogger("yardarm.operator.monitoring")

#: Pause after an unexpected error in a round, so a bug cannot spin the loop.
ERROR_BACKOFF = 10.0

ScrapePods = Callable[..., Awaitable[Snapshot]]
StatusHook = Callable[[Mapping[str, Any], Mapping[str, Any]], None]


@dataclass(frozen=True)
class Round:
    """What one round did: the status written (wire form) and the outcome, if it evaluated."""

    status: dict[str, Any]
    outcome: Outcome | None = None


class MonitorEvaluator:
    """Evaluates Monitors; holds the per-Monitor snapshot rings and the profile cache.

    Clock and scrapers are injected so tests drive it without Kopf.
    ``on_status(monitor, status)`` is called after each status write (e.g. to hand the verdict to
    the ModelDeployment reconciler at once rather than on its next watch event).
    """

    def __init__(
        self,
        *,
        scrape_timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] = now_utc,
        scrape: ScrapePods = scrape_pods,
        on_status: StatusHook | None = None,
    ) -> None:
        self.scrape_timeout = scrape_timeout
        self.clock = clock
        self.scrape = scrape
        self.on_status = on_status
        self.rings: dict[str, SnapshotRing] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._generations: dict[str, Any] = {}

    def forget(self, uid: str) -> None:
        """Drop a Monitor's window (it was deleted)."""
        self.rings.pop(uid, None)

    # -- scheduling ---------------------------------------------------------------------------------

    def observe(self, body: Mapping[str, Any], event_type: str | None) -> None:
        """A watch event of a Monitor: start its loop, wake it on a spec change, stop it on deletion."""
        meta = body.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        if not uid:
            return
        if event_type == "DELETED" or meta.get("deletionTimestamp"):
            task = self._tasks.pop(uid, None)
            if task is not None:
                task.cancel()
            self._wakes.pop(uid, None)
            self._generations.pop(uid, None)
            self.forget(uid)
            return
        generation = meta.get("generation")
        task = self._tasks.get(uid)
        if task is None or task.done():
            self._wakes[uid] = asyncio.Event()
            self._generations[uid] = generation
            self._tasks[uid] = asyncio.create_task(
                self.loop(meta.get("namespace", ""), meta.get("name", ""), uid), name=f"monitor/{uid}"
            )
        elif self._generations.get(uid) != generation:
            self._generations[uid] = generation
            self._wakes[uid].set()  # e.g. a shorter interval: do not sleep out the old one

    async def stop(self) -> None:
        """Cancel every loop (operator shutdown)."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def loop(self, namespace: str, name: str, uid: str) -> None:
        """Evaluate one Monitor every ``spec.interval`` until it is deleted or the loop is cancelled.

        The Monitor is read afresh each round: its status (``consecutiveFailures``, the verdict)
        must be the one last written, not a watch event's copy that may lag behind. A round comes
        no sooner than ``interval`` after ``status.lastEvaluationTime``, whoever wrote it, so an
        operator restart or a second replica does not make failures count faster.
        """
        wake = self._wakes.setdefault(uid, asyncio.Event())
        while True:
            delay = ERROR_BACKOFF
            try:
                monitor = await kube.call(kube.get, KIND, namespace, name)
                if monitor is None or str((monitor.get("metadata") or {}).get("uid")) != uid:
                    self.forget(uid)
                    return
                delay = _interval(monitor)
                early = _too_early(monitor, self.clock(), delay)
                if early > 0:
                    delay = early
                else:
                    await self.evaluate(monitor)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad round must not end the Monitor's evaluations
                MONITOR_EVALUATIONS.labels(result="Error").inc()
                log.exception("evaluation of Monitor %s/%s failed: %s", namespace, name, exc)
                delay = max(delay, ERROR_BACKOFF)
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=delay)

    # -- one round --------------------------------------------------------------------------------

    async def evaluate(self, monitor: Mapping[str, Any]) -> Round:
        """One evaluation of one Monitor, written to its status. Raises only on API errors."""
        meta = monitor.get("metadata") or {}
        namespace, uid = meta.get("namespace", ""), str(meta.get("uid", ""))
        generation = meta.get("generation")
        # Only the fields of MonitorStatus are ours: others (e.g. a framework's) are neither read
        # nor deleted by the merge patch.
        old_wire = {k: v for k, v in (monitor.get("status") or {}).items() if k in _STATUS_FIELDS}
        previous = _previous_status(old_wire)
        now = self.clock()
        try:
            spec = MonitorSpec.model_validate(monitor.get("spec") or {})
        except ValidationError as exc:
            msg = f"spec is invalid: {problem(exc)}"[:1024]
            return await self._halt(monitor, previous, old_wire, "InvalidSpec", msg, now)

        target = spec.target_ref.name
        md = await kube.call(kube.get, "ModelDeployment", namespace, target)
        if md is None:
            msg = f"ModelDeployment {target} does not exist in namespace {namespace}"
            return await self._halt(monitor, previous, old_wire, "TargetNotFound", msg, now)
        md_status = md.get("status") or {}
        served = Served(revision=md_status.get("currentRevision"), digest=md_status.get("currentDigest"))
        if not served.digest:
            msg = f"ModelDeployment {target} serves no model yet"
            return await self._wait(monitor, previous, old_wire, "WaitingForModel", msg, now)

        pods = await kube.call(kube.serving_pods, namespace, target)
        try:
            if spec.prometheus_url:
                snapshot = await scrape_prometheus(
                    spec.prometheus_url, namespace, [p["metadata"]["name"] for p in pods], timeout=self.scrape_timeout
                )
            else:
                snapshot = await self.scrape(targets_of(pods), timeout=self.scrape_timeout)
        except ScrapeError as exc:
            MONITOR_EVALUATIONS.labels(result="Error").inc()
            log.info("Monitor %s/%s: cannot read metrics: %s", namespace, meta.get("name"), exc)
            msg = f"cannot read metrics: {exc}"
            return await self._wait(monitor, previous, old_wire, "MetricsUnavailable", msg, now, keep_phase=True)

        ring = self._ring(uid, spec)
        earlier = ring.add(snapshot, parse_duration(spec.window))
        if not earlier:
            msg = f"window started: first evaluation in {spec.interval} ({len(snapshot.pods)} pods scraped)"
            return await self._wait(monitor, previous, old_wire, "CollectingWindow", msg, now, keep_phase=True)

        # The serving pods advertise the reference bins of the bundle they serve (tied to it by the
        # digest in yardarm_model_info), which also works through Prometheus and needs no volume in
        # the operator pod (the chart mounts no artifact store there, so there is no other source).
        note = "" if _pods_advertise_references(snapshot, served.digest) else "no serving pod advertises reference bins"
        outcome = evaluate(
            spec,
            previous,
            earlier,
            snapshot,
            None,
            served,
            generation=generation,
            now=now,
            notes=[note] if note else (),
        )
        for pod, error in sorted(snapshot.errors.items()):
            log.info("Monitor %s/%s: could not scrape %s: %s", namespace, meta.get("name"), pod, error)
        log.info(
            "Monitor %s/%s: %s, %d of %d consecutive failing windows%s: %s",
            namespace,
            meta.get("name"),
            outcome.status.phase,
            outcome.status.consecutive_failures or 0,
            spec.failure_threshold,
            "" if outcome.counted else " (window overlaps the last counted one)",
            outcome.status.message,
        )
        new_wire = outcome.status.to_wire()
        await self._write(monitor, old_wire, new_wire)
        MONITOR_EVALUATIONS.labels(result=outcome.status.phase or "Error").inc()
        await self._events(monitor, spec, previous, outcome)
        return Round(new_wire, outcome)

    # -- helpers ------------------------------------------------------------------------------------

    def _ring(self, uid: str, spec: MonitorSpec) -> SnapshotRing:
        size = ring_size(spec)
        ring = self.rings.get(uid)
        if ring is None or ring.maxlen != size:
            ring = SnapshotRing(size, ring or ())
            self.rings[uid] = ring
        return ring

    async def _write(self, monitor: Mapping[str, Any], old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        meta = monitor.get("metadata") or {}
        patch = merge_patch(old, new)
        if patch:
            await kube.call(kube.patch_status, KIND, meta.get("namespace"), meta.get("name"), patch)
        if self.on_status is not None:
            self.on_status(monitor, new)

    async def _halt(
        self,
        monitor: Mapping[str, Any],
        previous: MonitorStatus | None,
        old: Mapping[str, Any],
        reason: str,
        message: str,
        now: datetime,
    ) -> Round:
        """A problem a person must fix (no target, bad spec): Stalled, phase Pending."""
        generation = (monitor.get("metadata") or {}).get("generation")
        new = halted_status(previous, reason, message, generation=generation, now=now).to_wire()
        await self._write(monitor, old, new)
        if not previous or previous.phase != "Pending" or _reason(previous) != reason:
            await kube.call(kube.emit_event, monitor, type_="Warning", reason=reason, message=message)
        return Round(new)

    async def _wait(
        self,
        monitor: Mapping[str, Any],
        previous: MonitorStatus | None,
        old: Mapping[str, Any],
        reason: str,
        message: str,
        now: datetime,
        *,
        keep_phase: bool = False,
    ) -> Round:
        """Nothing to judge yet: keep the last judgement (if asked) and say why in the message."""
        generation = (monitor.get("metadata") or {}).get("generation")
        new = waiting_status(previous, reason, message, generation=generation, now=now, keep_phase=keep_phase).to_wire()
        await self._write(monitor, old, new)
        return Round(new)

    async def _events(
        self, monitor: Mapping[str, Any], spec: MonitorSpec, previous: MonitorStatus | None, outcome: Outcome
    ) -> None:
        status = outcome.status
        before = previous.phase if previous else None
        if outcome.newly_degraded and status.verdict is not None:
            what = "rollback requested" if spec.action == "rollback" else "alert only (action: alert)"
            message = f"Revision {status.verdict.revision} ({status.verdict.digest}) is Degraded, {what}: "
            meta = monitor.get("metadata") or {}
            log.info("Monitor %s/%s: %s%s", meta.get("namespace"), meta.get("name"), message, status.verdict.reason)
            await kube.call(
                kube.emit_event,
                monitor,
                type_="Warning",
                reason="Degraded",
                message=message + (status.verdict.reason or ""),
            )
        elif outcome.failing and (previous is None or not previous.consecutive_failures):
            await kube.call(
                kube.emit_event, monitor, type_="Warning", reason="ChecksFailing", message=status.message or ""
            )
        elif status.phase != before and status.phase in ("Healthy", "Inconclusive"):
            await kube.call(kube.emit_event, monitor, type_="Normal", reason=status.phase, message=status.message or "")


# -- pure helpers ------------------------------------------------------------------------------------


def _interval(body: Mapping[str, Any]) -> float:
    try:
        return max(parse_duration(str((body.get("spec") or {}).get("interval", "30s"))), 1.0)
    except ValueError:
        return 30.0


def _too_early(monitor: Mapping[str, Any], now: datetime, interval: float) -> float:
    """Seconds until the next round is due after ``status.lastEvaluationTime`` (0 when due)."""
    last = (monitor.get("status") or {}).get("lastEvaluationTime")
    if not last:
        return 0.0
    try:
        when = datetime.fromisoformat(str(last).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    remaining = interval - (now - when).total_seconds()
    # Scheduling jitter of a second must not skip a whole round.
    return remaining if remaining > 1.0 else 0.0


_STATUS_FIELDS = frozenset(f.alias or n for n, f in MonitorStatus.model_fields.items())


def _previous_status(wire: Mapping[str, Any]) -> MonitorStatus | None:
    """The stored status, or None when it is absent or not ours to read (never fail on it)."""
    if not wire:
        return None
    try:
        return MonitorStatus.model_validate(wire)
    except ValidationError:
        return None


def _reason(status: MonitorStatus) -> str | None:
    ready = next((c for c in status.conditions or [] if c.type == "Stalled"), None)
    return ready.reason if ready else None


def _pods_advertise_references(snapshot: Snapshot, digest: str) -> bool:
    """True when a scraped pod serving ``digest`` carries reference-ratio gauges for its features."""
    return any(pod.digest == digest and pod.feature_reference for pod in snapshot.pods.values())


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch that turns ``old`` into ``new`` (``None`` deletes a key); empty if equal."""
    patch: dict[str, Any] = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            nested = merge_patch(before, value)
            if nested:
                patch[key] = nested
        elif value != before:
            patch[key] = value
    return patch


# -- registration ----------------------------------------------------------------------------------


def register(
    registry: kopf.OperatorRegistry | None = None, evaluator: MonitorEvaluator | None = None
) -> MonitorEvaluator:
    """Register the Monitor evaluation with Kopf (the default registry unless one is given).

    A raw watch-event handler starts one asyncio task per Monitor; a cleanup handler cancels them.
    Unlike ``@kopf.daemon`` or ``@kopf.timer`` this puts no finalizer on users' Monitors, matching
    the operator's other kinds.
    """
    evaluator = evaluator or MonitorEvaluator()

    @kopf.on.event(GROUP, VERSION, "monitors", id="monitor-evaluation", registry=registry)
    async def monitor_evaluation(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        evaluator.observe(body, event.get("type"))

    @kopf.on.cleanup(id="monitor-evaluation-stop", registry=registry)
    async def monitor_evaluation_stop(**_: Any) -> None:
        await evaluator.stop()

    return evaluator


__all__: Sequence[str] = ("MonitorEvaluator", "Round", "merge_patch", "register")
