"""What a profiling or training Job reports back: exit codes and the termination-message JSON.

Jobs hand their outcome to the operator through the container's termination message (at most
4,096 bytes, the Tekton-results pattern), so no pod needs RBAC to patch status. This module is the
contract for that message. It depends on pydantic and the API types only — the operator imports it
to read termination messages without pulling in scikit-learn.

The exit code alone already tells a user-caused failure (fix the spec or the data) from a crash
(a bug or an infrastructure fault, worth a retry): see :class:`ExitCode`.
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from yardarm.api.common import ApiModel
from yardarm.api.dataset import FeatureSummary
from yardarm.api.trainingrun import ModelInfo

#: Kubernetes keeps at most this many bytes of a termination message.
TERMINATION_MESSAGE_LIMIT = 4096
#: Where Kubernetes reads the termination message from by default.
TERMINATION_LOG = "/dev/termination-log"
#: Warnings a result carries at most, and the UTF-8 bytes of each (the full text is in the log).
MAX_WARNINGS = 5
MAX_WARNING_BYTES = 400


class ExitCode(IntEnum):
    """Process exit codes of ``yardarm-train``; anything but OK and CRASH is the user's to fix."""

    OK = 0
    #: An unexpected error: a bug, an out-of-memory kill, a broken image. Retrying may help.
    CRASH = 1
    #: The spec or the data is wrong: missing target column, unknown parameter, bad values.
    BAD_INPUT = 2
    #: The data source or the artifact store could not be reached or read.
    UNREACHABLE = 3
    #: Training worked but a quality gate was missed; no model is offered.
    QUALITY_GATE = 4
    #: The ONNX model does not reproduce scikit-learn within tolerance; no model is offered.
    PARITY = 5

    @property
    def user_caused(self) -> bool:
        """True when the user must change the spec, the data or the gates (retrying will not help)."""
        return self in (ExitCode.BAD_INPUT, ExitCode.QUALITY_GATE, ExitCode.PARITY)


class _Result(ApiModel):
    #: Metrics and counts are numbers or absent: NaN/Infinity are refused, so every result is JSON.
    model_config = ApiModel.model_config | {"allow_inf_nan": False}

    ok: bool = Field(description="Whether the Job succeeded.")
    exit_code: int = Field(description="The process exit code, see ExitCode.")
    reason: str = Field(
        description="CamelCase reason, usable as a condition reason.", pattern=r"^[A-Za-z][A-Za-z0-9]*$"
    )
    message: str = Field(default="", description="One sentence a person can act on.")
    warnings: list[str] | None = Field(
        default=None, description="What a person should know that did not stop the Job (data typing, convergence)."
    )
    truncated: bool = Field(default=False, description="Some fields were left out to fit the 4 KiB limit.")


class ProfileResult(_Result):
    """The result of ``yardarm-train profile``."""

    kind: Literal["profile"] = "profile"
    digest: str | None = Field(default=None, description="sha256:<hex> of the data content.")
    rows: int | None = None
    columns: int | None = None
    profile_uri: str | None = Field(default=None, description="Where the full profile JSON is stored.")
    features: list[FeatureSummary] | None = Field(
        default=None, description="Per-feature summary; left out when it does not fit (see profileUri)."
    )


class TrainResult(_Result):
    """The result of ``yardarm-train train``."""

    kind: Literal["train"] = "train"
    dataset_digest: str | None = None
    metrics: dict[str, float] | None = None
    headline: str | None = Field(default=None, description="The task's main metric, e.g. accuracy=0.967.")
    model: ModelInfo | None = None


JobResult = Annotated[ProfileResult | TrainResult, Field(discriminator="kind")]
_ADAPTER: TypeAdapter[ProfileResult | TrainResult] = TypeAdapter(JobResult)


def _dump(result: ProfileResult | TrainResult) -> bytes:
    # allow_nan=False: a bare NaN is not JSON; the models refuse non-finite numbers before this.
    return json.dumps(result.to_wire(), separators=(",", ":"), sort_keys=True, allow_nan=False).encode()


def _truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` that fits in ``max_bytes`` of UTF-8, never splitting a character."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    return data[: max(0, max_bytes)].decode(errors="ignore")


def bounded_warnings(warnings: list[str]) -> list[str] | None:
    """The first :data:`MAX_WARNINGS` warnings, each cut to :data:`MAX_WARNING_BYTES`; ``None`` when none."""
    out = []
    for text in warnings[:MAX_WARNINGS]:
        cut = _truncate_utf8(text, MAX_WARNING_BYTES - 3)
        out.append(text if cut == text else cut + "…")
    return out or None


def encode_result(result: ProfileResult | TrainResult, limit: int = TERMINATION_MESSAGE_LIMIT) -> bytes:
    """Compact JSON of ``result`` that always fits in ``limit`` bytes and always parses.

    Bulky optional fields go first (feature summaries, then model inputs/outputs, then warnings),
    then the message is shortened; ``truncated`` says that something was left out. The full record is in
    the store (profile.json or bundle.json), so nothing is lost for good.
    """
    data = _dump(result)
    if len(data) <= limit:
        return data
    current = result.model_copy(update={"truncated": True})
    if isinstance(current, ProfileResult):
        current = current.model_copy(update={"features": None})
    elif current.model is not None:
        current = current.model_copy(
            update={"model": current.model.model_copy(update={"inputs": None, "outputs": None})}
        )
    data = _dump(current)
    if len(data) <= limit:
        return data
    current = current.model_copy(update={"warnings": None})
    data = _dump(current)
    if len(data) <= limit:
        return data
    overflow = len(data) - limit
    budget = len(current.message.encode()) - overflow - 8  # room for JSON escapes of a cut character
    while True:
        message = _truncate_utf8(current.message, budget).rstrip() + "…"
        data = _dump(current.model_copy(update={"message": message}))
        if len(data) <= limit or budget <= 0:
            break
        budget -= len(data) - limit
    if len(data) > limit:
        # Nothing optional is left to drop: keep only what the operator needs to act.
        minimal = type(current)(ok=current.ok, exit_code=current.exit_code, reason=current.reason, truncated=True)
        data = _dump(minimal)
    return data


def decode_result(data: bytes | str) -> ProfileResult | TrainResult:
    """Parse a termination message written by :func:`encode_result`."""
    return _ADAPTER.validate_json(data)
