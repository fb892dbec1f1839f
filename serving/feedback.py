"""Feedback ids that carry the prediction itself, so any replica can score ground truth statelessly.

A prediction's feedback id is a self-contained token: the predicted class index of every row (or
the predicted number, for regressors), a per-request nonce, and a keyed check value tied to the
model digest. Any pod serving the same bundle — another replica behind a plain Service, or the same
pod after a restart — decodes it and scores the feedback without shared state. A token from another
model (another digest) is refused with 410, a damaged or made-up one with 404.

Token bytes (then base64url without padding)::

    version·kind (1) | model tag (4) | nonce (8) | rows (4, big-endian) | bits (1) | payload | check (8)

* ``kind`` 0: class indices packed at ``bits`` bits per row (``bits`` = bit length of the number
  of classes n, since index n marks a label the bundle does not list: 2 bits for 2-3 classes, 3 for
  4-7); kind 1/2: float32/float64 predicted values (exactly what the model answered).
* model tag: the first 4 bytes of the digest's SHA-256, so a wrong-model id is named as such;
  check: BLAKE2b-64 keyed with the digest's SHA-256 over everything before it. This detects
  corruption and ids of other models; it is not a secret (feedback is trusted input anyway).
* Size bound: the payload is at most :data:`MAX_PAYLOAD_BYTES`; the token is at most
  ``ceil((27 + 4096) * 4 / 3)`` = 5,498 characters. A 1-row classifier token is 36 characters.
  Requests whose predictions do not fit get no feedback id.

Rows of a multi-row request are addressed as ``<token>:<row>`` (row from 0, ASCII digits only).
Repeats are refused (409) by a bounded per-pod memory of scored rows: exact at one replica, best
effort across replicas (a repeat sent to another pod is scored again).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .errors import RequestError

VERSION = 1
KIND_CLASS, KIND_FLOAT32, KIND_FLOAT64 = 0, 1, 2
#: Largest payload a token carries (bit-packed class indices or raw floats).
MAX_PAYLOAD_BYTES = 4096
_HEAD = struct.Struct(">B4s8sIB")
_CHECK = 8
#: Longest row suffix accepted (``:<row>``); more digits than any request can have rows.
_MAX_ROW_DIGITS = 9


@dataclass(frozen=True, slots=True)
class Scored:
    """A decoded feedback id: which row of which request, and what the model predicted for it."""

    key: bytes  # nonce + row: identifies the row for repeat detection
    row: int
    rows: int
    class_index: int | None  # classifiers
    value: float | None  # regressors


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    if not text.isascii():
        return None
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None


class FeedbackTokens:
    """Issues and reads feedback ids for one model (its digest, task and number of classes)."""

    def __init__(self, digest: str, *, n_classes: int | None, float64: bool = False) -> None:
        key = hashlib.sha256(digest.encode()).digest()
        self._hasher = hashlib.blake2b(digest_size=_CHECK, key=key)  # copied per token: no re-keying
        self._tag = key[:4]
        self.n_classes = n_classes
        if n_classes is not None:
            self._kind = KIND_CLASS
            # Index n_classes marks a label the bundle does not list, so it must fit too.
            self._bits = max(1, n_classes.bit_length())
        else:
            self._kind = KIND_FLOAT64 if float64 else KIND_FLOAT32
            self._bits = 64 if float64 else 32
        self._prefix = os.urandom(4)
        self._counter = 0

    @property
    def max_rows(self) -> int:
        """The most rows a token can carry (requests with more get no feedback id)."""
        return MAX_PAYLOAD_BYTES * 8 // self._bits

    def _nonce(self) -> bytes:
        self._counter = (self._counter + 1) & 0xFFFFFFFF
        return self._prefix + self._counter.to_bytes(4, "big")

    def _check(self, body: bytes) -> bytes:
        hasher = self._hasher.copy()
        hasher.update(body)
        return hasher.digest()

    def _seal(self, body: bytes) -> str:
        return _b64(body + self._check(body))

    def issue(self, class_index: np.ndarray | None, values: np.ndarray | None) -> str | None:
        """A token for one request's predictions, or None when they cannot be carried."""
        rows = len(class_index) if class_index is not None else len(values) if values is not None else 0
        if rows == 0 or rows > self.max_rows:
            return None
        if self._kind == KIND_CLASS:
            if class_index is None:
                return None
            payload = _pack(class_index, self._bits)
        elif values is None:
            return None
        else:
            payload = values.astype(">f8" if self._kind == KIND_FLOAT64 else ">f4").tobytes()
        head = _HEAD.pack(VERSION << 4 | self._kind, self._tag, self._nonce(), rows, self._bits)
        return self._seal(head + payload)

    def nonce_id(self) -> str:
        """A unique request id for predictions that get no token (still a usable log key)."""
        return _b64(self._nonce())

    def read(self, feedback_id: str) -> Scored:
        """The row and prediction a feedback id refers to, or a 4xx :class:`RequestError`."""
        token, sep, suffix = feedback_id.rpartition(":")
        if not sep:
            token, suffix = feedback_id, ""
        elif not (suffix.isascii() and suffix.isdigit() and len(suffix) <= _MAX_ROW_DIGITS):
            raise RequestError(
                400, f"Feedback id {feedback_id!r} must be '<id>' or '<id>:<row>' with the row in ASCII digits."
            )
        raw = _unb64(token)
        if raw is None or len(raw) < _HEAD.size + _CHECK:
            raise _unknown(feedback_id)
        body, check = raw[:-_CHECK], raw[-_CHECK:]
        version_kind, tag, nonce, rows, bits = _HEAD.unpack_from(body)
        if version_kind >> 4 != VERSION or rows == 0:
            raise _unknown(feedback_id)
        if tag != self._tag or version_kind & 0xF != self._kind:
            raise RequestError(
                410,
                f"Feedback id {feedback_id!r} was issued by another model; this server serves a different "
                "model digest, so the prediction cannot be scored here.",
            )
        if not hmac.compare_digest(self._check(body), check) or bits != self._bits:
            raise _unknown(feedback_id)
        payload = body[_HEAD.size :]
        if len(payload) != -(-rows * bits // 8):
            raise _unknown(feedback_id)
        if not suffix:
            if rows > 1:
                raise RequestError(
                    400,
                    f"Request {feedback_id!r} had {rows} rows; send feedback per row as '{feedback_id}:<row>' "
                    "(row from 0).",
                )
            row = 0
        else:
            row = int(suffix)
            if row >= rows:
                raise RequestError(404, f"Feedback id {feedback_id!r} names row {row}, but the request had {rows}.")
        key = nonce + row.to_bytes(4, "big")
        if self._kind == KIND_CLASS:
            return Scored(key, row, rows, _unpack_one(payload, bits, row), None)
        size = bits // 8
        fmt = ">d" if self._kind == KIND_FLOAT64 else ">f"
        (value,) = struct.unpack_from(fmt, payload, row * size)
        if self._kind == KIND_FLOAT32:  # the float32's shortest decimal: the number the response showed
            value = float(str(np.float32(value)))
        return Scored(key, row, rows, None, value)


def _unknown(feedback_id: str) -> RequestError:
    shown = feedback_id if len(feedback_id) <= 80 else feedback_id[:77] + "..."
    return RequestError(
        404,
        f"Feedback id {shown!r} is not a feedback id issued by this model; send the response's "
        "'parameters.feedback_id' (V2) or 'feedback_id' (V1).",
    )


#: Up to this many rows, packing in Python integers is faster than numpy's fixed call overhead.
_SMALL = 64


def _pack(index: np.ndarray, bits: int) -> bytes:
    """Class indices at ``bits`` bits each, most significant bit first, padded to whole bytes."""
    rows = len(index)
    if rows <= _SMALL:
        packed = 0
        for value in index.tolist():
            packed = packed << bits | value
        pad = -rows * bits % 8
        return (packed << pad).to_bytes((rows * bits + pad) // 8, "big")
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    as_bits = (np.asarray(index, dtype=np.int64)[:, None] >> shifts) & 1
    return np.packbits(as_bits.astype(np.uint8).reshape(-1)).tobytes()


def _unpack_one(payload: bytes, bits: int, row: int) -> int:
    start = row * bits
    first, last = start // 8, (start + bits - 1) // 8
    chunk = int.from_bytes(payload[first : last + 1], "big")
    shift = (last + 1) * 8 - (start + bits)
    return (chunk >> shift) & ((1 << bits) - 1)


class ScoredRows:
    """Rows that already got feedback on this pod, bounded (oldest forgotten first): repeats are 409."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self._keys: OrderedDict[bytes, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def mark(self, key: bytes, feedback_id: str) -> None:
        """Record a scored row, refusing a repeat with 409."""
        if key in self._keys:
            raise RequestError(409, f"Prediction {feedback_id!r} already received feedback.")
        if self.capacity == 0:
            return
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
