"""Every CEL rule of the Dataset and TrainingRun CRDs has a pydantic twin with the same message.

``yardarm-train`` validates specs with the pydantic types, so a spec the API server refuses is
refused by the CLI too, before any data is read. This test walks the generated CRD schemas: a new
CEL rule without a counterexample here (and so, usually, without a validator) fails it.
"""

from __future__ import annotations

import re
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
    "features must not be empty: leave features unset to use every column but the target": (
        "Dataset",
        {**DS, "features": []},
    ),
    "feature names together are too long: at most 65536 characters": (
        "Dataset",
        {**DS, "features": [{"name": f"{i:03d}" + "x" * 250} for i in range(263)]},
    ),
    "must start with builtin://, pvc://<claim>/, s3://<bucket>/, https:// or file:/// (an absolute path)": (
        "Dataset",
        {**DS, "source": {"uri": "ftp://h/d.csv"}},
    ),
    "must not contain '..' segments: a path stays inside its claim, bucket or directory": (
        "TrainingRun",
        {**TR, "output": {"uri": "pvc://models/../x"}},
    ),
    "builtin:// data sets are iris, wine, breast_cancer, diabetes and digits": (
        "Dataset",
        {**DS, "source": {"uri": "builtin://mnist"}},
    ),
    "a pvc:// URI starts with the name of a PersistentVolumeClaim, as in pvc://models/bundles "
    "(lowercase letters, digits, '-' and '.')": ("TrainingRun", {**TR, "output": {"uri": "pvc://Models/x"}}),
    "the claim name in a pvc:// URI is at most 253 characters": (
        "TrainingRun",
        {**TR, "output": {"uri": "pvc://" + "a" * 254 + "/x"}},
    ),
    "a pvc:// URI names a path inside the claim, as in pvc://data/iris.csv": (
        "Dataset",
        {**DS, "source": {"uri": "pvc://data"}},
    ),
    "an s3:// URI starts with a bucket name, as in s3://models/bundles (3 to 63 lowercase letters, digits, '.', '-')": (
        "TrainingRun",
        {**TR, "output": {"uri": "s3://B/x"}},
    ),
    "an s3:// URI names a key in the bucket, as in s3://data/iris.csv": (
        "Dataset",
        {**DS, "source": {"uri": "s3://data"}},
    ),
    "a file:// URI names an absolute path, as in file:///data/iris.csv": (
        "TrainingRun",
        {**TR, "output": {"uri": "file://relative/x"}},
    ),
    "an https:// URI names a host and a path": ("Dataset", {**DS, "source": {"uri": "https://host"}}),
    "set s3.credentialsSecretRef or s3.defaultCredentialChain, not both": (
        "TrainingRun",
        {
            **TR,
            "output": {
                "uri": "s3://models/x",
                "s3": {"credentialsSecretRef": {"name": "s"}, "defaultCredentialChain": True},
            },
        },
    ),
    "must be an object name: lowercase letters, digits, '-' and '.', starting and ending alphanumeric": (
        "TrainingRun",
        {**TR, "datasetRef": {"name": "Not_A_Name"}},
    ),
    "must be a ConfigMap key: letters, digits, '-', '_' and '.'": (
        "TrainingRun",
        {**TR, "output": {"uri": "s3://models/x", "s3": {"caBundleRef": {"name": "ca", "key": "a/b"}}}},
    ),
    "must not be '.' or '..'": (
        "TrainingRun",
        {**TR, "output": {"uri": "s3://models/x", "s3": {"caBundleRef": {"name": "ca", "key": ".."}}}},
    ),
    "must be at least 0.05": ("Dataset", {**DS, "split": {"testFraction": 0.01}}),
    "must be at most 0.5": ("Dataset", {**DS, "split": {"testFraction": 0.9}}),
    "must start with pvc://<claim>/, s3://<bucket>/ or file:/// (an absolute path)": (
        "TrainingRun",
        {**TR, "output": {"uri": "https://h/x"}},
    ),
    **{
        message: ("TrainingRun", {**TR, "task": task, "estimator": {"kind": kind}, "qualityGates": [gate]})
        for message, task, kind, gate in (
            (
                "accuracy is between 0 and 1: a gate outside that range can never be met as meant",
                "classification",
                "LogisticRegression",
                {"metric": "accuracy", "min": 1.5},
            ),
            (
                "f1Macro is between 0 and 1: a gate outside that range can never be met as meant",
                "classification",
                "LogisticRegression",
                {"metric": "f1Macro", "min": -0.5},
            ),
            (
                "rocAuc is between 0 and 1: a gate outside that range can never be met as meant",
                "classification",
                "LogisticRegression",
                {"metric": "rocAuc", "min": 2},
            ),
            (
                "logLoss is at least 0: a gate below that can never be met",
                "classification",
                "LogisticRegression",
                {"metric": "logLoss", "max": -1},
            ),
            (
                "rmse is at least 0: a gate below that can never be met",
                "regression",
                "Ridge",
                {"metric": "rmse", "max": -1},
            ),
            (
                "mae is at least 0: a gate below that can never be met",
                "regression",
                "Ridge",
                {"metric": "mae", "max": -1},
            ),
            (
                "r2 is at most 1: a gate above that can never be met",
                "regression",
                "Ridge",
                {"metric": "r2", "min": 1.5},
            ),
        )
    },
    "resources.requests.memory must be at most resources.limits.memory": (
        "TrainingRun",
        {**TR, "job": {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}}},
    ),
    "resources.requests.ephemeral-storage must be at most resources.limits.ephemeral-storage": (
        "TrainingRun",
        {
            **TR,
            "job": {"resources": {"requests": {"ephemeral-storage": "2Gi"}, "limits": {"ephemeral-storage": "1Gi"}}},
        },
    ),
    "must be a quantity of bytes such as 512Mi, 2Gi or 1000000, and not negative": (
        "TrainingRun",
        {**TR, "job": {"resources": {"requests": {"memory": "-1Gi"}}}},
    ),
}

#: Rules pydantic enforces with its own constraint (and so its own words) rather than a validator.
NATIVE = {
    "features must not be empty: leave features unset to use every column but the target": "at least 1 item",
    "must be at least 0.05": "greater than or equal to 0.05",
    "must be at most 0.5": "less than or equal to 0.5",
    "must be a quantity of bytes such as 512Mi, 2Gi or 1000000, and not negative": "is not a quantity",
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
    expected = NATIVE.get(message, re.escape(message))
    with pytest.raises(ValidationError, match=expected) as info:
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
