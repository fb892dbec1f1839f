"""The GitOps examples in ``gitops/`` point at things that exist and render with the chart.

Flux and Argo CD kinds have no schemas here, so these checks are structural: every path, chart
and health-checked object they name is in the repository, and the chart values they carry pass
``helm template`` with the values schema.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.component

REPO = Path(__file__).resolve().parents[2]
FLUX = REPO / "gitops" / "flux"
ARGOCD = REPO / "gitops" / "argocd"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _all(directory: Path) -> list[dict[str, Any]]:
    return [d for p in sorted(directory.rglob("*.yaml")) for d in _docs(p)]


def _example_objects(path: str) -> set[tuple[str, str]]:
    return {(d["kind"], d["metadata"]["name"]) for p in sorted((REPO / path).glob("*.yaml")) for d in _docs(p)}


def _chartcheck() -> Any:
    spec = importlib.util.spec_from_file_location("chartcheck", REPO / "hack" / "tools" / "chartcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flux_kustomizations_name_existing_paths_and_objects() -> None:
    kustomizations = [d for d in _all(FLUX) if d["kind"] == "Kustomization" and "spec" in d]
    assert {k["metadata"]["name"] for k in kustomizations} == {"yardarm-operator", "yardarm-iris"}
    for k in kustomizations:
        assert (REPO / k["spec"]["path"]).is_dir(), k["spec"]["path"]
    (iris,) = (k for k in kustomizations if k["metadata"]["name"] == "yardarm-iris")
    checked = {(h["kind"], h["name"]) for h in iris["spec"]["healthChecks"]}
    assert checked == _example_objects(iris["spec"]["path"])
    assert all(h["apiVersion"] == "mlops.yardarm.dev/v1alpha1" for h in iris["spec"]["healthChecks"])
    assert iris["spec"]["dependsOn"] == [{"name": "yardarm-operator"}]


def test_flux_operator_directory_is_a_complete_kustomization() -> None:
    kustomization = yaml.safe_load((FLUX / "operator" / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (FLUX / "operator" / resource).is_file()
    (release,) = (d for d in _all(FLUX / "operator") if d["kind"] == "HelmRelease")
    assert (REPO / release["spec"]["chart"]["spec"]["chart"] / "Chart.yaml").is_file()


def test_argocd_applications_name_existing_paths() -> None:
    apps = [d for d in _docs(ARGOCD / "applications.yaml") if d["kind"] == "Application"]
    assert len(apps) == 2
    for app in apps:
        assert (REPO / app["spec"]["source"]["path"]).is_dir()


def test_the_gitops_chart_values_render() -> None:
    chart = _chartcheck()
    if chart.helm() is None:
        pytest.skip("helm missing (hack/build-binaries.sh helm)")
    (release,) = (d for d in _all(FLUX / "operator") if d["kind"] == "HelmRelease")
    (app,) = (d for d in _docs(ARGOCD / "applications.yaml") if d["spec"]["source"]["path"] == "charts/yardarm")
    for values in (release["spec"]["values"], app["spec"]["source"]["helm"]["valuesObject"]):
        roles = [o for o in chart.render(values) if o["kind"] == "Role"]
        assert [r["metadata"]["namespace"] for r in roles] == ["ml"]
