"""The Argo CD health checks in ``gitops/argocd/`` are generated from their one source script.

What the script decides is tested where Argo CD's interpreter runs it: gopher-lua, with Argo CD's
calling convention, over the recorded objects of every phase (``tests/component/test_gitops_health.py``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

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


def test_generated_files_match_the_source_script() -> None:
    for path, content in _generator().rendered().items():
        assert path.read_text() == content, f"{path} is stale: run `make generate`"


def test_argocd_cm_patch_carries_one_key_per_kind() -> None:
    patch = yaml.safe_load((REPO / "gitops" / "argocd" / "argocd-cm-patch.yaml").read_text())
    source = (HEALTH / "health.lua").read_text()
    assert patch["metadata"]["name"] == "argocd-cm"
    assert sorted(patch["data"]) == sorted(f"resource.customizations.health.mlops.yardarm.dev_{k}" for k in KINDS)
    assert all(v == source for v in patch["data"].values())
