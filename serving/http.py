"""The HTTP/1.1 connection guard: uvicorn's httptools protocol with deadlines and a connection bound.

uvicorn bounds only the idle time *between* requests on a keep-alive connection. A client that
trickles a request's headers or body a byte at a time (slowloris) would hold its connection, its
buffers and (once the headers are in) an ASGI task forever. This protocol adds, per connection:

* a **header deadline**: the request line and headers must be complete within ``header_timeout``
  seconds of the connection opening (first request) or of the request's first byte (later ones);
* a **body deadline**: the body must be complete within ``body_timeout`` seconds of the headers;
* a **header size bound**: more than ``max_header_bytes`` before the headers end is a 431;
* a **connection bound**: beyond ``max_connections`` open connections a new one is answered 503
  and closed at once (before it can hold anything);

and answers malformed HTTP with the same ``{"error": …}`` JSON as every other error, logged as a
JSON line. Deadlines are totals, not idle timers, so sending one byte now and then does not extend
them. Every guard closes the connection with ``Connection: close`` after its JSON answer, and is
counted in ``yardarm_connections_closed_total{reason}``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .logs import log_event
from .metrics import ServingMetrics

_REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


#: Seconds a refused connection is kept half-closed so the client reads the answer before the close.
LINGER = 1.0


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Per-connection deadlines and bounds (see ``yardarm-serve --help``)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    max_connections: int = 1000
    max_header_bytes: int = 65536


def _response(status: int, message: str) -> bytes:
    """A complete HTTP/1.1 response with a JSON error body that closes the connection."""
    body = orjson.dumps({"error": message})
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with deadlines, bounds and JSON errors; configure via :func:`guarded_protocol`."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    metrics: ClassVar[ServingMetrics | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._reading_head = True
        self._head_bytes = 0
        self._head_size = 0  # request line + header bytes, as parsed
        self._counted = False
        self._draining = False

    # -- connection ------------------------------------------------------------------------------

    # asyncio types the argument as BaseTransport; uvicorn narrows it (with the same ignore).
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        over = len(self.connections) >= self.limits.max_connections
        super().connection_made(transport)
        if over:
            self._refuse(
                503, "over_limit", f"The server holds its limit of {self.limits.max_connections} connections; retry."
            )
            return
        self._arm(self.limits.header_timeout, self._head_timed_out)
        if self.metrics is not None:
            self.metrics.connections_open.inc()
            self._counted = True

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._counted and self.metrics is not None:
            self.metrics.connections_open.dec()
            self._counted = False
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._draining:
            return  # refused: what the client still sends is read and dropped until the linger ends
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            return  # WebSocket is off (ws="none"): the request is served as plain HTTP
        except httptools.HttpParserError as exc:
            self._refuse(400, "invalid_http", f"Invalid HTTP request: {_reason(exc)}.", log=True)
            return
        if self._reading_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._head_too_large()

    def _head_too_large(self) -> None:
        limit = self.limits.max_header_bytes
        self._refuse(431, "header_too_large", f"Request line and headers exceed {limit} bytes.")

    # -- parser callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_bytes = 0
        self._head_size = 0
        if self._deadline is None:  # a later request on a kept-alive connection
            self._arm(self.limits.header_timeout, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        if self._head_size > self.limits.max_header_bytes:
            self._head_too_large()
            raise _RefusedError  # stops the parser: nothing of this request reaches the app
        self._arm(self.limits.body_timeout, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    # -- deadlines -------------------------------------------------------------------------------

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_timed_out(self) -> None:
        self._deadline = None
        seconds = self.limits.header_timeout
        self._refuse(408, "header_timeout", f"Request headers did not arrive within {seconds:g} s.")

    def _body_timed_out(self) -> None:
        self._deadline = None
        seconds = self.limits.body_timeout
        self._refuse(408, "body_timeout", f"Request body did not arrive within {seconds:g} s.")

    def _refuse(self, status: int, reason: str, message: str, *, log: bool = False) -> None:
        """Answer with a JSON error and close; an ASGI task waiting for the body sees a disconnect."""
        self._disarm()
        if self._draining or self.transport.is_closing():
            return
        if self.metrics is not None:
            self.metrics.connections_closed.labels(*self.metrics.labels, reason).inc()
        if log:
            client = f"{self.client[0]}:{self.client[1]}" if self.client else None
            log_event("warning", "invalid http request", status=status, error=message, client=client)
        # A response already under way (e.g. the app answered 413 mid-body) must not get a second one.
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_response(status, message))
        # Closing a socket with unread input sends a reset that can destroy the answer in flight, so
        # shut down writing, drop further input, and close when the client does or LINGER later.
        self._draining = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # an ASGI task waiting for the body sees a disconnect
            self.cycle.message_event.set()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER, self.transport.close)


class _RefusedError(Exception):
    """Raised in a parser callback after the connection was refused, to stop parsing."""


def _reason(exc: Exception) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return text[:200]


def guarded_protocol(limits: ConnectionLimits, metrics: ServingMetrics | None) -> type[GuardedProtocol]:
    """The protocol class uvicorn instantiates per connection, bound to these limits and metrics."""
    return type("GuardedProtocol", (GuardedProtocol,), {"limits": limits, "metrics": metrics})
