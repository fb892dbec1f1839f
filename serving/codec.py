"""Request parsing and response encoding for the V2 (Open Inference Protocol) and V1 REST bodies.

Parsing turns a JSON body into a :class:`~yardarm.serving.model.Batch` with one ``np.asarray`` per
tensor where possible and validates only what the model needs: names, shapes, datatypes, numbers
versus strings, missing and out-of-range values. Every failure is a :class:`RequestError` with a
4xx status and one sentence naming the offending input, so a client mistake is never a 500.

Two V2 input layouts are accepted:

* one input per feature, named as the bundle's features, shape ``[rows]`` or ``[rows, 1]``
  (what the ONNX graph takes and ``GET /v2/models/{name}`` lists);
* a single 2-D input ``[rows, n_features]`` with the features in bundle order, under any name that
  is not a feature name (what generic V2 clients send, e.g. ``"input"``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

from .binary import attach_binary_data
from .errors import RequestError
from .model import Batch, Model, Prediction

NUMERIC_DATATYPES = frozenset({"FP32", "FP64", "INT64"})
#: Largest finite magnitude per ONNX numeric dtype: larger values would become inf after the cast.
_LIMITS: dict[type[np.generic], float] = {
    np.float32: float(np.finfo(np.float32).max),
    np.float64: float(np.finfo(np.float64).max),
}
_LIMITS[np.int64] = float(2**63 - 1)
_LIMITS[np.int32] = float(2**31 - 1)
_KIND_NAMES = {"U": "strings", "S": "strings", "b": "booleans", "O": "nulls or mixed values", "c": "complex"}
_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


class Policy:
    """Per-model validation settings and precomputed arrays used on every request."""

    def __init__(self, model: Model, *, allow_missing: bool = False) -> None:
        self.model = model
        self.allow_missing = allow_missing
        self.limits = np.asarray([_LIMITS.get(f.onnx_dtype, _LIMITS[np.float64]) for f in model.numeric])
        self.int_columns = [i for i, f in enumerate(model.numeric) if f.onnx_dtype in (np.int64, np.int32)]
        self.all_numeric = not model.categorical
        self.feature_list = ", ".join(model.feature_names)
        self.n_features = len(model.features)
        self.outputs = set(model.output_names)


def loads(body: bytes) -> Any:
    """Parse JSON, turning a decode error into a 400 that says where the body went wrong."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"Request body is not valid JSON: {exc}.") from None


def _may_have_bool(body: bytes) -> bool:
    """Whether a JSON body can hold a boolean: a cheap pre-check so most requests skip the walk.

    Outside strings, ``t`` and ``f`` occur only in ``true``/``false``, so we hop between those
    bytes with ``bytes.find`` (memchr); numbers never contain them. A string that merely contains
    "true" makes this say yes, and the exact check on the decoded data decides.
    """
    for needle, word in ((b"t", b"true"), (b"f", b"false")):
        at = body.find(needle)
        while at != -1:
            if body.startswith(word, at):
                return True
            at = body.find(needle, at + 1)
    return False


def _has_bool(data: Any) -> bool:
    """True when a (nested) list holds a JSON boolean; numpy would silently read it as 0/1."""
    stack = [data]
    while stack:
        item = stack.pop()
        if type(item) is bool:
            return True
        if type(item) is list:
            stack.extend(item)
    return False


def _numbers(data: Any, what: str, datatype: str, policy: Policy, has_bool: bool) -> np.ndarray:
    """A float64 array from JSON numbers, or a 400 saying why the data are not numbers."""
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError):
        raise RequestError(400, f"{what} has ragged nested data; every row must have the same length.") from None
    kind = arr.dtype.kind
    if kind == "i":
        if has_bool and _has_bool(data):
            raise RequestError(400, f"{what} holds booleans; send numbers (datatype {datatype}).")
        return arr.astype(np.float64)
    if kind == "f":
        if has_bool and _has_bool(data):
            raise RequestError(400, f"{what} holds booleans; send numbers (datatype {datatype}).")
        if datatype == "INT64" and not np.array_equal(arr, np.floor(arr)):
            raise RequestError(400, f"{what} has datatype INT64 but holds non-integer numbers.")
        return arr
    if kind == "O" and policy.allow_missing:
        return _numbers_with_nulls(arr, what, datatype)
    if kind == "O" and _holds_null(arr):
        raise RequestError(
            400, f"{what} has a missing value (null); this server rejects missing values (see --allow-missing)."
        )
    found = _KIND_NAMES.get(kind, arr.dtype.name)
    raise RequestError(400, f"{what} must hold numbers for datatype {datatype}, but holds {found}.")


