"""Drift and latency statistics computed from binned counts: PSI, binned KS, histogram quantiles.

Serving pods only count values into the reference profile's bins (Prometheus counters), so every
statistic here works on *binned* data: reference proportions from ``bundle.json`` against counts
observed in a window. Pure functions, no numpy: a few dozen bins per feature do not need it, and
the operator image stays free of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Proportion substituted for an empty bin in PSI, so that ``ln(q/p)`` stays finite. The same
#: order of magnitude as the usual convention (Evidently, most PSI write-ups use 1e-4).
PSI_EPSILON = 1e-4


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
