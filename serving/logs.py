"""Structured JSON logs: one object per line, and an access log kept off the request path.

Requests only append a tuple to a bounded deque; a background task formats and writes the queued
records in one write every :data:`FLUSH_SECONDS`. When the writer falls behind, records are dropped
and counted instead of slowing requests. Errors (status >= 400) are always logged; successful
requests are sampled (``--access-log-sample``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import BinaryIO

import orjson

FLUSH_SECONDS = 0.1
#: Records formatted per slice before the writer yields to the event loop (bounds the pause).
CHUNK = 128


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Clock:
    """RFC 3339 UTC timestamps with the date-time part formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, seconds: float) -> str:
        whole = int(seconds)
        if whole != self._second:
            self._second = whole
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        return f"{self._prefix}.{int((seconds - whole) * 1000):03d}Z"


def log_event(level: str, message: str, stream: BinaryIO | None = None, **fields: object) -> None:
    """Write one structured log line now (startup, shutdown, errors: rare events)."""
    record = {"ts": _timestamp(time.time()), "level": level, "msg": message, **fields}
    out = stream or sys.stdout.buffer
    out.write(orjson.dumps(record, default=str) + b"\n")
    out.flush()


class JsonFormatter(logging.Formatter):
    """Library log records (uvicorn's) as the same JSON lines as :func:`log_event`."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
            "logger": record.name,
        }
        if record.exc_info:
            fields["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(fields, default=str).decode()


#: ``logging.config.dictConfig`` for uvicorn's loggers: JSON lines on stdout, warnings and up.
UVICORN_LOG_CONFIG: dict[str, object] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonFormatter}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
    "loggers": {
        "uvicorn": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
        "uvicorn.error": {"level": "WARNING"},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}


class AccessLog:
    """Access-log records queued by requests and written in batches by :meth:`run`."""

    def __init__(
        self,
        *,
        sample: float = 1.0,
        capacity: int = 65536,
        stream: BinaryIO | None = None,
        on_drop: Callable[[], None] | None = None,
        static: dict[str, str] | None = None,
    ) -> None:
        self._queue: deque[tuple[float, str, str, int, float, str | None]] = deque()
        self._capacity = capacity
        self._every = 0 if sample <= 0 else max(1, round(1 / min(sample, 1.0)))
        self._seen = 0
        self._stream = stream
        self._on_drop = on_drop
        # Everything after "msg" that never changes, pre-rendered: `"model":"iris","revision":"3",`.
        self._static = b"".join(orjson.dumps(k) + b":" + orjson.dumps(v) + b"," for k, v in (static or {}).items())
        self._clock = _Clock()
        self._escaped: dict[str, bytes] = {}  # JSON-escaped paths and methods (few distinct ones)

    def record(self, method: str, path: str, status: int, seconds: float, request_id: str | None) -> None:
        """Queue one record (sampled when the request succeeded)."""
        if status < 400:
            if self._every == 0:
                return
            if self._every > 1:
                self._seen += 1
                if self._seen % self._every:
                    return
        if len(self._queue) >= self._capacity:
            if self._on_drop is not None:
                self._on_drop()
            return
        self._queue.append((time.time(), method, path, status, seconds, request_id))

    def flush(self, limit: int | None = None) -> int:
        """Format and write up to ``limit`` queued records (all by default) in one write."""
        queue = self._queue
        count = len(queue) if limit is None else min(limit, len(queue))
        if not count:
            return 0
        static, clock, dumps, escaped = self._static, self._clock, orjson.dumps, self._escaped
        if len(escaped) > 1024:
            escaped.clear()  # unknown paths (404 scans) must not grow the cache without bound
        lines = []
        for _ in range(count):
            ts, method, path, status, seconds, request_id = queue.popleft()
            method_json = escaped.get(method) or escaped.setdefault(method, dumps(method))
            path_json = escaped.get(path) or escaped.setdefault(path, dumps(path))
            lines.append(
                b'{"ts":"%s","level":"%s","msg":"access",%s"method":%s,"path":%s,"status":%d,"duration_ms":%.3f,"id":%s}'
                % (
                    clock(ts).encode(),
                    b"info" if status < 500 else b"error",
                    static,
                    method_json,
                    path_json,
                    status,
                    seconds * 1000,
                    dumps(request_id),
                )
            )
        lines.append(b"")
        out = self._stream or sys.stdout.buffer
        out.write(b"\n".join(lines))
        out.flush()
        return count

    async def run(self) -> None:
        """Background writer: flush every :data:`FLUSH_SECONDS` until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(FLUSH_SECONDS)
                while self.flush(CHUNK) == CHUNK:
                    await asyncio.sleep(0)  # let requests in between slices
        finally:
            self.flush()
