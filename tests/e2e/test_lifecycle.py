"""The whole lifecycle on a real node, through the chart: the demo's flow, asserted.

Dataset Ready → TrainingRun Succeeded (training in a pod) → ModelDeployment Ready → predictions
through the Service → revision 2 rolled out → shifted traffic → Monitor Degraded → the operator
rolls back to revision 1 by itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.conftest import demo, events

#: The lifecycle walks two trainings, two rollouts and a drift window; a cold run also builds images.
pytestmark = pytest.mark.timeout(1800)


def _by_revision(status: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {r["revision"]: r for r in status.get("history") or []}


def test_train_serve_drift_and_automatic_rollback(release: Any, logreg_run: dict[str, Any]) -> None:
    result = demo.lifecycle(release)
    first, second = result["first"], result["second"]

    # Dataset: profiled in a Job, digest pinned by the run.
    dataset = result["dataset"]
    assert dataset["rows"] == 150
    assert dataset["digest"].startswith("sha256:")
    assert first["datasetDigest"] == dataset["digest"]

    # Both models trained for real and exported with parity; distinct bundles.
    for run in (first, second):
        assert run["phase"] == "Succeeded"
        assert run["metrics"]["accuracy"] >= 0.9
        assert run["model"]["digest"].startswith("sha256:")
    assert first["model"]["digest"] != second["model"]["digest"]

    # The first model answered known flowers correctly through the Service.
    assert [str(label) for label in result["labels"]] == [str(c) for c in demo.EXPECTED_CLASSES]

    # After the rollback: revision 1 serves again, revision 2 is RolledBack with a reason.
    status = result["deployment"]
    history = _by_revision(status)
    assert status["currentRevision"] == 1
    assert status["currentDigest"] == first["model"]["digest"]
    assert history[1]["outcome"] == "Serving"
    assert history[1]["trainingRun"] == "iris-logreg-1"
    assert history[2]["outcome"] == "RolledBack"
    assert history[2]["modelDigest"] == second["model"]["digest"]
    assert history[2]["reason"]
    rolled_back = demo.condition(status, "RolledBack")
    assert rolled_back["status"] == "True"
    assert rolled_back["message"]

    # Git still says iris-forest-2: the operator never writes spec.
    spec = release.get("modeldeployment", "iris")["spec"]
    assert spec["model"]["trainingRunRef"]["name"] == "iris-forest-2"

    # The Monitor said why, and the rollback is on record as an Event.
    monitor = release.status("monitor", "iris-drift")
    assert monitor.get("lastAction"), monitor
    reasons = {e["reason"] for e in events(release, "ModelDeployment", "iris")}
    assert any("RolledBack" in r or "Rollback" in r for r in reasons), reasons

    # Predictions come from revision 1 again and are right.
    reply = demo.predict_rows(release, demo.NORMAL_ROWS)
    assert [str(label) for label in demo.labels_of(reply)] == [str(c) for c in demo.EXPECTED_CLASSES]

    # `yardarm history` tells the same story to a person.
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "yardarm.cli",
            "history",
            "iris",
            "-n",
            release.namespace,
            "--kubeconfig",
            str(release.kubeconfig),
            "-o",
            "json",
        ],
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    text = cli.stdout
    assert "RolledBack" in text
    parsed = json.loads(text)
    assert parsed
