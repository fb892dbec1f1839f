"""``yardarm-train`` end to end: real processes, termination messages, and one exit code per failure kind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from yardarm.jobresult import ExitCode, ProfileResult, TrainResult, decode_result
from yardarm.training import cli, export

pytestmark = pytest.mark.component

TRAIN = Path(sys.executable).with_name("yardarm-train")
IRIS = {"source": {"uri": "builtin://iris"}, "target": "target"}


def run_spec(**overrides: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "datasetRef": {"name": "iris"},
        "task": "classification",
        "estimator": {"kind": "LogisticRegression", "params": {"max_iter": 300}},
    }
    return {**spec, **overrides}


def write(path: Path, data: object) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRAIN), *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}, check=False
    )


def test_profile_then_train_as_processes_write_termination_messages(tmp_path: Path) -> None:
    store = f"file://{tmp_path}/store"
    profile_result = tmp_path / "profile.json"
    done = run_cli(
        "profile", "--spec", write(tmp_path / "ds.json", IRIS), "--output", store, "--result-path", str(profile_result)
    )
    assert done.returncode == ExitCode.OK, done.stderr
    profiled = decode_result(profile_result.read_bytes())
    assert isinstance(profiled, ProfileResult) and profiled.ok and profiled.rows == 150 and profiled.columns == 5
    assert profiled.features is not None and profiled.features[0].name == "sepal_length_cm"

    # The operator passes whole objects (camelCase) in environment variables it names with flags.
    resource = {"kind": "TrainingRun", "metadata": {"name": "iris-lr", "namespace": "ml"}, "spec": run_spec()}
    env = {
        "YARDARM_TRAININGRUN": json.dumps(resource),
        "YARDARM_DATASET": json.dumps({"kind": "Dataset", "metadata": {"name": "iris"}, "spec": IRIS}),
        "YARDARM_RESULT_PATH": str(tmp_path / "train.json"),
    }
    done = run_cli(
        "train",
        "--spec-env", "YARDARM_TRAININGRUN",
        "--dataset-env", "YARDARM_DATASET",
        "--dataset-digest", str(profiled.digest),
        "--output", store,
        env=env,
    )  # fmt: skip
    assert done.returncode == ExitCode.OK, done.stderr
    raw = (tmp_path / "train.json").read_bytes()
    assert len(raw) <= 4096
    trained = decode_result(raw)
    assert isinstance(trained, TrainResult) and trained.ok and trained.reason == "Trained"
    assert trained.dataset_digest == profiled.digest and trained.headline.startswith("accuracy=")
    assert trained.model is not None and trained.model.opset == 17 and trained.model.parity.passed
    assert [o.name for o in trained.model.outputs] == ["label", "probabilities"]
    assert trained.model.outputs[1].shape == [-1, 3]
    bundle = Path(trained.model.uri.removeprefix("file://"))
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["lineage"]["training_run"] == "iris-lr" and manifest["lineage"]["namespace"] == "ml"


def test_a_missed_quality_gate_exits_4_with_metric_value_and_bound(tmp_path: Path) -> None:
    spec = run_spec(qualityGates=[{"metric": "accuracy", "min": 0.999}])
    done = run_cli(
        "train",
        "--spec", write(tmp_path / "tr.json", spec),
        "--dataset-spec", write(tmp_path / "ds.json", IRIS),
        "--output", str(tmp_path),
        "--result-path", str(tmp_path / "result.json"),
    )  # fmt: skip
    assert done.returncode == ExitCode.QUALITY_GATE == 4
    assert done.stderr.strip().splitlines() == [
        "error: Quality gate missed: accuracy is 0.9333 but must be at least 0.999 (higher is better)."
    ]
    result = decode_result((tmp_path / "result.json").read_bytes())
    assert isinstance(result, TrainResult)
    assert not result.ok and result.reason == "QualityGateMissed" and result.metrics is not None
    assert not (tmp_path / "bundles").exists()


@pytest.mark.parametrize(
    ("dataset", "spec", "code", "reason", "sentence"),
    [
        pytest.param(
            {"source": {"uri": "builtin://iris"}, "target": "species"},
            run_spec(),
            ExitCode.BAD_INPUT,
            "MissingTargetColumn",
            "The target column 'species' is not in the data",
            id="missing-target",
        ),
        pytest.param(
            IRIS,
            run_spec(estimator={"kind": "LogisticRegression", "params": {"max_iters": 5}}),
            ExitCode.BAD_INPUT,
            "UnknownParameter",
            "LogisticRegression has no parameter 'max_iters'",
            id="unknown-param",
        ),
        pytest.param(
            {"source": {"uri": "https://127.0.0.1:9/iris.csv"}, "target": "target"},
            run_spec(),
            ExitCode.UNREACHABLE,
            "SourceUnreachable",
            "Cannot reach https://127.0.0.1:9/iris.csv",
            id="unreachable-source",
        ),
        pytest.param(
            IRIS,
            run_spec(search={"grid": {"C": [0.1, 1, 10], "tol": [1e-4, 1e-3]}, "maxCandidates": 4}),
            ExitCode.BAD_INPUT,
            "GridTooLarge",
            "search.grid has 6 candidates, more than search.maxCandidates (4)",
            id="grid-too-large",
        ),
        pytest.param(
            IRIS,
            {"task": "classification"},
            ExitCode.BAD_INPUT,
            "InvalidSpec",
            "The TrainingRun spec is invalid at datasetRef",
            id="invalid-spec",
        ),
    ],
)
def test_each_user_failure_has_its_exit_code_reason_and_one_sentence(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    dataset: dict[str, object],
    spec: dict[str, object],
    code: ExitCode,
    reason: str,
    sentence: str,
) -> None:
    result_path = tmp_path / "result.json"
    env = {"YARDARM_SPEC": json.dumps(spec), "YARDARM_DATASET_SPEC": json.dumps(dataset)}
    exit_code = cli.main(["train", "--output", str(tmp_path), "--result-path", str(result_path)], env=env)
    assert exit_code == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {sentence}") and err[0].endswith(".")
    result = decode_result(result_path.read_bytes())
    assert result.reason == reason and result.exit_code == code and result.message.startswith(sentence)


def test_a_parity_miss_exits_5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No tolerance at all: float32 ONNX cannot match float64 scikit-learn exactly for a linear model.
    monkeypatch.setattr(export, "PARITY_RTOL", 0.0)
    env = {"YARDARM_SPEC": json.dumps(run_spec()), "YARDARM_DATASET_SPEC": json.dumps(IRIS)}
    result_path = tmp_path / "result.json"
    assert cli.main(["train", "--output", str(tmp_path), "--result-path", str(result_path)], env=env) == ExitCode.PARITY
    assert "The ONNX model differs from scikit-learn by" in capsys.readouterr().err
    result = decode_result(result_path.read_bytes())
    assert result.reason == "ParityFailed" and isinstance(result, TrainResult) and result.metrics


def test_a_profile_of_an_unreachable_source_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path / "ds.json", {"source": {"uri": f"file://{tmp_path}/missing.csv"}, "target": "y"})
    result_path = tmp_path / "r.json"
    assert (
        cli.main(["profile", "--spec", spec, "--output", str(tmp_path), "--result-path", str(result_path)], env={}) == 3
    )
    assert decode_result(result_path.read_bytes()).reason == "SourceNotFound"


def test_an_unwritable_store_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a directory cannot be created below a regular file
    spec = write(tmp_path / "ds.json", IRIS)
    result_path = tmp_path / "r.json"
    code = cli.main(
        ["profile", "--spec", spec, "--output", f"file://{blocker}/out", "--result-path", str(result_path)], env={}
    )
    assert code == ExitCode.UNREACHABLE
    result = decode_result(result_path.read_bytes())
    assert result.reason == "StoreUnwritable" and f"Cannot write to file://{blocker}/out" in result.message


def test_a_wide_profile_result_is_truncated_to_fit_the_termination_message(tmp_path: Path) -> None:
    spec = write(tmp_path / "ds.json", {"source": {"uri": "builtin://digits"}, "target": "target"})
    result_path = tmp_path / "r.json"
    assert (
        cli.main(["profile", "--spec", spec, "--output", str(tmp_path), "--result-path", str(result_path)], env={}) == 0
    )
    raw = result_path.read_bytes()
    result = decode_result(raw)
    assert len(raw) <= 4096 and isinstance(result, ProfileResult)
    assert result.truncated and result.features is None and result.rows == 1797
    full = json.loads(Path(str(result.profile_uri).removeprefix("file://")).read_text())
    assert len(full["features"]) == 64


@pytest.mark.parametrize(
    ("overrides", "reason", "fragment"),
    [
        ({"estimator": {"kind": "LogisticRegression", "params": {"C": True}}}, "InvalidParameter", "not a boolean"),
        (
            {"qualityGates": [{"metric": "accuracy", "min": 0.5, "max": 0.9}]},
            "InvalidSpec",
            "exactly one of min or max",
        ),
        ({"qualityGates": [{"metric": "r2", "min": 0.5}]}, "InvalidSpec", "a metric of another task"),
        ({"estimator": {"kind": "Ridge"}}, "InvalidSpec", "needs a classifier estimator"),
        ({"search": {"grid": {"C": [1.0, False]}}}, "InvalidParameter", "not a boolean"),
    ],
)
def test_spec_mistakes_the_crd_refuses_exit_2_before_any_data_is_read(
    tmp_path: Path, overrides: dict[str, object], reason: str, fragment: str
) -> None:
    missing = {"source": {"uri": (tmp_path / "not-there.csv").as_uri()}, "target": "y"}  # reading it would exit 3
    result = tmp_path / "result.json"
    code = cli.main(
        [
            "train",
            "--spec",
            write(tmp_path / "tr.json", run_spec(**overrides)),
            "--dataset-spec",
            write(tmp_path / "ds.json", missing),
            "--output",
            (tmp_path / "store").as_uri(),
            "--result-path",
            str(result),
        ],
        env={},
    )
    decoded = decode_result(result.read_bytes())
    assert code == ExitCode.BAD_INPUT and decoded.reason == reason and fragment in decoded.message
