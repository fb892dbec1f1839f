"""Flux's kstatus and Argo CD's Lua health check, run for real on every recorded phase of every kind.

* ``kstatus``: ``sigs.k8s.io/cli-utils``' ``status.Compute``, the library behind Flux's
  ``wait``/``healthChecks`` and ``kubectl wait``-style tools.
* ``luahealth``: ``gitops/argocd/health/*/health.lua`` in gopher-lua, the interpreter Argo CD
  embeds, with Argo CD's calling convention and library set for an argocd-cm health check.

Both are small Go programs in ``hack/gitops/`` built by ``make deps``. The objects are
``tests/fixtures/gitops/``, written from the operator's own status functions. The expected
verdicts are the table in ``docs/gitops.md``, which this test also holds to the real output.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.component

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "gitops"
SOURCES = REPO / "hack" / "gitops"
BIN = Path(os.environ.get("YARDARM_CACHE", "/var/cache/yardarm")) / "bin" / "gitops"
HEALTH = REPO / "gitops" / "argocd" / "health"
DOC = REPO / "docs" / "gitops.md"

# name: (kstatus, Argo CD). A new object (no status) is the one place they disagree: kstatus
# treats a custom resource without status as Current (docs/gitops.md, "Flux").
EXPECTED = {
    "dataset-new": ("Current", "Progressing"),
    "dataset-profiling": ("InProgress", "Progressing"),
    "dataset-profiling-stuck": ("Failed", "Degraded"),
    "dataset-ready": ("Current", "Healthy"),
    "dataset-failed": ("Failed", "Degraded"),
    "dataset-spec-changed": ("InProgress", "Progressing"),
    "trainingrun-new": ("Current", "Progressing"),
    "trainingrun-waiting": ("InProgress", "Progressing"),
    "trainingrun-waiting-dataset-failed": ("Failed", "Degraded"),
    "trainingrun-pending": ("InProgress", "Progressing"),
    "trainingrun-running": ("InProgress", "Progressing"),
    "trainingrun-succeeded": ("Current", "Healthy"),
    "trainingrun-failed": ("Failed", "Degraded"),
    "modeldeployment-new": ("Current", "Progressing"),
    "modeldeployment-pending": ("InProgress", "Progressing"),
    "modeldeployment-pending-no-trainingrun": ("Failed", "Degraded"),
    "modeldeployment-progressing": ("InProgress", "Progressing"),
    "modeldeployment-ready": ("Current", "Healthy"),
    "modeldeployment-spec-changed": ("InProgress", "Progressing"),
    "modeldeployment-ready-revision-2": ("Current", "Healthy"),
    "modeldeployment-rolledback": ("Failed", "Degraded"),
    "modeldeployment-failed": ("Failed", "Degraded"),
    "monitor-new": ("Current", "Progressing"),
    "monitor-pending": ("InProgress", "Progressing"),
    "monitor-pending-no-target": ("Failed", "Degraded"),
    "monitor-inconclusive": ("Current", "Healthy"),
    "monitor-healthy": ("Current", "Healthy"),
    "monitor-failing": ("Current", "Healthy"),
    "monitor-degraded": ("Failed", "Degraded"),
    "monitor-spec-changed": ("InProgress", "Progressing"),
}


def harness(name: str) -> Path:
    """The built harness, failing (never skipping) when it is missing or built from other sources."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make deps` (or `bash hack/gitops/install.sh`)")
    source = SOURCES / name
    want = hashlib.sha256(b"".join((source / f).read_bytes() for f in ("go.mod", "go.sum", "main.go"))).hexdigest()
    stamp = BIN / f".{name}.stamp"
    if not stamp.exists() or stamp.read_text().strip() != want[:16]:
        pytest.fail(f"{path} was built from other sources than {source}: run `make deps`")
    return path


