"""Drift statistics and histogram quantiles on binned data, checked against hand-computed values."""

from __future__ import annotations

import math
import random

import pytest

from yardarm.operator.drift import (
    PSI_EPSILON,
    BinMismatchError,
    chi_square_test,
    histogram_quantile,
    ks_distance,
    pool_bins,
    proportions,
    psi,
    psi_effect,
    rows_needed,
    total_variation,
)

INF = math.inf


def test_psi_of_identical_distributions_is_zero() -> None:
    assert psi([0.2, 0.3, 0.5], [20, 30, 50]) == pytest.approx(0.0, abs=1e-12)


def test_psi_matches_the_textbook_formula() -> None:
    # (0.8 - 0.5) ln(0.8 / 0.5) + (0.2 - 0.5) ln(0.2 / 0.5)
    expected = 0.3 * math.log(1.6) + (-0.3) * math.log(0.4)
    assert psi([0.5, 0.5], [80, 20]) == pytest.approx(expected)
    assert expected == pytest.approx(0.415888, abs=1e-6)


def test_psi_is_symmetric_in_its_two_distributions() -> None:
    assert psi([0.8, 0.2], [50, 50]) == pytest.approx(psi([0.5, 0.5], [80, 20]))


def test_psi_with_an_empty_bin_is_large_but_finite() -> None:
    value = psi([0.5, 0.5], [100, 0])
    expected = 0.5 * math.log(2) + (PSI_EPSILON - 0.5) * math.log(PSI_EPSILON / 0.5)
    assert math.isfinite(value)
    assert value == pytest.approx(expected)
    assert value > 0.2


def test_psi_with_a_reference_bin_of_zero_is_finite() -> None:
    assert math.isfinite(psi([1.0, 0.0], [50, 50]))


def test_a_small_shift_stays_under_the_usual_psi_alarm() -> None:
    assert psi([0.25] * 4, [26, 24, 25, 25]) < 0.01


def test_ks_distance_is_the_largest_cumulative_gap() -> None:
    # cumulative reference .25 .5 .75 1 against observed 0 0 .5 1
    assert ks_distance([0.25] * 4, [0, 0, 50, 50]) == pytest.approx(0.5)
    assert ks_distance([0.25] * 4, [25, 25, 25, 25]) == pytest.approx(0.0)


def test_ks_distance_renormalizes_a_reference_that_does_not_sum_to_one() -> None:
    assert ks_distance([0.5, 0.5 + 1e-9], [50, 50]) == pytest.approx(0.0, abs=1e-8)


def test_total_variation_ignores_the_order_of_categories() -> None:
    assert total_variation([0.5, 0.5, 0.0], [0, 50, 50]) == pytest.approx(0.5)
    assert total_variation([0.5, 0.0, 0.5], [0, 50, 50]) == pytest.approx(0.5)
    assert total_variation([0.2, 0.8], [20, 80]) == pytest.approx(0.0)


def test_mismatched_bins_are_refused() -> None:
    with pytest.raises(BinMismatchError):
        psi([0.5, 0.5], [1, 2, 3])
    with pytest.raises(BinMismatchError):
        ks_distance([], [])


def test_proportions_of_nothing_are_zeros() -> None:
    assert proportions([0, 0]) == [0.0, 0.0]
    assert proportions([1, 3]) == [0.25, 0.75]


def test_quantile_interpolates_linearly_inside_the_bucket() -> None:
    buckets = [(0.1, 50), (0.2, 100), (INF, 100)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.15)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.05)  # first bucket starts at 0


def test_quantile_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    assert histogram_quantile(0.99, [(0.1, 10), (0.5, 20), (INF, 100)]) == pytest.approx(0.5)


def test_quantile_skips_empty_buckets() -> None:
    buckets = [(0.1, 0), (0.2, 0), (0.4, 10), (INF, 10)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.3)


def test_quantile_accepts_unsorted_and_duplicate_bounds_as_summed_series() -> None:
    # Two pods' buckets with the same bounds, unsorted: the same as the summed histogram.
    two = [(INF, 50), (0.2, 50), (0.1, 25), (0.1, 25), (0.2, 50), (INF, 50)]
    assert histogram_quantile(0.75, two) == pytest.approx(histogram_quantile(0.75, [(0.1, 50), (0.2, 100), (INF, 100)]))


def test_quantile_repairs_non_monotonic_buckets() -> None:
    assert histogram_quantile(0.5, [(0.1, 60), (0.2, 50), (INF, 100)]) == pytest.approx(0.1 * 50 / 60)


