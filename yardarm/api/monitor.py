"""The Monitor kind: checks on a live ModelDeployment, and the verdict that triggers rollback.

A Monitor only records its verdict in its status; the ModelDeployment reconciler acts on it.
Too few samples in a window is ``Inconclusive``, never a rollback.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, model_validator

from yardarm.api.common import (
    DNS1123_LABEL_PATTERN,
    DURATION_PATTERN,
    ApiModel,
    Duration,
    LocalObjectReference,
    StringRule,
    cel,
    parse_duration,
    string_checks,
    validations,
)
from yardarm.api.conditions import Condition
from yardarm.api.uris import HttpURL

CheckType = Literal["latency", "errorRate", "featureDrift", "predictionDrift", "accuracy"]
CheckResult = Literal["Pass", "Fail", "Inconclusive"]
MonitorPhase = Literal["Pending", "Healthy", "Failing", "Degraded", "Inconclusive"]


CheckName = Annotated[
    str,
    *string_checks(
        StringRule(
            DNS1123_LABEL_PATTERN, "must be lowercase letters, digits and '-', starting and ending alphanumeric"
        ),
        max_length=63,
    ),
]
#: The features a drift check tests: column names as in the Dataset.
FeatureName = Annotated[str, Field(min_length=1, max_length=256)]


class Check(ApiModel):
    """One thing to watch, with the bound it must stay within."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!(self.type in ['errorRate', 'accuracy']) || (self.threshold >= 0.0 && self.threshold <= 1.0)",
                "errorRate and accuracy thresholds are fractions between 0 and 1",
            ),
            cel("!has(self.quantile) || self.type == 'latency'", "quantile applies only to latency checks"),
            cel("!has(self.method) || self.type.endsWith('Drift')", "method applies only to drift checks"),
            cel("!has(self.features) || self.type == 'featureDrift'", "features applies only to featureDrift"),
            cel(
                "self.type != 'latency' || self.threshold > 0.0",
                "a latency threshold is a number of seconds above 0 (0 would fail every evaluation)",
            ),
            cel(
                "!has(self.features) || size(self.features) > 0",
                "features must not be empty: leave features unset to test every feature",
            ),
        )
    }

    name: CheckName = Field(description="Unique name of the check within the Monitor.", min_length=1)
    type: CheckType = Field(
        description=(
            "latency (seconds at a quantile, a maximum), errorRate (share of 5xx, a maximum), featureDrift "
            "and predictionDrift (distance from the training distribution, a maximum), accuracy (from "
            "feedback, a minimum)."
        )
    )
    threshold: float = Field(
        description="The bound: a maximum for all types but accuracy, a minimum for accuracy.", ge=0
    )
    quantile: float | None = Field(default=None, description="Latency quantile, 0.99 when unset.", gt=0, lt=1)
    method: Literal["psi", "ks"] | None = Field(
        default=None,
        description="Drift statistic: psi (population stability index) or ks (binned KS); psi when unset.",
    )
    features: list[FeatureName] | None = Field(
        default=None,
        description="Features to test for drift; all when unset (an empty list is refused). Fails when any one drifts.",
        min_length=1,
        max_length=1000,
    )

    @model_validator(mode="after")
    def _meaningful(self) -> Check:
        if self.type in ("errorRate", "accuracy") and not 0.0 <= self.threshold <= 1.0:
            raise ValueError("errorRate and accuracy thresholds are fractions between 0 and 1")
        if self.type == "latency" and self.threshold <= 0:
            raise ValueError("a latency threshold is a number of seconds above 0 (0 would fail every evaluation)")
        if self.quantile is not None and self.type != "latency":
            raise ValueError("quantile applies only to latency checks")
        if self.method is not None and not self.type.endswith("Drift"):
            raise ValueError("method applies only to drift checks")
        if self.features is not None and self.type != "featureDrift":
            raise ValueError("features applies only to featureDrift")
        return self


#: Cross-field duration rules run only on well-formed durations, so ``duration()`` never fails
#: to evaluate: a malformed one gets the field's own message instead of a conversion error.
_DURATION = "'" + DURATION_PATTERN.replace("\\", "\\\\") + "'"


