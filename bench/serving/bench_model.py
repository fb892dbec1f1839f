"""Build the benchmark's model once, in every form the contenders need.

A synthetic 30-feature binary classification (``make_classification``) with a LogisticRegression,
written as:

* a Yardarm bundle (one ONNX input per feature, ``label`` + ``probabilities``, reference bins) for
  ``yardarm-serve``;
* ``model.joblib`` with ``model-settings.json``/``settings.json`` for MLServer + mlserver-sklearn;
* ``model.onnx`` (the same graph) for the KServe ModelServer wrapper in ``kserve_onnx_server.py``;
* request bodies: the same V2 request (one 2-D FP32 input ``[rows, 30]``) at 1 and 256 rows.

Usage: ``python bench/serving/bench_model.py OUT_DIR`` (needs the train extra: sklearn, skl2onnx).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from yardarm.bundle import (
    BundleManifest,
    CategoricalBins,
    FeatureProfile,
    InputFeature,
    Lineage,
    NumericBins,
    ParityReport,
    ReferenceProfile,
    sha256_bytes,
    write_bundle,
)

FEATURES = 30
MODEL = "bench"


def numeric_bins(values: np.ndarray, n: int = 10) -> NumericBins:
    edges = np.unique(np.quantile(values, np.linspace(0, 1, n + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    return NumericBins(edges=edges.tolist(), proportions=(counts / counts.sum()).tolist())


def v2_body(rows: np.ndarray) -> bytes:
    return json.dumps(
        {"inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP32", "data": rows.tolist()}]}
    ).encode()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    x, y = make_classification(n_samples=5000, n_features=FEATURES, n_informative=12, random_state=0)
    x = x.astype(np.float32)
    names = [f"f{i:02d}" for i in range(FEATURES)]
    # One ONNX input per feature, as the training runtime exports: a ColumnTransformer selects the
    # named inputs. MLServer is sent a [rows, 30] array, which a name-selecting ColumnTransformer
    # refuses, so it gets a plain scaler + classifier Pipeline fitted on the same data (same result).
    clf = LogisticRegression(max_iter=1000)
    pipe = Pipeline([("pre", ColumnTransformer([("num", StandardScaler(), names)])), ("clf", clf)])
    pipe.fit(pd.DataFrame(x, columns=names), y)
    plain = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))]).fit(x, y)
    assert np.allclose(plain.named_steps["clf"].coef_, clf.coef_)
    onx = to_onnx(
        pipe,
        initial_types=[(n, FloatTensorType([None, 1])) for n in names],
        target_opset={"": 17, "ai.onnx.ml": 3},
        options={id(clf): {"zipmap": False}},
    )
    mapping = {onx.graph.output[0].name: "label", onx.graph.output[1].name: "probabilities"}
    for node in onx.graph.node:
        node.output[:] = [mapping.get(o, o) for o in node.output]
    for output in onx.graph.output:
        output.name = mapping.get(output.name, output.name)
    model_bytes = onx.SerializeToString()
    (out / "model.onnx").write_bytes(model_bytes)

    labels = plain.predict(x)
    counts = np.bincount(labels, minlength=2) / len(labels)
    manifest = BundleManifest(
        task="classification",
        model_sha256=sha256_bytes(model_bytes),
        opset=17,
        inputs=[InputFeature(name=n, type="numeric", datatype="FP32") for n in names],
        outputs=["label", "probabilities"],
        class_labels=["0", "1"],
        target="y",
        metrics={"accuracy": float(plain.score(x, y))},
        parity=ParityReport(max_abs_diff=0.0, tolerance=1e-4, passed=True),
        profile=ReferenceProfile(
            rows=len(x),
            features=[FeatureProfile(name=n, bins=numeric_bins(x[:, i])) for i, n in enumerate(names)],
            predictions=FeatureProfile(
                name="prediction", bins=CategoricalBins(categories=["0", "1", "__other__"], proportions=[*counts, 0])
            ),
        ),
        lineage=Lineage(
            training_run=MODEL, estimator="LogisticRegression", created_at=datetime(2026, 1, 1, tzinfo=UTC)
        ),
    )
    digest, bundle = write_bundle(out / "store", model_bytes, manifest)
    (out / "bundle.txt").write_text(f"{digest} {bundle}\n")

    mls = out / "mlserver"
    (mls / MODEL).mkdir(parents=True, exist_ok=True)
    joblib.dump(plain, mls / MODEL / "model.joblib")
    (mls / MODEL / "model-settings.json").write_text(
        json.dumps(
            {
                "name": MODEL,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib", "version": "1"},
            }
        )
    )
    rng = np.random.default_rng(1)
    (out / "v2_1.json").write_bytes(v2_body(x[rng.integers(0, len(x), 1)]))
    (out / "v2_256.json").write_bytes(v2_body(x[rng.integers(0, len(x), 256)]))
    print(f"bundle {digest} in {bundle}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/var/cache/yardarm/bench/model"))