def test_quantile_is_nan_without_observations_or_inf_bucket() -> None:
    assert math.isnan(histogram_quantile(0.5, []))
    assert math.isnan(histogram_quantile(0.5, [(0.1, 0), (INF, 0)]))
    assert math.isnan(histogram_quantile(0.5, [(0.1, 5), (0.2, 10)]))
    assert math.isnan(histogram_quantile(math.nan, [(0.1, 5), (INF, 10)]))


def test_quantile_out_of_range_follows_prometheus() -> None:
    assert histogram_quantile(-0.1, [(0.1, 5), (INF, 10)]) == -INF
    assert histogram_quantile(1.1, [(0.1, 5), (INF, 10)]) == INF


def test_quantile_with_a_non_positive_first_bound_returns_that_bound() -> None:
    assert histogram_quantile(0.1, [(-1.0, 5), (0.0, 10), (INF, 10)]) == -1.0


# -- the decision: tests and effect sizes ------------------------------------------------------------


def test_psi_effect_of_an_empty_bin_is_finite_and_shrinks_with_the_window() -> None:
    # The 1e-4 floor made one empty bin of ten worth ~0.69 at any window size.
    reference = [0.1] * 10
    small = psi_effect(reference, [0, *[50 / 9] * 9], reference_rows=1000)
    large = psi_effect(reference, [0, *[5000 / 9] * 9], reference_rows=1000)
    assert 0 < small < 0.3
    assert small < large  # an empty bin among 5000 rows is real evidence, among 50 it is not
    assert psi([0.1] * 10, [0, *[50 / 9] * 9]) > 0.6


def test_psi_effect_removes_the_small_sample_bias() -> None:
    # Undrifted multinomial windows: raw PSI averages about (k-1)/n; the effect averages near 0.
    rng = random.Random(3)
    reference = [0.1] * 10
    raw, effect = [], []
    for _ in range(400):
        counts = [0] * 10
        for _ in range(100):
            counts[rng.randrange(10)] += 1
        raw.append(psi(reference, counts))
        effect.append(psi_effect(reference, counts, reference_rows=None))
    assert sum(raw) / len(raw) > 0.07
    assert sum(effect) / len(effect) < 0.03


def test_psi_effect_agrees_with_psi_when_both_samples_are_large() -> None:
    reference = [0.2, 0.3, 0.5]
    counts = [30_000, 30_000, 40_000]
    assert psi_effect(reference, counts, reference_rows=1_000_000) == pytest.approx(psi(reference, counts), abs=2e-3)


def test_pooling_reaches_the_minimum_expected_count_without_looking_at_observations() -> None:
    groups = pool_bins([10, 1, 1, 10, 3], 5, ordered=True)
    assert groups == [[0], [1, 2, 3, 4]]
    categories = pool_bins([1, 10, 2, 3], 5, ordered=False)
    assert sorted(map(sorted, categories)) == [[0, 2, 3], [1]]
    assert pool_bins([1, 1], 5, ordered=True) == [[0, 1]]


def test_chi_square_test_matches_scipy_on_a_two_by_k_table() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    reference, rows = [0.25, 0.25, 0.5], 400
    counts = [40, 30, 130]
    result = chi_square_test(reference, counts, rows, ordered=True)
    table = [[40, 30, 130], [100, 100, 200]]
    statistic, p_value, df, _ = scipy_stats.chi2_contingency(table, correction=False)
    assert (result.statistic, result.df) == (pytest.approx(statistic), df)
    assert result.p_value == pytest.approx(p_value, rel=1e-9)


def test_a_small_reference_makes_the_same_window_less_significant() -> None:
    reference, counts = [0.25] * 4, [70, 50, 40, 40]
    exact = chi_square_test(reference, counts, None, ordered=True)
    small = chi_square_test(reference, counts, 150, ordered=True)
    assert small.p_value > exact.p_value


def test_chi_square_without_a_second_bin_is_no_evidence() -> None:
    assert chi_square_test([1.0, 0.0], [100, 0], 500, ordered=True).p_value == 1.0


def test_rows_needed_grows_as_the_threshold_falls_and_is_infinite_for_a_tiny_reference() -> None:
    assert rows_needed(0.2, 10, 0.001, None, "psi") < rows_needed(0.1, 10, 0.001, None, "psi")
    assert rows_needed(0.2, 10, 0.001, 500, "psi") > rows_needed(0.2, 10, 0.001, None, "psi")
    assert math.isinf(rows_needed(0.1, 10, 0.001, 150, "psi"))
    assert rows_needed(0.2, 1, 0.001, 150, "psi") == 0
