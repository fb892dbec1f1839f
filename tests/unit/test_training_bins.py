"""Reference bins: quantile edges with open ends, top categories plus OTHER, proportions that sum to 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yardarm.bundle import OTHER, CategoricalBins, NumericBins, ReferenceProfile
from yardarm.training.bins import (
    categorical_bins,
    feature_profile,
    numeric_bins,
    prediction_profile,
    reference_profile,
)

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


# -- agreement with an independent computation ---------------------------------------------------


def _numpy_psi(reference: np.ndarray, live: np.ndarray, epsilon: float = 1e-4) -> float:
    """PSI on 10 reference-quantile bins, written independently of yardarm's bins and serving.

    Empirical (inverted-CDF) deciles as cut points and right-closed bins ``(a, b]``, the bundle's
    documented convention. Either other convention (numpy's default linear interpolation, or
    left-closed ``np.histogram`` bins, which move the tied values sitting on a cut point) alone
    changes PSI on 1-SD shifts of this data by up to ~0.04.
    """
    cuts = np.quantile(reference, np.linspace(0.1, 0.9, 9), method="inverted_cdf")
    p = np.bincount(np.digitize(reference, cuts, right=True), minlength=10) / reference.size
    q = np.bincount(np.digitize(live, cuts, right=True), minlength=10) / live.size
    p, q = np.maximum(p, epsilon), np.maximum(q, epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


@pytest.mark.parametrize("shift", [0.0, 0.25, 0.5, 1.0])
def test_psi_on_the_whole_reference_agrees_with_an_independent_numpy_computation(shift: float) -> None:
    # The Monitor's path: bins from every reference row (training.bins), live values counted the way
    # serving counts them (searchsorted, side="left"), PSI from operator.drift.
    from sklearn.datasets import load_breast_cancer

    from yardarm.api.dataset import FeatureSpec

    data = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    rng = np.random.default_rng(12)
    live = data.sample(n=2000, replace=True, random_state=3).reset_index(drop=True)
    live = live + shift * data.std() * (rng.random(data.shape[1]) < 0.5)  # half the features drift
    specs = [FeatureSpec(name=c, type="numeric") for c in data.columns]
    profile = reference_profile(data, specs)
    assert profile.rows == len(data) and {f.rows for f in profile.features} == {len(data)}
    assert max(_gaps(profile, data, live)) <= 0.02, f"largest PSI gap {max(_gaps(profile, data, live)):.4f}"
    if shift >= 0.5:
        # The rule this guards: bins from the training split alone are another estimate, and disagree.
        split = reference_profile(data.sample(frac=0.75, random_state=0), specs)
        assert max(_gaps(split, data, live)) > 0.02


def _gaps(profile: ReferenceProfile, data: pd.DataFrame, live: pd.DataFrame) -> list[float]:
    from yardarm.operator.drift import psi

    gaps = []
    for feature in profile.features:
        bins = feature.bins
        assert isinstance(bins, NumericBins)
        counts = np.bincount(
            np.searchsorted(np.asarray(bins.edges), live[feature.name].to_numpy(), side="left"),
            minlength=len(bins.proportions),
        )
        ours = psi(bins.proportions, counts.tolist())
        theirs = _numpy_psi(data[feature.name].to_numpy(), live[feature.name].to_numpy())
        gaps.append(abs(ours - theirs))
    return gaps


def test_float32_edges_are_published_as_the_decimals_live_values_are_sent_as() -> None:
    # Features are float32 in training; clients send 0.7, whose float32 is 0.699999988…: the live
    # value must land in the bin the training rows holding 0.7 were counted in.
    sent = np.array([0.1, 0.2, 0.3, 0.3, 0.7, 0.7, 0.7, 0.7, 1.0, 2.5])
    bins = numeric_bins(sent.astype(np.float32), n_bins=5)
    assert bins.edges == [0.2, 0.3, 0.7]
    live = np.bincount(np.searchsorted(bins.edges, sent, side="left"), minlength=len(bins.proportions))
    assert (live / sent.size).tolist() == bins.proportions
