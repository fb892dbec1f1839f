"""ONNX input names for arbitrary column names: unique plain identifiers, plain names kept."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yardarm.training.export import LABEL, PROBABILITIES, onnx_input_names

pytestmark = pytest.mark.unit

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Column names pandas and Parquet accept, with the characters data files actually carry.
column_names = st.lists(
    st.one_of(
        st.text(max_size=80),
        st.text(alphabet="aA_ -./:,1é名\t\n\"'\\🚀", max_size=12),
        st.sampled_from(["label", "probabilities", "feature", "label_2", "a b", "a_b", "A_B", "1", ""]),
    ),
    unique=True,
    max_size=40,
)


@given(column_names)
def test_every_column_gets_a_unique_identifier_and_plain_names_stay(names: list[str]) -> None:
    onnx = onnx_input_names(names)
    assert len(onnx) == len(names) and len(set(onnx)) == len(onnx)
    for name, chosen in zip(names, onnx, strict=True):
        assert IDENTIFIER.fullmatch(chosen) and len(chosen) <= 64
        assert chosen not in (LABEL, PROBABILITIES)
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name) and name not in (LABEL, PROBABILITIES):
            assert chosen == name
    assert onnx_input_names(names) == onnx  # a pure function of the names: same data, same graph


def test_examples_read_like_their_columns() -> None:
    names = ["mean radius", "a_b", "a b", "1st", "label", "Age", "age", " "]
    assert onnx_input_names(names) == ["mean_radius", "a_b", "a_b_2", "f_1st", "label_2", "Age", "age", "feature"]
