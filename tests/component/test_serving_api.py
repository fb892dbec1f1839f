"""The real ``yardarm-serve`` process over real HTTP: V2 and V1 inference, errors, metrics, feedback.

Bundles are built here with scikit-learn + skl2onnx + ``write_bundle`` (one ONNX input per feature,
``label``/``probabilities`` outputs, quantile reference bins) until the training runtime's
``iris_bundle``/``diabetes_bundle`` fixtures exist; the server is started once per module.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_process import SERVE, Server, free_port, has, metric_samples, reference, sample, start_server

from yardarm.bundle import (
    OTHER,
    read_bundle,
)

pytestmark = pytest.mark.component


# -- bundles ---------------------------------------------------------------------------------------


def train_mixed_bundle(directory: Path) -> tuple[str, Path]:
    """Iris plus a categorical ``color`` column, trained by the training runtime from a CSV file.

    The shared ``iris_bundle`` fixture is all-numeric; this one covers BYTES inputs and string
    class labels. Returns ``(digest, bundle directory)``.
    """
    import pandas as pd
    from sklearn.datasets import load_iris

    from yardarm.training.train import run_training

    data = load_iris(as_frame=True)
    frame = pd.DataFrame(data.data.to_numpy(), columns=IRIS_FEATURES[:4])
    frame["color"] = np.where(frame["sepal_length"] > 5.8, "red", "blue")
    frame["species"] = np.asarray(data.target_names)[data.target]
    csv = directory / "iris_color.csv"
    frame.to_csv(csv, index=False)
    features = [{"name": n, "type": "numeric"} for n in IRIS_FEATURES[:4]] + [{"name": "color", "type": "categorical"}]
    outcome = run_training(
        {
            "datasetRef": {"name": "iris-color"},
            "task": "classification",
            "estimator": {"kind": "LogisticRegression", "params": {"max_iter": 500}},
        },
        {"source": {"uri": csv.as_uri(), "format": "csv"}, "target": "species", "features": features},
        directory / "store",
        name="iris-color",
        namespace="default",
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return outcome.digest, outcome.bundle_dir


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """Mixed numeric + categorical classifier with string class labels."""
    return train_mixed_bundle(tmp_path_factory.mktemp("mixed"))


@pytest.fixture(scope="module")
def diabetes(diabetes_bundle: tuple[Path, str]) -> tuple[str, Path]:
    directory, digest = diabetes_bundle[:2]
    return digest, directory


@pytest.fixture(scope="module")
def iris_server(iris: tuple[str, Path]) -> Iterator[Server]:
    digest, path = iris
    server = start_server(
        path, "--model-name", "iris", "--revision", "3", "--max-request-bytes", "65536", digest=digest
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def diabetes_server(diabetes: tuple[str, Path]) -> Iterator[Server]:
    digest, path = diabetes
    server = start_server(path, "--model-name", "diabetes", digest=digest)
    yield server
    server.stop()


IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2, "red"], [6.7, 3.0, 5.2, 2.3, "blue"], [5.9, 3.0, 4.2, 1.5, "green"]]
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width", "color"]


def per_feature_body(rows: list[list[object]], **extra: object) -> dict[str, object]:
    inputs = []
    for j, name in enumerate(IRIS_FEATURES):
        column = [row[j] for row in rows]
        datatype = "BYTES" if name == "color" else "FP32"
        inputs.append({"name": name, "shape": [len(rows), 1], "datatype": datatype, "data": column})
    return {"inputs": inputs, **extra}


# -- protocol ---------------------------------------------------------------------------------------


def test_server_and_model_metadata_follow_the_open_inference_protocol(iris_server: Server) -> None:
    c = iris_server.client
    assert c.get("/v2").json()["name"] == "yardarm"
    assert c.get("/v2/health/live").status_code == 200
    assert c.get("/v2/health/ready").json() == {"ready": True}
    for path in ("/v2/models/iris", "/v2/models/iris/versions/3"):
        meta = c.get(path).json()
        assert meta["name"] == "iris"
        assert meta["versions"] == ["3"]
        assert [(i["name"], i["datatype"], i["shape"]) for i in meta["inputs"]] == [
            *((n, "FP32", [-1, 1]) for n in IRIS_FEATURES[:4]),
            ("color", "BYTES", [-1, 1]),
        ]
        assert {o["name"]: o["datatype"] for o in meta["outputs"]} == {"label": "BYTES", "probabilities": "FP32"}
        assert meta["parameters"]["class_labels"] == ["setosa", "versicolor", "virginica"]
        assert c.get(f"{path}/ready").json() == {"name": "iris", "ready": True}
    assert c.get("/v1/models/iris").json()["ready"] is True


def test_v2_infer_per_feature_inputs_returns_class_names_and_probabilities(
    iris_server: Server, iris: tuple[str, Path]
) -> None:
    response = iris_server.client.post("/v2/models/iris/infer", json=per_feature_body(IRIS_ROWS, id="req-1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "req-1"
    assert body["model_name"] == "iris"
    assert body["model_version"] == "3"
    outputs = {o["name"]: o for o in body["outputs"]}
    label, probabilities = reference(iris[1], IRIS_ROWS)
    assert outputs["label"]["datatype"] == "BYTES"
    assert outputs["label"]["shape"] == [3]
    assert outputs["label"]["data"] == label.tolist()
    assert outputs["probabilities"]["shape"] == [3, 3]
    np.testing.assert_allclose(outputs["probabilities"]["data"], probabilities.ravel(), rtol=1e-6)


def test_single_2d_tensor_flat_or_nested_equals_per_feature_inputs(iris_server: Server) -> None:
    c = iris_server.client
    expected = c.post("/v2/models/iris/infer", json=per_feature_body(IRIS_ROWS)).json()["outputs"]
    nested = {"inputs": [{"name": "input", "shape": [3, 5], "datatype": "BYTES", "data": IRIS_ROWS}]}
    flat = {
        "inputs": [{"name": "x", "shape": [3, 5], "datatype": "BYTES", "data": [v for row in IRIS_ROWS for v in row]}]
    }
    for body in (nested, flat):
        response = c.post("/v2/models/iris/versions/3/infer", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["outputs"] == expected


def test_numeric_features_accept_fp64_and_int64_and_flat_1d_shapes(iris_server: Server) -> None:
    body = per_feature_body([[5.0, 3.0, 1.0, 0.0, "red"]])
    body["inputs"][0].update(datatype="FP64", shape=[1])  # type: ignore[index]
    body["inputs"][3].update(datatype="INT64", data=[0])  # type: ignore[index]
    response = iris_server.client.post("/v2/models/iris/infer", json=body)
    assert response.status_code == 200, response.text


def test_outputs_selection_and_generated_ids(iris_server: Server) -> None:
    c = iris_server.client
    body = per_feature_body(IRIS_ROWS[:1], outputs=[{"name": "probabilities"}])
    first = c.post("/v2/models/iris/infer", json=body).json()
    second = c.post("/v2/models/iris/infer", json=body).json()
    assert [o["name"] for o in first["outputs"]] == ["probabilities"]
    assert first["id"] and second["id"] and first["id"] != second["id"]


def test_v1_predict_takes_lists_or_objects_keyed_by_feature(iris_server: Server, iris: tuple[str, Path]) -> None:
    c = iris_server.client
    objects = [dict(zip(IRIS_FEATURES, row, strict=True)) for row in IRIS_ROWS]
    label, probabilities = reference(iris[1], IRIS_ROWS)
    for instances in (IRIS_ROWS, objects):
        response = c.post("/v1/models/iris:predict", json={"instances": instances})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["predictions"] == label.tolist()
        np.testing.assert_allclose(body["probabilities"], probabilities, rtol=1e-6)
        assert body["id"]


def test_regressor_answers_values_in_v2_and_v1(diabetes_server: Server, diabetes: tuple[str, Path]) -> None:
    rows = [[0.01 * i - 0.02 * j for j in range(10)] for i in range(5)]
    (expected,) = reference(diabetes[1], rows)
    c = diabetes_server.client
    v2 = c.post(
        "/v2/models/diabetes/infer",
        json={"inputs": [{"name": "input", "shape": [5, 10], "datatype": "FP64", "data": rows}]},
    ).json()
    (output,) = v2["outputs"]
    assert output["name"] == "label"
    assert output["datatype"] == "FP32"
    np.testing.assert_allclose(output["data"], expected.ravel(), rtol=1e-6)
    v1 = c.post("/v1/models/diabetes:predict", json={"instances": rows}).json()
    np.testing.assert_allclose(v1["predictions"], expected.ravel(), rtol=1e-6)


# -- errors -----------------------------------------------------------------------------------------

GOOD = per_feature_body(IRIS_ROWS[:1])


def _with(index: int, **changes: object) -> dict[str, object]:
    body = orjson.loads(orjson.dumps(GOOD))
    body["inputs"][index].update(changes)
    return body


def _tensor(datatype: str, shape: list[int], data: object) -> dict[str, object]:
    return {"inputs": [{"name": "input", "shape": shape, "datatype": datatype, "data": data}]}


CLIENT_ERRORS = [
    ("bad json", b"{not json", "not valid JSON"),
    ("not an object", b"[1, 2]", "JSON object"),
    ("no inputs", b"{}", "'inputs'"),
    ("unknown input name", _with(0, name="sepal_len"), "Unknown input 'sepal_len'"),
    ("missing feature", {"inputs": GOOD["inputs"][:4]}, "Missing input(s) 'color'"),  # type: ignore[index]
    ("duplicate feature", {"inputs": [*GOOD["inputs"], GOOD["inputs"][0]]}, "more than once"),  # type: ignore[misc]
    ("wrong datatype numeric", _with(0, datatype="BYTES", data=["5.1"]), "datatype BYTES"),
    ("wrong datatype categorical", _with(4, datatype="FP32", data=[1.0]), "needs BYTES"),
    ("strings for numbers", _with(1, data=["3.5"]), "must hold numbers"),
    ("booleans for numbers", _with(1, data=[True]), "booleans"),
    ("number for category", _with(4, data=[3]), "must hold strings"),
    ("null number", _with(2, data=[None]), "missing value"),
    ("null category", _with(4, data=[None]), "missing value"),
    ("overflowing FP32", _with(2, data=[1e39]), "out of range"),
    ("shape disagrees with data", _with(0, shape=[2, 1]), "needs 2"),
    ("3-D feature shape", _with(0, shape=[1, 1, 1]), "must be [rows] or [rows, 1]"),
    (
        "rows disagree",
        {"inputs": [*GOOD["inputs"][:4], {**GOOD["inputs"][4], "shape": [2], "data": ["a", "b"]}]},  # type: ignore[index]
        "rows",
    ),
    ("bad shape value", _with(0, shape=[-1]), "non-negative"),
    ("no data", _with(0, data=None), "'data'"),
    ("binary without header", _with(0, data=None, parameters={"binary_data_size": 4}), "Inference-Header"),
    ("2-D tensor too narrow", _tensor("BYTES", [1, 4], [[5.1, 3.5, 1.4, 0.2]]), "needs 5 columns"),
    ("2-D tensor numeric datatype for mixed model", _tensor("FP32", [1, 5], [[1, 2, 3, 4, "red"]]), "must be BYTES"),
    ("2-D tensor ragged", _tensor("BYTES", [2, 5], [[1, 2, 3, 4, "red"], [1, 2]]), "needs 10"),
    ("no rows", _tensor("BYTES", [0, 5], []), "no rows"),
    ("unknown output", {**GOOD, "outputs": [{"name": "scores"}]}, "Unknown output 'scores'"),
    ("id not a string", {**GOOD, "id": 7}, "'id'"),
    ("id too long", {**GOOD, "id": "x" * 257}, "longer than 256"),
]


@pytest.mark.parametrize(("case", "body", "fragment"), CLIENT_ERRORS, ids=[c[0] for c in CLIENT_ERRORS])
def test_client_mistakes_are_400_with_one_clear_sentence(
    iris_server: Server, case: str, body: object, fragment: str
) -> None:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    response = iris_server.client.post("/v2/models/iris/infer", content=content)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert fragment in error
    assert error.endswith(".")


V1_ERRORS = [
    ({"instances": [[5.1, 3.5, 1.4, "red"]]}, "list of 5 values"),
    ({"instances": [{"sepal_length": 5.1}]}, "missing feature(s) 'sepal_width'"),
    (
        {"instances": [{**dict(zip(IRIS_FEATURES, IRIS_ROWS[0], strict=True)), "extra": 1}]},
        "unknown feature(s) 'extra'",
    ),
    ({"instances": [[5.1, 3.5, 1.4, 0.2, 7]]}, "must hold strings"),
    ({"instances": [["a", 3.5, 1.4, 0.2, "red"]]}, "must hold numbers"),
    ({"instances": "rows"}, "'instances'"),
]


@pytest.mark.parametrize(("body", "fragment"), V1_ERRORS)
def test_v1_client_mistakes_are_400(iris_server: Server, body: object, fragment: str) -> None:
    response = iris_server.client.post("/v1/models/iris:predict", json=body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


def test_unknown_model_version_or_path_is_404_and_wrong_method_405(iris_server: Server) -> None:
    c = iris_server.client
    cases = {
        "/v2/models/setosa/infer": "Model 'setosa' is not served here",
        "/v2/models/iris/versions/9/infer": "no version '9'",
        "/v2/models/iris/versions/9": "no version '9'",
        "/v1/models/other:predict": "Model 'other'",
        "/v3/whatever": "No endpoint",
    }
    for path, fragment in cases.items():
        response = c.post(path, json=GOOD)
        assert response.status_code == 404, path
        assert fragment in response.json()["error"]
    assert c.get("/v2/models/iris/infer").status_code == 405


def test_payload_over_the_limit_is_413_declared_or_streamed(iris_server: Server) -> None:
    big = {"inputs": [{"name": "input", "shape": [1, 5], "datatype": "BYTES", "data": ["x" * 70_000]}]}
    response = iris_server.client.post("/v2/models/iris/infer", json=big)
    assert response.status_code == 413
    assert "exceeds the limit of 65536 bytes" in response.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        yield b'{"inputs": [{"name": "a", "data": ["'
        for _ in range(20):
            yield b"y" * 5000
        yield b'"]}]}'

    response = iris_server.client.post("/v2/models/iris/infer", content=chunks())
    assert response.status_code == 413
    assert iris_server.client.get("/v2/health/ready").status_code == 200


# -- metrics ----------------------------------------------------------------------------------------


def test_metrics_count_requests_latency_and_every_input_into_the_reference_bins(
    iris_server: Server, iris: tuple[str, Path]
) -> None:
    manifest, _ = read_bundle(iris[1])
    before = metric_samples(iris_server)
    rows = [[4.0, 3.0, 1.5, 0.2, "red"], [7.9, 2.2, 6.9, 2.5, "purple"], [5.8, 3.0, 4.35, 1.3, "blue"]]
    response = iris_server.client.post("/v2/models/iris/infer", json=per_feature_body(rows))
    assert response.status_code == 200
    labels = response.json()["outputs"][0]["data"]
    iris_server.client.post("/v2/models/iris/infer", content=b"{")  # one 400
    after = metric_samples(iris_server)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - (sample(before, name, **labels) if has(before, name, labels) else 0)

    base = {"model": "iris", "revision": "3"}
    assert delta("yardarm_requests_total", endpoint="infer", code="200", **base) == 1
    assert delta("yardarm_requests_total", endpoint="infer", code="400", **base) == 1
    assert delta("yardarm_request_duration_seconds_count", endpoint="infer", **base) == 2
    assert delta("yardarm_inference_duration_seconds_count", **base) == 1
    assert delta("yardarm_inference_rows_total", **base) == 3
    assert sample(after, "yardarm_requests_in_flight", **base) == 0
    assert sample(after, "yardarm_model_ready", **base) == 1
    assert sample(after, "yardarm_model_info", digest=iris[0], task="classification", **base) == 1
    profiles = {p.name: p.bins for p in manifest.profile.features}
    for j, name in enumerate(IRIS_FEATURES):
        bins = profiles[name]
        if bins.kind == "numeric":
            expected = np.bincount(
                np.searchsorted(bins.edges, [r[j] for r in rows], side="left"), minlength=len(bins.edges) + 1
            )
        else:
            index = {c: i for i, c in enumerate(bins.categories)}
            other = bins.categories.index(OTHER)
            expected = np.bincount([index.get(r[j], other) for r in rows], minlength=len(bins.categories))
        counted = [delta("yardarm_feature_bin_total", feature=name, bin=str(b), **base) for b in range(len(expected))]
        assert counted == expected.tolist(), name
        assert delta("yardarm_feature_missing_total", feature=name, **base) == 0
    # The reference gauges say what each bin index means.
    first = profiles["sepal_length"]
    ref = sample(after, "yardarm_feature_bin_reference_ratio", feature="sepal_length", bin="0", **base)
    assert ref == pytest.approx(first.proportions[0])
    assert has(
        after, "yardarm_feature_bin_reference_ratio", {"bin": "0", "lower": "-Inf", "upper": repr(first.edges[0])}
    )
    color = profiles["color"]
    assert has(after, "yardarm_feature_bin_reference_ratio", {"feature": "color", "category": OTHER})
    # Predictions are counted into the prediction profile's categories (class labels).
    pred_bins = manifest.profile.predictions.bins  # type: ignore[union-attr]
    for label in set(labels):
        b = str(pred_bins.categories.index(label))  # type: ignore[union-attr]
        assert delta("yardarm_prediction_bin_total", bin=b, **base) == labels.count(label)
    assert color.kind == "categorical"


# -- feedback ---------------------------------------------------------------------------------------


def test_feedback_scores_classifier_predictions_by_feedback_id_and_row(iris_server: Server) -> None:
    c = iris_server.client
    single = c.post("/v2/models/iris/infer", json=per_feature_body(IRIS_ROWS[:1], id="fb-one")).json()
    assert single["id"] == "fb-one"  # the client's id is echoed; the feedback id is beside it
    one = single["parameters"]["feedback_id"]
    predicted = single["outputs"][0]["data"][0]
    batch = c.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS[:2]}).json()
    two = batch["feedback_id"]
    assert batch["id"] == two  # a generated id is the feedback id itself
    before = metric_samples(iris_server)

    ok = c.post("/v2/models/iris/feedback", json={"id": one, "label": predicted})
    assert ok.status_code == 200, ok.text
    assert ok.json()["correct"] is True
    again = c.post("/v2/models/iris/feedback", json={"id": one, "label": predicted})
    assert again.status_code == 409
    wrong = "virginica" if batch["predictions"][1] != "virginica" else "setosa"
    miss = c.post("/v2/models/iris/versions/3/feedback", json={"id": f"{two}:1", "label": wrong})
    assert miss.json() == {"id": f"{two}:1", "label": wrong, "predicted": batch["predictions"][1], "correct": False}
    whole = c.post("/v2/models/iris/feedback", json={"id": two, "label": "setosa"})
    assert whole.status_code == 400
    assert f"'{two}:<row>'" in whole.json()["error"]
    for unknown, status in (("fb-one", 404), (f"{two}:2", 404), (f"{two}:x", 400), (f"{two}:\u0661", 400)):
        response = c.post("/v2/models/iris/feedback", json={"id": unknown, "label": "setosa"})
        assert response.status_code == status, unknown
    assert c.post("/v2/models/iris/feedback", json={"id": f"{two}:0"}).status_code == 400
    not_a_class = c.post("/v2/models/iris/feedback", json={"id": f"{two}:0", "label": "rose"})
    assert not_a_class.status_code == 400
    assert "'rose' is not a class of this model" in not_a_class.json()["error"]
    assert c.post("/v2/models/iris/feedback", json={"id": f"{two}:0", "label": "setosa"}).status_code == 200

    after = metric_samples(iris_server)
    base = {"model": "iris", "revision": "3"}
    counted = {}
    for outcome in ("correct", "incorrect"):
        old = (
            sample(before, "yardarm_feedback_total", outcome=outcome, **base)
            if has(before, "yardarm_feedback_total", {"outcome": outcome})
            else 0
        )
        counted[outcome] = sample(after, "yardarm_feedback_total", outcome=outcome, **base) - old
    expected_row0 = "correct" if batch["predictions"][0] == "setosa" else "incorrect"
    assert counted == {"correct": 1 + (expected_row0 == "correct"), "incorrect": 1 + (expected_row0 == "incorrect")}


def test_feedback_for_regression_sums_squared_error(diabetes_server: Server, iris_server: Server) -> None:
    c = diabetes_server.client
    ids = []
    for i in range(3):
        body = {"inputs": [{"name": "input", "shape": [1, 10], "datatype": "FP32", "data": [0.01 * i] * 10}]}
        response = c.post("/v2/models/diabetes/infer", json=body).json()
        ids.append((response["parameters"]["feedback_id"], response["outputs"][0]["data"][0]))
    (rid, predicted) = ids[-1]
    ok = c.post("/v2/models/diabetes/feedback", json={"id": rid, "value": predicted + 2.0})
    assert ok.status_code == 200, ok.text
    assert ok.json()["predicted"] == predicted  # exactly what the model answered
    assert ok.json()["squared_error"] == pytest.approx(4.0, rel=1e-5)
    assert c.post("/v2/models/diabetes/feedback", json={"id": ids[-2][0], "label": "x"}).status_code == 400
    for value in (10**400, 1e300):
        assert (
            c.post("/v2/models/diabetes/feedback", content=f'{{"id":"{ids[0][0]}","value":{value}}}').status_code == 400
        )
    # A feedback id of another model (the iris server's) is refused, not scored against this one.
    foreign = iris_server.client.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS[:1]}).json()
    response = c.post("/v2/models/diabetes/feedback", json={"id": foreign["feedback_id"], "value": 1.0})
    assert response.status_code == 410
    assert "another model" in response.json()["error"]
    samples = metric_samples(diabetes_server)
    base = {"model": "diabetes", "revision": "1"}
    assert sample(samples, "yardarm_feedback_squared_error_count", **base) == 1
    assert sample(samples, "yardarm_feedback_squared_error_sum", **base) == pytest.approx(4.0, rel=1e-5)
    assert sample(samples, "yardarm_feedback_total", outcome="scored", **base) == 1
    # Regression predictions are counted into the numeric prediction bins.
    assert sum(v for (n, _), v in samples.items() if n == "yardarm_prediction_bin_total") >= 3


def test_feedback_works_on_any_replica_and_after_a_restart(iris: tuple[str, Path]) -> None:
    """Two replicas with no shared state, as behind a plain Service: wherever feedback lands, it counts."""
    digest, path = iris
    replicas = [start_server(path, "--model-name", "iris", digest=digest) for _ in range(2)]
    truth = {"setosa": "setosa", "versicolor": "virginica", "virginica": "virginica"}  # one class always wrong
    try:
        pending: list[tuple[str, str, str]] = []  # feedback id, true label, predicted label
        for i in range(20):  # predictions alternate between the replicas, as a Service spreads them
            rows = [IRIS_ROWS[i % 3], IRIS_ROWS[(i + 1) % 3]]
            answer = replicas[i % 2].client.post("/v1/models/iris:predict", json={"instances": rows}).json()
            for row, predicted in enumerate(answer["predictions"]):
                pending.append((f"{answer['feedback_id']}:{row}", truth[predicted], predicted))
        assert {p for _, _, p in pending} >= {"setosa", "virginica"}

        def send(replica: Server, items: list[tuple[str, str, str]]) -> dict[str, int]:
            outcomes = {"correct": 0, "incorrect": 0}
            for feedback_id, label, predicted in items:
                response = replica.client.post("/v2/models/iris/feedback", json={"id": feedback_id, "label": label})
                assert response.status_code == 200, response.text
                assert response.json()["predicted"] == predicted
                outcomes["correct" if label == predicted else "incorrect"] += 1
            return outcomes

        # Every prediction of replica 0 goes to replica 1 and vice versa: none to the pod that made it.
        first = send(replicas[0], pending[2:20:4] + pending[3:20:4])
        send(replicas[1], pending[0:20:4] + pending[1:20:4])
        replicas[1].stop()  # a pod restart: the new process never saw any of these predictions
        replicas[1] = start_server(path, "--model-name", "iris", digest=digest)
        after_restart = send(replicas[1], pending[20:])
        repeat = replicas[1].client.post("/v2/models/iris/feedback", json={"id": pending[20][0], "label": "setosa"})
        assert repeat.status_code == 409
        for replica, expected in zip(replicas, (first, after_restart), strict=True):
            samples = metric_samples(replica)
            counted = {
                outcome: sample(samples, "yardarm_feedback_total", outcome=outcome)
                if has(samples, "yardarm_feedback_total", {"outcome": outcome})
                else 0
                for outcome in expected
            }
            assert counted == expected
    finally:
        for replica in replicas:
            replica.stop()


_feedback_ids = st.one_of(
    st.text(max_size=60),
    st.builds(lambda t, s: f"{t}:{s}", st.sampled_from(["", "r1", "AAAA", "x" * 40]), st.text(max_size=6)),
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
_feedback_bodies = st.one_of(
    _json_values,
    st.fixed_dictionaries(
        {"id": _feedback_ids | _json_values},
        optional={"label": st.text(max_size=12) | _json_values, "value": _json_values},
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_feedback_bodies, suffix=st.text(max_size=4), model=st.sampled_from(["iris", "diabetes"]))
def test_fuzzed_feedback_never_gets_a_server_error(
    iris_server: Server, diabetes_server: Server, body: object, suffix: str, model: str
) -> None:
    server = iris_server if model == "iris" else diabetes_server
    if isinstance(body, dict) and suffix:  # aim at a real feedback id with a mangled row
        path = "/v1/models/iris:predict" if model == "iris" else "/v1/models/diabetes:predict"
        rows = IRIS_ROWS[:2] if model == "iris" else [[0.01] * 10] * 2
        body["id"] = server.client.post(path, json={"instances": rows}).json()["feedback_id"] + ":" + suffix
    content = json.dumps(body, allow_nan=True).encode()
    response = server.client.post(f"/v2/models/{model}/feedback", content=content)
    assert response.status_code in (200, 400, 404, 409, 410), response.text
    if response.status_code != 200:
        assert response.json()["error"]


# -- lifecycle --------------------------------------------------------------------------------------


def test_wrong_digest_exits_non_zero_before_listening(iris: tuple[str, Path]) -> None:
    result = subprocess.run(
        [str(SERVE), "--bundle", str(iris[1]), "--digest", "sha256:" + "0" * 64, "--port", str(free_port())],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    record = orjson.loads(result.stdout.splitlines()[-1])
    assert record["level"] == "error"
    assert "expected sha256:000" in record["error"]


def test_sigterm_lets_an_in_flight_request_finish_then_exits_zero(iris: tuple[str, Path]) -> None:
    server = start_server(iris[1], "--model-name", "iris")
    port = int(server.url.rsplit(":", 1)[1])
    body = orjson.dumps(per_feature_body(IRIS_ROWS))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = (
            "POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body[:10])  # the request is now in flight, its body half sent
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        sock.sendall(body[10:])
        response = b""
        while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            response += chunk
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    assert b'"setosa"' in response
    assert server.stop() == 0
    messages = [orjson.loads(line)["msg"] for line in server.log if line.startswith(b"{")]
    assert messages[-1] == "server stopped"
    assert "access" in messages


def test_access_log_lines_are_structured_json(iris_server: Server) -> None:
    iris_server.client.post("/v2/models/iris/infer", json=per_feature_body(IRIS_ROWS[:1], id="logged-id"))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        records = [orjson.loads(line) for line in list(iris_server.log) if line.startswith(b"{")]
        access = [r for r in records if r.get("id") == "logged-id"]
        if access:
            break
        time.sleep(0.05)
    (record,) = access
    assert record["msg"] == "access"
    assert record["status"] == 200
    assert record["path"] == "/v2/models/iris/infer"
    assert record["model"] == "iris"
    assert record["ts"].endswith("Z")
    assert record["duration_ms"] >= 0


# -- a V2 client nobody here wrote ----------------------------------------------------------------


@pytest.mark.parametrize("binary", [True, False], ids=["binary-tensors", "json-tensors"])
def test_stock_tritonclient_reads_metadata_and_infers(
    iris_server: Server, diabetes_server: Server, iris: tuple[str, Path], binary: bool
) -> None:
    triton = pytest.importorskip("tritonclient.http")
    client = triton.InferenceServerClient(url=iris_server.url.removeprefix("http://"))
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("iris", "3")
        metadata = client.get_model_metadata("iris", "3")
        assert [i["name"] for i in metadata["inputs"]] == IRIS_FEATURES
        inputs = []
        for j, name in enumerate(IRIS_FEATURES):
            column = [row[j] for row in IRIS_ROWS]
            datatype = "BYTES" if name == "color" else "FP32"
            array = np.asarray(column, dtype=object if name == "color" else np.float32).reshape(-1, 1)
            tensor = triton.InferInput(name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array, binary_data=binary)
            inputs.append(tensor)
        outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in ("label", "probabilities")]
        result = client.infer("iris", inputs, model_version="3", outputs=outputs, request_id="triton-1")
        label, probabilities = reference(iris[1], IRIS_ROWS)
        assert result.get_response()["id"] == "triton-1"
        assert [str(v) for v in result.as_numpy("label").tolist()] == label.tolist()
        np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, rtol=1e-6)
    finally:
        client.close()
    client = triton.InferenceServerClient(url=diabetes_server.url.removeprefix("http://"))
    try:  # all-numeric model: one 2-D tensor, as generic clients send it
        tensor = triton.InferInput("input", [2, 10], "FP64")
        tensor.set_data_from_numpy(np.full((2, 10), 0.01), binary_data=binary)
        result = client.infer("diabetes", [tensor])
        assert result.as_numpy("label").shape == (2, 1)
    finally:
        client.close()


_NUMPY_OF = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "BYTES": np.object_}


def generic_v2_infer(triton: Any, server: Server, model: str, columns: dict[str, list[Any]], binary: bool) -> Any:
    """What a generic V2 client does knowing only the metadata: build each advertised input.

    ``columns`` is the user's data by feature name. An advertised input named as a feature takes
    that column; any other input takes all features as a matrix in ``parameters.features`` order.
    The declared output datatypes and shapes must be what the answer carries.
    """
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    try:
        meta = client.get_model_metadata(model)
        rows = len(next(iter(columns.values())))
        inputs = []
        for spec in meta["inputs"]:
            shape = [rows if d == -1 else d for d in spec["shape"]]
            if spec["name"] in columns:
                data: Any = columns[spec["name"]]
            else:
                data = [[columns[f][r] for f in meta["parameters"]["features"]] for r in range(rows)]
            array = np.asarray(data, dtype=_NUMPY_OF[spec["datatype"]]).reshape(shape)
            tensor = triton.InferInput(spec["name"], shape, spec["datatype"])
            tensor.set_data_from_numpy(array, binary_data=binary)
            inputs.append(tensor)
        outputs = [triton.InferRequestedOutput(o["name"], binary_data=binary) for o in meta["outputs"]]
        result = client.infer(model, inputs, outputs=outputs)
        for declared in meta["outputs"]:
            answered = result.get_output(declared["name"])
            assert answered["datatype"] == declared["datatype"], declared
            assert len(answered["shape"]) == len(declared["shape"]), declared
            assert all(d in (-1, a) for d, a in zip(declared["shape"], answered["shape"], strict=True)), declared
            assert result.as_numpy(declared["name"]).shape[0] == rows
        return result
    finally:
        client.close()


@pytest.mark.parametrize("binary", [True, False], ids=["binary-tensors", "json-tensors"])
def test_a_generic_client_builds_working_requests_from_the_metadata_alone(
    iris_server: Server,
    diabetes_server: Server,
    iris: tuple[str, Path],
    diabetes: tuple[str, Path],
    iris_int_bundle: tuple[Path, str],
    binary: bool,
) -> None:
    triton = pytest.importorskip("tritonclient.http")
    # Mixed numeric + categorical: one input per feature is advertised (and works).
    mixed = {name: [row[j] for row in IRIS_ROWS] for j, name in enumerate(IRIS_FEATURES)}
    result = generic_v2_infer(triton, iris_server, "iris", mixed, binary)
    label, probabilities = reference(iris[1], IRIS_ROWS)
    assert [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label").tolist()] == label.tolist()
    np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, rtol=1e-6)
    # All-numeric regressor: the [N, F] matrix is advertised.
    manifest, _ = read_bundle(diabetes[1])
    rows = [[0.01 * i - 0.005 * j for j in range(10)] for i in range(4)]
    columns = {f.name: [row[j] for row in rows] for j, f in enumerate(manifest.inputs)}
    assert [i["shape"] for i in diabetes_server.client.get("/v2/models/diabetes").json()["inputs"]] == [[-1, 10]]
    result = generic_v2_infer(triton, diabetes_server, "diabetes", columns, binary)
    (expected,) = reference(diabetes[1], rows)
    np.testing.assert_allclose(result.as_numpy("label"), expected, rtol=1e-6)
    # All-numeric classifier whose graph emits integer classes: labels are BYTES, as declared.
    directory, digest = iris_int_bundle[:2]
    manifest, _ = read_bundle(directory)
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
    columns = {f.name: [row[j] for row in rows] for j, f in enumerate(manifest.inputs)}
    server = start_server(directory, "--model-name", "numeric", digest=digest)
    try:
        result = generic_v2_infer(triton, server, "numeric", columns, binary)
        label, probabilities = reference(directory, rows)
        answered = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label").tolist()]
        assert answered == [manifest.class_labels[int(v)] for v in label]  # type: ignore[index]
        np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, rtol=1e-6)
    finally:
        assert server.stop() == 0


# -- fuzz: whatever a client sends, a mistake is a 4xx with a message, never a 500 -----------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e38, max_value=1e300),
    st.text(max_size=8),
    st.sampled_from(["red", "blue", "5.1", "NaN", "inf", ""]),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)
_names = st.sampled_from([*IRIS_FEATURES, "input", "", "x" * 300])
_datatypes = st.sampled_from(["FP32", "FP64", "INT64", "BYTES", "BOOL", "UINT8", "fp32", ""])
_shapes = st.one_of(
    st.lists(st.integers(min_value=-2, max_value=6), min_size=0, max_size=4),
    st.just([1, 5]),
    st.just([1]),
    st.just([1, 1]),
    _json,
)
_tensors = st.fixed_dictionaries(
    {},
    optional={"name": _names | _json, "shape": _shapes, "datatype": _datatypes | _json, "data": _json},
)


def _valid_with_mutation(draw: st.DrawFn) -> object:
    body = orjson.loads(orjson.dumps(per_feature_body(IRIS_ROWS[:2])))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        tensor = draw(st.sampled_from(body["inputs"]))
        key = draw(st.sampled_from(["name", "shape", "datatype", "data", "parameters"]))
        tensor[key] = draw(_json | _shapes | _datatypes | _names)
    return body


_bodies = st.one_of(
    _json,
    st.fixed_dictionaries(
        {"inputs": st.lists(_tensors, max_size=6)}, optional={"id": _json, "outputs": _json, "parameters": _json}
    ),
    st.composite(_valid_with_mutation)(),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_bodies, v1=st.booleans(), mangle=st.sampled_from(["", "truncate", "garbage"]))
def test_fuzzed_requests_never_get_a_server_error(iris_server: Server, body: object, v1: bool, mangle: str) -> None:
    if v1:
        body = {"instances": body} if not isinstance(body, dict) else body
    content = json.dumps(body).encode()  # the stdlib writes integers beyond 64 bits too
    if mangle == "truncate":
        content = content[: len(content) // 2]
    elif mangle == "garbage":
        content = content + b"\xff\x00"
    path = "/v1/models/iris:predict" if v1 else "/v2/models/iris/infer"
    response = iris_server.client.post(path, content=content)
    assert response.status_code in (200, 400, 413), response.text
    if response.status_code != 200:
        error = response.json()["error"]
        assert isinstance(error, str)
        assert error
        assert "Internal" not in error


@settings(max_examples=60, deadline=None)
@given(header=st.integers(min_value=-5, max_value=400), tail=st.binary(max_size=64))
def test_fuzzed_binary_tensor_bodies_never_get_a_server_error(iris_server: Server, header: int, tail: bytes) -> None:
    head = orjson.dumps(
        {"inputs": [{"name": "input", "shape": [1, 5], "datatype": "BYTES", "parameters": {"binary_data_size": 20}}]}
    )
    response = iris_server.client.post(
        "/v2/models/iris/infer",
        content=head + tail,
        headers={"Inference-Header-Content-Length": str(header if header != 0 else len(head))},
    )
    assert response.status_code in (200, 400), response.text


def test_integer_class_values_come_back_as_the_bundles_class_labels(iris_int_bundle: tuple[Path, str]) -> None:
    directory, digest = iris_int_bundle[:2]
    manifest, _ = read_bundle(directory)
    names = [f.name for f in manifest.inputs]
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
    label, _ = reference(directory, rows)
    server = start_server(directory, digest=digest)
    try:
        meta = server.client.get("/v2").json()
        assert meta["name"] == "yardarm"
        name = server.client.get(f"/v2/models/{manifest.lineage.training_run}").json()["name"]
        body = {"instances": [dict(zip(names, row, strict=True)) for row in rows]}
        response = server.client.post(f"/v1/models/{name}:predict", json=body)
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert predictions == [manifest.class_labels[int(v)] for v in label]  # type: ignore[index]
        assert set(predictions) <= set(manifest.class_labels or [])
    finally:
        assert server.stop() == 0
