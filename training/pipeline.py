"""The scikit-learn side: allow-listed estimators, parameter checks and the one Pipeline we train.

Estimator names map to classes through a fixed dict — a spec can never name an import path, and
nothing is unpickled. Parameters are checked against the class's own ``get_params()`` and
scikit-learn's parameter constraints before any data is touched, so a typo fails in a second with
a sentence naming the parameter rather than after an hour of training.

The Pipeline is ``ColumnTransformer(numeric: impute [+ scale], categorical: impute + one-hot) →
estimator``. Categorical columns are one-hot encoded over the training data's most frequent
categories with ``handle_unknown="ignore"``: rarer and unseen categories encode as all zeros.
(scikit-learn's own ``max_categories`` makes an "infrequent" column that skl2onnx cannot convert.)
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

# InvalidParameterError is what scikit-learn raises for a bad parameter value; it is not re-exported
# publicly, and it subclasses ValueError, which we catch as a fallback.
from sklearn.utils._param_validation import InvalidParameterError

from yardarm.api.dataset import FeatureSpec
from yardarm.api.trainingrun import CLASSIFIERS, REGRESSORS, PreprocessingSpec, SearchSpec, Task
from yardarm.training.errors import BadInputError
from yardarm.training.prepare import MISSING_CATEGORY

#: The allow-list of ``yardarm.api.trainingrun`` mapped to classes. A test proves the keys match it.
ESTIMATORS: dict[str, type[BaseEstimator]] = {
    "LogisticRegression": LogisticRegression,
    "RandomForestClassifier": RandomForestClassifier,
    "ExtraTreesClassifier": ExtraTreesClassifier,
    "GradientBoostingClassifier": GradientBoostingClassifier,
    "HistGradientBoostingClassifier": HistGradientBoostingClassifier,
    "DecisionTreeClassifier": DecisionTreeClassifier,
    "KNeighborsClassifier": KNeighborsClassifier,
    "LinearSVC": LinearSVC,
    "LinearRegression": LinearRegression,
    "Ridge": Ridge,
    "Lasso": Lasso,
    "ElasticNet": ElasticNet,
    "RandomForestRegressor": RandomForestRegressor,
    "ExtraTreesRegressor": ExtraTreesRegressor,
    "GradientBoostingRegressor": GradientBoostingRegressor,
    "HistGradientBoostingRegressor": HistGradientBoostingRegressor,
    "DecisionTreeRegressor": DecisionTreeRegressor,
    "KNeighborsRegressor": KNeighborsRegressor,
}

#: Parameters a spec may not set: they run user code, spawn processes or change output shapes
#: in ways the ONNX export cannot follow.
FORBIDDEN_PARAMS = frozenset({"n_jobs", "warm_start", "verbose", "callbacks", "metric_params", "monotonic_cst"})
ESTIMATOR_STEP = "estimator"
#: Tree ensembles split on thresholds: scaling cannot help them, and scaling in float32 (ONNX) versus
#: float64 (scikit-learn) moves values near a threshold to the other side, breaking parity.
SCALE_INVARIANT = frozenset(name for name in ESTIMATORS if "Tree" in name or "Forest" in name or "Boosting" in name)


def _check_task(kind: str, task: Task) -> None:
    expected = CLASSIFIERS if task == "classification" else REGRESSORS
    if kind not in expected:
        raise BadInputError(
            f"{kind} is not a {'classifier' if task == 'classification' else 'regressor'}; "
            f"a {task} task takes one of {', '.join(expected)}.",
            reason="EstimatorTaskMismatch",
        )


def _check_names(kind: str, names: Sequence[str], known: Sequence[str], where: str) -> None:
    for name in names:
        if name in FORBIDDEN_PARAMS:
            raise BadInputError(
                f"{where} sets {name!r}, which Yardarm does not allow for {kind}.", reason="ForbiddenParameter"
            )
        if name not in known:
            raise BadInputError(
                f"{kind} has no parameter {name!r} ({where}); its parameters are {', '.join(sorted(known))}.",
                reason="UnknownParameter",
            )


def _check_booleans(cls: type[BaseEstimator], kind: str, params: Mapping[str, Any], where: str) -> None:
    """Refuse ``true``/``false`` for a parameter that does not take booleans.

    Python's ``bool`` is an ``int``, so scikit-learn's own checks take ``C: true`` as ``C = 1``;
    JSON (and the user) keeps them apart. A parameter takes booleans when its constraints say so.
    """
    constraints: Mapping[str, Sequence[object]] = getattr(cls, "_parameter_constraints", {})
    for name, value in params.items():
        allowed = constraints.get(name)
        if isinstance(value, bool) and allowed is not None and not any(c in ("boolean", bool) for c in allowed):
            raise BadInputError(
                f"{where} sets {name!r} to {str(value).lower()}, but {kind}'s {name} is not a boolean; "
                "give a number or one of its named options.",
                reason="InvalidParameter",
            )


def _validate_values(estimator: BaseEstimator, kind: str, where: str) -> None:
    validate = getattr(estimator, "_validate_params", None)
    if validate is None:
        return
    try:
        validate()
    except InvalidParameterError as exc:
        raise BadInputError(f"Invalid {where} for {kind}: {exc}", reason="InvalidParameter") from exc


def make_estimator(kind: str, params: Mapping[str, Any] | None, task: Task, seed: int) -> BaseEstimator:
    """An unfitted estimator with checked parameters; ``random_state`` defaults to the split seed."""
    _check_task(kind, task)
    cls = ESTIMATORS[kind]
    params = dict(params or {})
    known = list(cls().get_params(deep=False))
    _check_names(kind, list(params), known, "estimator.params")
    _check_booleans(cls, kind, params, "estimator.params")
    if "random_state" in known and "random_state" not in params:
        params["random_state"] = seed
    try:
        estimator = cls(**params)
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"Invalid estimator.params for {kind}: {exc}", reason="InvalidParameter") from exc
    _validate_values(estimator, kind, "estimator.params")
    return estimator


def check_grid(search: SearchSpec, estimator: BaseEstimator, kind: str) -> dict[str, list[Any]]:
    """The grid as GridSearchCV wants it (prefixed with the pipeline step), refused when too large."""
    if not search.grid or any(len(values) == 0 for values in search.grid.values()):
        raise BadInputError("search.grid must list at least one value for every parameter.", reason="InvalidGrid")
    candidates = 1
    for values in search.grid.values():
        candidates *= len(values)
    if candidates > search.max_candidates:
        raise BadInputError(
            f"search.grid has {candidates} candidates, more than search.maxCandidates ({search.max_candidates}); "
            "shrink the grid or raise maxCandidates.",
            reason="GridTooLarge",
        )
    known = list(estimator.get_params(deep=False))
    _check_names(kind, list(search.grid), known, "search.grid")
    for name, values in search.grid.items():
        for value in values:
            _check_booleans(type(estimator), kind, {name: value}, "search.grid")
    names = list(search.grid)
    for combo in itertools.product(*(search.grid[n] for n in names)):
        trial = estimator.__class__(**{**estimator.get_params(deep=False), **dict(zip(names, combo, strict=True))})
        _validate_values(trial, kind, "search.grid values")
    return {f"{ESTIMATOR_STEP}__{name}": list(values) for name, values in search.grid.items()}


def top_categories(column: pd.Series, limit: int) -> list[str]:
    """The ``limit`` most frequent non-missing categories, ties broken by name (deterministic)."""
    counts = Counter(v for v in column.to_numpy(dtype=object) if v != MISSING_CATEGORY)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return sorted(c for c, _ in ordered[:limit])


class NumericImputer(SimpleImputer):  # type: ignore[misc]  # scikit-learn is untyped
    """``SimpleImputer`` whose median is taken one column at a time.

    scikit-learn's median goes through ``np.ma.median``, which sorts a masked copy of the whole
    matrix with int64 indices: about 4x the float32 training data at once, the largest allocation
    of a run (1M rows x 20 columns: +250 MiB). ``np.median`` of one column's present values at a
    time gives the same statistic (the middle value, or the mean of the two middle ones).
    skl2onnx converts it as a SimpleImputer (registered in training/export.py).
    """

    def _dense_fit(self, x: np.ndarray, strategy: str, missing_values: Any, fill_value: Any) -> np.ndarray:
        nan = isinstance(missing_values, float) and np.isnan(missing_values)
        if strategy != "median" or not nan or self.add_indicator:
            return super()._dense_fit(x, strategy, missing_values, fill_value)  # type: ignore[no-any-return]
        self.indicator_ = None  # what SimpleImputer's _fit_indicator sets without add_indicator
        out = np.empty(x.shape[1], dtype=x.dtype)
        for j in range(x.shape[1]):
            column = x[:, j]
            present = column[~np.isnan(column)]
            out[j] = np.median(present) if present.size else (0 if self.keep_empty_features else np.nan)
        return out


def build_pipeline(
    features: Sequence[FeatureSpec],
    x_train: pd.DataFrame,
    preprocessing: PreprocessingSpec,
    estimator: BaseEstimator,
) -> Pipeline:
    """The full Pipeline; category lists come from ``x_train`` so ONNX export sees fixed categories."""
    numeric = [f.name for f in features if f.type == "numeric"]
    categorical = [f.name for f in features if f.type == "categorical"]
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        # Not copy=False: the ColumnTransformer's selection can be a view of the caller's frame (one
        # float32 block), and imputing or scaling in place then rewrote the test split before parity.
        steps: list[tuple[str, Any]] = [
            ("impute", NumericImputer(strategy=preprocessing.numeric_imputer, keep_empty_features=True))
        ]
        if preprocessing.scale_numeric and type(estimator).__name__ not in SCALE_INVARIANT:
            steps.append(("scale", StandardScaler()))
        transformers.append(("numeric", Pipeline(steps), numeric))
    for name in categorical:
        categories = top_categories(x_train[name], preprocessing.max_categories) or [MISSING_CATEGORY]
        encoder = Pipeline(
            [
                ("impute", SimpleImputer(missing_values=MISSING_CATEGORY, strategy="most_frequent")),
                ("onehot", OneHotEncoder(categories=[categories], handle_unknown="ignore", sparse_output=False)),
            ]
        )
        transformers.append((f"categorical_{len(transformers)}", encoder, [name]))
    columns = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    return Pipeline([("preprocess", columns), (ESTIMATOR_STEP, estimator)])
