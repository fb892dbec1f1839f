"""Reference bins: quantile edges with open ends, top categories plus OTHER, proportions that sum to 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yardarm.bundle import OTHER, CategoricalBins, NumericBins
from yardarm.training.bins import categorical_bins, feature_profile, numeric_bins, prediction_profile

pytestmark = pytest.mark.unit


def test_numeric_bins_have_ten_open_ended_quantile_bins() -> None:
    values = np.arange(1, 1001, dtype=float)
    bins = numeric_bins(values)
    assert len(bins.edges) == 9 and len(bins.proportions) == 10
    assert bins.edges == sorted(bins.edges)
    assert sum(bins.proportions) == pytest.approx(1.0)
    assert all(p == pytest.approx(0.1, abs=0.002) for p in bins.proportions)


def test_values_on_an_edge_fall_in_the_lower_bin() -> None:
    bins = numeric_bins(np.array([1.0, 2.0, 3.0, 4.0]), n_bins=2)
    assert bins.edges == [2.0]
    assert bins.proportions == [0.5, 0.5]
    assert np.searchsorted(bins.edges, 2.0, side="left") == 0


def test_repeated_values_give_deduplicated_edges() -> None:
    bins = numeric_bins(np.array([0.0] * 90 + [1.0] * 10))
    assert bins.edges == [0.0]
    assert bins.proportions == [pytest.approx(0.9), pytest.approx(0.1)]


def test_missing_values_are_not_binned_but_counted_apart() -> None:
    profile = feature_profile("x", pd.Series([1.0, np.nan, 3.0, np.nan]), "numeric")
    assert profile.missing_fraction == 0.5
    assert isinstance(profile.bins, NumericBins) and sum(profile.bins.proportions) == pytest.approx(1.0)


def test_an_all_missing_column_still_has_a_valid_profile() -> None:
    bins = numeric_bins(np.array([np.nan, np.nan]))
    assert bins.edges == [] and bins.proportions == [1.0]


def test_categorical_bins_keep_the_top_categories_and_pool_the_rest_in_other() -> None:
    values = ["a"] * 5 + ["b"] * 3 + ["c"] * 1 + ["d"] * 1 + [""] * 2
    bins = categorical_bins(values, top=2)
    assert bins.categories == ["a", "b", OTHER]
    assert bins.proportions == [pytest.approx(0.5), pytest.approx(0.3), pytest.approx(0.2)]


def test_categorical_ties_are_broken_by_name_so_profiles_are_deterministic() -> None:
    assert categorical_bins(["y", "x", "z", "x", "y", "z"], top=2).categories == ["x", "y", OTHER]


def test_prediction_profile_of_a_classifier_lists_every_class() -> None:
    profile = prediction_profile(np.array([0, 0, 1]), ["0", "1", "2"])
    assert isinstance(profile.bins, CategoricalBins)
    assert profile.bins.categories == ["0", "1", "2", OTHER]
    assert profile.bins.proportions[2] == 0.0 and profile.bins.proportions[3] == 0.0


def test_prediction_profile_of_a_regressor_is_numeric() -> None:
    profile = prediction_profile(np.linspace(0, 1, 50), None)
    assert isinstance(profile.bins, NumericBins) and profile.name == "prediction"
