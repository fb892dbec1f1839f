"""The TrainingRun kind: one scikit-learn training, exported to ONNX, judged by quality gates.

A TrainingRun is a record of what happened, so its spec is immutable (a CEL rule enforces it):
to train again, create a new TrainingRun.

Every CEL rule that looks at one object has a pydantic twin (a ``model_validator`` raising the
same message), so ``yardarm-train`` refuses what the API server refuses, before reading data.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator
from pydantic.config import JsonDict

from yardarm.api.common import (
    DIGEST_PATTERN,
    INT32_MAX,
    JSON_SCALAR_SCHEMA,
    JSON_VALUE_SCHEMA,
    ApiModel,
    LocalObjectReference,
    ResourceRequirements,
    cel,
    check_json_value,
    validations,
)
from yardarm.api.conditions import Condition
from yardarm.api.dataset import S3Options
from yardarm.api.uris import StorePrefixURI

Task = Literal["classification", "regression"]

#: Estimators that skl2onnx converts and that take no user code. Names are scikit-learn class names.
Classifier = Literal[
    "LogisticRegression",
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "GradientBoostingClassifier",
    "HistGradientBoostingClassifier",
    "DecisionTreeClassifier",
    "KNeighborsClassifier",
    "LinearSVC",
]
Regressor = Literal[
    "LinearRegression",
    "Ridge",
    "Lasso",
    "ElasticNet",
    "RandomForestRegressor",
    "ExtraTreesRegressor",
    "GradientBoostingRegressor",
    "HistGradientBoostingRegressor",
    "DecisionTreeRegressor",
    "KNeighborsRegressor",
]
#: The Literal types are the source; these tuples are read from them, so both stay one list.
CLASSIFIERS: tuple[Classifier, ...] = get_args(Classifier)
REGRESSORS: tuple[Regressor, ...] = get_args(Regressor)
EstimatorKind = Literal[Classifier, Regressor]

ClassificationMetric = Literal["accuracy", "f1Macro", "rocAuc", "logLoss"]
RegressionMetric = Literal["rmse", "mae", "r2"]
CLASSIFICATION_METRICS: tuple[ClassificationMetric, ...] = get_args(ClassificationMetric)
REGRESSION_METRICS: tuple[RegressionMetric, ...] = get_args(RegressionMetric)
#: Metrics where lower is better; a gate on them is a maximum, on the others a minimum.
LOWER_IS_BETTER = ("logLoss", "rmse", "mae")
#: The values each metric can take: a gate outside them can never pass (or never fail).
METRIC_RANGES: dict[str, tuple[float | None, float | None]] = {
    "accuracy": (0.0, 1.0),
    "f1Macro": (0.0, 1.0),
    "rocAuc": (0.0, 1.0),
    "logLoss": (0.0, None),
    "rmse": (0.0, None),
    "mae": (0.0, None),
    "r2": (None, 1.0),
}

#: Estimator parameters and grid entries a spec may name.
PARAMS_MAX = 32
GRID_PARAMS_MAX = 8
GRID_VALUES_MAX = 16
PARAM_NAME_MAX = 64
#: A TrainingRun spec travels into its Job in one environment variable (Linux refuses one of
#: 128 KiB or more); the schema's bounds keep it below this, and this check catches the rest.
SPEC_MAX_BYTES = 96 * 1024
MetricName = Literal[ClassificationMetric, RegressionMetric]

TrainingPhase = Literal["Pending", "Waiting", "Running", "Succeeded", "Failed"]

#: Estimator parameters are JSON values the runtime checks against the estimator's own parameters
#: before training; the schema bounds their size (see :data:`~yardarm.api.common.JSON_VALUE_SCHEMA`).
_PARAMS: JsonDict = {"type": "object", "maxProperties": PARAMS_MAX, "additionalProperties": JSON_VALUE_SCHEMA}
_GRID: JsonDict = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": GRID_PARAMS_MAX,
    "additionalProperties": {
        "type": "array",
        "minItems": 1,
        "maxItems": GRID_VALUES_MAX,
        "items": JSON_SCALAR_SCHEMA,
    },
}


def _check_params(values: dict[str, Any], where: str) -> None:
    for name, value in values.items():
        if not name.isidentifier() or len(name) > PARAM_NAME_MAX:
            raise ValueError(f"{where}: {name[:80]!r} is not a parameter name (a Python identifier, at most 64 chars)")
        check_json_value(value, where=f"{where}.{name}")


def _cel_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


class EstimatorSpec(ApiModel):
    """Which scikit-learn estimator to fit, and its parameters."""

    kind: EstimatorKind = Field(description="scikit-learn estimator class, from Yardarm's allow-list.")
    params: dict[str, Any] | None = Field(
        default=None,
        description=(
            "Constructor parameters, e.g. {n_estimators: 100, max_depth: 5}; checked against the class. "
            "Values are numbers, strings (at most 256 characters), booleans, or lists and maps of at "
            "most 16 such scalars."
        ),
        max_length=PARAMS_MAX,
        json_schema_extra=_PARAMS,
    )

    @field_validator("params")
    @classmethod
    def _bounded(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        _check_params(value or {}, "estimator.params")
        return value


class PreprocessingSpec(ApiModel):
    """The preprocessing steps placed before the estimator in one scikit-learn Pipeline."""

    numeric_imputer: Literal["mean", "median", "most_frequent"] = Field(
        default="median", description="How missing numeric values are filled."
    )
    scale_numeric: bool = Field(default=True, description="Standardize numeric features (zero mean, unit variance).")
    max_categories: int = Field(
        default=20,
        description="Most frequent categories one-hot encoded per categorical feature; rarer ones share a column.",
        ge=2,
        le=200,
    )


class SearchSpec(ApiModel):
    """A small grid search with cross-validation over estimator parameters."""

    grid: dict[str, list[Any]] = Field(
        description=(
            "Parameter name to a list of candidate values, e.g. {max_depth: [3, 5, 8]}: a list even for "
            "one value, of at most 16 numbers, strings or booleans."
        ),
        min_length=1,
        max_length=GRID_PARAMS_MAX,
        json_schema_extra=_GRID,
    )
    cv_folds: int = Field(default=3, description="Cross-validation folds.", ge=2, le=10)
    max_candidates: int = Field(
        default=32,
        description="Largest grid allowed; a bigger grid fails the run before training.",
        ge=1,
        le=256,
    )

    @field_validator("grid")
    @classmethod
    def _candidates(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, candidates in value.items():
            if not 1 <= len(candidates) <= GRID_VALUES_MAX:
                raise ValueError(f"search.grid.{name}: a list of 1 to {GRID_VALUES_MAX} candidate values")
        _check_params(dict(value), "search.grid")
        return value


def _range_rules() -> list[dict[str, str]]:
    """One CEL rule per bounded metric: its gate lies within the values the metric takes."""
    rules = []
    for metric, (low, high) in METRIC_RANGES.items():
        tests = [f"self.{side} >= {low}" for side in ("min", "max") if low is not None]
        tests += [f"self.{side} <= {high}" for side in ("min", "max") if high is not None]
        guarded = " && ".join(f"(!has(self.{t.split()[0][5:]}) || {t})" for t in tests)
        rules.append(cel(f"self.metric != '{metric}' || ({guarded})", f"{metric} {_range_words(low, high)}"))
    return rules


def _range_words(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"is between {low:g} and {high:g}: a gate outside that range can never be met as meant"
    if low is not None:
        return f"is at least {low:g}: a gate below that can never be met"
    return f"is at most {high:g}: a gate above that can never be met"


_ONE_BOUND = "a quality gate sets exactly one of min or max"
_GATE_WITH_MAX = "logLoss, rmse and mae are lower-is-better: gate them with max"
_GATE_WITH_MIN = "accuracy, f1Macro, rocAuc and r2 are higher-is-better: gate them with min"
_NEEDS_CLASSIFIER = "a classification task needs a classifier estimator"
_NEEDS_REGRESSOR = "a regression task needs a regressor estimator"
_GATE_OTHER_TASK = "a quality gate names a metric of another task"


class QualityGate(ApiModel):
    """A metric bound on the test split that a model must meet for the run to succeed."""

    model_config = ApiModel.model_config | {
        # A bound of NaN would make every comparison false; JSON cannot carry one anyway.
        "allow_inf_nan": False,
        "json_schema_extra": validations(
            cel("has(self.min) != has(self.max)", _ONE_BOUND),
            cel(f"!has(self.min) || !(self.metric in {_cel_list(LOWER_IS_BETTER)})", _GATE_WITH_MAX),
            cel(f"!has(self.max) || self.metric in {_cel_list(LOWER_IS_BETTER)}", _GATE_WITH_MIN),
            *_range_rules(),
        ),
    }

    metric: MetricName = Field(description="Metric measured on the test split.")
    min: float | None = Field(default=None, description="Lowest acceptable value (higher-is-better metrics).")
    max: float | None = Field(default=None, description="Highest acceptable value (lower-is-better metrics).")

    @model_validator(mode="after")
    def _consistent(self) -> QualityGate:
        if (self.min is None) == (self.max is None):
            raise ValueError(_ONE_BOUND)
        if self.min is not None and self.metric in LOWER_IS_BETTER:
            raise ValueError(_GATE_WITH_MAX)
        if self.max is not None and self.metric not in LOWER_IS_BETTER:
            raise ValueError(_GATE_WITH_MIN)
        low, high = METRIC_RANGES[self.metric]
        bound = self.min if self.min is not None else self.max
        assert bound is not None
        if (low is not None and bound < low) or (high is not None and bound > high):
            raise ValueError(f"{self.metric} {_range_words(low, high)}")
        return self


class OutputSpec(ApiModel):
    """Where the model bundle is written."""

    uri: StorePrefixURI | None = Field(
        default=None,
        description="Store prefix such as pvc://claim/models or s3://bucket/models; the operator's default when unset.",
    )
    s3: S3Options | None = Field(
        default=None, description="Connection settings of an s3:// store; the operator's when unset."
    )


class JobSpec(ApiModel):
    """Settings of the Kubernetes Job that trains."""

    resources: ResourceRequirements | None = Field(default=None, description="CPU and memory of the training pod.")
    backoff_limit: int = Field(default=1, description="Retries of a crashed pod before the run fails.", ge=0, le=10)
    active_deadline_seconds: int = Field(
        default=3600, description="The run fails when training takes longer than this.", ge=30, le=604800
    )
    ttl_seconds_after_finished: int = Field(
        default=86400, description="Finished Jobs (not the TrainingRun) are deleted after this.", ge=0, le=INT32_MAX
    )


class TrainingRunSpec(ApiModel):
    """What to train on, with which estimator, and what counts as good enough. Immutable."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self == oldSelf",
                "TrainingRun spec is immutable: create a new TrainingRun to train again",
            ),
            cel(
                f"self.task != 'classification' || self.estimator.kind in {_cel_list(CLASSIFIERS)}",
                _NEEDS_CLASSIFIER,
            ),
            cel(f"self.task != 'regression' || self.estimator.kind in {_cel_list(REGRESSORS)}", _NEEDS_REGRESSOR),
            cel(
                f"!has(self.qualityGates) || self.qualityGates.all(g, g.metric in "
                f"(self.task == 'classification' ? {_cel_list(CLASSIFICATION_METRICS)} "
                f": {_cel_list(REGRESSION_METRICS)}))",
                _GATE_OTHER_TASK,
            ),
        )
    }

    dataset_ref: LocalObjectReference = Field(description="The Dataset to train on; training waits until it is Ready.")
    task: Task = Field(description="classification or regression.")
    estimator: EstimatorSpec = Field(description="The scikit-learn estimator and its parameters.")
    preprocessing: PreprocessingSpec = Field(
        default=PreprocessingSpec(), description="Imputation, scaling and encoding before the estimator."
    )
    search: SearchSpec | None = Field(default=None, description="Optional grid search with cross-validation.")
    quality_gates: list[QualityGate] | None = Field(
        default=None,
        description="Bounds on test metrics; a miss fails the run and no model is offered for deployment.",
        max_length=16,
    )
    output: OutputSpec = Field(default=OutputSpec(), description="Where the model bundle is written.")
    job: JobSpec = Field(default=JobSpec(), description="Settings of the training Job.")

    @model_validator(mode="after")
    def _runnable(self) -> TrainingRunSpec:
        if self.task == "classification" and self.estimator.kind not in CLASSIFIERS:
            raise ValueError(_NEEDS_CLASSIFIER)
        if self.task == "regression" and self.estimator.kind not in REGRESSORS:
            raise ValueError(_NEEDS_REGRESSOR)
        metrics = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        if any(g.metric not in metrics for g in self.quality_gates or []):
            raise ValueError(_GATE_OTHER_TASK)
        size = len(json.dumps(self.to_wire(), separators=(",", ":")))
        if size > SPEC_MAX_BYTES:
            raise ValueError(
                f"the spec is too large: {size // 1024} KiB, at most {SPEC_MAX_BYTES // 1024} KiB "
                "(it travels into the training Job in one environment variable)"
            )
        return self


