"""Training a TrainingRun end to end: data → Pipeline → metrics → gates → ONNX → parity → bundle.

:func:`run_training` is the Python API (the CLI, tests and the serving engineer's fixtures call it);
it raises :class:`yardarm.training.errors.JobError` subclasses for everything a user can fix and
lets anything else escape as a crash. Everything random is seeded from ``dataset.split.seed``, so
the same spec on the same data gives the same metrics and the same model bytes.
"""

from __future__ import annotations

import math
import platform
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError

from yardarm.api.dataset import DatasetSpec, FeatureSpec
from yardarm.api.trainingrun import TrainingRunSpec
from yardarm.bundle import BundleManifest, Lineage, ParityReport, ReferenceProfile, sha256_bytes
from yardarm.store import PVC_MOUNT
from yardarm.training.artifacts import put_bundle
from yardarm.training.bins import prediction_profile, reference_profile
from yardarm.training.errors import BadInputError, ParityError
from yardarm.training.export import check_parity, export_onnx
from yardarm.training.metrics import (
    check_gates,
    classification_metrics,
    headline,
    regression_metrics,
    require_finite,
)
from yardarm.training.pipeline import ESTIMATOR_STEP, build_pipeline, check_grid, make_estimator
from yardarm.training.prepare import PreparedData, prepare
from yardarm.training.sources import read_source
from yardarm.training.specs import coerce_spec

#: More distinct target values than this in a classification task is almost surely a regression target.
MAX_CLASSES = 200
#: The fewest test (and training) rows every metric is defined on: r2 and rocAuc need two.
MIN_SPLIT_ROWS = 2
#: The largest float32: numeric features, and a regressor's ONNX predictions, are float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Distributions recorded in lineage, so an audit can rebuild the environment.
LIBRARIES = ("yardarm", "scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy", "pandas", "pyarrow")


@dataclass(frozen=True)
class TrainingOutcome:
    """A finished run: where the bundle is and what it says."""

    #: sha256:<hex> of bundle.json — the bundle's identity.
    digest: str
    #: A local directory holding model.onnx and bundle.json (a staging copy for s3:// outputs).
    bundle_dir: Path
    #: The bundle's URI in the output store, e.g. file:///…/bundles/sha256-… or s3://bucket/…/bundles/sha256-….
    bundle_uri: str
    manifest: BundleManifest
    dataset_digest: str
    metrics: dict[str, float]
    headline: str | None
    #: Open Inference Protocol datatype and shape per ONNX output, e.g. {"label": ("INT64", [-1])}.
    output_types: dict[str, tuple[str, list[int]]] = field(default_factory=dict)
    #: What a person should know that did not stop the run: data typing (e.g. a column typed
    #: categorical from a minority of its values), then library warnings (ConvergenceWarning).
    warnings: list[str] = field(default_factory=list)


