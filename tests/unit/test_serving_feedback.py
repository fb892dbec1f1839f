"""Feedback ids that carry the prediction: any pod decodes them, nothing else is accepted."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yardarm.serving.errors import RequestError
from yardarm.serving.feedback import MAX_PAYLOAD_BYTES, FeedbackTokens, ScoredRows

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "ab" * 32


def _status(tokens: FeedbackTokens, feedback_id: str) -> int:
    with pytest.raises(RequestError) as err:
        tokens.read(feedback_id)
    assert err.value.message.endswith(".")
    return err.value.status


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n_classes=st.integers(min_value=1, max_value=70_000))
def test_any_pod_reads_back_every_rows_class_index(data: st.DataObject, n_classes: int) -> None:
    issuer = FeedbackTokens(DIGEST, n_classes=n_classes)
    reader = FeedbackTokens(DIGEST, n_classes=n_classes)  # another replica, or the pod after a restart
    rows = data.draw(st.integers(min_value=1, max_value=min(300, issuer.max_rows)))
    index = np.asarray(data.draw(st.lists(st.integers(0, n_classes), min_size=rows, max_size=rows)))
    token = issuer.issue(index, None)
    assert token is not None
    assert token.isascii() and ":" not in token
    for row in {0, rows - 1, data.draw(st.integers(0, rows - 1))}:
        scored = reader.read(f"{token}:{row}")
        assert (scored.row, scored.rows, scored.class_index) == (row, rows, int(index[row]))
    if rows == 1:
        assert reader.read(token).class_index == int(index[0])
    else:
        assert _status(reader, token) == 400


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=50), wide=st.booleans())
def test_regression_values_come_back_exactly(values: list[float], wide: bool) -> None:
    tokens = FeedbackTokens(DIGEST, n_classes=None, float64=wide)
    token = tokens.issue(None, np.asarray(values, dtype=np.float64))
    assert token is not None
    for row, value in enumerate(values):  # float32 values come back as the decimal JSON showed
        assert tokens.read(f"{token}:{row}").value == (value if wide else float(str(np.float32(value))))


def test_a_one_row_classifier_id_is_short_and_the_size_bound_holds() -> None:
    three = FeedbackTokens(DIGEST, n_classes=3)
    assert len(three.issue(np.asarray([2]), None) or "") == 36
    biggest = three.issue(np.zeros(three.max_rows, dtype=int), None)
    assert biggest is not None and len(biggest) <= 5498
    assert three.issue(np.zeros(three.max_rows + 1, dtype=int), None) is None
    floats = FeedbackTokens(DIGEST, n_classes=None)
    assert floats.max_rows == MAX_PAYLOAD_BYTES // 4
    assert len(floats.issue(None, np.zeros(floats.max_rows)) or "") <= 5498


def test_each_request_gets_its_own_id_even_for_equal_predictions() -> None:
    tokens = FeedbackTokens(DIGEST, n_classes=2)
    first, second = (tokens.issue(np.asarray([1]), None) for _ in range(2))
    assert first != second
    assert tokens.read(first or "").key != tokens.read(second or "").key


def test_ids_of_another_model_are_410_and_damaged_ids_404() -> None:
    token = FeedbackTokens(DIGEST, n_classes=3).issue(np.asarray([1, 2]), None) or ""
    other = FeedbackTokens("sha256:" + "cd" * 32, n_classes=3)
    assert _status(other, f"{token}:0") == 410
    regressor = FeedbackTokens(DIGEST, n_classes=None)
    assert _status(regressor, f"{token}:0") == 410
    same = FeedbackTokens(DIGEST, n_classes=3)
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    for bad in (flipped, token[:-1], token + "A", token + "!", "", "nope", "r1", "x" * 400):
        assert _status(same, f"{bad}:0") in (404, 410), bad
    assert _status(same, f"{token}:2") == 404


@pytest.mark.parametrize("suffix", ["\u00b2", "\u2460", "\u0661", "-1", "+1", " 1", "1 ", "", "0x1", "1" * 10, "1.0"])
def test_row_numbers_are_ascii_digits_only(suffix: str) -> None:
    tokens = FeedbackTokens(DIGEST, n_classes=3)
    token = tokens.issue(np.asarray([0, 1]), None) or ""
    assert _status(tokens, f"{token}:{suffix}") == 400
    assert tokens.read(f"{token}:01").row == 1


@settings(max_examples=300, deadline=None)
@given(feedback_id=st.text(max_size=120))
def test_arbitrary_text_is_a_4xx_never_an_exception(feedback_id: str) -> None:
    tokens = FeedbackTokens(DIGEST, n_classes=3)
    status = 200
    try:
        tokens.read(feedback_id)
    except RequestError as err:
        status = err.status
    assert status == 200 or 400 <= status < 500


def test_repeats_are_409_within_the_bounded_memory() -> None:
    scored = ScoredRows(2)
    scored.mark(b"a", "a")
    with pytest.raises(RequestError) as err:
        scored.mark(b"a", "a")
    assert err.value.status == 409
    scored.mark(b"b", "b")
    scored.mark(b"c", "c")  # 'a' is forgotten: capacity 2
    assert len(scored) == 2
    scored.mark(b"a", "a")
    ScoredRows(0).mark(b"a", "a")
