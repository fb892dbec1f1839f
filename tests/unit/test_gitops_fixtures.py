"""The recorded objects in ``tests/fixtures/gitops/`` are current and cover every phase of every kind.

They are written by ``hack/tools/gitops_fixtures.py`` from the operator's own status functions;
a change to a status function changes them, and this test names the command that rewrites them.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, get_args

import pytest

from yardarm.api.dataset import DatasetPhase
from yardarm.api.modeldeployment import DeploymentPhase
from yardarm.api.monitor import MonitorPhase
from yardarm.api.trainingrun import TrainingPhase

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "gitops"
PHASES = {
    "Dataset": DatasetPhase,
    "TrainingRun": TrainingPhase,
    "ModelDeployment": DeploymentPhase,
    "Monitor": MonitorPhase,
}


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gitops_fixtures", REPO / "hack" / "tools" / "gitops_fixtures.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _recorded() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]


def test_recorded_objects_match_what_the_operator_writes() -> None:
    expected = _generator().rendered()
    assert sorted(FIXTURES.glob("*.json")) == sorted(expected), "fixture set is stale: run `make generate`"
    for path, content in expected.items():
        assert path.read_text() == content, f"{path.name} is stale: run `make generate`"


@pytest.mark.parametrize("kind", sorted(PHASES))
def test_every_phase_the_operator_writes_is_recorded(kind: str) -> None:
    never = {phase for (k, phase) in _generator().NEVER_WRITTEN if k == kind}
    recorded = {(o.get("status") or {}).get("phase") for o in _recorded() if o["kind"] == kind}
    assert set(get_args(PHASES[kind])) - never <= recorded


@pytest.mark.parametrize("kind", sorted(PHASES))
def test_every_kind_has_an_object_without_status_and_one_with_an_unobserved_generation(kind: str) -> None:
    objects = [o for o in _recorded() if o["kind"] == kind]
    assert any("status" not in o for o in objects)
    assert kind == "TrainingRun" or any(  # a TrainingRun's spec is immutable: its generation never moves
        o["status"]["observedGeneration"] < o["metadata"]["generation"] for o in objects if "status" in o
    )


def test_recorded_conditions_are_the_metav1_condition_shape_at_the_observed_generation() -> None:
    for obj in _recorded():
        status = obj.get("status")
        if status is None:
            continue
        types = {c["type"] for c in status["conditions"]}
        assert {"Ready", "Reconciling", "Stalled"} <= types, obj["metadata"]
        for c in status["conditions"]:
            assert set(c) >= {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}
            assert c["observedGeneration"] == status["observedGeneration"]
