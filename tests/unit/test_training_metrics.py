"""Metric names match the API, and a missed gate says metric, value and bound."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import UndefinedMetricWarning

from yardarm.api.trainingrun import CLASSIFICATION_METRICS, REGRESSION_METRICS, QualityGate
from yardarm.training.errors import BadInputError, QualityGateError
from yardarm.training.metrics import (
    check_gates,
    classification_metrics,
    headline,
    regression_metrics,
    require_finite,
)

pytestmark = pytest.mark.unit


def test_binary_classification_reports_every_api_metric() -> None:
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    measured = classification_metrics(y, proba.argmax(axis=1), np.array([0, 1]), proba, None)
    assert set(measured) == set(CLASSIFICATION_METRICS)
    assert measured["accuracy"] == 0.75


def test_multiclass_has_no_roc_auc_and_regression_has_its_three() -> None:
    y = np.array([0, 1, 2])
    proba = np.eye(3)
    assert "rocAuc" not in classification_metrics(y, y, np.array([0, 1, 2]), proba, None)
    assert set(regression_metrics(np.array([1.0, 2.0]), np.array([1.5, 2.0]))) == set(REGRESSION_METRICS)


def test_a_missed_minimum_names_metric_value_and_bound() -> None:
    with pytest.raises(QualityGateError, match=r"accuracy is 0\.75 but must be at least 0\.9") as info:
        check_gates([QualityGate(metric="accuracy", min=0.9)], {"accuracy": 0.75})
    assert info.value.reason == "QualityGateMissed" and info.value.metrics == {"accuracy": 0.75}


def test_a_missed_maximum_on_a_lower_is_better_metric() -> None:
    with pytest.raises(QualityGateError, match=r"rmse is 12 but must be at most 10"):
        check_gates([QualityGate(metric="rmse", max=10)], {"rmse": 12.0})


def test_met_gates_pass_and_headline_formats_the_main_metric() -> None:
    check_gates([QualityGate(metric="r2", min=0.1)], {"r2": 0.5})
    assert headline("regression", {"r2": 0.4567}) == "r2=0.457"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_value_that_is_not_a_number_never_passes_a_gate(value: float) -> None:
    for gate in (QualityGate(metric="r2", min=-1e300), QualityGate(metric="rmse", max=1e300)):
        with pytest.raises(QualityGateError, match="not a number") as info:
            check_gates([gate], {"r2": value, "rmse": value, "mae": 1.0})
        assert info.value.reason == "QualityGateUnmeasurable" and info.value.metrics == {"mae": 1.0}


def test_non_finite_metrics_fail_the_run_naming_them() -> None:
    require_finite({"accuracy": 1.0, "logLoss": 0.1}, 30)
    with pytest.raises(BadInputError, match=r"r2, rmse are not finite numbers on the 1-row test split") as info:
        require_finite({"r2": float("nan"), "rmse": float("inf"), "mae": 0.0}, 1)
    assert info.value.reason == "MetricNotFinite"


def test_single_row_regression_metrics_are_nan_which_is_why_splits_need_two_rows() -> None:
    with pytest.warns(UndefinedMetricWarning, match="not well-defined"):
        measured = regression_metrics(np.array([1.0]), np.array([2.0]))
    assert np.isnan(measured["r2"])
