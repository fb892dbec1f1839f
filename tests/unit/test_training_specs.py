"""Spec JSON as Jobs receive it: bare specs, whole objects, and clear refusals."""

from __future__ import annotations

import json

import pytest

from yardarm.api.trainingrun import TrainingRunSpec
from yardarm.training.errors import BadInputError
from yardarm.training.sources import canonical_csv, sanitize_name
from yardarm.training.specs import coerce_spec, parse_spec_json

pytestmark = pytest.mark.unit

SPEC = {"datasetRef": {"name": "iris"}, "task": "classification", "estimator": {"kind": "LogisticRegression"}}


def test_a_whole_object_yields_its_spec_name_and_namespace() -> None:
    loaded = parse_spec_json(
        json.dumps({"kind": "TrainingRun", "metadata": {"name": "a", "namespace": "ml"}, "spec": SPEC}), "TrainingRun"
    )
    assert loaded.spec == SPEC and (loaded.name, loaded.namespace) == ("a", "ml")


def test_a_bare_spec_is_taken_as_is() -> None:
    assert parse_spec_json(json.dumps(SPEC), "TrainingRun").spec == SPEC


def test_invalid_json_and_invalid_fields_are_user_errors() -> None:
    with pytest.raises(BadInputError, match="not valid JSON"):
        parse_spec_json("{", "Dataset")
    with pytest.raises(BadInputError, match=r"invalid at estimator\.kind") as info:
        coerce_spec(TrainingRunSpec, {**SPEC, "estimator": {"kind": "SVC"}}, "TrainingRun")
    assert info.value.reason == "InvalidSpec"


def test_builtin_column_names_are_sanitized() -> None:
    assert sanitize_name("sepal length (cm)") == "sepal_length_cm"
    assert sanitize_name("od280/od315_of_diluted_wines") == "od280_od315_of_diluted_wines"


def test_canonical_csv_is_stable() -> None:
    import pandas as pd

    frame = pd.DataFrame({"a": [0.1, 1 / 3], "b": [1, 2]})
    assert canonical_csv(frame) == b"a,b\n0.1,1\n0.3333333333333333,2\n"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_and_are_refused(constant: str) -> None:
    text = json.dumps(SPEC)[:-1] + f', "qualityGates": [{{"metric": "accuracy", "min": {constant}}}]}}'
    with pytest.raises(BadInputError, match=f"{constant} is not a JSON number") as info:
        parse_spec_json(text, "TrainingRun")
    assert info.value.reason == "InvalidSpec"
