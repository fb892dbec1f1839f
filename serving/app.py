"""The raw ASGI application: routing, the V2/V1 endpoints, feedback, metrics and the lifespan.

No framework: a dict maps each exact path (built once for the served model's name and version) to
its handler, bodies are read only by endpoints that need them, and a response is two ``send``
calls with a pre-rendered body. Bookkeeping that the client does not wait for (drift counters,
latency histograms, access log) happens *after* the response has been sent. Feedback needs no
memory of past requests: the feedback id carries the prediction (see ``feedback.py``).

Routes (``{name}`` is the model name, ``{version}`` its revision label)::

    GET  /v2                          server metadata
    GET  /v2/health/live | /ready     liveness / readiness (503 until the model is loaded and warm)
    GET  /v2/models/{name}[/versions/{version}]          model metadata
    GET  /v2/models/{name}[/versions/{version}]/ready    model readiness
    POST /v2/models/{name}[/versions/{version}]/infer    V2 inference
    POST /v2/models/{name}[/versions/{version}]/feedback ground truth for a past prediction's feedback id
    POST /v1/models/{name}:predict   V1 inference;  GET /v1/models/{name}  V1 status
    GET  /metrics                     Prometheus exposition
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from yardarm import __version__ as yardarm_version

from . import codec, grpc_service
from .errors import RequestError
from .feedback import FeedbackTokens, ScoredRows
from .logs import AccessLog, log_event
from .metrics import DriftCounters, ServingMetrics
from .model import Batch, Model, Prediction

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Handler = Callable[[Scope, Receive], Awaitable[tuple[int, bytes, Any]]]

JSON = b"application/json"


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """Request-path settings (see ``yardarm-serve --help``)."""

    max_request_bytes: int = 4 * 1024 * 1024
    feedback_capacity: int = 100_000
    allow_missing: bool = False
    access_log_sample: float = 1.0
    #: Batches with more rows than this run in a worker thread so the event loop keeps serving.
    executor_rows: int = 1024
    #: ``host:port`` of the gRPC Open Inference Protocol service; None serves REST only.
    grpc_address: str | None = None
    #: Seconds the gRPC service lets in-flight calls finish at shutdown.
    grpc_grace: float = 5.0


class _ClientGoneError(Exception):
    """The client disconnected before its body arrived: nothing to answer."""


def _error(message: str) -> bytes:
    return orjson.dumps({"error": message})


class ServingApp:
    """ASGI app serving one model; the model is built in the background at startup."""

    def __init__(
        self,
        loader: Callable[[], Model],
        *,
        name: str,
        revision: str,
        config: ServeConfig,
        on_fatal: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.revision = revision
        self.config = config
        self._loader = loader
        self._on_fatal = on_fatal
        self.metrics = ServingMetrics(name, revision)
        self.access = AccessLog(
            sample=config.access_log_sample,
            on_drop=self.metrics.log_dropped.inc,
            static={"model": name, "revision": revision},
        )
        self.scored = ScoredRows(config.feedback_capacity)
        self.tokens: FeedbackTokens | None = None
        self.model: Model | None = None
        self.policy: codec.Policy | None = None
        self.drift: DriftCounters | None = None
        self._metadata = b""
        self._tasks: list[asyncio.Task[None]] = []
        self._grpc: Any = None  # grpc.aio.Server when --grpc-port is set
        self.routes = self._build_routes()
        self._server_metadata = orjson.dumps(
            {"name": "yardarm", "version": yardarm_version, "extensions": ["yardarm_feedback"]}
        )

    # -- routing ---------------------------------------------------------------------------------

    def _build_routes(self) -> dict[str, tuple[str, str, Handler]]:
        routes: dict[str, tuple[str, str, Handler]] = {
            "/v2": ("server", "GET", self._server),
            "/v2/health/live": ("live", "GET", self._live),
            "/v2/health/ready": ("ready", "GET", self._ready),
            "/metrics": ("metrics", "GET", self._metrics),
            f"/v1/models/{self.name}:predict": ("predict", "POST", self._predict),
            f"/v1/models/{self.name}": ("v1_status", "GET", self._v1_status),
        }
        for base in (f"/v2/models/{self.name}", f"/v2/models/{self.name}/versions/{self.revision}"):
            routes[base] = ("metadata", "GET", self._model_metadata)
            routes[f"{base}/ready"] = ("model_ready", "GET", self._model_ready)
            routes[f"{base}/infer"] = ("infer", "POST", self._infer)
            routes[f"{base}/feedback"] = ("feedback", "POST", self._feedback)
        return routes

    def _unknown_path(self, path: str) -> RequestError:
        """A 404 that says whether the model, the version or the endpoint is unknown."""
        parts = path.split("/")
        if path.startswith(("/v2/models/", "/v1/models/")) and len(parts) > 3:
            name = parts[3].split(":", 1)[0]
            if name != self.name:
                return RequestError(404, f"Model {name!r} is not served here; this server serves {self.name!r}.")
            if len(parts) > 5 and parts[4] == "versions" and parts[5] != self.revision:
                return RequestError(
                    404, f"Model {name!r} has no version {parts[5]!r}; this server serves {self.revision!r}."
                )
        return RequestError(404, f"No endpoint at {path}.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        path = scope["path"]
        route = self.routes.get(path)
        after: Any = None
        content_type = JSON
        in_flight = None
        if route is None:
            endpoint = "unknown"
            error = self._unknown_path(path)
            status, body = error.status, _error(error.message)
        else:
            endpoint, method, handler = route
            # HEAD is GET without the body (uvicorn sends the headers only).
            if scope["method"] != method and not (scope["method"] == "HEAD" and method == "GET"):
                status, body = 405, _error(f"{path} takes {method}, not {scope['method']}.")
            else:
                if endpoint in ("infer", "predict"):
                    in_flight = self.metrics.in_flight
                    in_flight.inc()
                try:
                    status, body, after = await handler(scope, receive)
                except RequestError as exc:
                    status, body = exc.status, _error(exc.message)
                except _ClientGoneError:
                    if in_flight is not None:
                        in_flight.dec()
                    return
                except Exception as exc:  # a bug, never a client mistake: log it with its traceback
                    status, body = 500, _error(f"Internal error: {type(exc).__name__}.")
                    log_event("error", "unhandled error", path=path, traceback=traceback.format_exc())
                if endpoint == "metrics" and status == 200:
                    content_type = CONTENT_TYPE_LATEST.encode()
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            if in_flight is not None:
                in_flight.dec()
        self.finish(endpoint, scope["method"], path, status, start, after)

    def finish(self, endpoint: str, method: str, path: str, status: int, start: float, after: Any) -> None:
        """Bookkeeping after the client has its answer (REST and gRPC): drift, metrics, access log.

        ``after`` is what an inference handler returned beside its answer, else None.
        """
        request_id = None
        if after is not None:
            request_id = after[0]
            self._account(*after)
        seconds = time.perf_counter() - start
        self.metrics.request_done(endpoint, status, seconds)
        self.access.record(method, path, status, seconds, request_id)

    def _account(self, request_id: str, batch: Batch, prediction: Prediction, seconds: float) -> None:
        self.metrics.inference_observe(seconds)
        assert self.drift is not None
        self.drift.add(batch, prediction)

    @staticmethod
    def _header_length(scope: Scope) -> int | None:
        """The binary tensor extension's ``Inference-Header-Content-Length``, if sent."""
        for key, value in scope["headers"]:
            if key == b"inference-header-content-length":
                try:
                    return int(value)
                except ValueError:
                    raise RequestError(400, "Inference-Header-Content-Length is not a number.") from None
        return None

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        """The request body, refused with 413 as soon as it is known to exceed the limit."""
        limit = self.config.max_request_bytes
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise RequestError(400, "Content-Length is not a number.") from None
                if declared > limit:
                    raise RequestError(413, f"Request body of {declared} bytes exceeds the limit of {limit} bytes.")
                break
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGoneError
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            return body
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGoneError
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"Request body exceeds the limit of {limit} bytes.")
            chunks.append(chunk)
        return b"".join(chunks)

    def require_model(self) -> tuple[Model, codec.Policy]:
        if self.model is None or self.policy is None:
            raise RequestError(503, f"Model {self.name!r} is not ready yet; it is still loading.")
        return self.model, self.policy

    def feedback_id(self, prediction: Prediction) -> tuple[str | None, str]:
        """The prediction's feedback token (None if it cannot carry one) and the id to answer with."""
        assert self.tokens is not None
        token = self.tokens.issue(prediction.class_index, prediction.values)
        return token, token or self.tokens.nonce_id()

    async def run(self, model: Model, batch: Batch) -> tuple[Prediction, float]:
        start = time.perf_counter()
        if batch.rows > self.config.executor_rows:
            prediction = await asyncio.get_running_loop().run_in_executor(None, partial(model.run, batch, reuse=False))
        else:
            prediction = model.run(batch)
        return prediction, time.perf_counter() - start

    # -- handlers ----------------------------------------------------------------------------------

    async def _infer(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Any]:
        model, policy = self.require_model()
        body = await self._body(scope, receive)
        batch, request_id, outputs = codec.parse_v2(body, policy, self._header_length(scope))
        prediction, seconds = await self.run(model, batch)
        token, generated = self.feedback_id(prediction)
        request_id = request_id or generated
        answer = codec.encode_v2(model, prediction, request_id, outputs, token)
        return 200, answer, (request_id, batch, prediction, seconds)

    async def _predict(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Any]:
        model, policy = self.require_model()
        body = await self._body(scope, receive)
        batch, request_id = codec.parse_v1(body, policy)
        prediction, seconds = await self.run(model, batch)
        token, generated = self.feedback_id(prediction)
        request_id = request_id or generated
        answer = codec.encode_v1(model, prediction, request_id, token)
        return 200, answer, (request_id, batch, prediction, seconds)

    async def _feedback(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Any]:
        model, _ = self.require_model()
        assert self.tokens is not None
        doc = codec.loads(await self._body(scope, receive))
        if type(doc) is not dict:
            raise RequestError(400, "Feedback must be a JSON object with 'id' and 'label' (or 'value').")
        feedback_id = doc.get("id")
        if type(feedback_id) is not str or not feedback_id:
            raise RequestError(400, "Feedback needs 'id', the feedback id of a recent inference response.")
        labels = self.metrics.labels
        result: dict[str, object]
        if model.task == "classification":
            label = _true_label(doc.get("label"), model.class_labels)
            scored = self.tokens.read(feedback_id)
            self.scored.mark(scored.key, feedback_id)
            index = scored.class_index
            classes = model.class_labels or []
            predicted = classes[index] if index is not None and index < len(classes) else None
            correct = label == predicted
            self.metrics.feedback.labels(*labels, "correct" if correct else "incorrect").inc()
            result = {"id": feedback_id, "label": label, "predicted": predicted, "correct": correct}
        else:
            value = _true_value(doc.get("value"))
            scored = self.tokens.read(feedback_id)
            predicted_value = scored.value if scored.value is not None else math.nan
            error = value - predicted_value
            squared = error * error
            if not math.isfinite(squared):
                raise RequestError(400, f"Feedback value {value!r} is too far from the prediction to score.")
            self.scored.mark(scored.key, feedback_id)
            self.metrics.feedback.labels(*labels, "scored").inc()
            self.metrics.squared_error.observe(squared)
            result = {"id": feedback_id, "value": value, "predicted": predicted_value, "squared_error": squared}
        return 200, orjson.dumps(result), None

    async def _model_metadata(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Any]:
        self.require_model()
        return 200, self._metadata, None

    async def _model_ready(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Any]:
        ready = self.model is not None
        return (200 if ready else 503), orjson.dumps({"name": self.name, "ready": ready}), None

    async def _v1_status(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Any]:
        ready = self.model is not None
        return (200 if ready else 503), orjson.dumps({"name": self.name, "ready": ready}), None

    async def _server(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Any]:
        return 200, self._server_metadata, None

    async def _live(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Any]:
        return 200, b'{"live":true}', None

    async def _ready(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Any]:
        if self.model is None:
            return 503, b'{"ready":false}', None
        return 200, b'{"ready":true}', None

    async def _metrics(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Any]:
        return 200, generate_latest(self.metrics.registry), None

    # -- lifespan ----------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._tasks.append(asyncio.create_task(self.access.run()))
                self._tasks.append(asyncio.create_task(self._load()))
                if self.config.grpc_address is not None:
                    try:
                        self._grpc = await grpc_service.start(
                            self, self.config.grpc_address, self.config.max_request_bytes
                        )
                    except Exception as exc:  # e.g. the port is taken: the pod must not look healthy
                        log_event("error", "grpc service failed to start", error=str(exc))
                        if self._on_fatal is not None:
                            self._on_fatal()
                        await send({"type": "lifespan.startup.failed", "message": str(exc)})
                        return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.model = None  # not ready while the process winds down
                if self._grpc is not None:
                    await self._grpc.stop(self.config.grpc_grace)
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                log_event("info", "server stopped", model=self.name, revision=self.revision)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _load(self) -> None:
        """Build the session and warm it up in a thread; the server answers probes meanwhile."""
        start = time.perf_counter()
        try:
            model = await asyncio.get_running_loop().run_in_executor(None, self._loader)
        except Exception as exc:
            log_event("error", "model failed to load", model=self.name, error=str(exc))
            if self._on_fatal is not None:
                self._on_fatal()
            return
        self.policy = codec.Policy(model, allow_missing=self.config.allow_missing)
        self.drift = self.metrics.attach_model(model)
        classifier = model.task == "classification"
        self.tokens = FeedbackTokens(
            model.digest,
            n_classes=len(model.class_labels or []) if classifier else None,
            float64=not classifier and model.output_datatypes[model.label_output] == "FP64",
        )
        self._metadata = orjson.dumps(model.metadata())
        self.model = model
        self.metrics.ready.set(1)
        # Everything built so far lives as long as the process: keep it out of every future
        # garbage collection so full collections stay short (they pause the event loop).
        gc.collect()
        gc.freeze()
        log_event(
            "info",
            "model ready",
            model=self.name,
            revision=self.revision,
            digest=model.digest,
            threads=model.threads,
            load_seconds=round(time.perf_counter() - start, 3),
        )


def _true_label(label: object, classes: list[str] | None) -> str:
    """The true class of classifier feedback, refused with 400 unless it is one of the model's classes."""
    if type(label) is not str and type(label) is not int:
        raise RequestError(400, "Feedback for a classifier needs 'label', the true class (a string).")
    text = str(label)
    if classes is not None and text not in classes:
        shown = ", ".join(map(repr, classes[:20])) + (", ..." if len(classes) > 20 else "")
        raise RequestError(400, f"Label {text[:80]!r} is not a class of this model; its classes are {shown}.")
    return text


def _true_value(value: object) -> float:
    """The true number of regressor feedback, refused with 400 unless it is a finite number."""
    if type(value) is not int and type(value) is not float:
        raise RequestError(400, "Feedback for a regressor needs 'value', the true number.")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise RequestError(400, "Feedback 'value' must be a finite number within double precision.")
    return number
