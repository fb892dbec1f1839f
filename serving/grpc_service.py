"""The Open Inference Protocol over gRPC (``inference.GRPCInferenceService``), beside the REST API.

It runs in the same process and event loop as the REST app and shares everything with it: the
model (so the IO bindings stay single-threaded), the request parsing after decoding
(:func:`codec.parse_v2_doc`), the errors (a :class:`RequestError` becomes the matching gRPC status
with the same sentence), the feedback ids (response parameter ``feedback_id``), the drift
counters, the request metrics (``endpoint`` as for REST: ``infer``, ``metadata``, … with the
HTTP-equivalent ``code``, so the Monitor's error-rate and latency checks see gRPC traffic too) and
the access log (``method`` ``GRPC``, ``path`` the RPC's full name).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np

from yardarm import __version__ as yardarm_version

from . import codec
from .binary import decode_raw, encode_raw
from .errors import RequestError
from .logs import log_event
from .oip import RPCS, SERVICE, M

if TYPE_CHECKING:
    from .app import ServingApp

#: HTTP status of a RequestError -> gRPC status code.
STATUS_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    410: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}
#: Typed ``contents`` field per datatype (requests without ``raw_input_contents``).
_CONTENTS = {
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "INT64": "int64_contents",
    "INT32": "int_contents",
    "BOOL": "bool_contents",
    "BYTES": "bytes_contents",
}
#: RPC -> the ``endpoint`` label its REST twin uses.
_ENDPOINTS = {
    "ServerLive": "live",
    "ServerReady": "ready",
    "ModelReady": "model_ready",
    "ServerMetadata": "server",
    "ModelMetadata": "metadata",
    "ModelInfer": "infer",
}


class InferenceService:
    """The six RPCs, answered from a :class:`ServingApp`'s state."""

    def __init__(self, app: ServingApp) -> None:
        self.app = app

    def _check_model(self, name: str, version: str) -> None:
        if name != self.app.name:
            raise RequestError(404, f"Model {name!r} is not served here; this server serves {self.app.name!r}.")
        if version and version != self.app.revision:
            raise RequestError(
                404, f"Model {name!r} has no version {version!r}; this server serves {self.app.revision!r}."
            )

    async def server_live(self, request: Any) -> tuple[Any, Any]:
        return M["ServerLiveResponse"](live=True), None

    async def server_ready(self, request: Any) -> tuple[Any, Any]:
        return M["ServerReadyResponse"](ready=self.app.model is not None), None

    async def model_ready(self, request: Any) -> tuple[Any, Any]:
        self._check_model(request.name, request.version)
        return M["ModelReadyResponse"](ready=self.app.model is not None), None

    async def server_metadata(self, request: Any) -> tuple[Any, Any]:
        response = M["ServerMetadataResponse"](name="yardarm", version=yardarm_version)
        response.extensions.append("yardarm_feedback")
        return response, None

    async def model_metadata(self, request: Any) -> tuple[Any, Any]:
        self._check_model(request.name, request.version)
        model, _ = self.app.require_model()
        meta = model.metadata()
        response = M["ModelMetadataResponse"](name=model.name, platform=str(meta["platform"]))
        response.versions.append(model.revision)
        for field in ("inputs", "outputs"):
            for spec in meta[field]:
                getattr(response, field).add(name=spec["name"], datatype=spec["datatype"], shape=spec["shape"])
        return response, None

    async def model_infer(self, request: Any) -> tuple[Any, Any]:
        self._check_model(request.model_name, request.model_version)
        model, policy = self.app.require_model()
        batch, request_id, outputs = codec.parse_v2_doc(_request_doc(request), policy)
        prediction, seconds = await self.app.run(model, batch)
        token, generated = self.app.feedback_id(prediction)
        request_id = request_id or generated
        response = M["ModelInferResponse"](model_name=model.name, model_version=model.revision, id=request_id)
        if token is not None:
            entry = response.parameters.add(key="feedback_id")
            entry.value.string_param = token
        for name in outputs or model.output_names:
            value = prediction.outputs[name]
            datatype = model.output_datatypes[name]
            response.outputs.add(name=name, datatype=datatype, shape=list(value.shape))
            response.raw_output_contents.append(encode_raw(value, datatype))
        return response, (request_id, batch, prediction, seconds)


def _request_doc(request: Any) -> dict[str, Any]:
    """A ModelInferRequest as the dict :func:`codec.parse_v2_doc` takes (what JSON decodes to)."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise RequestError(400, f"The request has {len(raw)} raw_input_contents for {len(request.inputs)} inputs.")
    inputs = []
    for index, tensor in enumerate(request.inputs):
        what = f"Input {tensor.name!r}"
        if raw:
            data: Any = decode_raw(raw[index], tensor.datatype, what)
        else:
            field = _CONTENTS.get(tensor.datatype)
            if field is None:
                raise RequestError(400, f"{what} has datatype {tensor.datatype!r}; send FP32, FP64, INT64 or BYTES.")
            values = getattr(tensor.contents, field)
            if field == "bytes_contents":
                try:
                    data = [v.decode() for v in values]
                except UnicodeDecodeError:
                    raise RequestError(400, f"{what} has a BYTES element that is not UTF-8 text.") from None
            elif field == "bool_contents":
                data = [bool(v) for v in values]
            else:
                data = np.asarray(values)
        inputs.append({"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape), "data": data})
    doc: dict[str, Any] = {"inputs": inputs, "outputs": [{"name": o.name} for o in request.outputs] or None}
    if request.id:
        doc["id"] = request.id
    return doc


def _handler(app: ServingApp, rpc: str, method: Callable[[Any], Awaitable[tuple[Any, Any]]]) -> Any:
    """One RPC with REST's bookkeeping: metrics, access log, drift; errors become gRPC statuses."""
    endpoint = _ENDPOINTS[rpc]
    path = f"/{SERVICE}/{rpc}"
    request_type, response_type = (M[name] for name in RPCS[rpc])
    counts_in_flight = endpoint == "infer"

    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        start = time.perf_counter()
        if counts_in_flight:
            app.metrics.in_flight.inc()
        after = None
        error: RequestError | None = None
        try:
            response, after = await method(request)
            status = 200
        except RequestError as exc:
            error, status = exc, exc.status
        except Exception as exc:  # a bug, never a client mistake: log it with its traceback
            error, status = RequestError(500, f"Internal error: {type(exc).__name__}."), 500
            log_event("error", "unhandled error", path=path, traceback=traceback.format_exc())
        finally:
            if counts_in_flight:
                app.metrics.in_flight.dec()
        app.finish(endpoint, "GRPC", path, status, start, after)
        if error is not None:
            await context.abort(STATUS_CODES.get(error.status, grpc.StatusCode.INTERNAL), error.message)
        return response

    return grpc.unary_unary_rpc_method_handler(
        handle, request_deserializer=request_type.FromString, response_serializer=response_type.SerializeToString
    )


async def start(app: ServingApp, address: str, max_message_bytes: int) -> grpc.aio.Server:
    """Start the gRPC server on ``address`` (``host:port``) in the running event loop."""
    service = InferenceService(app)
    methods = {
        "ServerLive": service.server_live,
        "ServerReady": service.server_ready,
        "ModelReady": service.model_ready,
        "ServerMetadata": service.server_metadata,
        "ModelMetadata": service.model_metadata,
        "ModelInfer": service.model_infer,
    }
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
    )
    handlers = {rpc: _handler(app, rpc, method) for rpc, method in methods.items()}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port(address)
    await server.start()
    return server
