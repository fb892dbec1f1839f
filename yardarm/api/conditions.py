"""Conditions in the ``metav1.Condition`` shape, with kstatus semantics.

Every kind carries three conditions so that kstatus (Flux, ``kubectl wait``), Argo CD and people
read the same truth:

* ``Ready`` — normal-true: the resource does what it was asked to do.
* ``Reconciling`` — abnormal-true: work is under way; the current state is not final.
* ``Stalled`` — abnormal-true: progress stopped and needs a person (bad input, failed Job).

:func:`summarize` sets all three consistently from one verdict; :func:`set_condition` keeps
``lastTransitionTime`` stable while a condition's status does not change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from yardarm.api.common import ApiModel

ConditionStatus = Literal["True", "False", "Unknown"]

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"


class State(StrEnum):
    """The kstatus state a reconcile leaves a resource in."""

    READY = "ready"
    RECONCILING = "reconciling"
    STALLED = "stalled"


class Condition(ApiModel):
    """One aspect of a resource's current state (the metav1.Condition shape)."""

    type: str = Field(description="Type of condition in CamelCase, e.g. Ready.", max_length=316)
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    reason: str = Field(
        description="Machine-readable CamelCase reason for the last transition.",
        max_length=1024,
        pattern=r"^([A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?)?$",
    )
    message: str = Field(default="", description="Human-readable details of the last transition.", max_length=32768)
    last_transition_time: datetime = Field(description="When the condition last changed status.")
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this condition was computed from.", ge=0
    )


def now_utc() -> datetime:
    """The current time, second precision, as Kubernetes stores it."""
    return datetime.now(UTC).replace(microsecond=0)


def find(conditions: list[Condition], type_: str) -> Condition | None:
    """The condition of the given type, if present."""
    return next((c for c in conditions if c.type == type_), None)


def is_true(conditions: list[Condition], type_: str) -> bool:
    """True when the condition exists and its status is ``True``."""
    found = find(conditions, type_)
    return found is not None and found.status == "True"


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    *,
    generation: int | None = None,
    now: datetime | None = None,
) -> list[Condition]:
    """A new list with ``type_`` set; its transition time moves only when its status changes."""
    previous = find(conditions, type_)
    when = now or now_utc()
    if previous is not None and previous.status == status:
        when = previous.last_transition_time
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=when,
        observed_generation=generation,
    )
    others = [c for c in conditions if c.type != type_]
    return sorted([*others, updated], key=lambda c: c.type)


def summarize(
    conditions: list[Condition],
    state: State,
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: datetime | None = None,
) -> list[Condition]:
    """Set Ready, Reconciling and Stalled together so they never contradict each other."""
    ready: ConditionStatus = "True" if state is State.READY else "False"
    reconciling: ConditionStatus = "True" if state is State.RECONCILING else "False"
    stalled: ConditionStatus = "True" if state is State.STALLED else "False"
    out = set_condition(conditions, READY, ready, reason, message, generation=generation, now=now)
    out = set_condition(
        out,
        RECONCILING,
        reconciling,
        reason if reconciling == "True" else "Idle",
        message if reconciling == "True" else "",
        generation=generation,
        now=now,
    )
    return set_condition(
        out,
        STALLED,
        stalled,
        reason if stalled == "True" else "NotStalled",
        message if stalled == "True" else "",
        generation=generation,
        now=now,
    )
