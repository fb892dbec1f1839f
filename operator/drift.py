"""Drift and latency statistics computed from binned counts: tests, effect sizes, histogram quantiles.

Serving pods only count values into the reference profile's bins (Prometheus counters), so every
statistic here works on *binned* data: reference proportions (and the reference's row count) from
the bundle against counts observed in a window. Two kinds of numbers, used together:

* **Whether** a window differs from the reference: :func:`chi_square_test`, a Pearson chi-square
  test of homogeneity on the bins (two-sample, so the reference's own sampling noise counts), with
  bins pooled until every expected count is at least :data:`MIN_EXPECTED`, where the chi-square
  approximation holds. Its p-value bounds the false-alarm rate.
* **How much** it differs: :func:`psi_effect` (PSI with smoothed proportions and its small-sample
  bias removed) or :func:`ks_distance` / :func:`total_variation`. A feature drifts only when the
  test is significant *and* the effect reaches the threshold.

Pure functions, no numpy: a few dozen bins per feature do not need it, and the operator image
stays free of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .stats import chi2_isf, chi2_sf

#: Proportion substituted for an empty bin in the *raw* :func:`psi`, the convention of most PSI
#: write-ups (Evidently uses 1e-4). The Monitor's decision never uses it: see :func:`psi_effect`.
PSI_EPSILON = 1e-4
#: Bins are pooled until each has at least this expected count in the smaller sample (Cochran's
#: rule for the chi-square approximation).
MIN_EXPECTED = 5.0
#: Pseudo-count added to every bin when estimating proportions for the PSI effect size
#: (Jeffreys' prior): an empty bin gives a finite term that shrinks as the window grows.
PSEUDO_COUNT = 0.5


class BinMismatchError(ValueError):
    """Observed counts and reference proportions do not have the same bins."""


def proportions(counts: Sequence[float]) -> list[float]:
    """Counts as proportions; all zeros when there is nothing counted."""
    total = float(sum(counts))
    if total <= 0:
        return [0.0] * len(counts)
    return [c / total for c in counts]


def _check(reference: Sequence[float], counts: Sequence[float]) -> None:
    if len(reference) != len(counts):
        raise BinMismatchError(f"{len(counts)} observed bins against {len(reference)} reference bins")
    if not reference:
        raise BinMismatchError("no bins")


def psi(reference: Sequence[float], counts: Sequence[float], epsilon: float = PSI_EPSILON) -> float:
    """Population stability index: ``sum((q - p) * ln(q / p))`` over bins.

    ``p`` is the reference proportion and ``q`` the observed one; both are floored at ``epsilon``
    so that a bin empty on either side contributes a large but finite term instead of infinity
    (an empty bin is the typical sign of drift, and must not make the statistic undefined).
    """
    _check(reference, counts)
    observed = proportions(counts)
    total = 0.0
    for p_raw, q_raw in zip(reference, observed, strict=True):
        p = max(float(p_raw), epsilon)
        q = max(q_raw, epsilon)
        total += (q - p) * math.log(q / p)
    return total


def _smoothed(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts)) + PSEUDO_COUNT * len(counts)
    return [(float(c) + PSEUDO_COUNT) / total for c in counts]


def psi_effect(reference: Sequence[float], counts: Sequence[float], reference_rows: float | None) -> float:
    """PSI as an effect size: smoothed proportions, minus its expected value when nothing drifted.

    Both proportions are estimated with :data:`PSEUDO_COUNT` per bin (the reference's from its row
    count, when known), so an empty bin adds a finite term that shrinks as the window grows instead
    of the ~0.69 that a 1e-4 floor adds. PSI is to second order the chi-square divergence, so on
    undrifted data its expected value is about ``(k - 1) * (1/n + 1/m)`` for ``k`` bins, ``n``
    window and ``m`` reference rows; that bias is subtracted (floored at 0) so the effect means the
    same at 100 rows as at 100,000.
    """
    _check(reference, counts)
    n = float(sum(counts))
    if n <= 0:
        return 0.0
    ref_total = float(sum(reference)) or 1.0
    # A bin empty on both sides says nothing (e.g. OTHER of a closed category list): left out.
    active = [(float(r) / ref_total, float(c)) for r, c in zip(reference, counts, strict=True) if r > 0 or c > 0]
    if reference_rows:
        p = _smoothed([r * reference_rows for r, _ in active])
    else:
        floor = PSEUDO_COUNT / (n + PSEUDO_COUNT * len(active))
        p = [max(r, floor) for r, _ in active]
    q = _smoothed([c for _, c in active])
    raw = sum((qi - pi) * math.log(qi / pi) for pi, qi in zip(p, q, strict=True))
    bias = (len(active) - 1) * (1.0 / n + (1.0 / reference_rows if reference_rows else 0.0))
    return max(0.0, raw - bias)


def pool_bins(expected: Sequence[float], minimum: float, ordered: bool) -> list[list[int]]:
    """Groups of bin indices whose expected counts each reach ``minimum`` (as far as possible).

    Ordered (numeric) bins are merged with their neighbours left to right; unordered categories are
    merged from the rarest up. The grouping depends only on the reference and the window size, never
    on the observed counts, so it does not bias the test.
    """
    order = list(range(len(expected))) if ordered else sorted(range(len(expected)), key=lambda i: -expected[i])
    groups: list[list[int]] = []
    current: list[int] = []
    mass = 0.0
    for i in order:
        current.append(i)
        mass += expected[i]
        if mass >= minimum:
            groups.append(current)
            current, mass = [], 0.0
    if current:
        if groups:
            groups[-1].extend(current)
        else:
            groups.append(current)
    return groups


@dataclass(frozen=True)
class ChiSquare:
    """A chi-square test of one window's bins against the reference."""

    statistic: float
    df: int
    p_value: float