def _holds_null(arr: np.ndarray) -> bool:
    return any(x is None for x in arr.ravel().tolist())


def _numbers_with_nulls(arr: np.ndarray, what: str, datatype: str) -> np.ndarray:
    """Numbers where null means missing (NaN), for servers started with ``--allow-missing``."""
    out = np.empty(arr.shape, dtype=np.float64)
    flat = out.reshape(-1)
    for i, item in enumerate(arr.reshape(-1).tolist()):
        if item is None:
            flat[i] = math.nan
        elif type(item) in (int, float):
            flat[i] = item
        else:
            raise RequestError(400, f"{what} must hold numbers (or null) for datatype {datatype}.")
    return out


def _strings(data: Any, what: str) -> np.ndarray:
    """A flat object array of strings, or a 400 (categorical features take BYTES strings only)."""
    try:
        arr = np.asarray(data, dtype=object)
    except (ValueError, TypeError):
        raise RequestError(400, f"{what} has ragged nested data; every row must have the same length.") from None
    flat = arr.reshape(-1)
    for item in flat.tolist():
        if type(item) is not str:
            if item is None:
                raise RequestError(400, f"{what} has a missing value (null); send a category string.")
            raise RequestError(400, f"{what} must hold strings (datatype BYTES), but holds {type(item).__name__}.")
    return arr


def _shape(tensor: dict[str, Any], what: str) -> list[int]:
    shape = tensor.get("shape")
    if type(shape) is not list or not shape or any(type(d) is not int or d < 0 for d in shape):
        raise RequestError(400, f"{what} needs 'shape', a non-empty list of non-negative integers.")
    return shape


def _tensor(tensor: Any, index: int) -> tuple[str, list[int], str, Any]:
    """Name, shape, datatype and data of one V2 input tensor, checked for presence and type."""
    if type(tensor) is not dict:
        raise RequestError(400, f"inputs[{index}] must be a JSON object with name, shape, datatype and data.")
    name = tensor.get("name")
    if type(name) is not str:
        raise RequestError(400, f"inputs[{index}] needs 'name', a string.")
    what = f"Input {name!r}"
    shape = _shape(tensor, what)
    datatype = tensor.get("datatype")
    if type(datatype) is not str:
        raise RequestError(400, f"{what} needs 'datatype', a string such as FP32, FP64, INT64 or BYTES.")
    data = tensor.get("data")
    if type(data) is not list and type(data) is not np.ndarray:
        params = tensor.get("parameters")
        if type(params) is dict and "binary_data_size" in params:
            raise RequestError(
                400, f"{what} declares binary data but the request has no Inference-Header-Content-Length header."
            )
        raise RequestError(400, f"{what} needs 'data', a (flat or nested) JSON list.")
    return name, shape, datatype, data


def _check_size(arr: np.ndarray, shape: list[int], what: str) -> None:
    expected = math.prod(shape)
    if arr.size != expected:
        raise RequestError(400, f"{what} has {arr.size} values but shape {shape} needs {expected}.")
    if arr.ndim > 1 and list(arr.shape) != shape:
        raise RequestError(400, f"{what} has nested data of shape {list(arr.shape)} that disagrees with {shape}.")


def _check_values(numeric: np.ndarray, policy: Policy) -> None:
    """Reject missing (unless allowed) and values a feature's dtype cannot hold, naming the first."""
    if not len(policy.limits):
        return
    within = np.abs(numeric) <= policy.limits  # NaN compares False: caught here too
    if within.all():
        bad_ints = _non_integer(numeric, policy)
        if bad_ints is not None:
            raise RequestError(400, f"Feature {bad_ints!r} takes integers, but a value has a fraction.")
        return
    nan = np.isnan(numeric)
    if policy.allow_missing and (within | nan).all():
        return
    rows, cols = np.nonzero(~within if not policy.allow_missing else ~(within | nan))
    row, col = int(rows[0]), int(cols[0])
    feature = policy.model.numeric[col]
    if nan[row, col]:
        raise RequestError(
            400,
            f"Feature {feature.name!r} row {row} is missing (null or NaN); "
            "this server rejects missing values (see --allow-missing).",
        )
    raise RequestError(400, f"Feature {feature.name!r} row {row} is out of range for the model's input type.")


