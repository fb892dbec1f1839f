"""What training declares about a model's outputs is what the server answers about them.

``yardarm-train train`` writes ``status.model.outputs`` of the TrainingRun (its termination
message); ``yardarm-serve`` answers V2 model metadata over REST and gRPC. A client reading either
must see the same names, datatypes and shapes: a classifier's ``label`` is class names (BYTES
``[-1]``) even though the graph emits INT64 class values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from serve_process import free_port, start_server
from tritonclient.grpc import service_pb2, service_pb2_grpc

from yardarm.jobresult import ExitCode, TrainResult, decode_result

pytestmark = pytest.mark.component

TRAIN = Path(sys.executable).with_name("yardarm-train")

CASES = {
    "classifier": ("iris", "classification", "LogisticRegression", {"max_iter": 300}),
    "regressor": ("diabetes", "regression", "Ridge", {"alpha": 1.0}),
}


def _train(tmp_path: Path, dataset: str, task: str, estimator: str, params: dict[str, object]) -> TrainResult:
    """The real training CLI, as the TrainingRun's Job runs it; its termination message back."""
    spec = {"datasetRef": {"name": dataset}, "task": task, "estimator": {"kind": estimator, "params": params}}
    result = tmp_path / "result.json"
    env = {
        **os.environ,
        "YARDARM_SPEC": json.dumps(spec),
        "YARDARM_DATASET_SPEC": json.dumps({"source": {"uri": f"builtin://{dataset}"}, "target": "target"}),
        "SOURCE_DATE_EPOCH": "1767225600",
    }
    done = subprocess.run(
        [str(TRAIN), "train", "--output", f"file://{tmp_path}/store", "--name", dataset, "--result-path", str(result)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == ExitCode.OK, done.stderr
    trained = decode_result(result.read_bytes())
    assert isinstance(trained, TrainResult) and trained.model is not None
    return trained


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_trainingrun_declares_the_outputs_the_server_answers(tmp_path: Path, case: str) -> None:
    dataset, task, estimator, params = CASES[case]
    trained = _train(tmp_path, dataset, task, estimator, params)
    assert trained.model is not None and trained.model.outputs is not None
    declared = [{"name": o.name, "datatype": o.datatype, "shape": o.shape} for o in trained.model.outputs]

    bundle = Path(trained.model.uri.removeprefix("file://"))
    port = free_port()
    server = start_server(bundle, "--model-name", dataset, "--grpc-port", str(port), digest=trained.model.digest)
    try:
        rest = server.client.get(f"/v2/models/{dataset}")
        assert rest.status_code == 200, rest.text
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            meta = stub.ModelMetadata(service_pb2.ModelMetadataRequest(name=dataset), timeout=10)
    finally:
        assert server.stop() == 0

    assert rest.json()["outputs"] == declared
    assert [{"name": o.name, "datatype": o.datatype, "shape": list(o.shape)} for o in meta.outputs] == declared
    if task == "classification":
        # What a client of either sees: class names one per row, then a probability per class.
        assert declared == [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
        ]
    else:
        assert declared == [{"name": "label", "datatype": "FP32", "shape": [-1, 1]}]
