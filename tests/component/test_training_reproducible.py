"""Same spec + same data → the same ``model.onnx`` bytes and bundle digest, in any process.

Each run is a separate ``yardarm-train`` process with its own ``PYTHONHASHSEED``: anything that
iterates a set or a str-keyed hash (skl2onnx's opset domains did) shows up as different bytes.
``SOURCE_DATE_EPOCH`` fixes the lineage time, the one input that is meant to differ between runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yardarm.bundle import read_bundle
from yardarm.jobresult import TrainResult, decode_result

pytestmark = pytest.mark.component

TRAIN = Path(sys.executable).with_name("yardarm-train")
#: Seeds 0 and 1 ordered skl2onnx's opset domains differently before the fix.
HASH_SEEDS = ("0", "1", "2")


def categorical_csv(path: Path) -> Path:
    rng = np.random.default_rng(11)
    rows = 400
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "city": rng.choice([f"city-{i}" for i in range(12)], size=rows),
            "device": rng.choice(["ios", "android", "web"], size=rows),
        }
    )
    frame["y"] = np.where(frame["x"] + (frame["city"] < "city-5") + (frame["device"] == "web") > 0.8, "buy", "skip")
    frame.to_csv(path, index=False)
    return path


def train_in_process(tmp: Path, seed: str, spec: dict[str, object], dataset: dict[str, object]) -> tuple[str, str]:
    """(model sha256, bundle digest) of one CLI run under ``PYTHONHASHSEED=seed``."""
    result = tmp / f"result-{seed}.json"
    env = {
        **os.environ,
        "PYTHONHASHSEED": seed,
        "SOURCE_DATE_EPOCH": "1767225600",
        "YARDARM_SPEC": json.dumps(spec),
        "YARDARM_DATASET_SPEC": json.dumps(dataset),
    }
    args = ["train", "--output", (tmp / f"store-{seed}").as_uri(), "--result-path", str(result)]
    done = subprocess.run([str(TRAIN), *args], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    trained = decode_result(result.read_bytes())
    assert isinstance(trained, TrainResult) and trained.model is not None
    manifest, _ = read_bundle(next((tmp / f"store-{seed}" / "bundles").iterdir()), trained.model.digest)
    assert manifest.lineage.created_at.isoformat() == "2026-01-01T00:00:00+00:00"
    return manifest.model_sha256, trained.model.digest


@pytest.mark.parametrize(
    ("case", "kind", "data"),
    [
        ("numeric", "LogisticRegression", "builtin"),
        ("categorical-trees", "RandomForestClassifier", "csv"),
    ],
)
def test_bundles_are_byte_identical_across_processes_and_hash_seeds(
    tmp_path: Path, case: str, kind: str, data: str
) -> None:
    dataset = (
        {"source": {"uri": "builtin://wine"}, "target": "target"}
        if data == "builtin"
        else {"source": {"uri": categorical_csv(tmp_path / "shop.csv").as_uri()}, "target": "y"}
    )
    params = {"n_estimators": 8, "max_depth": 6} if kind.startswith("Random") else {"max_iter": 500}
    spec = {"datasetRef": {"name": "d"}, "task": "classification", "estimator": {"kind": kind, "params": params}}
    runs = {seed: train_in_process(tmp_path, seed, spec, dataset) for seed in HASH_SEEDS}
    assert len(set(runs.values())) == 1, f"{case}: {runs}"
