"""Test-split metrics under the names the API uses, and the quality-gate verdict.

Names match ``yardarm.api.trainingrun.CLASSIFICATION_METRICS`` and ``REGRESSION_METRICS`` exactly,
since quality gates and status refer to them. ``rocAuc`` is reported for binary problems only;
``logLoss`` only for estimators that give probabilities (not LinearSVC).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn import metrics as skm

from yardarm.api.trainingrun import LOWER_IS_BETTER, QualityGate, Task
from yardarm.training.errors import BadInputError, QualityGateError

#: The metric a status headline shows per task.
HEADLINE = {"classification": "accuracy", "regression": "r2"}


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray, proba: np.ndarray | None, scores: np.ndarray | None
) -> dict[str, float]:
    """accuracy, f1Macro, rocAuc (binary) and logLoss (with probabilities)."""
    out = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "f1Macro": float(skm.f1_score(y_true, y_pred, average="macro", labels=classes, zero_division=0)),
    }
    if len(classes) == 2 and len(np.unique(y_true)) == 2:
        positive = proba[:, 1] if proba is not None else scores
        if positive is not None:
            out["rocAuc"] = float(skm.roc_auc_score(y_true == classes[1], np.ravel(positive)))
    if proba is not None:
        out["logLoss"] = float(skm.log_loss(y_true, proba, labels=classes))
    return out


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """rmse, mae and r2."""
    return {
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "r2": float(skm.r2_score(y_true, y_pred)),
    }


def headline(task: Task, metrics: dict[str, float]) -> str | None:
    """``accuracy=0.967`` style summary for printer columns."""
    name = HEADLINE[task]
    return f"{name}={metrics[name]:.3f}" if name in metrics else None


def require_finite(metrics: dict[str, float], test_rows: int) -> None:
    """Refuse a run whose metrics are not all numbers: NaN or infinity is no measurement.

    A NaN would pass every gate (``NaN < min`` is false) and is not JSON, so it must never reach a
    gate, a termination message or ``bundle.json``. The split already guarantees enough test rows
    for every metric, so what is left is a model whose predictions are not finite.
    """
    bad = sorted(name for name, value in metrics.items() if not math.isfinite(value))
    if bad:
        raise BadInputError(
            f"The metric(s) {', '.join(bad)} are not finite numbers on the {test_rows}-row test split "
            "(the model's predictions are not finite); check the data's scale or choose another estimator.",
            reason="MetricNotFinite",
        )


def check_gates(gates: Sequence[QualityGate] | None, metrics: dict[str, float]) -> None:
    """Raise :class:`QualityGateError` naming the first missed gate, its value and its bound.

    A value that is not a finite number never passes: it is ``QualityGateUnmeasurable``.
    """
    for gate in gates or ():
        value = metrics.get(gate.metric)
        if value is None:
            raise QualityGateError(
                f"Quality gate on {gate.metric} cannot be checked: the run measured only {', '.join(sorted(metrics))}.",
                reason="QualityGateUnmeasurable",
                metrics=metrics,
            )
        if not math.isfinite(value):
            finite = {k: v for k, v in metrics.items() if math.isfinite(v)}
            raise QualityGateError(
                f"Quality gate on {gate.metric} cannot be checked: its value is {value}, not a number.",
                reason="QualityGateUnmeasurable",
                metrics=finite,
            )
        lower_is_better = gate.metric in LOWER_IS_BETTER
        bound = gate.max if gate.max is not None else gate.min
        if bound is None:
            continue
        if (gate.max is not None and value > gate.max) or (gate.min is not None and value < gate.min):
            relation = "at most" if gate.max is not None else "at least"
            direction = "lower" if lower_is_better else "higher"
            raise QualityGateError(
                f"Quality gate missed: {gate.metric} is {value:.4g} but must be {relation} {bound:g} "
                f"({direction} is better).",
                metrics=metrics,
            )
