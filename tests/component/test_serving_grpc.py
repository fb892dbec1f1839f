"""The gRPC Open Inference Protocol service of the real ``yardarm-serve``, driven by stock clients.

``tritonclient.grpc`` (Triton's own generated stubs) builds every request from the gRPC model
metadata alone; answers must equal ONNX Runtime's, errors must carry REST's sentences, and gRPC
traffic must land in the same metrics, drift counters and feedback as REST traffic.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_process import Server, free_port, has, metric_samples, reference, sample, start_server

from yardarm.bundle import read_bundle

pytestmark = pytest.mark.component
triton = pytest.importorskip("tritonclient.grpc")

_NUMPY_OF = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "BYTES": np.object_}


@pytest.fixture(scope="module")
def served(iris_bundle: tuple[Path, str]) -> Iterator[tuple[Server, str]]:
    directory, digest = iris_bundle[:2]
    port = free_port()
    server = start_server(directory, "--model-name", "iris", "--revision", "2", "--grpc-port", str(port), digest=digest)
    yield server, f"127.0.0.1:{port}"
    assert server.stop() == 0


def _generic_infer(client: Any, model: str, columns: dict[str, list[Any]], request_id: str = "") -> Any:
    """What a generic client does knowing only the gRPC metadata: one tensor per advertised input."""
    meta = client.get_model_metadata(model)
    rows = len(next(iter(columns.values())))
    features = list(columns)
    inputs = []
    for spec in meta.inputs:
        shape = [rows if d == -1 else int(d) for d in spec.shape]
        data = columns[spec.name] if spec.name in columns else [[columns[f][r] for f in features] for r in range(rows)]
        array = np.asarray(data, dtype=_NUMPY_OF[spec.datatype]).reshape(shape)
        tensor = triton.InferInput(spec.name, shape, spec.datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    result = client.infer(model, inputs, request_id=request_id)
    for declared in meta.outputs:
        answered = result.get_output(declared.name)
        assert answered.datatype == declared.datatype
        assert all(d in (-1, a) for d, a in zip(declared.shape, answered.shape, strict=True))
    return result


def test_tritonclient_grpc_reads_metadata_and_infers_like_rest(
    served: tuple[Server, str], iris_bundle: tuple[Path, str]
) -> None:
    server, address = served
    directory = iris_bundle[0]
    manifest, _ = read_bundle(directory)
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
    columns = {f.name: [row[j] for row in rows] for j, f in enumerate(manifest.inputs)}
    before = metric_samples(server)
    client = triton.InferenceServerClient(url=address)
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("iris", "2")
        assert client.get_server_metadata().name == "yardarm"
        result = _generic_infer(client, "iris", columns, request_id="grpc-1")
    finally:
        client.close()
    label, probabilities = reference(directory, rows)
    answered = [v.decode() for v in result.as_numpy("label").tolist()]
    # The builtin iris graph emits the class names themselves.
    assert answered == [str(v) for v in label] and set(answered) <= set(manifest.class_labels or [])
    np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, rtol=1e-6)
    response = result.get_response()
    assert response.id == "grpc-1"
    rest = server.client.post("/v1/models/iris:predict", json={"instances": rows}).json()
    assert rest["predictions"] == answered

    # The same metrics and drift counting as REST (endpoint "infer"), and feedback through REST.
    after = metric_samples(server)
    base = {"model": "iris", "revision": "2"}
    ok = {"endpoint": "infer", "code": "200", **base}
    old = sample(before, "yardarm_requests_total", **ok) if has(before, "yardarm_requests_total", ok) else 0
    assert sample(after, "yardarm_requests_total", **ok) - old == 1
    rows_before = sample(before, "yardarm_inference_rows_total", **base)
    assert sample(after, "yardarm_inference_rows_total", **base) - rows_before == 3 + 3  # gRPC + REST
    feedback_id = response.parameters["feedback_id"].string_param
    answer = server.client.post("/v2/models/iris/feedback", json={"id": f"{feedback_id}:1", "label": answered[1]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["correct"] is True


def test_grpc_errors_carry_the_rest_status_and_sentence(served: tuple[Server, str]) -> None:
    from tritonclient.utils import InferenceServerException

    server, address = served
    client = triton.InferenceServerClient(url=address)
    try:
        with pytest.raises(InferenceServerException) as unknown:
            client.get_model_metadata("setosa")
        assert unknown.value.status() == "StatusCode.NOT_FOUND"
        assert "Model 'setosa' is not served here" in unknown.value.message()
        with pytest.raises(InferenceServerException) as version:
            client.is_model_ready("iris", "7")
        assert "no version '7'" in version.value.message()
        narrow = triton.InferInput("input", [1, 3], "FP32")
        narrow.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
        with pytest.raises(InferenceServerException) as bad:
            client.infer("iris", [narrow])
        assert bad.value.status() == "StatusCode.INVALID_ARGUMENT"
        assert "needs 4 columns" in bad.value.message()
        words = triton.InferInput("input", [1, 4], "BYTES")
        words.set_data_from_numpy(np.asarray([["a", "b", "c", "d"]], dtype=object))
        with pytest.raises(InferenceServerException) as wrong_type:
            client.infer("iris", [words])
        assert "datatype BYTES" in wrong_type.value.message()
    finally:
        client.close()
    samples = metric_samples(server)
    assert sample(samples, "yardarm_requests_total", endpoint="infer", code="400") >= 2
    assert sample(samples, "yardarm_requests_total", endpoint="metadata", code="404") >= 1


def test_typed_contents_without_raw_bytes_are_accepted(served: tuple[Server, str]) -> None:
    """Clients other than Triton's may send ``contents.fp32_contents`` instead of raw bytes."""
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    _, address = served
    request = service_pb2.ModelInferRequest(model_name="iris")
    tensor = request.inputs.add(name="input", datatype="FP32", shape=[2, 4])
    tensor.contents.fp32_contents.extend([5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3])
    with grpc.insecure_channel(address) as channel:
        response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)
    assert [o.name for o in response.outputs] == ["label", "probabilities"]
    assert list(response.outputs[0].shape) == [2]
    assert len(response.raw_output_contents) == 2


