"""Real training on scikit-learn's bundled sets: metrics, ONNX parity, and complete bundles."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from yardarm.api.trainingrun import CLASSIFICATION_METRICS, REGRESSION_METRICS
from yardarm.bundle import OTHER, CategoricalBins, NumericBins, read_bundle
from yardarm.training.sources import builtin_frame
from yardarm.training.train import run_training

pytestmark = pytest.mark.component

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def train(store: Path, dataset: str, task: str, kind: str, params: dict[str, object] | None = None, **extra: object):
    spec = {
        "datasetRef": {"name": dataset.replace("_", "-")},
        "task": task,
        "estimator": {"kind": kind, "params": params or {}},
        **extra,
    }
    return run_training(spec, {"source": {"uri": f"builtin://{dataset}"}, "target": "target"}, store, now=NOW)


def test_iris_bundle_is_complete_and_onnx_reproduces_sklearn(iris_bundle) -> None:
    directory, digest = iris_bundle[:2]
    manifest, model = read_bundle(directory, digest)
    assert manifest.task == "classification" and manifest.target == "target"
    assert [f.name for f in manifest.inputs] == [
        "sepal_length_cm",
        "sepal_width_cm",
        "petal_length_cm",
        "petal_width_cm",
    ]
    assert {f.datatype for f in manifest.inputs} == {"FP32"}
    assert manifest.outputs == ["label", "probabilities"]
    assert manifest.class_labels == ["setosa", "versicolor", "virginica"]
    assert set(manifest.metrics) == {"accuracy", "f1Macro", "logLoss"} and manifest.metrics["accuracy"] > 0.85
    assert manifest.parity.passed and manifest.parity.label_agreement == 1.0 and manifest.opset == 17
    assert manifest.lineage.dataset_uri == "builtin://iris" and manifest.lineage.dataset_digest.startswith("sha256:")
    assert {"scikit-learn", "skl2onnx", "onnxruntime", "python"} <= set(manifest.lineage.libraries)
    # Drift bins from every row the model was trained and tested on; predictions from the test split.
    assert manifest.profile.rows == 150 and len(manifest.profile.features) == 4
    assert {f.rows for f in manifest.profile.features} == {150}
    assert isinstance(manifest.profile.features[0].bins, NumericBins)
    predictions = manifest.profile.predictions
    assert predictions is not None and isinstance(predictions.bins, CategoricalBins)
    assert predictions.bins.categories == ["setosa", "versicolor", "virginica", OTHER]
    assert predictions.rows == 30

    session = ort.InferenceSession(model)
    frame = builtin_frame("iris")
    feeds = {f.name: frame[[f.name]].to_numpy(np.float32) for f in manifest.inputs}
    labels, probabilities = session.run(["label", "probabilities"], feeds)
    assert probabilities.shape == (150, 3) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert (labels == frame["target"].to_numpy()).mean() > 0.9


def test_breast_cancer_is_binary_so_roc_auc_is_reported(tmp_path: Path) -> None:
    outcome = train(tmp_path, "breast_cancer", "classification", "RandomForestClassifier", {"n_estimators": 20})
    assert set(outcome.metrics) == set(CLASSIFICATION_METRICS)
    assert outcome.metrics["rocAuc"] > 0.95 and outcome.manifest.parity.passed
    assert outcome.manifest.lineage.params == {"n_estimators": 20, "random_state": 42}
    assert len(outcome.manifest.inputs) == 30


def test_diabetes_regression_bundle(diabetes_bundle) -> None:
    manifest, model = read_bundle(diabetes_bundle.directory, diabetes_bundle.digest)
    assert manifest.task == "regression" and manifest.outputs == ["label"] and manifest.class_labels is None
    assert set(manifest.metrics) == set(REGRESSION_METRICS) and manifest.metrics["r2"] > 0.3
    assert manifest.parity.passed and manifest.parity.label_agreement is None
    assert manifest.parity.max_abs_diff <= manifest.parity.tolerance
    predictions = manifest.profile.predictions
    assert predictions is not None and isinstance(predictions.bins, NumericBins)
    (label,) = ort.InferenceSession(model).run(
        None, {f.name: builtin_frame("diabetes")[[f.name]].to_numpy(np.float32)[:5] for f in manifest.inputs}
    )
    assert label.shape == (5, 1)


def test_same_spec_and_data_give_the_same_metrics_and_bundle(tmp_path: Path) -> None:
    first = train(tmp_path / "a", "wine", "classification", "GradientBoostingClassifier", {"n_estimators": 15})
    second = train(tmp_path / "b", "wine", "classification", "GradientBoostingClassifier", {"n_estimators": 15})
    assert first.metrics == second.metrics
    assert first.digest == second.digest
    assert (first.bundle_dir / "model.onnx").read_bytes() == (second.bundle_dir / "model.onnx").read_bytes()


def test_grid_search_picks_parameters_recorded_in_lineage(tmp_path: Path) -> None:
    outcome = train(
        tmp_path,
        "iris",
        "classification",
        "DecisionTreeClassifier",
        search={"grid": {"max_depth": [1, 3]}, "cvFolds": 3},
    )
    assert outcome.manifest.lineage.params["max_depth"] == 3
    assert outcome.manifest.parity.passed


def test_a_hist_gradient_boosting_model_exports(tmp_path: Path) -> None:
    outcome = train(tmp_path, "diabetes", "regression", "HistGradientBoostingRegressor", {"max_iter": 20})
    assert outcome.manifest.parity.passed


@pytest.mark.parametrize(
    ("name", "rows", "columns"),
    [("iris", 150, 5), ("wine", 178, 14), ("breast_cancer", 569, 31), ("diabetes", 442, 11), ("digits", 1797, 65)],
)
def test_every_builtin_set_profiles_with_a_stable_digest(tmp_path: Path, name: str, rows: int, columns: int) -> None:
    from yardarm.training.profile import run_profile

    dataset = {"source": {"uri": f"builtin://{name}"}, "target": "target"}
    first = run_profile(dataset, str(tmp_path), now=NOW)
    second = run_profile(dataset, str(tmp_path), now=NOW)
    assert (first.profile.rows, first.profile.columns) == (rows, columns)
    assert first.digest == second.digest and len(first.profile.reference.features) == columns - 1
    assert all(" " not in f.name for f in first.profile.features)


def test_library_warnings_are_reported_not_fatal(tmp_path: Path) -> None:
    # One iteration cannot converge: scikit-learn warns, the run still succeeds (even under -W error).
    outcome = train(tmp_path, "breast_cancer", "classification", "LogisticRegression", {"max_iter": 1})
    assert any(w.startswith("ConvergenceWarning") for w in outcome.warnings)
    assert outcome.manifest.parity.passed
