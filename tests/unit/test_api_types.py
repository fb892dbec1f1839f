"""The API types accept the examples users copy, and refuse what the CRDs refuse."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from yardarm.api import RESOURCES, ModelDeploymentSpec, MonitorSpec, TrainingRunSpec, parse_duration

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").rglob("*.yaml"))


def test_there_is_an_example_of_every_kind() -> None:
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in EXAMPLES}
    assert kinds == set(RESOURCES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_example_loads_through_the_api_types(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        obj = RESOURCES[doc["kind"]].model_validate(doc)
        assert obj.to_wire()["spec"], path


def test_wire_form_is_camel_case_with_defaults_filled() -> None:
    spec = TrainingRunSpec.model_validate(
        {
            "datasetRef": {"name": "iris"},
            "task": "classification",
            "estimator": {"kind": "LogisticRegression"},
        }
    )
    wire = spec.to_wire()
    assert wire["datasetRef"] == {"name": "iris"}
    assert wire["job"]["backoffLimit"] == 1
    assert wire["preprocessing"]["numericImputer"] == "median"


def test_unknown_fields_are_refused_with_their_name() -> None:
    with pytest.raises(ValidationError, match="replicaz"):
        ModelDeploymentSpec.model_validate({"model": {"trainingRunRef": {"name": "a"}}, "replicaz": 2})


def test_estimator_outside_the_allow_list_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"estimator\.kind"):
        TrainingRunSpec.model_validate(
            {"datasetRef": {"name": "d"}, "task": "classification", "estimator": {"kind": "os.system"}}
        )


def test_durations_are_checked_and_parsed() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    with pytest.raises(ValueError, match="duration"):
        parse_duration("5 minutes")
    with pytest.raises(ValidationError, match="interval"):
        MonitorSpec.model_validate(
            {
                "targetRef": {"name": "m"},
                "interval": "soon",
                "checks": [{"name": "e", "type": "errorRate", "threshold": 0.1}],
            }
        )


def test_autoscaling_uses_the_kubernetes_spelling_of_cpu() -> None:
    spec = ModelDeploymentSpec.model_validate(
        {
            "model": {"trainingRunRef": {"name": "a"}},
            "autoscaling": {"maxReplicas": 3, "targetCPUUtilizationPercentage": 50},
        }
    )
    assert spec.to_wire()["autoscaling"]["targetCPUUtilizationPercentage"] == 50
