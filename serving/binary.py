"""The V2 binary tensor extension: raw tensor bytes after the JSON header of a request.

Triton-style clients (e.g. ``tritonclient``) send tensors this way by default: the
``Inference-Header-Content-Length`` header says how many leading bytes are JSON, and each input
whose ``parameters.binary_data_size`` is set takes that many of the following bytes, in input order.
Decoding happens before validation, so every later check is the same as for JSON data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import RequestError

_BINARY_DTYPES = {"FP32": "<f4", "FP64": "<f8", "INT64": "<i8", "INT32": "<i4"}


def attach_binary_data(inputs: list[Any], binary: bytes) -> None:
    """Decode the binary tensor extension: raw little-endian tensors after the JSON header.

    Each input whose ``parameters.binary_data_size`` is set takes that many bytes, in input order;
    BYTES elements are 4-byte little-endian lengths followed by UTF-8 text. Decoded data replace
    ``data`` so the rest of the parsing is the same as for JSON.
    """
    offset = 0
    for index, tensor in enumerate(inputs):
        params = tensor.get("parameters") if type(tensor) is dict else None
        size = params.get("binary_data_size") if type(params) is dict else None
        if size is None:
            continue
        what = f"inputs[{index}]"
        if type(size) is not int or size < 0 or offset + size > len(binary):
            raise RequestError(400, f"{what} declares binary_data_size {size!r}, more than the body holds.")
        chunk = binary[offset : offset + size]
        offset += size
        tensor["data"] = decode_raw(chunk, tensor.get("datatype"), what)
    if offset != len(binary):
        raise RequestError(400, f"The body has {len(binary) - offset} bytes of binary data no input claims.")


def decode_raw(chunk: bytes, datatype: object, what: str) -> np.ndarray | list[str]:
    """One tensor's raw little-endian bytes (binary extension, gRPC ``raw_input_contents``) as data."""
    if datatype == "BYTES":
        return _decode_bytes(chunk, what)
    if datatype in _BINARY_DTYPES:
        dtype = np.dtype(_BINARY_DTYPES[datatype])
        if len(chunk) % dtype.itemsize:
            raise RequestError(400, f"{what} has {len(chunk)} bytes, not a whole number of {datatype} values.")
        return np.frombuffer(chunk, dtype=dtype)
    raise RequestError(400, f"{what} has binary datatype {datatype!r}; send FP32, FP64, INT64 or BYTES.")


def encode_raw(value: np.ndarray, datatype: str) -> bytes:
    """A tensor as raw little-endian bytes; BYTES elements as 4-byte lengths + UTF-8 (``decode_raw``'s inverse)."""
    if datatype == "BYTES":
        parts = []
        for item in value.reshape(-1).tolist():
            data = item if type(item) is bytes else str(item).encode()
            parts.append(len(data).to_bytes(4, "little") + data)
        return b"".join(parts)
    return np.ascontiguousarray(value, dtype=_BINARY_DTYPES[datatype]).tobytes()


def _decode_bytes(chunk: bytes, what: str) -> list[str]:
    out = []
    offset = 0
    while offset < len(chunk):
        if offset + 4 > len(chunk):
            raise RequestError(400, f"{what} has a truncated BYTES element length.")
        length = int.from_bytes(chunk[offset : offset + 4], "little")
        offset += 4
        if offset + length > len(chunk):
            raise RequestError(400, f"{what} has a BYTES element longer than its data.")
        try:
            out.append(chunk[offset : offset + length].decode())
        except UnicodeDecodeError:
            raise RequestError(400, f"{what} has a BYTES element that is not UTF-8 text.") from None
        offset += length
    return out
