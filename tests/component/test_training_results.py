"""Every result a Job writes is strict JSON, and metrics are numbers or the run fails saying why.

A NaN would pass any gate (``NaN < min`` is false) and is not JSON: the operator would copy it
into a status patch the API server refuses. Each scenario below runs the real CLI and parses the
termination message — and ``bundle.json`` / ``profile.json`` when written — with a parser that
refuses ``NaN`` and ``Infinity``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yardarm.jobresult import ExitCode
from yardarm.training import cli

pytestmark = pytest.mark.component

IRIS = {"source": {"uri": "builtin://iris"}, "target": "target"}
LR = {"datasetRef": {"name": "d"}, "task": "classification", "estimator": {"kind": "LogisticRegression"}}


def strict(data: bytes | str) -> dict[str, object]:
    def refuse(name: str) -> object:
        raise AssertionError(f"{name} in a result")

    parsed = json.loads(data, parse_constant=refuse)
    assert isinstance(parsed, dict)
    return parsed


def run(tmp_path: Path, command: str, spec: object, dataset: object | None = None) -> tuple[int, dict[str, object]]:
    result = tmp_path / f"{command}-result.json"
    spec_path = tmp_path / f"{command}-spec.json"
    spec_path.write_text(spec if isinstance(spec, str) else json.dumps(spec))
    args = [command, "--spec", str(spec_path), "--output", (tmp_path / "store").as_uri(), "--result-path", str(result)]
    if dataset is not None:
        (tmp_path / "ds.json").write_text(json.dumps(dataset))
        args += ["--dataset-spec", str(tmp_path / "ds.json")]
    code = cli.main(args, env={})
    return code, strict(result.read_bytes())


def csv(tmp_path: Path, frame: pd.DataFrame) -> dict[str, object]:
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return {"source": {"uri": path.as_uri()}, "target": "y"}


def test_success_and_every_stored_record_are_strict_json(tmp_path: Path) -> None:
    code, profiled = run(tmp_path, "profile", IRIS)
    assert code == ExitCode.OK and profiled["ok"] is True
    code, trained = run(tmp_path, "train", LR, IRIS)
    assert code == ExitCode.OK and trained["ok"] is True
    records = list((tmp_path / "store").rglob("*.json"))
    assert {p.name for p in records} == {"profile.json", "bundle.json"}
    for path in records:
        strict(path.read_bytes())


def test_too_few_rows_is_split_failed_with_the_rows_needed(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0], "y": [1.0, 2.5, 2.9, 4.2, 5.1]})
    spec = {**LR, "task": "regression", "estimator": {"kind": "Ridge"}}
    code, result = run(tmp_path, "train", spec, csv(tmp_path, frame))
    assert code == ExitCode.BAD_INPUT and result["reason"] == "SplitFailed"
    assert "leaves 1 for testing" in str(result["message"]) and "needs at least 6 rows" in str(result["message"])
    frame = pd.concat([frame, frame.iloc[:1]], ignore_index=True)  # six rows: trains
    code, result = run(tmp_path, "train", spec, csv(tmp_path, frame))
    assert code == ExitCode.OK, result


def test_a_target_beyond_float32_fails_the_run_instead_of_reporting_infinity(tmp_path: Path) -> None:
    # The model answers in float32: such a target could only give infinite predictions and metrics.
    rng = np.random.default_rng(3)
    x = rng.normal(size=200)
    frame = pd.DataFrame({"x": x, "y": 1e200 * (x + rng.normal(size=200))})
    spec = {
        **LR,
        "task": "regression",
        "estimator": {"kind": "LinearRegression"},
        "qualityGates": [{"metric": "r2", "min": 0.1}],
    }
    code, result = run(tmp_path, "train", spec, csv(tmp_path, frame))
    assert code == ExitCode.BAD_INPUT and result["reason"] == "InvalidTarget", result
    assert "'y' holds" in str(result["message"]) and "beyond ±3.4e38" in str(result["message"])
    assert "metrics" not in result
    assert not list((tmp_path / "store").rglob("bundle.json"))


@pytest.mark.parametrize(
    ("spec", "reason", "code"),
    [
        ({**LR, "qualityGates": [{"metric": "accuracy", "min": 0.999}]}, "QualityGateMissed", ExitCode.QUALITY_GATE),
        (
            '{"datasetRef": {"name": "d"}, "task": "classification", "estimator": {"kind": "LogisticRegression"}, '
            '"qualityGates": [{"metric": "accuracy", "min": NaN}]}',
            "InvalidSpec",
            ExitCode.BAD_INPUT,
        ),
        (
            {**LR, "estimator": {"kind": "LogisticRegression", "params": {"C": -1}}},
            "InvalidParameter",
            ExitCode.BAD_INPUT,
        ),
    ],
)
def test_failures_are_strict_json_too(tmp_path: Path, spec: object, reason: str, code: int) -> None:
    exit_code, result = run(tmp_path, "train", spec, IRIS)
    assert exit_code == code and result["reason"] == reason and result["ok"] is False
