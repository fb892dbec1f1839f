"""The operator's engine: the work queue, the shared context, and dispatch to each kind's reconcile.

``main.py`` turns watch events into calls of :meth:`Controller.enqueue` and friends; this module
turns queued keys into reconciles, times them, counts them, and retries failures with backoff.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from yardarm.operator import dataset, modeldeployment, trainingrun
from yardarm.operator.config import Config
from yardarm.operator.context import Context, Key
from yardarm.operator.kube import KubeError, NotFoundError
from yardarm.operator.metrics import QUEUE_DEPTH, RECONCILE_DURATION, RECONCILES
from yardarm.operator.modeldeployment import monitor_verdict
from yardarm.operator.workqueue import RetryLaterError, WorkQueue

log = logging.getLogger("yardarm.operator")

Reconcile = Callable[[Context, str, str], Awaitable[float | None]]
RECONCILERS: dict[str, Reconcile] = {
    "Dataset": dataset.reconcile,
    "TrainingRun": trainingrun.reconcile,
    "ModelDeployment": modeldeployment.reconcile,
}


class Controller:
    """One per operator process."""

    def __init__(self, config: Config, *, reconcilers: Mapping[str, Reconcile] | None = None) -> None:
        self.config = config
        self.reconcilers = dict(reconcilers or RECONCILERS)
        self.queue: WorkQueue[Key] = WorkQueue(self._run, workers=config.workers, on_depth=QUEUE_DEPTH.set)
        self.context = Context(config=config, enqueue=self.enqueue)

    def enqueue(self, kind: str, namespace: str, name: str) -> None:
        """Reconcile an object soon."""
        self.queue.add((kind, namespace, name))

    def start(self) -> None:
        self.queue.start()

    async def stop(self) -> None:
        await self.queue.stop()

    def _resync(self, delay: float | None) -> float | None:
        """Spread periodic resyncs so a thousand objects do not all come back in the same second."""
        if delay is None:
            return None
        if delay >= self.config.resync_seconds:
            return delay * random.uniform(0.9, 1.1)
        return delay

    async def _run(self, key: Key) -> float | None:
        kind, namespace, name = key
        reconcile = self.reconcilers[kind]
        started = time.perf_counter()
        result = "error"
        try:
            again = await reconcile(self.context, namespace, name)
            result = "ok" if again is None or again >= self.config.resync_seconds else "requeue"
            return self._resync(again if again is not None else self.config.resync_seconds * 5)
        except NotFoundError:
            # Something vanished while we worked (usually the object itself or its namespace):
            # no error and no hot retry; one resync later finds the object gone, or repairs it.
            result = "gone"
            return self._resync(self.config.resync_seconds)
        except KubeError as exc:
            if _namespace_terminating(exc):
                # Writing into a namespace being deleted is refused until it is gone; its
                # objects go with it, so there is nothing to retry (and nothing to warn about).
                result = "gone"
                log.debug("reconcile %s %s/%s: namespace terminating", kind, namespace, name)
                return None
            if not exc.transient:
                log.warning("reconcile %s %s/%s: %s", kind, namespace, name, exc)
            raise RetryLaterError(str(exc)) from exc
        finally:
            elapsed = time.perf_counter() - started
            RECONCILES.labels(kind=kind, result=result).inc()
            RECONCILE_DURATION.labels(kind=kind, result=result).observe(elapsed)

    # --- what watch events mean --------------------------------------------------------------

    def owner_changed(self, kind: str, body: Mapping[str, Any], event_type: str | None) -> None:
        """A Dataset, TrainingRun or ModelDeployment changed: reconcile it and whoever waits on it."""
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        if event_type == "DELETED":
            self.context.notify(kind, namespace, name)
            return
        if event_type == "MODIFIED" and _only_status_written_by_us(body):
            # Our own status patch echoed back: nothing to do for the object itself.
            self.context.notify(kind, namespace, name)
            return
        self.enqueue(kind, namespace, name)
        self.context.notify(kind, namespace, name)

    def child_changed(self, body: Mapping[str, Any], event_type: str | None) -> None:
        """A Job or Deployment the operator owns changed: reconcile its owner."""
        meta = body.get("metadata") or {}
        namespace = meta.get("namespace", "")
        if body.get("kind") == "Deployment":
            self.context.saw_deployment(body, event_type == "DELETED")
            if event_type == "DELETED":
                modeldeployment.forget("Deployment", namespace, meta.get("name", ""))
        for ref in meta.get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") in self.reconcilers:
                self.enqueue(ref["kind"], namespace, ref["name"])

    def monitor_changed(self, body: Mapping[str, Any], event_type: str | None) -> None:
        """A Monitor changed: remember its verdict and reconcile the ModelDeployment it targets."""
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        target = ((body.get("spec") or {}).get("targetRef") or {}).get("name")
        previous = self.context.monitor_targets.get((namespace, name))
        if event_type == "DELETED":
            self.context.set_verdict(namespace, name, None, None)
        else:
            self.context.set_verdict(namespace, name, target, monitor_verdict(body))
        for md in {previous, target} - {None}:
            self.enqueue("ModelDeployment", namespace, str(md))


def _namespace_terminating(exc: KubeError) -> bool:
    """The API server's refusal to create objects in a namespace that is being deleted."""
    return exc.status == 403 and "because it is being terminated" in exc.message


def _only_status_written_by_us(body: Mapping[str, Any]) -> bool:
    """True when the object's spec was already reconciled (status.observedGeneration is current).

    Such an event is our status patch coming back, or a metadata change: the periodic resync
    still covers anything else, so skipping it saves a reconcile per status write.
    """
    status = body.get("status") or {}
    generation = (body.get("metadata") or {}).get("generation")
    return generation is not None and status.get("observedGeneration") == generation
