"""Building blocks shared by the four kinds: the base model, references, durations, resources.

Every Yardarm API type derives from :class:`ApiModel`, which speaks camelCase on the wire (as
Kubernetes does) and snake_case in Python. The CRD schemas are generated from these classes by
:mod:`yardarm.api.crd`, so a field's ``description`` here is what ``kubectl explain`` prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

GROUP = "mlops.yardarm.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: A Kubernetes-style duration: one or more ``<number><unit>`` terms, e.g. ``30s``, ``5m``, ``1h30m``.
#: Numbers have at most 5 digits before the point, so any duration in 32 characters stays far
#: inside what CEL's ``duration()`` (Go's 290 years) can hold: no rule ever fails to evaluate.
DURATION_PATTERN = r"^([0-9]{1,5}(\.[0-9]{1,6})?(ms|s|m|h))+$"
_DURATION_TERM = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

#: A resource name usable as a child object name prefix (DNS-1123 subdomain, kept short).
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: A DNS-1035 label: what a Service name must be (no dots, starts with a letter).
DNS1035_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
#: A DNS-1123 label: a name without dots (check names, claim-less labels).
DNS1123_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

#: Content digests are always full sha256, never abbreviated.
DIGEST_PATTERN = r"^sha256:[a-f0-9]{64}$"
DIGEST_LENGTH = len("sha256:") + 64

#: Largest value of a Kubernetes int32 field (TTLs, replica counts, ports).
INT32_MAX = 2**31 - 1
#: Largest random seed numpy and scikit-learn accept.
SEED_MAX = 2**32 - 1


def cel(rule: str, message: str, *, reason: str | None = None) -> dict[str, str]:
    """One ``x-kubernetes-validations`` entry: the API server refuses objects that break ``rule``."""
    entry = {"rule": rule, "message": message}
    if reason:
        entry["reason"] = reason
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """JSON-schema extras carrying CEL rules, for ``model_config`` or ``Field(json_schema_extra=...)``."""
    return {"x-kubernetes-validations": list(rules)}


@dataclass(frozen=True)
class StringRule:
    """One check on a string, rendered twice from one place: a CEL rule and a Python check.

    ``regex`` is written in the subset RE2 (CEL's ``matches``) and Python's ``re`` share, and is
    searched for (not anchored unless it says so). With ``when``, the rule applies only to values
    starting with that prefix. With ``refuse``, a match is the failure. ``message`` is what a
    person reads from ``kubectl apply``: it says what is wrong, never the regular expression.
    """

    regex: str
    message: str
    when: str | None = None
    refuse: bool = False

    def holds(self, value: str) -> bool:
        """Whether ``value`` passes this rule (the Python twin of :meth:`cel`)."""
        if self.when is not None and not value.startswith(self.when):
            return True
        # RE2's ``$`` matches only at the very end; Python's also before a final newline.
        found = re.search(re.sub(r"(?<!\\)\$", r"\\Z", self.regex), value) is not None
        return found != self.refuse

    def cel(self) -> dict[str, str]:
        """The ``x-kubernetes-validations`` entry checking ``self`` (the string field itself)."""
        literal = "'" + self.regex.replace("\\", "\\\\").replace("'", "\\'") + "'"
        test = f"self.matches({literal})"
        if self.refuse:
            test = f"!{test}"
        if self.when is not None:
            test = f"!self.startsWith('{self.when}') || {test}"
        return cel(test, self.message)


def string_checks(*rules: StringRule, max_length: int) -> tuple[object, ...]:
    """Metadata refusing a string (in pydantic and the API server alike) unless every rule holds.

    Written ``Annotated[str, *string_checks(...)]``, so type checkers see a ``str`` alias.
    """

    def check(value: str) -> str:
        for rule in rules:
            if not rule.holds(value):
                raise ValueError(rule.message)
        return value

    extra = validations(*(r.cel() for r in rules)) if rules else None
    return Field(max_length=max_length, json_schema_extra=extra), AfterValidator(check)


DURATION_RULE = StringRule(DURATION_PATTERN, "must be a duration such as 30s, 5m or 1h30m (units ms, s, m, h)")
Duration = Annotated[str, *string_checks(DURATION_RULE, max_length=32)]


def parse_duration(value: str) -> float:
    """Seconds in a duration string such as ``1h30m`` (the schema has already checked its form)."""
    if not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h30m")
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_TERM.findall(value))


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


ObjectName = Annotated[
    str,
    *string_checks(
        StringRule(
            NAME_PATTERN,
            "must be an object name: lowercase letters, digits, '-' and '.', starting and ending alphanumeric",
        ),
        max_length=253,
    ),
]


class LocalObjectReference(ApiModel):
    """A reference to another object in the same namespace."""

    name: ObjectName = Field(description="Name of the referenced object in the same namespace.", min_length=1)


class SecretKeyReference(ApiModel):
    """A Secret in the same namespace that holds credentials."""

    name: ObjectName = Field(description="Name of the Secret in the same namespace.", min_length=1)


#: A Kubernetes quantity as a string: a decimal number, then an SI or binary suffix or an exponent.
QUANTITY_PATTERN = r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
_SUFFIX: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
#: Pods refuse quantities above this many of the base unit (cores, bytes): Kubernetes' int64 bound.
_QUANTITY_MAX = Decimal(2**63 - 1)


def parse_quantity(value: object) -> Decimal:
    """The amount a Kubernetes quantity names (``500m`` → 0.5, ``1Gi`` → 1073741824, ``0.5`` → 0.5).

    Numbers are taken as Pods take them (``cpu: 0.5``); booleans, negative amounts and malformed
    strings are refused with a sentence that says so.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity: write a number or a string such as 500m or 1Gi")
    if isinstance(value, int | float):
        amount = Decimal(str(value))
    elif isinstance(value, str) and re.fullmatch(QUANTITY_PATTERN, value):
        match = re.fullmatch(r"([+]?[0-9.]+)(.*)", value)
        assert match is not None
        number, suffix = match.groups()
        exponent = suffix[:1] in ("e", "E")
        try:
            amount = Decimal(number) * (Decimal(10) ** int(suffix[1:]) if exponent else _SUFFIX[suffix])
        except (InvalidOperation, OverflowError) as exc:
            raise ValueError(f"{value!r} is not a quantity a Pod accepts") from exc
    else:
        raise ValueError(f"{value!r} is not a quantity such as 500m, 0.5, 2 or 1Gi")
    if amount < 0:
        raise ValueError(f"{value!r} is negative: resources are amounts of at least 0")
    if amount > _QUANTITY_MAX:
        raise ValueError(f"{value!r} is larger than Kubernetes can hold")
    return amount


def _quantity(value: object) -> object:
    parse_quantity(value)
    return value


def _not_bool(value: object) -> object:
    if isinstance(value, bool):  # pydantic would read True as 1
        parse_quantity(value)
    return value


#: A quantity as Pods accept it: a string (``500m``, ``1Gi``) or a plain number (``0.5``).
#: The schema node has no type (numbers and strings both pass): strings must match the quantity
#: form, numbers must be at least 0, lists and maps are refused. What the schema cannot say
#: (booleans, requests above limits) the operator finds with these types before it builds a pod.
Quantity = Annotated[
    int | float | str,
    AfterValidator(_quantity),
    BeforeValidator(_not_bool),
    Field(
        json_schema_extra={
            "x-yardarm-quantity": True,
            "pattern": QUANTITY_PATTERN,
            "maxLength": 64,
            "minimum": 0,
            "maxItems": 0,
            "maxProperties": 0,
        }
    ),
]


#: A quantity of bytes: a string (``512Mi``) or a whole number. The API server checks it with
#: CEL's quantity library, so the refusal says what is wrong and requests can be compared with
#: limits (a CPU :data:`Quantity` may be a fraction, so the schema cannot type it for CEL).
ByteQuantity = Annotated[
    int | str,
    AfterValidator(_quantity),
    BeforeValidator(_not_bool),
    Field(
        json_schema_extra={
            "maxLength": 64,  # bounds the cost CEL estimates for the rules below
            **validations(
                cel(
                    "type(self) == string ? isQuantity(self) && !quantity(self).isLessThan(quantity('0')) : self >= 0",
                    "must be a quantity of bytes such as 512Mi, 2Gi or 1000000, and not negative",
                )
            ),
        }
    ),
]


class ResourceList(ApiModel):
    """Amounts of CPU, memory and ephemeral storage, as in a Kubernetes ResourceList."""

    cpu: Quantity | None = Field(
        default=None, description="CPU cores, e.g. 500m, 0.5 or 2 (a number or a quantity string)."
    )
    memory: ByteQuantity | None = Field(default=None, description="Memory in bytes, e.g. 512Mi or 2Gi.")
    ephemeral_storage: ByteQuantity | None = Field(
        default=None, alias="ephemeral-storage", description="Local scratch disk, e.g. 1Gi."
    )


def _at_most(resource: str) -> dict[str, str]:
    """CEL: the request for ``resource`` is at most its limit (when both are well-formed quantities)."""
    field_name = resource.replace("-", "__dash__")  # how CEL spells a field name with a dash
    request, limit = f"self.requests.{field_name}", f"self.limits.{field_name}"
    return cel(
        f"!has(self.requests) || !has(self.limits) || !has({request}) || !has({limit}) || "
        f"!isQuantity(string({request})) || !isQuantity(string({limit})) || "
        f"quantity(string({request})).compareTo(quantity(string({limit}))) <= 0",
        f"resources.requests.{resource} must be at most resources.limits.{resource}",
    )


class ResourceRequirements(ApiModel):
    """CPU and memory for a container, in the shape of a Kubernetes ResourceRequirements.

    Each request must be at most its limit, as Pods require.
    """

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(_at_most("memory"), _at_most("ephemeral-storage"))
    }

    requests: ResourceList | None = Field(
        default=None, description="Minimum resources the scheduler reserves, e.g. cpu: 500m, memory: 1Gi."
    )
    limits: ResourceList | None = Field(
        default=None, description="Maximum resources the container may use; memory over it is OOMKilled."
    )

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ResourceRequirements:
        if self.requests is None or self.limits is None:
            return self
        for name in ResourceList.model_fields:
            request, limit = getattr(self.requests, name), getattr(self.limits, name)
            if request is not None and limit is not None and parse_quantity(request) > parse_quantity(limit):
                wire = ResourceList.model_fields[name].alias or name
                raise ValueError(
                    f"resources.requests.{wire} must be at most resources.limits.{wire} ({request} > {limit})"
                )
        return self

    def has_cpu(self) -> bool:
        """Whether the pod gets a CPU request (a CPU limit alone becomes the request)."""
        return any(part is not None and part.cpu is not None for part in (self.requests, self.limits))


