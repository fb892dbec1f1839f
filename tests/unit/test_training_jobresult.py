"""The termination-message contract: it always fits in 4 KiB, always parses, and says what it dropped."""

from __future__ import annotations

import json

import pytest

from yardarm.api.dataset import FeatureSummary
from yardarm.api.trainingrun import ModelInfo, Parity, TensorSpec
from yardarm.jobresult import (
    TERMINATION_MESSAGE_LIMIT,
    ExitCode,
    ProfileResult,
    TrainResult,
    decode_result,
    encode_result,
)

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "a" * 64


def test_exit_codes_are_stable_and_tell_user_errors_from_crashes() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 5]
    assert ExitCode.BAD_INPUT.user_caused and ExitCode.QUALITY_GATE.user_caused and ExitCode.PARITY.user_caused
    assert not ExitCode.CRASH.user_caused and not ExitCode.UNREACHABLE.user_caused


def test_a_small_result_round_trips_in_camel_case() -> None:
    result = TrainResult(
        ok=True,
        exit_code=0,
        reason="Trained",
        dataset_digest=DIGEST,
        metrics={"accuracy": 0.9},
        model=ModelInfo(uri="file:///m", digest=DIGEST, parity=Parity(max_abs_diff=0, tolerance=1e-4, passed=True)),
    )
    data = encode_result(result)
    assert b'"datasetDigest"' in data and b'"exitCode":0' in data
    assert decode_result(data) == result


def test_many_features_are_dropped_to_fit_and_marked_truncated() -> None:
    features = [FeatureSummary(name=f"feature_{i:04d}", type="numeric", mean=1.5, std=0.5) for i in range(500)]
    result = ProfileResult(
        ok=True, exit_code=0, reason="Profiled", digest=DIGEST, rows=10, columns=501, features=features
    )
    data = encode_result(result)
    assert len(data) <= TERMINATION_MESSAGE_LIMIT
    decoded = decode_result(data)
    assert isinstance(decoded, ProfileResult)
    assert decoded.truncated and decoded.features is None and decoded.digest == DIGEST


def test_model_inputs_go_before_the_digest_does() -> None:
    inputs = [TensorSpec(name=f"column_{i}", datatype="FP32", shape=[-1, 1]) for i in range(300)]
    model = ModelInfo(uri="s3://b/m", digest=DIGEST, inputs=inputs)
    decoded = decode_result(encode_result(TrainResult(ok=True, exit_code=0, reason="Trained", model=model)))
    assert isinstance(decoded, TrainResult) and decoded.model is not None
    assert decoded.model.digest == DIGEST and decoded.model.inputs is None and decoded.truncated


def test_a_long_multibyte_message_is_cut_on_a_character_boundary() -> None:
    message = "Spalte “größe” ist kaputt 🚢 " * 400
    data = encode_result(TrainResult(ok=False, exit_code=2, reason="InvalidInput", message=message))
    assert len(data) <= TERMINATION_MESSAGE_LIMIT
    decoded = decode_result(data.decode("utf-8"))
    assert decoded.truncated and decoded.message.endswith("…")
    assert message.startswith(decoded.message[:-1].rstrip())
    assert json.loads(data)["reason"] == "InvalidInput"


def test_a_tiny_limit_still_yields_valid_json_with_the_reason() -> None:
    data = encode_result(TrainResult(ok=False, exit_code=4, reason="QualityGateMissed", message="x" * 500), limit=120)
    assert len(data) <= 120
    decoded = decode_result(data)
    assert decoded.reason == "QualityGateMissed" and decoded.exit_code == 4


def test_the_operator_can_import_it_without_the_training_stack() -> None:
    import subprocess
    import sys

    code = (
        "import sys, yardarm.jobresult; "
        "print(sorted(m for m in ('sklearn', 'numpy', 'pandas', 'onnx') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
