"""Turning spec JSON (camelCase, as the Kubernetes API stores it) into validated API types.

Jobs get a resource's spec as JSON, from a file or an environment variable. Either the bare
``spec`` or the whole object (``apiVersion``, ``kind``, ``metadata``, ``spec``) is accepted; the
whole object also yields the resource's name and namespace for lineage.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from yardarm.training.errors import BadInputError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class LoadedSpec:
    """A spec's JSON with the object name and namespace, when the whole object was given."""

    spec: Mapping[str, Any]
    name: str | None = None
    namespace: str | None = None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


def coerce_spec(model: type[M], value: M | Mapping[str, Any], what: str) -> M:
    """``value`` as ``model``, or :class:`BadInputError` naming the first invalid field."""
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise BadInputError(f"The {what} spec is invalid at {_first_error(exc)}.", reason="InvalidSpec") from exc


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def parse_spec_json(text: str, what: str) -> LoadedSpec:
    """Parse spec JSON strictly (Python's parser takes ``NaN``; the API server does not).

    A whole resource object is unwrapped to its ``spec``.
    """
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"The {what} spec is not valid JSON: {exc.msg} at line {exc.lineno}.", reason="InvalidSpec"
        ) from exc
    except ValueError as exc:
        raise BadInputError(f"The {what} spec is not valid JSON: {exc}.", reason="InvalidSpec") from exc
    if not isinstance(data, dict):
        raise BadInputError(f"The {what} spec must be a JSON object.", reason="InvalidSpec")
    if "spec" in data and ("kind" in data or "metadata" in data):
        metadata = data.get("metadata") or {}
        return LoadedSpec(spec=data["spec"], name=metadata.get("name"), namespace=metadata.get("namespace"))
    return LoadedSpec(spec=data)