@contextmanager
def _collect_warnings(sink: list[str]) -> Iterator[None]:
    """Record library warnings instead of letting the process's warning filter decide their fate.

    A ConvergenceWarning is worth telling the user, not worth crashing a Job (``-W error``) or
    spamming stderr once per CV fold; the CLI prints them once.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for item in caught:
        text = f"{item.category.__name__}: {str(item.message).splitlines()[0] if str(item.message) else ''}"
        if text not in sink:
            sink.append(text)


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shaped the model, plus Python's."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _classification_target(y: pd.Series) -> np.ndarray:
    """Integer-valued numbers become int64 labels, anything else strings (what skl2onnx supports)."""
    if pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
        values: np.ndarray = y.to_numpy(dtype=float)  # pandas is untyped (Any)
        if np.all(np.mod(values, 1) == 0):
            labels = values.astype(np.int64)
        else:
            raise BadInputError(
                f"The target column {y.name!r} holds non-integer numbers; a classification target needs class "
                "labels (integers or strings) — did you mean task: regression?",
                reason="InvalidTarget",
            )
    else:
        labels = np.array([str(v) for v in y.to_numpy(dtype=object)], dtype=object)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise BadInputError(
            f"The target column {y.name!r} has only one class; a classifier needs two or more.", reason="InvalidTarget"
        )
    if len(classes) > MAX_CLASSES:
        raise BadInputError(
            f"The target column {y.name!r} has {len(classes)} distinct values, more than {MAX_CLASSES} classes; "
            "did you mean task: regression?",
            reason="InvalidTarget",
        )
    return labels


def _regression_target(y: pd.Series) -> np.ndarray:
    converted = pd.to_numeric(y, errors="coerce")
    if converted.isna().any():
        bad = y[converted.isna()].iloc[0]
        raise BadInputError(
            f"The target column {y.name!r} holds the non-numeric value {bad!r}; a regression target must be numeric.",
            reason="InvalidTarget",
        )
    values: np.ndarray = converted.to_numpy(dtype=np.float64)  # pandas is untyped (Any)
    beyond = np.abs(values) > FLOAT32_MAX
    if beyond.any():
        raise BadInputError(
            f"The target column {y.name!r} holds {values[beyond][0]:g}, beyond ±3.4e38: the model computes and "
            "answers in float32, so it could never predict such values; rescale the target.",
            reason="InvalidTarget",
        )
    return values


def split_sizes(rows: int, test_fraction: float) -> tuple[int, int]:
    """``(train, test)`` row counts, as ``train_test_split`` computes them for a float test size."""
    test = math.ceil(test_fraction * rows)
    return rows - test, test


def rows_needed(test_fraction: float, minimum: int) -> int:
    """The fewest rows whose split leaves at least ``minimum`` rows on each side."""
    rows = 2 * minimum
    while min(split_sizes(rows, test_fraction)) < minimum:
        rows += 1
    return rows


def check_split_size(rows: int, test_fraction: float, classes: int | None) -> None:
    """Refuse data too small for a split on which every metric is a number (``SplitFailed``).

    ``classes`` is the class count of a stratified classification (each class needs a row on each
    side), ``None`` otherwise.
    """
    minimum = max(MIN_SPLIT_ROWS, classes or 0)
    train, test = split_sizes(rows, test_fraction)
    if min(train, test) >= minimum:
        return
    why = f"one per class on each side ({classes} classes, stratified)" if classes else "r2 and rocAuc need two"
    raise BadInputError(
        f"The data has {rows} rows: testFraction {test_fraction:g} leaves {test} for testing and {train} for "
        f"training, but each side needs at least {minimum} ({why}); the data needs at least "
        f"{rows_needed(test_fraction, minimum)} rows.",
        reason="SplitFailed",
    )


def _split(
    prepared: PreparedData, labels: np.ndarray, spec: TrainingRunSpec, dataset: DatasetSpec
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    split = dataset.split
    stratify = labels if spec.task == "classification" and split.stratify else None
    check_split_size(len(labels), split.test_fraction, len(np.unique(labels)) if stratify is not None else None)
    try:
        x_train, x_test, y_train, y_test = train_test_split(
            prepared.x, labels, test_size=split.test_fraction, random_state=split.seed, stratify=stratify
        )
    except ValueError as exc:
        raise BadInputError(
            f"The data cannot be split into train and test parts: {exc} ({len(labels)} rows).", reason="SplitFailed"
        ) from exc
    return x_train.reset_index(drop=True), x_test.reset_index(drop=True), y_train, y_test


@dataclass(frozen=True)
class Plan:
    """The checked estimator and grid: everything about a spec that can be refused without data."""

    estimator: Any
    grid: dict[str, list[Any]] | None


def plan(spec: TrainingRunSpec, dataset: DatasetSpec) -> Plan:
    """Build the estimator and grid from the spec, refusing bad parameters before any data is read."""
    estimator = make_estimator(spec.estimator.kind, spec.estimator.params, spec.task, dataset.split.seed)
    return Plan(estimator, check_grid(spec.search, estimator, spec.estimator.kind) if spec.search else None)


def _fit(
    spec: TrainingRunSpec,
    dataset: DatasetSpec,
    planned: Plan,
    features: list[FeatureSpec],
    x_train: pd.DataFrame,
    y_train: np.ndarray,
) -> tuple[Pipeline, dict[str, Any]]:
    """Fit the Pipeline (with grid search when asked); return it and the effective estimator params."""
    seed = dataset.split.seed
    estimator, grid = planned.estimator, planned.grid
    pipeline = build_pipeline(features, x_train, spec.preprocessing, estimator)
    params = dict((spec.estimator.params or {}).items())
    if "random_state" in estimator.get_params(deep=False):
        params.setdefault("random_state", seed)
    try:
        if grid is None:
            return pipeline.fit(x_train, y_train), params
        assert spec.search is not None
        folds = spec.search.cv_folds
        cv = (
            StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            if spec.task == "classification"
            else KFold(n_splits=folds, shuffle=True, random_state=seed)
        )
        scoring = "accuracy" if spec.task == "classification" else "neg_root_mean_squared_error"
        search = GridSearchCV(pipeline, grid, cv=cv, scoring=scoring, n_jobs=1, refit=True, error_score="raise")
        search.fit(x_train, y_train)
        best = {k.removeprefix(f"{ESTIMATOR_STEP}__"): v for k, v in search.best_params_.items()}
        return search.best_estimator_, {**params, **best}
    except InvalidParameterError as exc:
        raise BadInputError(f"Invalid parameter for {spec.estimator.kind}: {exc}", reason="InvalidParameter") from exc
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(
            f"Training {spec.estimator.kind} failed on this data: {first}", reason="TrainingFailed"
        ) from exc


@dataclass(frozen=True)
class Evaluation:
    """What the fitted pipeline did on the test split."""

    predictions: np.ndarray
    #: Probabilities (or LinearSVC's decision scores) for classifiers, predictions for regressors.
    reference_values: np.ndarray
    class_labels: list[str] | None
    metrics: dict[str, float]


def _evaluate(pipeline: Pipeline, x_test: pd.DataFrame, y_test: np.ndarray, task: str) -> Evaluation:
    predictions = pipeline.predict(x_test)
    if task != "classification":
        return Evaluation(predictions, predictions, None, regression_metrics(y_test, predictions))
    classes = pipeline.classes_
    proba = pipeline.predict_proba(x_test) if hasattr(pipeline, "predict_proba") else None
    scores = pipeline.decision_function(x_test) if proba is None else None
    measured = classification_metrics(y_test, predictions, classes, proba, scores)
    reference = proba if proba is not None else scores
    return Evaluation(predictions, np.asarray(reference), [str(c) for c in classes], measured)


def _require_parity(parity: ParityReport, metrics: dict[str, float]) -> None:
    if parity.passed:
        return
    detail = f", label agreement {parity.label_agreement:.4f}" if parity.label_agreement is not None else ""
    raise ParityError(
        f"The ONNX model differs from scikit-learn by {parity.max_abs_diff:.3g} on the test split "
        f"(tolerance {parity.tolerance:.3g}{detail}); try another estimator or report a bug.",
        metrics=metrics,
    )


def run_training(
    spec: TrainingRunSpec | Mapping[str, Any],
    dataset: DatasetSpec | Mapping[str, Any],
    output: str | Path | None = None,
    *,
    dataset_digest: str | None = None,
    name: str | None = None,
    namespace: str | None = None,
    env: Mapping[str, str] | None = None,
    pvc_mount: str = PVC_MOUNT,
    now: datetime | None = None,
) -> TrainingOutcome:
    """Train, gate, export, verify and store one model; return where its bundle is.

    Args:
        spec: the TrainingRun spec (API type or its camelCase JSON as a dict).
        dataset: the referenced Dataset's spec, same forms.
        output: store prefix — ``file:///…``, ``pvc://claim/path``, ``s3://bucket/prefix`` or a local
            ``Path`` — defaulting to ``spec.output.uri``. The bundle goes to ``<output>/bundles/sha256-…/``.
        dataset_digest: the digest the Dataset's profile recorded; when given, data whose digest
            differs is refused (``DatasetChanged``), so a model never trains on unprofiled data.
        name, namespace: the TrainingRun's, for lineage.
        env: environment for S3 credentials and endpoint (default ``os.environ``).
        pvc_mount: where ``pvc://`` claims are mounted (``/artifacts`` in pods).
        now: the time recorded in lineage (inject it to make the bundle digest reproducible).

    Raises:
        yardarm.training.errors.JobError: a failure the user can fix, with exit code and reason.
    """
    run = coerce_spec(TrainingRunSpec, spec, "TrainingRun")
    data_spec = coerce_spec(DatasetSpec, dataset, "Dataset")
    target_uri = str(output) if output is not None else run.output.uri
    if isinstance(output, Path):
        target_uri = f"file://{output.resolve()}"
    if not target_uri:
        raise BadInputError("No output store is given: set spec.output.uri or pass --output.", reason="NoOutput")
    caught: list[str] = []
    planned = plan(run, data_spec)  # a spec mistake fails in a second, not after the download

    data = read_source(data_spec.source, env=env, pvc_mount=pvc_mount)
    data_digest = data.digest
    if dataset_digest and dataset_digest != data.digest:
        raise BadInputError(
            f"The data at {data_spec.source.uri} changed since the Dataset was profiled "
            f"(profiled {dataset_digest}, now {data.digest}); profile the Dataset again.",
            reason="DatasetChanged",
        )
    prepared = prepare(data.frame, data_spec)
    del data  # memory: the parsed frame is not needed once prepared
    caught.extend(prepared.warnings)
    features = prepared.features
    labels = _classification_target(prepared.y) if run.task == "classification" else _regression_target(prepared.y)
    # Every row, train and test; taken now so that only the split copies of the data outlive the split.
    reference = reference_profile(prepared.x, features)
    x_train, x_test, y_train, y_test = _split(prepared, labels, run, data_spec)
    del prepared, labels

    with _collect_warnings(caught):
        pipeline, params = _fit(run, data_spec, planned, features, x_train, y_train)
        evaluation = _evaluate(pipeline, x_test, y_test, run.task)
    require_finite(evaluation.metrics, len(y_test))
    check_gates(run.quality_gates, evaluation.metrics)

    with _collect_warnings(caught):
        exported = export_onnx(pipeline, features, run.task)
    parity = check_parity(
        exported.model_bytes, exported.inputs, x_test, evaluation.predictions, evaluation.reference_values, run.task
    )
    _require_parity(parity, evaluation.metrics)

    manifest = BundleManifest(
        task=run.task,
        model_sha256=sha256_bytes(exported.model_bytes),
        opset=exported.opset,
        inputs=exported.inputs,
        outputs=exported.outputs,
        class_labels=evaluation.class_labels,
        target=data_spec.target,
        metrics=evaluation.metrics,
        parity=parity,
        profile=ReferenceProfile(
            rows=reference.rows,
            features=reference.features,
            predictions=prediction_profile(np.asarray(evaluation.predictions), evaluation.class_labels),
        ),
        lineage=Lineage(
            training_run=name,
            namespace=namespace,
            dataset_uri=data_spec.source.uri,
            dataset_digest=data_digest,
            estimator=run.estimator.kind,
            params=params,
            libraries=library_versions(),
            created_at=now or datetime.now(UTC).replace(microsecond=0),
        ),
    )
    stored = put_bundle(target_uri, exported.model_bytes, manifest, env=env, pvc_mount=pvc_mount)
    for text in caught:
        print(f"warning: {text}", file=sys.stderr)
    return TrainingOutcome(
        digest=stored.digest,
        bundle_dir=stored.directory,
        bundle_uri=stored.uri,
        manifest=manifest,
        dataset_digest=data_digest,
        metrics=evaluation.metrics,
        headline=headline(run.task, evaluation.metrics),
        output_types=exported.output_types,
        warnings=caught,
    )