def effective_rows(rows: float, reference_rows: float | None) -> float:
    """``n*m/(n+m)``: the window size a test against an exact reference would need for the same noise."""
    if not reference_rows:
        return rows
    return rows * reference_rows / (rows + reference_rows)


def chi_square_test(
    reference: Sequence[float], counts: Sequence[float], reference_rows: float | None, *, ordered: bool
) -> ChiSquare:
    """Pearson's chi-square test that the window's counts come from the reference's distribution.

    With ``reference_rows`` known, a two-sample test of homogeneity of the 2 x k table (window counts
    against ``proportion * reference_rows``): a small reference (iris' 150 rows) is itself a noisy
    estimate, and treating it as the truth would make the false-alarm rate grow with the window.
    Without it, the one-sample goodness-of-fit test against the proportions. Bins are pooled first
    (:func:`pool_bins`) so every expected count is at least :data:`MIN_EXPECTED`; bins empty on both
    sides carry no information and no degree of freedom.
    """
    _check(reference, counts)
    n = float(sum(counts))
    ref_total = float(sum(reference)) or 1.0
    p = [float(r) / ref_total for r in reference]
    smaller = min(n, reference_rows) if reference_rows else n
    groups = pool_bins([pi * smaller for pi in p], MIN_EXPECTED, ordered)
    obs = [sum(float(counts[i]) for i in g) for g in groups]
    prob = [sum(p[i] for i in g) for g in groups]
    statistic = 0.0
    cells = 0
    if n <= 0:
        return ChiSquare(0.0, 0, 1.0)
    if reference_rows:
        m = float(reference_rows)
        total = n + m
        for o, pg in zip(obs, prob, strict=True):
            r = pg * m
            column = o + r
            if column <= 0:
                continue
            cells += 1
            e_obs, e_ref = n * column / total, m * column / total
            statistic += (o - e_obs) ** 2 / e_obs + (r - e_ref) ** 2 / e_ref
    else:
        for o, pg in zip(obs, prob, strict=True):
            if pg <= 0:
                if o > 0:
                    return ChiSquare(math.inf, max(cells, 1), 0.0)
                continue
            cells += 1
            statistic += (o - n * pg) ** 2 / (n * pg)
    df = cells - 1
    if df <= 0:
        return ChiSquare(0.0, 0, 1.0)
    return ChiSquare(statistic, df, chi2_sf(statistic, df))


