"""Validating data against a DatasetSpec: every refusal names the column and the problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yardarm.api.dataset import DatasetSpec
from yardarm.training.errors import BadInputError
from yardarm.training.prepare import MISSING_CATEGORY, infer_features, prepare
from yardarm.training.specs import coerce_spec

pytestmark = pytest.mark.unit


def spec(**extra: object) -> DatasetSpec:
    return DatasetSpec.model_validate({"source": {"uri": "file:///data.csv"}, "target": "y", **extra})


FRAME = pd.DataFrame({"size": [1.0, 2.0, np.nan, 4.0], "color": ["red", None, "blue", "red"], "y": [0, 1, 0, 1]})


def test_features_are_inferred_from_dtypes_when_not_declared() -> None:
    features = infer_features(FRAME, "y")
    assert [(f.name, f.type) for f in features] == [("size", "numeric"), ("color", "categorical")]


def test_missing_values_are_kept_for_imputation_by_default() -> None:
    prepared = prepare(FRAME, spec())
    assert prepared.x.shape == (4, 2) and prepared.dropped_rows == 0
    assert np.isnan(prepared.x["size"][2]) and prepared.x["color"][1] == MISSING_CATEGORY
    assert prepared.missing == {"size": 1, "color": 1}


def test_drop_removes_rows_with_any_missing_feature() -> None:
    prepared = prepare(FRAME, spec(missingValues="drop"))
    assert prepared.x.shape[0] == 2 and prepared.dropped_rows == 2


def test_error_refuses_missing_values_naming_the_columns() -> None:
    with pytest.raises(BadInputError, match=r"'size', 'color' have missing values") as info:
        prepare(FRAME, spec(missingValues="error"))
    assert info.value.reason == "MissingValues"


def test_rows_without_a_target_are_always_dropped() -> None:
    frame = FRAME.assign(y=[0, None, 1, 1])
    assert prepare(frame, spec()).dropped_rows == 1


def test_a_missing_target_column_is_named_with_the_columns_that_exist() -> None:
    with pytest.raises(BadInputError, match=r"target column 'label' is not in the data.*'size', 'color', 'y'") as info:
        prepare(FRAME, DatasetSpec.model_validate({"source": {"uri": "/d.csv"}, "target": "label"}))
    assert info.value.reason == "MissingTargetColumn"


def test_a_non_numeric_value_in_a_numeric_column_names_column_value_and_row() -> None:
    frame = pd.DataFrame({"size": ["1.5", "big", "3"], "y": [0, 1, 0]})
    with pytest.raises(BadInputError, match=r"Column 'size' is declared numeric but holds .*'big' \(data row 2"):
        prepare(frame, spec(features=[{"name": "size", "type": "numeric"}]))


def test_declared_categorical_numbers_become_strings() -> None:
    frame = pd.DataFrame({"zip": [1010, 2020, 1010], "y": [0, 1, 0]})
    prepared = prepare(frame, spec(features=[{"name": "zip", "type": "categorical"}]))
    assert list(prepared.x["zip"]) == ["1010", "2020", "1010"]


def test_a_declared_feature_absent_from_the_data_is_refused() -> None:
    with pytest.raises(BadInputError, match=r"'weight' are not in the data"):
        prepare(FRAME, spec(features=[{"name": "weight"}]))


def test_empty_data_is_refused() -> None:
    with pytest.raises(BadInputError, match="has no rows"):
        prepare(FRAME.iloc[0:0], spec())


def test_the_target_cannot_also_be_a_feature() -> None:
    # The API types (and the CRD) refuse it; the CLI validates through them (next test).
    with pytest.raises(ValueError, match="must not also be listed in features"):
        spec(features=[{"name": "size"}, {"name": "y"}])


def test_the_cli_refuses_a_target_listed_in_features_as_an_invalid_spec() -> None:
    raw = {"source": {"uri": "file:///data.csv"}, "target": "y", "features": [{"name": "size"}, {"name": "y"}]}
    with pytest.raises(BadInputError, match="target column must not also be listed in features") as info:
        coerce_spec(DatasetSpec, raw, "Dataset")
    assert info.value.reason == "InvalidSpec"


def test_a_feature_without_any_value_is_refused() -> None:
    with pytest.raises(BadInputError, match="'color' have no values at all") as info:
        prepare(FRAME.assign(color=None), spec())
    assert info.value.reason == "EmptyFeature"


def test_a_column_typed_categorical_by_a_few_stray_strings_is_warned_about() -> None:
    values = [str(v) for v in range(200)]
    values[57] = "seven"
    frame = pd.DataFrame(
        {"tenure": values, "plan": ["a", "b"] * 100, "zip": ["x1"] * 150 + ["1"] * 50, "y": [0, 1] * 100}
    )
    prepared = prepare(frame, spec())
    assert [f.type for f in prepared.features] == ["categorical"] * 3  # typing is unchanged: it is a warning
    assert prepared.warnings == [
        "Column 'tenure' was typed categorical from 1 of its 200 values: the rest are numbers (first non-number "
        "'seven' at data row 58); declare it numeric in features to have such values refused, or categorical to "
        "keep this."
    ]
    declared = spec(features=[{"name": "tenure", "type": "categorical"}])
    assert prepare(frame, declared).warnings == []  # the user said so: nothing to warn about


def test_numeric_features_are_float32_as_the_onnx_model_takes_them() -> None:
    prepared = prepare(FRAME, spec())
    assert prepared.x["size"].dtype == np.float32 and prepared.x["size"][3] == np.float32(4.0)


def test_a_numeric_value_beyond_float32_is_refused_naming_the_column() -> None:
    frame = pd.DataFrame({"size": [1.0, 5e38, 3.0], "y": [0, 1, 0]})
    with pytest.raises(BadInputError, match=r"Column 'size' holds a value beyond ±3.4e38") as info:
        prepare(frame, spec())
    assert info.value.reason == "InvalidValue"