_datatypes = st.sampled_from(["FP32", "FP64", "INT64", "INT32", "BYTES", "BOOL", "UINT8", "fp32", ""])
_tensor = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["input", "sepal_length_cm", "", "x" * 300]) | st.text(max_size=8),
        "datatype": _datatypes,
        "shape": st.lists(st.integers(min_value=-3, max_value=6), max_size=4),
        "raw": st.binary(max_size=64),
        "floats": st.lists(st.floats(width=32), max_size=12),
        "strings": st.lists(st.binary(max_size=6), max_size=4),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tensors=st.lists(_tensor, max_size=5),
    raw=st.booleans(),
    model=st.sampled_from(["iris", "other", ""]),
    version=st.sampled_from(["", "2", "9"]),
    outputs=st.lists(st.sampled_from(["label", "probabilities", "nope"]), max_size=2),
)
def test_fuzzed_grpc_requests_never_get_an_internal_error(
    served: tuple[Server, str], tensors: list[dict[str, Any]], raw: bool, model: str, version: str, outputs: list[str]
) -> None:
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    request = service_pb2.ModelInferRequest(model_name=model, model_version=version)
    for spec in tensors:
        tensor = request.inputs.add(name=spec["name"], datatype=spec["datatype"], shape=spec["shape"])
        if raw:
            request.raw_input_contents.append(spec["raw"])
        else:
            tensor.contents.fp32_contents.extend(spec["floats"])
            tensor.contents.bytes_contents.extend(spec["strings"])
    for name in outputs:
        request.outputs.add(name=name)
    code, details = grpc.StatusCode.OK, "answered"
    with grpc.insecure_channel(served[1]) as channel:
        try:
            service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()  # type: ignore[attr-defined]
    assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND), details
    assert details