def run(name: str, objects: list[dict[str, Any]], *args: str) -> list[dict[str, str]]:
    proc = subprocess.run(
        [str(harness(name)), *args], input=json.dumps(objects), capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    results: list[dict[str, str]] = json.loads(proc.stdout)
    assert len(results) == len(objects)
    return results


def recorded() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """name: (kstatus result, Argo CD result), from one run of each harness over every object."""
    objects = recorded()
    kstatus = run("kstatus", list(objects.values()))
    argocd = run("luahealth", list(objects.values()), "-dir", str(HEALTH))
    return {name: (k, a) for name, k, a in zip(objects, kstatus, argocd, strict=True)}


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


def test_every_recorded_object_has_an_expected_verdict() -> None:
    assert sorted(recorded()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_kstatus_and_argocd_read_the_recorded_object_as_documented(
    name: str, verdicts: dict[str, tuple[dict[str, str], dict[str, str]]]
) -> None:
    obj = recorded()[name]
    kstatus, argocd = verdicts[name]
    assert "error" not in kstatus and "error" not in argocd, (kstatus, argocd)
    assert (kstatus["status"], argocd["status"]) == EXPECTED[name]
    generation = obj["metadata"]["generation"]
    if "status" not in obj:
        assert argocd["message"] == "Waiting for the Yardarm operator"
        return
    if obj["status"]["observedGeneration"] < generation:
        assert argocd["message"] == f"Waiting for the operator to observe generation {generation}"
        assert f"generation is {generation}, but latest observed generation is" in kstatus["message"]
        return
    # What a person reads next to the verdict is the operator's own sentence.
    stalled, ready, reconciling = (condition(obj, t) for t in ("Stalled", "Ready", "Reconciling"))
    assert stalled and ready and reconciling
    if stalled["status"] == "True":
        assert kstatus["message"] == argocd["message"] == stalled["message"]
    elif ready["status"] == "True":
        assert argocd["message"] == ready["message"]
    else:
        assert reconciling["status"] == "True"
        assert kstatus["message"] == argocd["message"] == reconciling["message"]


def test_docs_table_is_the_real_output(verdicts: dict[str, tuple[dict[str, str], dict[str, str]]]) -> None:
    doc = DOC.read_text()
    missing = []
    for name, obj in recorded().items():
        kstatus, argocd = verdicts[name]
        phase = (obj.get("status") or {}).get("phase") or "(no status)"
        row = f"| `{name}` | {phase} | {kstatus['status']} | {argocd['status']} |"
        if row not in doc:
            missing.append(row)
    assert not missing, "docs/gitops.md lacks these rows of the real run:\n" + "\n".join(missing)


def test_every_example_object_progresses_in_argocd_until_the_operator_writes_status() -> None:
    objects = []
    for path in sorted((REPO / "examples").glob("*/*.yaml")):
        for obj in yaml.safe_load_all(path.read_text()):
            obj["metadata"].update(generation=1, namespace="ml")
            objects.append(obj)
    assert {o["kind"] for o in objects} == {"Dataset", "TrainingRun", "ModelDeployment", "Monitor"}
    assert {r["status"] for r in run("luahealth", objects, "-dir", str(HEALTH))} == {"Progressing"}
    # kstatus has no generation to compare and no condition to read: the gap docs/gitops.md names.
    assert {r["status"] for r in run("kstatus", objects)} == {"Current"}


def test_argocd_sandbox_has_no_string_library_and_refuses_unknown_health_codes(tmp_path: Path) -> None:
    """The harness is as strict as Argo CD for an argocd-cm check: what passes here passes there."""
    obj = {"apiVersion": "mlops.yardarm.dev/v1alpha1", "kind": "Dataset", "metadata": {"name": "x"}}
    script = tmp_path / "mlops.yardarm.dev_Dataset" / "health.lua"
    script.parent.mkdir()
    cases = {
        'return {status = "Healthy", message = string.format("%d", 1)}': "error",
        'return {status = "Healthy", message = tostring(os.time() > 0)}': "Healthy",
        "os.exit(1)": "error",
        'return {status = "Fine"}': "Unknown",
        'return "Healthy"': "error",
    }
    for source, want in cases.items():
        script.write_text(source)
        [result] = run("luahealth", [obj], "-dir", str(tmp_path))
        assert ("error" if "error" in result else result["status"]) == want, (source, result)
