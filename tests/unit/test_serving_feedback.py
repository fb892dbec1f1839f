"""The bounded memory of recent predictions behind the feedback endpoint."""

from __future__ import annotations

import numpy as np
import pytest

from yardarm.serving.errors import RequestError
from yardarm.serving.feedback import FeedbackStore

pytestmark = pytest.mark.unit


def _labels(*names: str) -> np.ndarray:
    return np.asarray(names, dtype=object)


def test_single_row_requests_are_addressed_by_their_id() -> None:
    store = FeedbackStore(10)
    store.remember("a", _labels("setosa"))
    assert store.take("a") == "setosa"


def test_rows_of_a_batch_are_addressed_as_id_colon_row() -> None:
    store = FeedbackStore(10)
    store.remember("batch", _labels("x", "y", "z"))
    assert store.take("batch:2") == "z"
    assert store.take("batch:0") == "x"
    with pytest.raises(RequestError) as whole:
        store.take("batch")
    assert whole.value.status == 400
    for bad in ("batch:3", "batch:-1", "batch:", "other:0"):
        with pytest.raises(RequestError) as err:
            store.take(bad)
        assert err.value.status == 404


def test_ids_that_contain_colons_still_resolve() -> None:
    store = FeedbackStore(10)
    store.remember("tenant:42", np.asarray([1.5]))
    store.remember("job:7", np.asarray([1.0, 2.0]))
    assert store.take("tenant:42") == 1.5
    assert store.take("job:7:1") == 2.0


def test_each_row_takes_feedback_once() -> None:
    store = FeedbackStore(10)
    store.remember("a", _labels("x"))
    store.take("a")
    with pytest.raises(RequestError) as err:
        store.take("a")
    assert err.value.status == 409


def test_capacity_counts_rows_and_forgets_the_oldest_requests() -> None:
    store = FeedbackStore(4)
    store.remember("one", _labels("a", "b"))
    store.remember("two", _labels("c", "d"))
    store.take("one:0")
    store.remember("three", _labels("e"))  # 5 rows > 4: 'one' goes
    assert len(store) == 2
    with pytest.raises(RequestError) as err:
        store.take("one:1")
    assert err.value.status == 404
    assert "evicted" in err.value.message
    assert store.take("two:1") == "d"


def test_a_reused_id_replaces_the_older_prediction() -> None:
    store = FeedbackStore(4)
    store.remember("a", _labels("x"))
    store.remember("a", _labels("y"))
    assert len(store) == 1
    assert store.take("a") == "y"


def test_zero_capacity_and_oversized_batches_are_not_stored() -> None:
    store = FeedbackStore(0)
    store.remember("a", _labels("x"))
    assert len(store) == 0
    small = FeedbackStore(2)
    small.remember("big", _labels("x", "y", "z"))
    assert len(small) == 0