class TensorSpec(ApiModel):
    """One named input or output of the exported ONNX model."""

    name: str = Field(description="Tensor or feature name.")
    datatype: str = Field(description="Open Inference Protocol datatype, e.g. FP32, INT64, BYTES.")
    shape: list[int] | None = Field(default=None, description="Shape; -1 for a variable dimension.")


class Parity(ApiModel):
    """How closely the ONNX model reproduces scikit-learn on the test split."""

    max_abs_diff: float = Field(description="Largest absolute difference of probabilities or predictions.")
    label_agreement: float | None = Field(default=None, description="Share of identical predicted labels.")
    tolerance: float = Field(description="The largest difference allowed.")
    passed: bool = Field(description="Whether the difference stayed within the tolerance.")


class ModelInfo(ApiModel):
    """The exported model bundle."""

    uri: str = Field(description="Where the bundle (model.onnx + bundle.json) is stored.")
    digest: str = Field(
        description="sha256 of bundle.json, which pins model.onnx by its own sha256.", pattern=DIGEST_PATTERN
    )
    opset: int | None = Field(default=None, description="ONNX opset of the model.")
    inputs: list[TensorSpec] | None = Field(
        default=None, description="Model inputs: one per feature, shape [-1, 1] (yardarm-serve also takes a matrix)."
    )
    outputs: list[TensorSpec] | None = Field(
        default=None,
        description=(
            "Model outputs as yardarm-serve's model metadata declares them: a classifier's label is BYTES [-1] "
            "(class names)."
        ),
    )
    parity: Parity | None = Field(default=None, description="ONNX versus scikit-learn on the test split.")


