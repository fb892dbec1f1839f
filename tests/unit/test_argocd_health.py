"""The Argo CD health checks in ``gitops/argocd/`` judge example objects as a person would.

The Lua runs in Lua 5.1 (through ``lupa``), the dialect of Argo CD's gopher-lua, with ``obj``
set as Argo CD sets it. The generated per-kind files and the ``argocd-cm`` patch must match the
single source script.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51 as lupa_lua51

from yardarm.training.errors import QualityGateError

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
HEALTH = REPO / "gitops" / "argocd" / "health"
KINDS = ("Dataset", "TrainingRun", "ModelDeployment", "Monitor")


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("argocd_tool", REPO / "hack" / "tools" / "argocd.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def health(obj: dict[str, Any], kind: str | None = None) -> tuple[str, str]:
    """Run the per-kind health.lua on ``obj`` and return (status, message)."""
    kind = kind or obj["kind"]
    script = (HEALTH / f"mlops.yardarm.dev_{kind}" / "health.lua").read_text()
    lua = lupa_lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script)
    return str(result["status"]), str(result["message"])


def cond(type_: str, status: str, reason: str = "Reason", message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-11-30T12:00:00Z",
        "observedGeneration": 1,
    }


def make(kind: str, phase: str | None, *conditions: dict[str, Any], generation: int = 1, observed: int = 1) -> dict:
    obj: dict[str, Any] = {
        "apiVersion": "mlops.yardarm.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "iris", "namespace": "ml", "generation": generation},
        "spec": {},
    }
    if phase is not None or conditions:
        obj["status"] = {"observedGeneration": observed, "conditions": list(conditions)}
        if phase is not None:
            obj["status"]["phase"] = phase
    return obj


READY = cond("Ready", "True", "Ready", "all good")
NOT_READY = cond("Ready", "False", "Working", "profiling")
RECONCILING = cond("Reconciling", "True", "Progressing", "rolling out revision 2")
STALLED = cond("Stalled", "True", "BadModel", "bundle digest mismatch")


def test_generated_files_match_the_source_script() -> None:
    for path, content in _generator().rendered().items():
        assert path.read_text() == content, f"{path} is stale: run `make generate`"


def test_argocd_cm_patch_carries_one_key_per_kind() -> None:
    patch = yaml.safe_load((REPO / "gitops" / "argocd" / "argocd-cm-patch.yaml").read_text())
    source = (HEALTH / "health.lua").read_text()
    assert patch["metadata"]["name"] == "argocd-cm"
    assert sorted(patch["data"]) == sorted(f"resource.customizations.health.mlops.yardarm.dev_{k}" for k in KINDS)
    assert all(v == source for v in patch["data"].values())


@pytest.mark.parametrize("kind", KINDS)
def test_a_new_object_without_status_is_progressing(kind: str) -> None:
    status, message = health(make(kind, None))
    assert status == "Progressing"
    assert "operator" in message


@pytest.mark.parametrize("kind", KINDS)
def test_a_stale_observed_generation_is_progressing_even_when_ready(kind: str) -> None:
    status, message = health(make(kind, "Ready", READY, generation=3, observed=2))
    assert status == "Progressing"
    assert "generation 3" in message


@pytest.mark.parametrize("kind", KINDS)
def test_ready_true_at_the_current_generation_is_healthy(kind: str) -> None:
    phase = {"Dataset": "Ready", "TrainingRun": "Succeeded", "ModelDeployment": "Ready", "Monitor": "Healthy"}[kind]
    assert health(make(kind, phase, READY, cond("Stalled", "False"))) == ("Healthy", "all good")


@pytest.mark.parametrize("kind", KINDS)
def test_stalled_is_degraded_with_its_message(kind: str) -> None:
    assert health(make(kind, "Progressing", NOT_READY, STALLED)) == ("Degraded", "bundle digest mismatch")


@pytest.mark.parametrize("kind", KINDS)
def test_reconciling_is_progressing_with_its_message(kind: str) -> None:
    assert health(make(kind, "Progressing", NOT_READY, RECONCILING)) == ("Progressing", "rolling out revision 2")


def test_ready_false_without_reconciling_or_stalled_is_still_progressing() -> None:
    assert health(make("Dataset", "Profiling", NOT_READY)) == ("Progressing", "profiling")


@pytest.mark.parametrize("kind", ["Dataset", "TrainingRun"])
def test_failed_runs_are_degraded(kind: str) -> None:
    obj = make(kind, "Failed", cond("Ready", "False", QualityGateError.default_reason, "accuracy 0.81 < 0.9"))
    obj["status"]["message"] = "accuracy 0.81 is below the gate 0.9"
    assert health(obj) == ("Degraded", "accuracy 0.81 is below the gate 0.9")


def test_a_rolled_back_model_deployment_is_degraded_although_it_serves() -> None:
    rolled = cond("RolledBack", "True", "MonitorDegraded", "rolled back from revision 3: input drift")
    status, message = health(make("ModelDeployment", "RolledBack", READY, rolled))
    assert status == "Degraded"
    assert "rolled back from revision 3" in message


def test_a_model_deployment_whose_rollback_condition_is_false_is_healthy() -> None:
    obj = make("ModelDeployment", "Ready", READY, cond("RolledBack", "False"))
    assert health(obj)[0] == "Healthy"


def test_a_degraded_monitor_is_degraded() -> None:
    obj = make("Monitor", "Degraded", cond("Ready", "True", "Evaluated", "evaluated"))
    obj["status"]["message"] = "input-drift: psi 0.41 > 0.25"
    assert health(obj) == ("Degraded", "input-drift: psi 0.41 > 0.25")


def test_the_examples_progress_before_the_operator_sees_them() -> None:
    for path in sorted((REPO / "examples").glob("*/*.yaml")):
        for obj in yaml.safe_load_all(path.read_text()):
            obj = copy.deepcopy(obj)
            obj["metadata"]["generation"] = 1
            assert health(obj)[0] == "Progressing", path