#: An estimator parameter value: a number, a string, a boolean, null, or a short list or map of
#: those. The schema bounds every level it can see (string lengths, list and map sizes, no
#: deeper nesting), so a spec stays far below what one environment variable carries into a Job.
PARAM_STRING_MAX = 256
PARAM_ITEMS_MAX = 16
PARAM_ITEM_STRING_MAX = 64
#: A scalar inside a parameter's list or map (and a grid candidate).
JSON_SCALAR_SCHEMA: dict[str, Any] = {
    "x-kubernetes-preserve-unknown-fields": True,
    "maxLength": PARAM_ITEM_STRING_MAX,
    "maxItems": 0,
    "maxProperties": 0,
}
JSON_VALUE_SCHEMA: dict[str, Any] = {
    "x-kubernetes-preserve-unknown-fields": True,
    "maxLength": PARAM_STRING_MAX,
    "maxItems": PARAM_ITEMS_MAX,
    "maxProperties": PARAM_ITEMS_MAX,
    "items": JSON_SCALAR_SCHEMA,
    "additionalProperties": JSON_SCALAR_SCHEMA,
}


def check_json_value(value: Any, *, where: str, nested: bool = False) -> Any:
    """The Python twin of :data:`JSON_VALUE_SCHEMA` (``nested``: of :data:`JSON_SCALAR_SCHEMA`)."""
    longest = PARAM_ITEM_STRING_MAX if nested else PARAM_STRING_MAX
    if isinstance(value, str) and len(value) > longest:
        raise ValueError(f"{where}: too long, at most {longest} characters")
    if isinstance(value, list | dict):
        if nested and value:
            raise ValueError(f"{where}: lists and maps inside lists or maps are not allowed")
        if len(value) > PARAM_ITEMS_MAX:
            raise ValueError(f"{where}: too many items, at most {PARAM_ITEMS_MAX}")
        for item in value.values() if isinstance(value, dict) else value:
            check_json_value(item, where=where, nested=True)
    return value
