"""Drift bin counting semantics: right-closed numeric bins, categorical __other__, missing values."""

from __future__ import annotations

import numpy as np
import pytest

from yardarm.bundle import OTHER, CategoricalBins, NumericBins
from yardarm.serving.codec import _has_bool
from yardarm.serving.metrics import _CategoricalCounter, _NumericCounter

pytestmark = pytest.mark.unit


def test_numeric_bins_are_right_closed_with_open_ends() -> None:
    counter = _NumericCounter(NumericBins(edges=[0.0, 1.0], proportions=[0.3, 0.4, 0.3]))
    counter.add(np.asarray([-5.0, 0.0, 0.0001, 1.0, 1.0001, 99.0]))
    # (-inf, 0] gets -5 and 0; (0, 1] gets 0.0001 and 1; (1, inf) gets the rest.
    assert counter.counts.tolist() == [2, 2, 2]
    assert counter.missing == 0


def test_nan_is_missing_and_in_no_bin() -> None:
    counter = _NumericCounter(NumericBins(edges=[0.0], proportions=[0.5, 0.5]))
    counter.add(np.asarray([np.nan, 1.0, np.nan]))
    assert counter.counts.tolist() == [0, 1]
    assert counter.missing == 2


def test_numeric_bin_descriptions_carry_edges_and_reference() -> None:
    counter = _NumericCounter(NumericBins(edges=[0.5], proportions=[0.25, 0.75]))
    assert list(counter.describe()) == [("0", "-Inf", "0.5", 0.25), ("1", "0.5", "+Inf", 0.75)]


def test_unknown_categories_count_as_other() -> None:
    counter = _CategoricalCounter(CategoricalBins(categories=["red", "blue", OTHER], proportions=[0.5, 0.5, 0]))
    counter.add(np.asarray(["red", "green", "blue", "red", ""], dtype=object))
    assert counter.counts.tolist() == [2, 1, 2]


def test_a_profile_without_other_gets_one() -> None:
    counter = _CategoricalCounter(CategoricalBins(categories=["a"], proportions=[1.0]))
    counter.add(np.asarray(["b"], dtype=object))
    assert counter.categories == ["a", OTHER]
    assert counter.counts.tolist() == [0, 1]


def test_booleans_hidden_in_nested_lists_are_found() -> None:
    assert _has_bool([[1, 2], [3, [True]]])
    assert not _has_bool([[1, 2.5], [0, 1]])


def test_the_boolean_precheck_never_misses_a_json_boolean() -> None:
    from yardarm.serving.codec import _may_have_bool

    assert _may_have_bool(b'{"data": [1, true]}')
    assert _may_have_bool(b'{"data": [false]}')
    assert _may_have_bool(b'{"name": "t", "data": [1,2], "x": "f", "y":true}')
    assert not _may_have_bool(b'{"inputs": [{"name": "input", "datatype": "FP32", "data": [1e-05, 2.5]}]}')
