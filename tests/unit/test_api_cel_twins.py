"""Every CEL rule of the Dataset and TrainingRun CRDs has a pydantic twin with the same message.

``yardarm-train`` validates specs with the pydantic types, so a spec the API server refuses is
refused by the CLI too, before any data is read. This test walks the generated CRD schemas: a new
CEL rule without a counterexample here (and so, usually, without a validator) fails it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from yardarm.api.crd import KINDS, model_schema

pytestmark = pytest.mark.unit

TWIN_KINDS = ("Dataset", "TrainingRun")
DS = {"source": {"uri": "file:///d.csv"}, "target": "y"}
TR = {"datasetRef": {"name": "d"}, "task": "classification", "estimator": {"kind": "LogisticRegression"}}

#: One spec breaking each rule (and only that rule), by the rule's message.
COUNTEREXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "source.s3 applies only to s3:// URIs": ("Dataset", {**DS, "source": {"uri": "file:///d.csv", "s3": {}}}),
    "the target column must not also be listed in features": ("Dataset", {**DS, "features": [{"name": "y"}]}),
    "a quality gate sets exactly one of min or max": (
        "TrainingRun",
        {**TR, "qualityGates": [{"metric": "accuracy", "min": 0.5, "max": 0.9}]},
    ),
    "logLoss, rmse and mae are lower-is-better: gate them with max": (
        "TrainingRun",
        {**TR, "qualityGates": [{"metric": "logLoss", "min": 0.5}]},
    ),
    "accuracy, f1Macro, rocAuc and r2 are higher-is-better: gate them with min": (
        "TrainingRun",
        {**TR, "qualityGates": [{"metric": "accuracy", "max": 0.5}]},
    ),
    "a classification task needs a classifier estimator": ("TrainingRun", {**TR, "estimator": {"kind": "Ridge"}}),
    "a regression task needs a regressor estimator": ("TrainingRun", {**TR, "task": "regression"}),
    "a quality gate names a metric of another task": (
        "TrainingRun",
        {**TR, "qualityGates": [{"metric": "rmse", "max": 1.0}]},
    ),
}


def cel_rules(node: Any) -> Iterator[dict[str, str]]:
    if isinstance(node, dict):
        yield from node.get("x-kubernetes-validations", [])
        for value in node.values():
            yield from cel_rules(value)
    elif isinstance(node, list):
        for value in node:
            yield from cel_rules(value)


def spec_type(kind: str) -> type[BaseModel]:
    return next(info.spec for info in KINDS if info.kind == kind)


def test_every_single_object_rule_has_a_counterexample() -> None:
    messages = {
        rule["message"]
        for kind in TWIN_KINDS
        for rule in cel_rules(model_schema(spec_type(kind)))
        if "oldSelf" not in rule["rule"]  # transition rules compare two versions: the API server's alone
    }
    assert messages == set(COUNTEREXAMPLES)


@pytest.mark.parametrize("message", sorted(COUNTEREXAMPLES))
def test_pydantic_refuses_what_the_cel_rule_refuses_with_its_message(message: str) -> None:
    kind, bad = COUNTEREXAMPLES[message]
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")) as info:
        spec_type(kind).model_validate(bad)
    assert len(info.value.errors()) == 1


def test_the_valid_bases_are_accepted() -> None:
    spec_type("Dataset").model_validate(DS)
    spec_type("TrainingRun").model_validate(TR)
    spec_type("TrainingRun").model_validate({**TR, "qualityGates": [{"metric": "logLoss", "max": 0.5}]})


@pytest.mark.parametrize("bound", [float("nan"), float("inf")])
def test_a_gate_bound_must_be_a_number(bound: float) -> None:
    with pytest.raises(ValidationError):
        spec_type("TrainingRun").model_validate({**TR, "qualityGates": [{"metric": "accuracy", "min": bound}]})