def _non_integer(numeric: np.ndarray, policy: Policy) -> str | None:
    for col in policy.int_columns:
        column = numeric[:, col]
        finite = column[~np.isnan(column)]
        if not np.array_equal(finite, np.floor(finite)):
            return policy.model.numeric[col].name
    return None


def _rows_error(rows: int) -> None:
    if rows == 0:
        raise RequestError(400, "The request has no rows; send at least one.")


def _from_matrix(values: np.ndarray, rows: int, policy: Policy, what: str, has_bool: bool) -> Batch:
    """Batch from a ``(rows, n_features)`` object matrix of a mixed (numeric + categorical) model."""
    model = policy.model
    numeric = np.empty((rows, len(model.numeric)), dtype=np.float64)
    categorical: list[np.ndarray] = []
    for feature in model.features:
        column = values[:, feature.position].tolist()
        label = f"{what} column {feature.position} ({feature.name!r})"
        if feature.categorical:
            categorical.append(_strings(column, label))
        else:
            numbers = _numbers(column, label, feature.datatype, policy, has_bool)
            if numbers.shape != (rows,):
                raise RequestError(400, f"{label} holds nested lists; send one number per row.")
            numeric[:, model.numeric_column[feature.name]] = numbers
    return Batch(rows, numeric, categorical)


def _tensor_batch(tensor: tuple[str, list[int], str, Any], policy: Policy, has_bool: bool) -> Batch:
    """The single 2-D tensor layout: ``[rows, n_features]`` in bundle order."""
    name, shape, datatype, data = tensor
    what = f"Input {name!r}"
    rows, width = shape
    if width != policy.n_features:
        raise RequestError(
            400,
            f"{what} has shape {shape}; a single 2-D input needs {policy.n_features} columns "
            f"(the features in order: {policy.feature_list}).",
        )
    _rows_error(rows)
    if policy.all_numeric:
        if datatype not in NUMERIC_DATATYPES:
            raise RequestError(400, f"{what} has datatype {datatype}; this model takes FP32, FP64 or INT64.")
        arr = _numbers(data, what, datatype, policy, has_bool)
        _check_size(arr, shape, what)
        numeric = arr.reshape(rows, width)
        _check_values(numeric, policy)
        return Batch(rows, numeric, [])
    if datatype != "BYTES":
        raise RequestError(
            400,
            f"{what} has datatype {datatype}; this model has categorical features, so a single 2-D input "
            "must be BYTES (numbers as JSON numbers, categories as strings), or send one input per feature.",
        )
    try:
        arr = np.asarray(data, dtype=object)
    except (ValueError, TypeError):
        raise RequestError(400, f"{what} has ragged nested data; every row must have the same length.") from None
    _check_size(arr, shape, what)
    batch = _from_matrix(arr.reshape(rows, width), rows, policy, what, has_bool)
    _check_values(batch.numeric, policy)
    return batch


