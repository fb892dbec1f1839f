"""The real ``yardarm-serve`` process over real HTTP: V2 and V1 inference, errors, metrics, feedback.

Bundles are built here with scikit-learn + skl2onnx + ``write_bundle`` (one ONNX input per feature,
``label``/``probabilities`` outputs, quantile reference bins) until the training runtime's
``iris_bundle``/``diabetes_bundle`` fixtures exist; the server is started once per module.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from yardarm.bundle import (
    OTHER,
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

pytestmark = pytest.mark.component

SERVE = Path(sys.executable).with_name("yardarm-serve")


# -- bundles ---------------------------------------------------------------------------------------


def _numeric_bins(values: np.ndarray, n: int = 10) -> NumericBins:
    edges = np.unique(np.quantile(values, np.linspace(0, 1, n + 1)[1:-1]))
    idx = np.searchsorted(edges, values, side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return NumericBins(edges=edges.tolist(), proportions=(counts / counts.sum()).tolist())


def _categorical_bins(values: list[str]) -> CategoricalBins:
    cats, counts = np.unique(np.asarray(values), return_counts=True)
    return CategoricalBins(
        categories=[*cats.tolist(), OTHER], proportions=[*(counts / counts.sum()).tolist(), 0.0]
    )


def build_bundle(store: Path, task: str) -> tuple[str, Path]:
    """A small real bundle: iris + a categorical 'color' column (classification) or diabetes."""
    import pandas as pd
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_diabetes, load_iris
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if task == "classification":
        data = load_iris(as_frame=True)
        frame = data.data.copy()
        frame.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
        frame["color"] = np.where(frame["sepal_length"] > 5.8, "red", "blue")
        target = np.asarray(data.target_names)[data.target]
        estimator = LogisticRegression(max_iter=1000)
    else:
        data = load_diabetes(as_frame=True)
        frame = data.data.copy()
        target = data.target.to_numpy()
        estimator = Ridge()
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric]
    pre = ColumnTransformer(
        [("num", StandardScaler(), numeric)]
        + ([("cat", OneHotEncoder(handle_unknown="ignore"), categorical)] if categorical else [])
    )
    pipe = Pipeline([("pre", pre), ("est", estimator)]).fit(frame, target)
    types = [(c, FloatTensorType([None, 1]) if c in numeric else StringTensorType([None, 1])) for c in frame]
    options = {id(estimator): {"zipmap": False}} if task == "classification" else None
    onx = to_onnx(pipe, initial_types=types, target_opset={"": 17, "ai.onnx.ml": 3}, options=options)
    outputs = [o.name for o in onx.graph.output]
    if task == "regression":  # rename the single output to 'label', as the training runtime does
        for node in onx.graph.node:
            node.output[:] = ["label" if o == outputs[0] else o for o in node.output]
        onx.graph.output[0].name = "label"
        outputs = ["label"]
    model_bytes = onx.SerializeToString()
    features = [
        FeatureProfile(
            name=c, bins=_numeric_bins(frame[c].to_numpy()) if c in numeric else _categorical_bins(list(frame[c]))
        )
        for c in frame
    ]
    predictions = pipe.predict(frame)
    pred_profile = FeatureProfile(
        name="prediction",
        bins=_categorical_bins(list(predictions)) if task == "classification" else _numeric_bins(predictions),
    )
    manifest = BundleManifest(
        task=task,  # type: ignore[arg-type]
        model_sha256=sha256_bytes(model_bytes),
        opset=17,
        inputs=[
            InputFeature(name=c, type="numeric", datatype="FP32")
            if c in numeric
            else InputFeature(name=c, type="categorical", datatype="BYTES")
            for c in frame
        ],
        outputs=outputs,
        class_labels=list(pipe.classes_.astype(str)) if task == "classification" else None,
        target="species" if task == "classification" else "progression",
        metrics={"score": float(pipe.score(frame, target))},
        parity=ParityReport(max_abs_diff=0.0, tolerance=1e-4, passed=True),
        profile=ReferenceProfile(rows=len(frame), features=features, predictions=pred_profile),
        lineage=Lineage(estimator=type(estimator).__name__, created_at=datetime(2026, 1, 1, tzinfo=UTC)),
    )
    return write_bundle(store, model_bytes, manifest)


# -- the server process ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running ``yardarm-serve`` process and a client bound to it."""

    process: subprocess.Popen[bytes]
    url: str
    client: httpx.Client
    log: list[bytes]

    def stop(self) -> int:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def start_server(bundle: Path, *args: str, digest: str | None = None, wait_ready: bool = True) -> Server:
    port = free_port()
    cmd = [str(SERVE), "--bundle", str(bundle), "--host", "127.0.0.1", "--port", str(port), "--threads", "1"]
    if digest:
        cmd += ["--digest", digest]
    process = subprocess.Popen([*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log: list[bytes] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)

    threading.Thread(target=pump, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=10)
    server = Server(process, url, client, log)
    if wait_ready:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited {process.returncode}: {b''.join(log).decode()}")
            try:
                if client.get("/v2/health/ready").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        server.stop()
        raise RuntimeError("server did not become ready")
    return server
