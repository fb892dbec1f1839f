"""Splits too small to measure every metric are refused up front, with the row count needed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yardarm.training.errors import BadInputError
from yardarm.training.train import check_split_size, rows_needed, split_sizes

pytestmark = pytest.mark.unit

fractions = st.floats(min_value=0.05, max_value=0.5)


@given(rows=st.integers(1, 400), fraction=fractions, classes=st.one_of(st.none(), st.integers(2, 12)))
def test_refused_exactly_when_a_side_is_short_and_the_count_named_is_the_least_that_works(
    rows: int, fraction: float, classes: int | None
) -> None:
    minimum = max(2, classes or 0)
    train, test = split_sizes(rows, fraction)
    assert train + test == rows and test >= 1
    needed = rows_needed(fraction, minimum)
    assert min(split_sizes(needed, fraction)) >= minimum
    assert all(min(split_sizes(n, fraction)) < minimum for n in range(1, needed))
    if min(train, test) >= minimum:
        check_split_size(rows, fraction, classes)
        return
    with pytest.raises(BadInputError, match=f"the data needs at least {needed} rows") as info:
        check_split_size(rows, fraction, classes)
    assert info.value.reason == "SplitFailed"


def test_split_sizes_match_scikit_learn() -> None:
    from sklearn.model_selection import train_test_split

    for rows in (5, 9, 10, 11, 101):
        for fraction in (0.05, 0.2, 0.33, 0.5):
            train, test = train_test_split(list(range(rows)), test_size=fraction, random_state=0)
            assert split_sizes(rows, fraction) == (len(train), len(test))