def _per_feature_batch(tensors: list[tuple[str, list[int], str, Any]], policy: Policy, has_bool: bool) -> Batch:
    """The one-input-per-feature layout, as the ONNX graph takes it."""
    model = policy.model
    rows = -1
    seen: dict[str, np.ndarray] = {}
    for name, shape, datatype, data in tensors:
        feature = model.by_name.get(name)
        what = f"Input {name!r}"
        if feature is None:
            raise RequestError(
                400,
                f"Unknown input {name!r}; the model takes one input per feature ({policy.feature_list}) "
                "or a single 2-D input of all features.",
            )
        if name in seen:
            raise RequestError(400, f"{what} appears more than once.")
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise RequestError(400, f"{what} has shape {shape}; a feature input must be [rows] or [rows, 1].")
        if rows == -1:
            rows = shape[0]
        elif shape[0] != rows:
            raise RequestError(400, f"{what} has {shape[0]} rows but an earlier input has {rows}.")
        if feature.categorical:
            if datatype != "BYTES":
                raise RequestError(400, f"{what} has datatype {datatype}; categorical feature needs BYTES.")
            arr = _strings(data, what)
        else:
            if datatype not in NUMERIC_DATATYPES:
                raise RequestError(400, f"{what} has datatype {datatype}; numeric feature takes FP32, FP64 or INT64.")
            arr = _numbers(data, what, datatype, policy, has_bool)
        _check_size(arr, shape, what)
        seen[name] = arr.reshape(-1)
    if len(seen) != policy.n_features:
        missing = [n for n in model.feature_names if n not in seen]
        raise RequestError(400, f"Missing input(s) {', '.join(map(repr, missing))}; every feature is required.")
    _rows_error(rows)
    numeric = np.empty((rows, len(model.numeric)), dtype=np.float64)
    for j, feature in enumerate(model.numeric):
        numeric[:, j] = seen[feature.name]
    categorical = [seen[f.name] for f in model.categorical]
    _check_values(numeric, policy)
    return Batch(rows, numeric, categorical)


#: Longest request id kept: ids are remembered for feedback, so their size must be bounded.
MAX_ID_LENGTH = 256


def _request_id(doc: dict[str, Any]) -> str | None:
    request_id = doc.get("id")
    if request_id is not None and (type(request_id) is not str or not request_id):
        raise RequestError(400, "'id' must be a non-empty string.")
    if request_id is not None and len(request_id) > MAX_ID_LENGTH:
        raise RequestError(400, f"'id' is longer than {MAX_ID_LENGTH} characters.")
    return request_id


def parse_v2(
    body: bytes, policy: Policy, header_length: int | None = None
) -> tuple[Batch, str | None, list[str] | None]:
    """Batch, request id and requested output names of a V2 infer body.

    ``header_length`` is the ``Inference-Header-Content-Length`` of the binary tensor extension:
    the JSON is that many leading bytes, and raw tensor data follows.
    """
    binary = b""
    if header_length is not None:
        if not 0 < header_length <= len(body):
            raise RequestError(400, f"Inference-Header-Content-Length {header_length} does not fit the body.")
        body, binary = body[:header_length], body[header_length:]
    doc = loads(body)
    if type(doc) is not dict:
        raise RequestError(400, "Request body must be a JSON object with 'inputs'.")
    inputs = doc.get("inputs")
    if type(inputs) is not list or not inputs:
        raise RequestError(400, "'inputs' must be a non-empty list of tensors.")
    if header_length is not None:
        attach_binary_data(inputs, binary)
    return parse_v2_doc(doc, policy, has_bool=_may_have_bool(body))


def parse_v2_doc(
    doc: dict[str, Any], policy: Policy, *, has_bool: bool = False
) -> tuple[Batch, str | None, list[str] | None]:
    """Batch, request id and requested outputs of a decoded V2 request (JSON or gRPC).

    ``has_bool`` says whether JSON booleans may hide among numbers (JSON bodies only).
    """
    inputs = doc.get("inputs")
    if type(inputs) is not list or not inputs:
        raise RequestError(400, "'inputs' must be a non-empty list of tensors.")
    request_id = _request_id(doc)
    outputs = _requested_outputs(doc.get("outputs"), policy)
    tensors = [_tensor(t, i) for i, t in enumerate(inputs)]
    first = tensors[0]
    if len(tensors) == 1 and first[0] not in policy.model.by_name and len(first[1]) == 2:
        batch = _tensor_batch(first, policy, has_bool)
    else:
        batch = _per_feature_batch(tensors, policy, has_bool)
    return batch, request_id, outputs


def _requested_outputs(outputs: Any, policy: Policy) -> list[str] | None:
    if outputs is None:
        return None
    if type(outputs) is not list:
        raise RequestError(400, "'outputs' must be a list of objects with a 'name'.")
    names = []
    for item in outputs:
        name = item.get("name") if type(item) is dict else None
        if type(name) is not str:
            raise RequestError(400, "'outputs' must be a list of objects with a 'name'.")
        if name not in policy.outputs:
            raise RequestError(
                400, f"Unknown output {name!r}; the model's outputs are {', '.join(policy.model.output_names)}."
            )
        names.append(name)
    return names


