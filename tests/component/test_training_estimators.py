"""Every allow-listed estimator trains, exports to ONNX and passes parity (small settings, small data).

This guards the allow-list against scikit-learn/skl2onnx upgrades: an estimator the API accepts
but the runtime cannot export would only fail in a user's Job.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from yardarm.api.trainingrun import CLASSIFIERS, REGRESSORS
from yardarm.training.train import run_training

pytestmark = pytest.mark.component

#: Small settings so the whole matrix runs in seconds on 2 cores.
SMALL: dict[str, dict[str, object]] = {
    "RandomForestClassifier": {"n_estimators": 10},
    "ExtraTreesClassifier": {"n_estimators": 10},
    "GradientBoostingClassifier": {"n_estimators": 10},
    "HistGradientBoostingClassifier": {"max_iter": 10},
    "LogisticRegression": {"max_iter": 500},
    "RandomForestRegressor": {"n_estimators": 10},
    "ExtraTreesRegressor": {"n_estimators": 10},
    "GradientBoostingRegressor": {"n_estimators": 10},
    "HistGradientBoostingRegressor": {"max_iter": 10},
}


@pytest.mark.parametrize("kind", CLASSIFIERS + REGRESSORS)
def test_estimator_exports_with_parity(kind: str, tmp_path: Path) -> None:
    task = "classification" if kind in CLASSIFIERS else "regression"
    dataset = "breast_cancer" if task == "classification" else "diabetes"
    outcome = run_training(
        {"datasetRef": {"name": "d"}, "task": task, "estimator": {"kind": kind, "params": SMALL.get(kind, {})}},
        {"source": {"uri": f"builtin://{dataset}"}, "target": "target"},
        tmp_path,
    )
    parity = outcome.manifest.parity
    assert parity.passed, parity
    if task == "classification":
        assert parity.label_agreement == 1.0 and outcome.manifest.outputs == ["label", "probabilities"]
    else:
        assert outcome.manifest.outputs == ["label"]
