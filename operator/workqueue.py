"""A level-based work queue of object keys, as in controller-runtime, on asyncio.

Kopf's watch handlers only *enqueue* a key; workers take keys off the queue and run that kind's
reconcile. The queue guarantees what a level-based operator needs:

* a key is never reconciled by two workers at once (events arriving meanwhile mark it dirty,
  and it runs once more afterwards — bursts of events collapse into one reconcile);
* a failed reconcile (the handler raised) is retried with exponential backoff per key (0.5 s
  doubling to 60 s); only a reconcile that returns resets the key's failure count, so a
  handler must *raise* to fail (:class:`RetryLaterError` for expected failures, logged without a
  traceback) — returning a delay means "succeeded, come back later";
* a reconcile may ask to run again after a delay (polling a Job, periodic resync).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
log = logging.getLogger("yardarm.operator.workqueue")


class RetryLaterError(Exception):
    """An expected failure (an API error, say): retried with backoff, logged in one line."""


class WorkQueue(Generic[K]):
    """Deduplicating, delaying, retrying queue of keys."""

    def __init__(
        self,
        handler: Callable[[K], Awaitable[float | None]],
        *,
        workers: int = 8,
        base_delay: float = 0.5,
        max_delay: float = 60.0,
        on_depth: Callable[[int], None] | None = None,
    ) -> None:
        self._handler = handler
        self._workers = workers
        self._base = base_delay
        self._max = max_delay
        self._on_depth = on_depth
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._failures: dict[K, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: K, delay: float = 0.0) -> None:
        """Reconcile ``key`` now (``delay`` 0) or after ``delay`` seconds, whichever request is sooner."""
        if delay > 0:
            loop = asyncio.get_running_loop()
            due = time.monotonic() + delay
            existing = self._timers.get(key)
            if existing is not None:
                if existing[0] <= due:
                    return
                existing[1].cancel()
            self._timers[key] = (due, loop.call_later(delay, self._fire, key))
            return
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)
            if self._on_depth:
                self._on_depth(len(self._queued))

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def start(self) -> None:
        """Start the workers on the running loop."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._worker(), name=f"yardarm-worker-{i}") for i in range(self._workers)]

    async def stop(self) -> None:
        """Cancel workers and pending timers."""
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def failures(self, key: K) -> int:
        """Failed reconciles of ``key`` in a row (0 after a success)."""
        return self._failures.get(key, 0)

    def backoff(self, key: K) -> float:
        """The next retry delay of a failing key (exponential, with jitter)."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(self._base * 2.0**failures, self._max)
        return delay * random.uniform(0.8, 1.2)

    async def _worker(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            if self._on_depth:
                self._on_depth(len(self._queued))
            self._processing.add(key)
            again: float | None
            try:
                again = await self._handler(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except RetryLaterError as exc:
                again = self.backoff(key)
                log.info("reconcile of %s failed: %s; retry %d in %.1fs", key, exc, self._failures[key], again)
            except Exception:
                again = self.backoff(key)
                log.exception("reconcile of %s failed; retrying in %.1fs", key, again)
            finally:
                self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
            elif again is not None:
                self.add(key, again)