class MonitorSpec(ApiModel):
    """What to watch, how often, and what to do when it goes wrong."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                f"!self.window.matches({_DURATION}) || !self.interval.matches({_DURATION}) || "
                "duration(self.window) >= duration(self.interval)",
                "window must be at least as long as interval (interval defaults to 30s, window to 5m)",
            ),
            cel(
                f"!self.interval.matches({_DURATION}) || duration(self.interval) >= duration('5s')",
                "interval must be at least 5s",
            ),
        )
    }

    @model_validator(mode="after")
    def _durations(self) -> MonitorSpec:
        if parse_duration(self.window) < parse_duration(self.interval):
            raise ValueError("window must be at least as long as interval (interval defaults to 30s, window to 5m)")
        if parse_duration(self.interval) < 5:
            raise ValueError("interval must be at least 5s")
        return self

    target_ref: LocalObjectReference = Field(description="The ModelDeployment to watch.")
    interval: Duration = Field(default="30s", description="How often the checks are evaluated, e.g. 30s.")
    window: Duration = Field(default="5m", description="How far back each evaluation looks, e.g. 5m.")
    min_samples: int = Field(
        default=100,
        description=(
            "Fewer samples than this in a window make a check Inconclusive. Drift checks also need the "
            "count at which a drift of their threshold would be significant (named in the message)."
        ),
        ge=1,
    )
    failure_threshold: int = Field(
        default=3,
        description=("Consecutive failing evaluations, over non-overlapping windows, before the model is Degraded."),
        ge=1,
        le=100,
    )
    false_alarm_rate: float = Field(
        default=0.01,
        description=(
            "Largest probability that one evaluation of a healthy model fails any check (family-wise, "
            "over every check and every feature tested)."
        ),
        gt=0,
        le=0.2,
    )
    checks: list[Check] = Field(
        description="The checks; all must pass for the model to be Healthy.",
        min_length=1,
        max_length=32,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    action: Literal["rollback", "alert"] = Field(
        default="rollback", description="On Degraded: roll the ModelDeployment back, or only report it."
    )
    prometheus_url: HttpURL | None = Field(
        default=None,
        description="Read metrics from this Prometheus instead of scraping the serving pods.",
    )


class CheckStatus(ApiModel):
    """The outcome of one check in the latest evaluation."""

    name: str = Field(description="Name of the check.")
    type: CheckType = Field(description="Type of the check.")
    result: CheckResult = Field(description="Pass, Fail or Inconclusive.")
    value: float | None = Field(
        default=None, description="Measured value (effect size: bias-corrected PSI, KS, rate, seconds)."
    )
    p_value: float | None = Field(
        default=None,
        description="Smallest p-value of the check's tests, adjusted for every test of the evaluation (Holm).",
    )
    threshold: float = Field(description="The bound it was compared with.")
    samples: int = Field(default=0, description="Requests (or feedback items) the value is based on.")
    message: str | None = Field(default=None, description="Detail, e.g. which feature drifted.")


class Verdict(ApiModel):
    """The Monitor's judgement of one model revision, which the ModelDeployment acts on."""

    degraded: bool = Field(description="True when failureThreshold consecutive evaluations failed.")
    revision: int | None = Field(default=None, description="The ModelDeployment revision judged.")
    digest: str | None = Field(default=None, description="The model digest judged.")
    since: datetime | None = Field(default=None, description="When the verdict was first reached.")
    reason: str | None = Field(default=None, description="Which checks failed, in one sentence.")


class LastAction(ApiModel):
    """What the Monitor asked for last."""

    type: Literal["rollback", "alert"] = Field(description="rollback or alert.")
    time: datetime = Field(description="When.")
    digest: str | None = Field(default=None, description="The model digest it concerned.")


class MonitorStatus(ApiModel):
    """The latest evaluation and the verdict."""

    phase: MonitorPhase | None = Field(
        default=None,
        description=(
            "Pending, Healthy (no failing window in a row), Failing (failing windows in a row, fewer than "
            "failureThreshold), Degraded or Inconclusive."
        ),
    )
    observed_generation: int | None = Field(default=None, description="The generation this status describes.")
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready, Reconciling and Stalled, in the metav1.Condition shape.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    last_evaluation_time: datetime | None = Field(default=None, description="When the checks last ran.")
    samples: int | None = Field(default=None, description="Requests in the last window.")
    checks: list[CheckStatus] | None = Field(default=None, description="Per-check results of the last evaluation.")
    consecutive_failures: int | None = Field(
        default=None, description="Failing evaluations in a row, counting only non-overlapping windows."
    )
    counted_until: datetime | None = Field(
        default=None,
        description="End of the last window counted in consecutiveFailures; a window starting earlier is not counted.",
    )
    verdict: Verdict | None = Field(default=None, description="The verdict on the revision being served.")
    last_action: LastAction | None = Field(default=None, description="The last rollback or alert asked for.")
    message: str | None = Field(default=None, description="Summary of the last evaluation.")


class Monitor(ApiModel):
    """Watches a live ModelDeployment and reports when its model degrades."""

    api_version: Literal["mlops.yardarm.dev/v1alpha1"] = Field(
        default="mlops.yardarm.dev/v1alpha1", description="API version."
    )
    kind: Literal["Monitor"] = Field(default="Monitor", description="Kind.")
    metadata: dict[str, object] = Field(default_factory=dict, description="Standard object metadata.")
    spec: MonitorSpec = Field(description="What to watch.")
    status: MonitorStatus | None = Field(default=None, description="The latest evaluation.")
