"""The Monitor kind: checks on a live ModelDeployment, and the verdict that triggers rollback.

A Monitor only records its verdict in its status; the ModelDeployment reconciler acts on it.
Too few samples in a window is ``Inconclusive``, never a rollback.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from yardarm.api.common import ApiModel, Duration, LocalObjectReference, cel, validations
from yardarm.api.conditions import Condition

CheckType = Literal["latency", "errorRate", "featureDrift", "predictionDrift", "accuracy"]
CheckResult = Literal["Pass", "Fail", "Inconclusive"]
MonitorPhase = Literal["Pending", "Healthy", "Degraded", "Inconclusive"]


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
        )
    }

    name: str = Field(
        description="Unique name of the check within the Monitor.",
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    )
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
    features: list[str] | None = Field(
        default=None,
        description="Features to test for drift; all when unset. Fails when any one drifts.",
        max_length=1000,
    )


class MonitorSpec(ApiModel):
    """What to watch, how often, and what to do when it goes wrong."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "duration(self.window) >= duration(self.interval)",
                "window must be at least as long as interval",
            ),
            cel("duration(self.interval) >= duration('5s')", "interval must be at least 5s"),
        )
    }

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
    prometheus_url: str | None = Field(
        default=None,
        description="Read metrics from this Prometheus instead of scraping the serving pods.",
        max_length=2048,
        pattern=r"^https?://.+$",
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

    phase: MonitorPhase | None = Field(default=None, description="Pending, Healthy, Degraded or Inconclusive.")
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
