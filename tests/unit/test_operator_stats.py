"""The operator's own tail probabilities agree with scipy, and Holm controls the family-wise rate."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yardarm.operator.stats import binom_cdf, binom_sf, chi2_isf, chi2_sf, holm

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("df", [1, 2, 3, 5, 9, 19, 49, 120])
@pytest.mark.parametrize("x", [0.01, 0.5, 1.0, 3.0, 8.0, 15.0, 30.0, 60.0, 150.0, 400.0])
def test_chi2_survival_matches_scipy(df: int, x: float) -> None:
    expected = float(scipy_stats.chi2.sf(x, df))
    assert chi2_sf(x, df) == pytest.approx(expected, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("df", [1, 4, 9, 30])
@pytest.mark.parametrize("p", [0.5, 0.01, 1e-4, 1e-7])
def test_chi2_inverse_survival_matches_scipy(df: int, p: float) -> None:
    assert chi2_isf(p, df) == pytest.approx(float(scipy_stats.chi2.isf(p, df)), rel=1e-7)


@given(
    n=st.integers(min_value=1, max_value=5000),
    frac=st.floats(min_value=0.0, max_value=1.0),
    p=st.floats(min_value=1e-4, max_value=0.9999),
)
def test_binomial_tails_match_scipy(n: int, frac: float, p: float) -> None:
    k = round(frac * n)
    sf = float(scipy_stats.binom.sf(k - 1, n, p))  # P(X >= k)
    cdf = float(scipy_stats.binom.cdf(k, n, p))  # P(X <= k)
    assert binom_sf(k, n, p) == pytest.approx(sf, rel=1e-7, abs=1e-290)
    assert binom_cdf(k, n, p) == pytest.approx(cdf, rel=1e-7, abs=1e-290)


def test_binomial_tails_at_the_edges() -> None:
    assert binom_sf(0, 10, 0.3) == 1.0
    assert binom_sf(11, 10, 0.3) == 0.0
    assert binom_cdf(10, 10, 0.3) == 1.0
    assert binom_cdf(-1, 10, 0.3) == 0.0


def test_holm_adjusts_in_step_down_order_and_keeps_the_input_order() -> None:
    # sorted: 0.001*4, 0.01*3, 0.02*2 -> max(0.03, 0.04), 0.5*1 -> 0.5
    assert holm([0.5, 0.01, 0.001, 0.02]) == pytest.approx([0.5, 0.03, 0.004, 0.04])
    assert holm([]) == []
    assert holm([0.9, 0.9]) == pytest.approx([1.0, 1.0])


def test_holm_keeps_the_family_wise_false_alarm_rate_under_alpha() -> None:
    # 50 true null hypotheses with uniform p-values: any rejection is a false alarm.
    rng = random.Random(7)
    rounds, alpha = 4000, 0.05
    alarms = sum(any(a <= alpha for a in holm([rng.random() for _ in range(50)])) for _ in range(rounds))
    # Exactly alpha for independent uniforms would be 1-(1-alpha/50)^50 ~ 0.0488; 3 sigma of 4000 draws.
    assert alarms / rounds <= alpha + 3 * (alpha * (1 - alpha) / rounds) ** 0.5