class TrainingRunStatus(ApiModel):
    """What happened: the Job, the metrics and the model it produced."""

    phase: TrainingPhase | None = Field(default=None, description="Pending, Waiting, Running, Succeeded or Failed.")
    observed_generation: int | None = Field(default=None, description="The generation this status describes.")
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready, Reconciling and Stalled, in the metav1.Condition shape.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    job_name: str | None = Field(default=None, description="Name of the training Job.")
    start_time: datetime | None = Field(default=None, description="When the Job started.")
    completion_time: datetime | None = Field(default=None, description="When the run succeeded or failed.")
    dataset_digest: str | None = Field(default=None, description="Digest of the Dataset content trained on.")
    metrics: dict[str, float] | None = Field(default=None, description="Test-split metrics by name.")
    headline: str | None = Field(default=None, description="The task's main metric, e.g. accuracy=0.967.")
    model: ModelInfo | None = Field(default=None, description="The exported model bundle.")
    reason: str | None = Field(default=None, description="Why the run failed, as a CamelCase reason.")
    message: str | None = Field(default=None, description="Why the run failed, in one sentence.")
    warnings: list[str] | None = Field(
        default=None,
        description="What the run noticed without failing, e.g. a column typed categorical from a few stray values.",
        max_length=5,
    )


class TrainingRun(ApiModel):
    """One training of a scikit-learn model on a Dataset, exported to ONNX."""

    api_version: Literal["mlops.yardarm.dev/v1alpha1"] = Field(
        default="mlops.yardarm.dev/v1alpha1", description="API version."
    )
    kind: Literal["TrainingRun"] = Field(default="TrainingRun", description="Kind.")
    metadata: dict[str, object] = Field(default_factory=dict, description="Standard object metadata.")
    spec: TrainingRunSpec = Field(description="What to train.")
    status: TrainingRunStatus | None = Field(default=None, description="What happened.")
