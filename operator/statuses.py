"""Small helpers shared by the reconcilers for building ``status``: conditions and diffs.

Statuses are plain wire dicts (camelCase) so that what is compared is exactly what the API
server stores; conditions go through :mod:`yardarm.api.conditions` so that Ready, Reconciling
and Stalled never contradict each other and transition times only move on real transitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from yardarm.api import RESOURCES
from yardarm.api.conditions import Condition, ConditionStatus, State, set_condition, summarize

Body = dict[str, Any]
#: A condition beside Ready/Reconciling/Stalled: type, status, reason, message.
ExtraCondition = tuple[str, ConditionStatus, str, str]


def conditions_of(status: Mapping[str, Any] | None) -> list[Condition]:
    """The conditions in a stored status, parsed (unparseable ones are dropped)."""
    out = []
    for raw in (status or {}).get("conditions") or []:
        try:
            out.append(Condition.model_validate(raw))
        except ValueError:
            continue
    return out


def summary(
    status: Mapping[str, Any] | None,
    state: State,
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: datetime,
    extra: list[ExtraCondition] | None = None,
) -> list[Body]:
    """Ready/Reconciling/Stalled (and ``extra`` conditions: type, status, reason, message) as wire dicts."""
    conditions = summarize(conditions_of(status), state, reason, message, generation=generation, now=now)
    for type_, cond_status, cond_reason, cond_message in extra or []:
        conditions = set_condition(
            conditions,
            type_,
            cond_status,
            cond_reason,
            cond_message,
            generation=generation,
            now=now,
        )
    return [c.to_wire() for c in conditions]


def condition(status: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any] | None:
    """One stored condition as a dict."""
    return next((c for c in (status or {}).get("conditions") or [] if c.get("type") == type_), None)


def changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Body:
    """The keys of ``new`` whose values differ from ``old`` (a merge patch; ``None`` deletes)."""
    old = old or {}
    return {k: v for k, v in new.items() if old.get(k) != v and not (v is None and k not in old)}


def generation_of(obj: Mapping[str, Any]) -> int | None:
    """``metadata.generation``."""
    value = (obj.get("metadata") or {}).get("generation")
    return int(value) if value is not None else None


def timestamp(value: datetime) -> str:
    """A datetime as Kubernetes writes it."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def problem(exc: ValidationError) -> str:
    """The first error of a validation, as one sentence naming the field: ``spec.x.y: what is wrong``."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def invalid_spec(obj: Mapping[str, Any]) -> str | None:
    """Why the API types refuse an object the API server admitted, in one sentence; ``None`` if they accept it.

    The CRD cannot express every rule (booleans as quantities, requests above limits, parameter
    names); the pydantic types can. Checking an object with them before building any child turns
    what would be a child refused by the API server, or a Job that cannot start, into a Stalled
    condition with this sentence and a Warning Event.
    """
    model = RESOURCES.get(str(obj.get("kind")))
    if model is None:
        return None
    meta = obj.get("metadata") or {}
    try:
        model.model_validate({"metadata": {"name": meta.get("name")}, "spec": obj.get("spec") or {}})
    except ValidationError as exc:
        return problem(exc)
    return None
