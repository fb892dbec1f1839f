"""Reference distributions that drift detection compares live traffic to.

Numeric features get ~10 quantile bins with open ends (so live values outside the training range
still land in a bin); categorical features get their most frequent categories plus
:data:`yardarm.bundle.OTHER`. Missing values are counted apart (``missingFraction``), never binned.
Pure functions only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from yardarm.api.dataset import FeatureSpec
from yardarm.bundle import OTHER, CategoricalBins, FeatureProfile, NumericBins, ReferenceProfile
from yardarm.training.prepare import MISSING_CATEGORY

#: Quantile bins per numeric feature: enough resolution for PSI, few enough counters per feature.
NUMERIC_BINS = 10
#: Categories kept by name per categorical feature; the rest share OTHER.
TOP_CATEGORIES = 20


def _proportions(counts: Sequence[int] | np.ndarray) -> list[float]:
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    if total == 0:
        return [1.0 / len(counts)] * len(counts)
    return [float(c) for c in counts / total]


def shortest_decimal(value: float | np.floating) -> float:
    """A float32 as the shortest decimal that reads back as it (``0.7``, not ``0.699999988079071``).

    Numeric features are held as float32 (training/prepare.py). Data written with up to 7
    significant digits gets its own numbers back, which are also what clients send live.
    """
    return float(str(np.float32(value))) if isinstance(value, np.float32) else float(value)


def numeric_bins(values: np.ndarray, n_bins: int = NUMERIC_BINS) -> NumericBins:
    """Quantile cut points (deduplicated) and the share of non-missing values in each open-ended bin.

    Bin ``i`` is ``(edges[i-1], edges[i]]``; ``np.searchsorted(edges, v, side="left")`` finds it, the
    rule serving must use too. For float32 values the rows are counted against the float32 edges and
    the edges published as their shortest decimals: a live float64 value then lands in the bin its
    float32 (what the model sees) was counted in — with the float32 edge itself, ``0.7`` sent live
    would fall above ``0.699999988…`` while the training's 0.7s were counted below it.
    """
    finite = np.asarray(values)
    finite = finite.astype(float) if finite.dtype != np.float32 else finite
    finite = finite[~np.isnan(finite)]
    if finite.size == 0:
        return NumericBins(edges=[], proportions=[1.0])
    # Observed values as edges (inverted CDF), not interpolations: discrete data (0/1 flags, counts)
    # then gets edges on its values instead of cut points like 0.1 between them.
    quantiles = np.quantile(finite, np.linspace(0, 1, n_bins + 1)[1:-1], method="inverted_cdf")
    edges = np.unique(quantiles.astype(finite.dtype))
    counts = np.bincount(np.searchsorted(edges, finite, side="left"), minlength=edges.size + 1)
    return NumericBins(edges=[shortest_decimal(e) for e in edges], proportions=_proportions(counts))


def categorical_bins(
    values: Sequence[str], top: int = TOP_CATEGORIES, keep: Sequence[str] | None = None
) -> CategoricalBins:
    """The ``top`` most frequent categories (ties by name, so it is deterministic) plus OTHER.

    ``keep`` fixes the category list instead (class labels for prediction profiles).
    """
    counter = Counter(v for v in values if v != MISSING_CATEGORY)
    if keep is None:
        keep = [c for c, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    kept = list(keep)
    other = sum(counter.values()) - sum(counter[c] for c in kept)
    counts = [counter[c] for c in kept] + [other]
    return CategoricalBins(categories=[*kept, OTHER], proportions=_proportions(counts))


def feature_profile(name: str, column: pd.Series, kind: str) -> FeatureProfile:
    """One feature's reference distribution."""
    if kind == "numeric":
        values = column.to_numpy()
        missing = int(np.isnan(values).sum())
        bins: NumericBins | CategoricalBins = numeric_bins(values)
    else:
        values_s = [str(v) for v in column.to_numpy(dtype=object)]
        missing = sum(v == MISSING_CATEGORY for v in values_s)
        bins = categorical_bins(values_s)
    rows = max(len(column), 1)
    return FeatureProfile(name=name, bins=bins, missing_fraction=missing / rows, rows=len(column) - missing)


def reference_profile(x: pd.DataFrame, features: Sequence[FeatureSpec]) -> ReferenceProfile:
    """Reference distributions of every feature in ``x`` (predictions are added by training).

    Pass *all* the reference rows (training and test split together, or the whole Dataset): the
    Monitor compares live traffic with these bins, and a part of the data would be a noisier and
    different estimate of the same distribution.
    """
    return ReferenceProfile(
        rows=int(x.shape[0]), features=[feature_profile(f.name, x[f.name], f.type) for f in features]
    )


def prediction_profile(predictions: np.ndarray, class_labels: Sequence[str] | None) -> FeatureProfile:
    """Distribution of the model's predictions: class shares for classifiers, bins for regressors."""
    rows = int(np.asarray(predictions).ravel().size)
    if class_labels is not None:
        labels = [str(p) for p in predictions.ravel()]
        return FeatureProfile(name="prediction", bins=categorical_bins(labels, keep=class_labels), rows=rows)
    values = np.asarray(predictions, dtype=float).ravel()
    return FeatureProfile(name="prediction", bins=numeric_bins(values), rows=rows)
