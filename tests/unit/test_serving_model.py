"""The model wrapper and request codec on tiny hand-built ONNX graphs (in memory, no server)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import onnx
import orjson
import pytest
from onnx import TensorProto, helper

from yardarm.bundle import (
    BundleManifest,
    FeatureProfile,
    InputFeature,
    Lineage,
    NumericBins,
    ParityReport,
    ReferenceProfile,
    sha256_bytes,
)
from yardarm.serving.codec import Policy, encode_v2, parse_v1, parse_v2
from yardarm.serving.errors import RequestError
from yardarm.serving.model import Model

pytestmark = pytest.mark.unit


def _classifier(classes: list[int]) -> tuple[BundleManifest, bytes]:
    """Two FP32 inputs a, b; probabilities = softmax([a, b]); label = classes[argmax]."""
    nodes = [
        helper.make_node("Concat", ["a", "b"], ["x"], axis=1),
        helper.make_node("Softmax", ["x"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["x"], ["idx"], axis=1, keepdims=0),
        helper.make_node("Gather", ["classes", "idx"], ["label"], axis=0),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 1]) for n in ("a", "b")],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
        ],
        initializer=[helper.make_tensor("classes", TensorProto.INT64, [2], classes)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    bins = NumericBins(edges=[0.0], proportions=[0.5, 0.5])
    manifest = BundleManifest(
        task="classification",
        model_sha256=sha256_bytes(data),
        opset=17,
        inputs=[InputFeature(name=n, type="numeric", datatype="FP32") for n in ("a", "b")],
        outputs=["label", "probabilities"],
        class_labels=[str(c) for c in classes],
        target="y",
        metrics={},
        parity=ParityReport(max_abs_diff=0.0, tolerance=1e-4, passed=True),
        profile=ReferenceProfile(rows=2, features=[FeatureProfile(name=n, bins=bins) for n in ("a", "b")]),
        lineage=Lineage(estimator="hand-built", created_at=datetime(2026, 1, 1, tzinfo=UTC)),
    )
    return manifest, data


def _model(classes: list[int]) -> Model:
    manifest, data = _classifier(classes)
    return Model(manifest, data, digest="sha256:x", name="tiny", revision="1", threads=1)


@pytest.mark.parametrize("classes", [[0, 1], [-1, 1], [7, 100_000]])
def test_integer_class_values_map_to_class_labels_and_positions(classes: list[int]) -> None:
    model = _model(classes)
    policy = Policy(model)
    body = orjson.dumps({"inputs": [{"name": "input", "shape": [2, 2], "datatype": "FP32", "data": [[1, 0], [0, 1]]}]})
    batch, _, _ = parse_v2(body, policy)
    prediction = model.run(batch)
    assert prediction.labels is not None
    assert prediction.labels.tolist() == [str(classes[0]), str(classes[1])]
    assert prediction.class_index is not None
    assert prediction.class_index.tolist() == [0, 1]
    unbound = model.run(batch, reuse=False)
    assert unbound.labels is not None
    assert unbound.labels.tolist() == prediction.labels.tolist()


def test_io_bindings_are_cached_per_batch_size_and_stay_correct() -> None:
    model = _model([0, 1])
    rng = np.random.default_rng(0)
    for rows in (1, 3, 1, 300, 3):
        values = rng.normal(size=(rows, 2))
        batch, _, _ = parse_v2(
            orjson.dumps({"inputs": [{"name": "x", "shape": [rows, 2], "datatype": "FP64", "data": values.tolist()}]}),
            Policy(model),
        )
        bound = model.run(batch).outputs["probabilities"]
        plain = model.run(batch, reuse=False).outputs["probabilities"]
        np.testing.assert_array_equal(bound, plain)
    assert sorted(model._bindings) == [1, 3, 300]


def test_v2_response_is_compact_json_with_class_names() -> None:
    model = _model([0, 1])
    body = orjson.dumps(
        {
            "inputs": [
                {"name": "a", "shape": [1], "datatype": "FP32", "data": [2.0]},
                {"name": "b", "shape": [1, 1], "datatype": "INT64", "data": [[0]]},
            ]
        }
    )
    batch, request_id, outputs = parse_v2(body, Policy(model))
    assert request_id is None
    assert outputs is None
    answer = orjson.loads(encode_v2(model, model.run(batch), "r1", ["label"]))
    assert answer == {
        "model_name": "tiny",
        "model_version": "1",
        "id": "r1",
        "outputs": [{"name": "label", "datatype": "BYTES", "shape": [1], "data": ["0"]}],
    }


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([[1.0, True]], "booleans"),
        ([[1.0, None]], "missing value"),
        ([[1.0, 1e39]], "out of range"),
        ([[1.0, "2"]], "must hold numbers"),
        ([{"a": 1.0}], "missing feature(s) 'b'"),
        ([[1.0, [2.0]]], "ragged"),
    ],
)
def test_v1_rows_are_validated_with_a_named_reason(instances: list[object], message: str) -> None:
    with pytest.raises(RequestError) as err:
        parse_v1(orjson.dumps({"instances": instances}), Policy(_model([0, 1])))
    assert err.value.status == 400
    assert message in err.value.message


def test_allow_missing_turns_null_into_nan_for_the_model() -> None:
    model = _model([0, 1])
    batch, _ = parse_v1(orjson.dumps({"instances": [[1.0, None]]}), Policy(model, allow_missing=True))
    assert np.isnan(batch.numeric[0, 1])
    assert model.run(batch).labels is not None
