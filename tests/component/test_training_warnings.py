"""One stray string in an undeclared numeric column: the run says so, up to the resource's status.

The column is still typed categorical (a ZIP code column is numbers that are categories), but the
warning travels profile.json → termination message → Dataset status, and bundle run → termination
message → TrainingRun status, through the operator's real status builders.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yardarm.jobresult import ExitCode, ProfileResult, TrainResult
from yardarm.operator.dataset import dataset_status
from yardarm.operator.jobs import job_outcome
from yardarm.operator.trainingrun import training_status
from yardarm.training import cli

pytestmark = pytest.mark.component

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def stray_csv(path: Path) -> Path:
    rng = np.random.default_rng(5)
    rows = 500
    tenure = rng.integers(0, 72, size=rows).astype(object)
    tenure[123] = "seven"
    frame = pd.DataFrame({"tenure": tenure, "charges": rng.normal(70, 20, size=rows)})
    frame["churn"] = (rng.random(rows) < 0.3).astype(int)
    frame.to_csv(path, index=False)
    return path


def finished_job(termination_message: bytes) -> tuple[dict[str, object], list[dict[str, object]]]:
    """A completed Job and its pod as the API server shows them, carrying the real termination message."""
    job = {"status": {"conditions": [{"type": "Complete", "status": "True"}], "completionTime": "2026-01-01T00:00:00Z"}}
    terminated = {"exitCode": 0, "reason": "Completed", "message": termination_message.decode()}
    pod = {
        "status": {"startTime": "2026-01-01T00:00:00Z", "containerStatuses": [{"state": {"terminated": terminated}}]}
    }
    return job, [pod]


def run(tmp_path: Path, *args: str) -> bytes:
    result = tmp_path / f"{args[0]}.json"
    code = cli.main([*args, "--output", (tmp_path / "store").as_uri(), "--result-path", str(result)], env={})
    assert code == ExitCode.OK
    return result.read_bytes()


def test_the_warning_reaches_the_profile_and_both_statuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = {"source": {"uri": stray_csv(tmp_path / "churn.csv").as_uri()}, "target": "churn"}
    (tmp_path / "ds.json").write_text(json.dumps(dataset))
    expected = "Column 'tenure' was typed categorical from 1 of its 500 values"

    message = run(tmp_path, "profile", "--spec", str(tmp_path / "ds.json"))
    assert expected in capsys.readouterr().err
    profile = json.loads(next((tmp_path / "store").rglob("profile.json")).read_bytes())
    assert any(expected in w and "'seven' at data row 124" in w for w in profile["warnings"])
    outcome = job_outcome(*finished_job(message))
    assert isinstance(outcome.result, ProfileResult)
    status = dataset_status({"metadata": {"generation": 1}}, "profile-job", outcome, NOW)
    assert status["phase"] == "Ready" and any(expected in w for w in status["warnings"])

    spec = {"datasetRef": {"name": "churn"}, "task": "classification", "estimator": {"kind": "LogisticRegression"}}
    (tmp_path / "tr.json").write_text(json.dumps(spec))
    message = run(tmp_path, "train", "--spec", str(tmp_path / "tr.json"), "--dataset-spec", str(tmp_path / "ds.json"))
    outcome = job_outcome(*finished_job(message))
    assert isinstance(outcome.result, TrainResult) and outcome.state == "Succeeded"
    status = training_status({"metadata": {"generation": 1}}, "train-job", outcome, NOW)
    assert status["phase"] == "Succeeded" and any(expected in w for w in status["warnings"])


def test_clean_data_has_no_warnings(tmp_path: Path) -> None:
    (tmp_path / "ds.json").write_text(json.dumps({"source": {"uri": "builtin://iris"}, "target": "target"}))
    result = json.loads(run(tmp_path, "profile", "--spec", str(tmp_path / "ds.json")))
    assert "warnings" not in result
