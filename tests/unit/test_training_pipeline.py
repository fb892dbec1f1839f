"""The allow-list, parameter checks and grid limits: bad specs fail before any data is read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer

from yardarm.api.dataset import FeatureSpec
from yardarm.api.trainingrun import CLASSIFIERS, REGRESSORS, PreprocessingSpec, SearchSpec
from yardarm.training.errors import BadInputError
from yardarm.training.pipeline import (
    ESTIMATORS,
    NumericImputer,
    build_pipeline,
    check_grid,
    make_estimator,
    top_categories,
)

pytestmark = pytest.mark.unit


def test_every_allow_listed_name_maps_to_a_class_of_that_name() -> None:
    assert set(ESTIMATORS) == set(CLASSIFIERS) | set(REGRESSORS)
    assert all(cls.__name__ == name for name, cls in ESTIMATORS.items())


def test_an_unknown_parameter_is_named_in_the_error() -> None:
    with pytest.raises(BadInputError, match=r"RandomForestClassifier has no parameter 'n_estimator'") as info:
        make_estimator("RandomForestClassifier", {"n_estimator": 10}, "classification", 0)
    assert info.value.reason == "UnknownParameter"


def test_an_out_of_range_value_is_refused_before_training() -> None:
    with pytest.raises(BadInputError, match=r"n_estimators") as info:
        make_estimator("RandomForestClassifier", {"n_estimators": -1}, "classification", 0)
    assert info.value.reason == "InvalidParameter"


def test_parameters_that_spawn_processes_are_forbidden() -> None:
    with pytest.raises(BadInputError, match="n_jobs"):
        make_estimator("RandomForestClassifier", {"n_jobs": 8}, "classification", 0)


def test_a_regressor_for_a_classification_task_is_refused() -> None:
    with pytest.raises(BadInputError, match="Ridge is not a classifier"):
        make_estimator("Ridge", None, "classification", 0)


def test_random_state_defaults_to_the_split_seed() -> None:
    assert make_estimator("DecisionTreeClassifier", None, "classification", 7).get_params()["random_state"] == 7
    assert make_estimator("DecisionTreeClassifier", {"random_state": 1}, "classification", 7).random_state == 1


def test_a_grid_larger_than_max_candidates_is_refused() -> None:
    estimator = make_estimator("DecisionTreeClassifier", None, "classification", 0)
    search = SearchSpec(grid={"max_depth": [1, 2, 3], "min_samples_leaf": [1, 2, 3]}, max_candidates=8)
    with pytest.raises(BadInputError, match=r"9 candidates, more than search.maxCandidates \(8\)") as info:
        check_grid(search, estimator, "DecisionTreeClassifier")
    assert info.value.reason == "GridTooLarge"


def test_grid_names_and_values_are_checked_and_prefixed() -> None:
    estimator = make_estimator("DecisionTreeClassifier", None, "classification", 0)
    assert check_grid(SearchSpec(grid={"max_depth": [2, 3]}), estimator, "DecisionTreeClassifier") == {
        "estimator__max_depth": [2, 3]
    }
    with pytest.raises(BadInputError, match="no parameter 'depth'"):
        check_grid(SearchSpec(grid={"depth": [2]}), estimator, "DecisionTreeClassifier")
    with pytest.raises(BadInputError, match="max_depth"):
        check_grid(SearchSpec(grid={"max_depth": [-4]}), estimator, "DecisionTreeClassifier")


def test_top_categories_are_the_most_frequent_excluding_missing() -> None:
    column = pd.Series(["a", "a", "b", "c", "c", "c", "", ""], dtype=object)
    assert top_categories(column, 2) == ["a", "c"]


def test_tree_models_skip_scaling_so_float32_export_cannot_flip_splits() -> None:
    features = [FeatureSpec(name="x", type="numeric")]
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    tree = build_pipeline(
        features, frame, PreprocessingSpec(), make_estimator("RandomForestClassifier", None, "classification", 0)
    )
    linear = build_pipeline(
        features, frame, PreprocessingSpec(), make_estimator("LogisticRegression", None, "classification", 0)
    )
    assert "scale" not in dict(tree.steps[0][1].transformers[0][1].steps)
    assert "scale" in dict(linear.steps[0][1].transformers[0][1].steps)


def test_booleans_are_not_numbers_but_boolean_parameters_take_them() -> None:
    with pytest.raises(BadInputError, match=r"sets 'C' to true, but LogisticRegression's C is not a boolean") as info:
        make_estimator("LogisticRegression", {"C": True}, "classification", 0)
    assert info.value.reason == "InvalidParameter"
    assert make_estimator("LogisticRegression", {"fit_intercept": False}, "classification", 0).fit_intercept is False
    assert make_estimator("HistGradientBoostingClassifier", {"early_stopping": True}, "classification", 0)
    estimator = make_estimator("RandomForestClassifier", {}, "classification", 0)
    with pytest.raises(BadInputError, match=r"search.grid sets 'max_depth' to false"):
        check_grid(SearchSpec(grid={"max_depth": [3, False]}), estimator, "RandomForestClassifier")


@pytest.mark.parametrize("strategy", ["median", "mean", "most_frequent"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 2, 5, 1000, 1001])
def test_the_numeric_imputer_fills_exactly_what_simple_imputer_fills(strategy: str, dtype: type, rows: int) -> None:
    rng = np.random.default_rng(rows)
    x = rng.normal(size=(rows, 4)).round(2).astype(dtype)
    x[rng.random(x.shape) < 0.3] = np.nan
    x[:, 3] = np.nan  # an empty column is kept (filled with 0), as the pipeline asks
    ours = NumericImputer(strategy=strategy, keep_empty_features=True).fit(x)
    theirs = SimpleImputer(strategy=strategy, keep_empty_features=True).fit(x)
    assert ours.statistics_.dtype == theirs.statistics_.dtype
    assert np.array_equal(ours.statistics_, theirs.statistics_)
    assert np.array_equal(ours.transform(x), theirs.transform(x))