def parse_v1(body: bytes, policy: Policy) -> tuple[Batch, str | None]:
    """Batch and optional id of a V1 ``:predict`` body (instances as lists or as feature objects)."""
    doc = loads(body)
    if type(doc) is not dict:
        raise RequestError(400, "Request body must be a JSON object with 'instances'.")
    instances = doc.get("instances")
    if type(instances) is not list or not instances:
        raise RequestError(400, "'instances' must be a non-empty list of rows.")
    request_id = _request_id(doc)
    has_bool = _may_have_bool(body)
    rows = len(instances)
    first = instances[0]
    if type(first) is dict:
        matrix = _objects_to_rows(instances, policy)
    elif type(first) is list:
        for i, row in enumerate(instances):
            if type(row) is not list or len(row) != policy.n_features:
                raise RequestError(
                    400,
                    f"instances[{i}] must be a list of {policy.n_features} values "
                    f"(the features in order: {policy.feature_list}).",
                )
        matrix = instances
    else:
        raise RequestError(400, "Each instance must be a list of feature values or an object keyed by feature.")
    shape = [rows, policy.n_features]
    if policy.all_numeric:
        arr = _numbers(matrix, "instances", "FP64", policy, has_bool)
        _check_size(arr, shape, "instances")
        numeric = arr.reshape(rows, policy.n_features)
        _check_values(numeric, policy)
        return Batch(rows, numeric, []), request_id
    try:
        values = np.asarray(matrix, dtype=object)
    except (ValueError, TypeError):
        raise RequestError(400, "instances have ragged nested values; send one value per feature.") from None
    _check_size(values, shape, "instances")
    batch = _from_matrix(values.reshape(rows, -1), rows, policy, "instances", has_bool)
    _check_values(batch.numeric, policy)
    return batch, request_id


def _objects_to_rows(instances: list[Any], policy: Policy) -> list[list[Any]]:
    names = policy.model.feature_names
    out = []
    for i, instance in enumerate(instances):
        if type(instance) is not dict:
            raise RequestError(400, f"instances[{i}] must be an object keyed by feature name like instances[0].")
        try:
            out.append([instance[n] for n in names])
        except KeyError:
            missing = [n for n in names if n not in instance]
            raise RequestError(400, f"instances[{i}] is missing feature(s) {', '.join(map(repr, missing))}.") from None
        if len(instance) != len(names):
            unknown = [k for k in instance if k not in policy.model.by_name]
            raise RequestError(400, f"instances[{i}] has unknown feature(s) {', '.join(map(repr, unknown))}.")
    return out


def encode_v2(
    model: Model, prediction: Prediction, request_id: str, outputs: list[str] | None, feedback_id: str | None = None
) -> bytes:
    """The V2 infer response body; ``parameters.feedback_id`` addresses its rows for feedback."""
    out = []
    for name in outputs or model.output_names:
        value = prediction.outputs[name]
        data = value.reshape(-1)
        out.append(
            {
                "name": name,
                "datatype": model.output_datatypes[name],
                "shape": list(value.shape),
                "data": data.tolist() if data.dtype == object else data,
            }
        )
    body: dict[str, Any] = {"model_name": model.name, "model_version": model.revision, "id": request_id}
    if feedback_id is not None:
        body["parameters"] = {"feedback_id": feedback_id}
    body["outputs"] = out
    return orjson.dumps(body, option=_DUMPS_OPTIONS)


def encode_v1(model: Model, prediction: Prediction, request_id: str, feedback_id: str | None = None) -> bytes:
    """The V1 predict response: predictions (class names or values), probabilities, ids."""
    body: dict[str, Any] = {"id": request_id}
    if feedback_id is not None:
        body["feedback_id"] = feedback_id
    if prediction.labels is not None:
        body["predictions"] = prediction.labels.tolist()
        if model.probabilities_output is not None:
            body["probabilities"] = prediction.outputs[model.probabilities_output]
    else:
        body["predictions"] = prediction.values
    return orjson.dumps(body, option=_DUMPS_OPTIONS)