def rows_needed(threshold: float, bins: int, alpha: float, reference_rows: float | None, method: str) -> float:
    """The smallest window in which a drift of exactly ``threshold`` would be judged significant.

    An observed PSI of ``d`` corresponds to a chi-square statistic of about ``n_eff * d`` (PSI is
    to second order the chi-square divergence), and a KS or total-variation distance ``d`` to at
    least ``4 * n_eff * d**2`` (chi-square divergence >= 4 TV^2 >= 4 KS^2), where
    ``n_eff = n*m/(n+m)``. Below the returned count, a drift the size of the threshold could not be
    told from noise at level ``alpha``: the check is Inconclusive rather than a reassuring Pass.
    ``math.inf`` when the reference itself is too small for any window to suffice.
    """
    if bins < 2 or threshold <= 0:
        return 0.0 if bins < 2 else math.inf
    critical = chi2_isf(alpha, bins - 1)
    per_row = threshold if method == "psi" else 4.0 * threshold * threshold
    n_eff = critical / per_row
    if not reference_rows:
        return math.ceil(n_eff)
    if n_eff >= reference_rows:
        return math.inf
    return math.ceil(n_eff * reference_rows / (reference_rows - n_eff))


def ks_distance(reference: Sequence[float], counts: Sequence[float]) -> float:
    """Binned Kolmogorov-Smirnov distance: the largest gap between the cumulative proportions.

    For ordered (numeric) bins this is the two-sample KS statistic evaluated at the bin edges,
    which is all the binned data can tell; it is in [0, 1].
    """
    _check(reference, counts)
    observed = proportions(counts)
    ref_total = float(sum(reference)) or 1.0
    cum_p = cum_q = 0.0
    gap = 0.0
    for p, q in zip(reference, observed, strict=True):
        cum_p += float(p) / ref_total
        cum_q += q
        gap = max(gap, abs(cum_p - cum_q))
    return gap


def total_variation(reference: Sequence[float], counts: Sequence[float]) -> float:
    """Half the L1 distance between the distributions: the KS analogue for unordered categories.

    The cumulative gap of :func:`ks_distance` depends on the order of the bins, which means nothing
    for categories; total variation is the largest difference in probability the two distributions
    give to *any* set of categories, so it is what "max |P(A) - Q(A)|" means without an order.
    """
    _check(reference, counts)
    observed = proportions(counts)
    ref_total = float(sum(reference)) or 1.0
    return 0.5 * sum(abs(float(p) / ref_total - q) for p, q in zip(reference, observed, strict=True))


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """The ``q`` quantile of a cumulative histogram, with Prometheus ``histogram_quantile`` semantics.

    ``buckets`` are ``(upper_bound, cumulative_count)`` pairs and must include ``+Inf``. The value
    is interpolated linearly inside the bucket holding the rank; the first bucket is assumed to
    start at 0 (latencies are non-negative). A rank that lands in the ``+Inf`` bucket returns the
    highest finite bound, as Prometheus does. Returns NaN when there is nothing to measure.
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted((float(le), float(count)) for le, count in buckets)
    if not ordered or not math.isinf(ordered[-1][0]):
        return math.nan
    # Merge duplicate bounds (several series summed) and repair tiny non-monotonicity that
    # scrape skew between series of one histogram can cause.
    merged: list[tuple[float, float]] = []
    for le, count in ordered:
        if merged and merged[-1][0] == le:
            merged[-1] = (le, merged[-1][1] + count)
        else:
            merged.append((le, count))
    fixed: list[tuple[float, float]] = []
    running = 0.0
    for le, count in merged:
        running = max(running, count)
        fixed.append((le, running))
    if len(fixed) < 2:
        return math.nan
    observations = fixed[-1][1]
    if observations <= 0:
        return math.nan
    rank = q * observations
    index = next(i for i, (_, count) in enumerate(fixed) if count >= rank)
    if index == len(fixed) - 1:
        return fixed[-2][0]
    upper, count = fixed[index]
    if index == 0:
        if upper <= 0:
            return upper
        lower, below = 0.0, 0.0
    else:
        lower, below = fixed[index - 1]
    in_bucket = count - below
    if in_bucket <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / in_bucket
