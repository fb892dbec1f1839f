"""Building blocks shared by the four kinds: the base model, references, durations, resources.

Every Yardarm API type derives from :class:`ApiModel`, which speaks camelCase on the wire (as
Kubernetes does) and snake_case in Python. The CRD schemas are generated from these classes by
:mod:`yardarm.api.crd`, so a field's ``description`` here is what ``kubectl explain`` prints.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "mlops.yardarm.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: A Kubernetes-style duration: one or more ``<number><unit>`` terms, e.g. ``30s``, ``5m``, ``1h30m``.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_DURATION_TERM = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

#: A resource name usable as a child object name prefix (DNS-1123 subdomain, kept short).
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

#: Content digests are always full sha256, never abbreviated.
DIGEST_PATTERN = r"^sha256:[a-f0-9]{64}$"

Duration = Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32)]


def parse_duration(value: str) -> float:
    """Seconds in a duration string such as ``1h30m`` (the schema has already checked its form)."""
    if not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h30m")
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_TERM.findall(value))


def cel(rule: str, message: str, *, reason: str | None = None) -> dict[str, str]:
    """One ``x-kubernetes-validations`` entry: the API server refuses objects that break ``rule``."""
    entry = {"rule": rule, "message": message}
    if reason:
        entry["reason"] = reason
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """JSON-schema extras carrying CEL rules, for ``model_config`` or ``Field(json_schema_extra=...)``."""
    return {"x-kubernetes-validations": list(rules)}


class ApiModel(BaseModel):
    """Base for every API type: camelCase aliases, unknown fields refused, descriptions required."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as the Kubernetes API stores it: camelCase keys, unset optionals left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class LocalObjectReference(ApiModel):
    """A reference to another object in the same namespace."""

    name: str = Field(
        description="Name of the referenced object in the same namespace.",
        min_length=1,
        max_length=253,
        pattern=NAME_PATTERN,
    )


class SecretKeyReference(ApiModel):
    """A Secret in the same namespace that holds credentials."""

    name: str = Field(description="Name of the Secret in the same namespace.", min_length=1, max_length=253)


QuantityMap = dict[str, int | str]


class ResourceRequirements(ApiModel):
    """CPU and memory for a container, in the shape of a Kubernetes ResourceRequirements."""

    requests: QuantityMap | None = Field(
        default=None, description="Minimum resources the scheduler reserves, e.g. cpu: 500m, memory: 1Gi."
    )
    limits: QuantityMap | None = Field(
        default=None, description="Maximum resources the container may use; memory over it is OOMKilled."
    )
