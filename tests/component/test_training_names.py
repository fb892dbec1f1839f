"""Any column name a data file can hold trains, exports, passes parity, serves and is counted.

The ONNX graph's input names are identifiers chosen at export (``bundle.json`` maps them); clients,
metrics and drift only ever see the data's own names. The corpus holds what real files carry:
spaces and punctuation, leading digits, unicode, names that differ only by case, names that
sanitize to the same identifier, output names (``label``), a 300-character name, blank names.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from tests.component.test_serving_api import Server, metric_samples, start_server
from tests.component.test_training_cli import run_cli, write
from yardarm.bundle import BundleManifest, read_bundle
from yardarm.jobresult import ExitCode, TrainResult, decode_result
from yardarm.training.train import run_training

pytestmark = pytest.mark.component

NAMES = [
    "mean radius",
    "a-b",
    "a.b",
    "a/b",
    "a:b",
    "a,b",
    "a b",
    "a_b",
    "1st",
    "2024",
    "Größe",
    "名前",
    "🚀",
    "Age",
    "age",
    "AGE",
    "x" * 300,
    " ",
    "",
    "label",
    "probabilities",
    "feature",
    "tab\there",
    'quote"s',
    "back\\slash",
    "new\nline",
]
#: Every fourth column is categorical (strings), the rest numeric.
CATEGORICAL = set(NAMES[::4])
TARGET = "target class / y"


def corpus_frame(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    columns: dict[str, object] = {
        name: rng.choice(["u", "v", "w"], size=rows) if name in CATEGORICAL else rng.normal(size=rows) for name in NAMES
    }
    frame = pd.DataFrame(columns)
    signal = frame["a-b"] + frame["Age"] - frame["age"] + (frame["a/b"] == "u") + rng.normal(scale=0.5, size=rows)
    frame[TARGET] = np.where(signal > 0.3, "yes", "no")
    return frame


@pytest.fixture(scope="module")
def corpus_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, BundleManifest]:
    directory = tmp_path_factory.mktemp("names")
    path = directory / "corpus.parquet"
    corpus_frame().to_parquet(path)
    assert list(pd.read_parquet(path).columns) == [*NAMES, TARGET]  # Parquet keeps every name as written
    outcome = run_training(
        {"datasetRef": {"name": "corpus"}, "task": "classification", "estimator": {"kind": "LogisticRegression"}},
        {"source": {"uri": path.as_uri(), "format": "parquet"}, "target": TARGET},
        directory / "store",
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return outcome.digest, outcome.bundle_dir, outcome.manifest


@pytest.fixture(scope="module")
def corpus_server(corpus_bundle: tuple[str, Path, BundleManifest]) -> Iterator[Server]:
    digest, directory, _ = corpus_bundle
    server = start_server(directory, "--model-name", "corpus", digest=digest)
    yield server
    server.stop()


def test_every_name_trains_with_parity_and_the_bundle_maps_it_to_a_distinct_onnx_input(
    corpus_bundle: tuple[str, Path, BundleManifest],
) -> None:
    digest, directory, manifest = corpus_bundle
    assert [i.name for i in manifest.inputs] == NAMES
    assert {i.name for i in manifest.inputs if i.type == "categorical"} == CATEGORICAL
    assert manifest.parity.passed and manifest.parity.label_agreement == 1.0
    assert manifest.metrics["accuracy"] > 0.7
    assert [f.name for f in manifest.profile.features] == NAMES  # drift references use the data's names
    _, model = read_bundle(directory, digest)
    graph = [i.name for i in ort.InferenceSession(model).get_inputs()]
    assert graph == [i.onnx_input for i in manifest.inputs] and len(set(graph)) == len(NAMES)


ROWS = [
    {name: ("v" if name in CATEGORICAL else 0.25 * (k % 5) - 0.5) for k, name in enumerate(NAMES)},
    {name: ("u" if name in CATEGORICAL else 1.5 - 0.1 * k) for k, name in enumerate(NAMES)},
]


def _reference(directory: Path) -> tuple[list[str], np.ndarray]:
    """What ONNX Runtime answers when fed by the bundle's own mapping."""
    manifest, model = read_bundle(directory)
    feeds = {
        i.onnx_input: np.asarray(
            [row[i.name] for row in ROWS], dtype=np.float32 if i.type == "numeric" else object
        ).reshape(-1, 1)
        for i in manifest.inputs
    }
    labels, probabilities = ort.InferenceSession(model).run(["label", "probabilities"], feeds)
    return [str(v) for v in labels], probabilities


def test_v2_tensors_and_v1_objects_take_the_original_names_and_metrics_count_them(
    corpus_bundle: tuple[str, Path, BundleManifest], corpus_server: Server
) -> None:
    _, directory, manifest = corpus_bundle
    labels, probabilities = _reference(directory)
    metadata = corpus_server.client.get("/v2/models/corpus").json()
    assert [i["name"] for i in metadata["inputs"]] == NAMES

    inputs = [
        {"name": i.name, "shape": [len(ROWS), 1], "datatype": i.datatype, "data": [row[i.name] for row in ROWS]}
        for i in manifest.inputs
    ]
    v2 = corpus_server.client.post("/v2/models/corpus/infer", json={"inputs": inputs})
    assert v2.status_code == 200, v2.text
    outputs = {o["name"]: o["data"] for o in v2.json()["outputs"]}
    assert outputs["label"] == labels
    assert np.allclose(np.reshape(outputs["probabilities"], probabilities.shape), probabilities, atol=1e-6)

    v1 = corpus_server.client.post("/v1/models/corpus:predict", json={"instances": ROWS})
    assert v1.status_code == 200, v1.text
    assert v1.json()["predictions"] == labels

    # An ONNX-side name is not a feature name: a client that guessed it is told the real ones.
    wrong = [
        dict(t, name=i.onnx_input) if i.name != i.onnx_input else t
        for t, i in zip(inputs, manifest.inputs, strict=True)
    ]
    assert corpus_server.client.post("/v2/models/corpus/infer", json={"inputs": wrong}).status_code == 400

    counted: dict[str, float] = {}
    for (name, labels_), value in metric_samples(corpus_server).items():
        label = dict(labels_)
        if name == "yardarm_feature_bin_total":
            counted[label["feature"]] = counted.get(label["feature"], 0.0) + value
    assert set(counted) == set(NAMES)  # every feature under its original name, none under an ONNX name
    assert all(count >= 2 * len(ROWS) for count in counted.values())


def test_scikit_learn_breast_cancer_frame_as_csv_trains_through_the_cli(tmp_path: Path) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    assert "mean radius" in frame.columns
    frame.to_csv(tmp_path / "bc.csv", index=False)
    result = tmp_path / "result.json"
    done = run_cli(
        "train",
        "--spec",
        write(
            tmp_path / "tr.json",
            {
                "datasetRef": {"name": "bc"},
                "task": "classification",
                "estimator": {"kind": "RandomForestClassifier", "params": {"n_estimators": 20}},
            },
        ),
        "--dataset-spec",
        write(tmp_path / "ds.json", {"source": {"uri": (tmp_path / "bc.csv").as_uri()}, "target": "target"}),
        "--output",
        (tmp_path / "store").as_uri(),
        "--result-path",
        str(result),
    )
    assert done.returncode == ExitCode.OK, done.stderr
    trained = decode_result(result.read_bytes())
    assert isinstance(trained, TrainResult) and trained.model is not None and trained.model.parity is not None
    assert trained.model.parity.passed and trained.metrics is not None and trained.metrics["accuracy"] > 0.9
    assert trained.model.inputs is not None and trained.model.inputs[0].name == "mean radius"
