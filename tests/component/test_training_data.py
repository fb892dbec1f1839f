"""Real files: a CSV with categorical columns and missing values, Parquet, profiling, bad sources."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest

from yardarm.bundle import OTHER, CategoricalBins, read_bundle
from yardarm.training.errors import BadInputError, UnreachableError
from yardarm.training.profile import run_profile
from yardarm.training.train import run_training

pytestmark = pytest.mark.component


def customers(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """A churn-like table: numeric and categorical columns, some values missing, a string target."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro", "family", "legacy"], size=rows, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    region = rng.choice(["north", "south", "east", "west"], size=rows)
    tenure = rng.integers(1, 72, size=rows).astype(float)
    spend = rng.gamma(2.0, 30.0, size=rows).round(2)
    score = -0.04 * tenure + 0.02 * spend + np.where(plan == "basic", 0.8, -0.4) + rng.normal(0, 0.5, rows)
    frame = pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_spend": spend,
            "plan": plan.astype(object),
            "region": region.astype(object),
            "churned": np.where(score > np.median(score), "yes", "no"),
        }
    )
    frame.loc[frame.index % 13 == 0, "monthly_spend"] = np.nan
    frame.loc[frame.index % 17 == 0, "plan"] = None
    return frame


DATASET = {
    "target": "churned",
    "features": [
        {"name": "tenure_months", "type": "numeric"},
        {"name": "monthly_spend", "type": "numeric"},
        {"name": "plan", "type": "categorical"},
        {"name": "region", "type": "categorical"},
    ],
}
RUN = {
    "datasetRef": {"name": "customers"},
    "task": "classification",
    "estimator": {"kind": "LogisticRegression", "params": {"max_iter": 500}},
    "preprocessing": {"maxCategories": 3},
}


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "customers.csv"
    customers().to_csv(path, index=False)
    return path


def test_csv_with_categories_and_missing_values_trains_and_exports(csv_file: Path, tmp_path: Path) -> None:
    dataset = {**DATASET, "source": {"uri": f"file://{csv_file}", "format": "csv"}}
    outcome = run_training(RUN, dataset, tmp_path)
    manifest, model = read_bundle(outcome.bundle_dir, outcome.digest)
    assert [(f.name, f.datatype) for f in manifest.inputs] == [
        ("tenure_months", "FP32"),
        ("monthly_spend", "FP32"),
        ("plan", "BYTES"),
        ("region", "BYTES"),
    ]
    assert manifest.class_labels == ["no", "yes"] and "rocAuc" in manifest.metrics
    assert manifest.parity.passed and manifest.lineage.dataset_digest == outcome.dataset_digest
    plan = next(f for f in manifest.profile.features if f.name == "plan")
    assert isinstance(plan.bins, CategoricalBins) and plan.bins.categories[-1] == OTHER
    assert plan.missing_fraction > 0

    # Serving sends "" for a missing category and NaN for a missing number; unseen categories are fine.
    session = ort.InferenceSession(model)
    feeds = {
        "tenure_months": np.array([[12.0], [60.0]], dtype=np.float32),
        "monthly_spend": np.array([[np.nan], [20.0]], dtype=np.float32),
        "plan": np.array([[""], ["never-seen"]], dtype=object),
        "region": np.array([["north"], ["mars"]], dtype=object),
    }
    labels, probabilities = session.run(["label", "probabilities"], feeds)
    assert set(labels) <= {"no", "yes"} and probabilities.shape == (2, 2)


def test_missing_values_drop_and_error_policies(csv_file: Path, tmp_path: Path) -> None:
    source = {"uri": str(csv_file)}
    dropped = run_profile({**DATASET, "source": source, "missingValues": "drop"}, f"file://{tmp_path}")
    assert dropped.profile.rows < 400 and dropped.profile.dropped_rows == 400 - dropped.profile.rows
    # The summary still tells how many values were missing before the rows were dropped.
    assert {s.name: s.missing for s in dropped.profile.features}["plan"] == 24
    with pytest.raises(BadInputError, match="'monthly_spend', 'plan' have missing values"):
        run_training(RUN, {**DATASET, "source": source, "missingValues": "error"}, tmp_path)


def test_parquet_source_profiles_and_trains(tmp_path: Path) -> None:
    path = tmp_path / "customers.parquet"
    customers(seed=1).to_parquet(path, index=False)
    dataset = {**DATASET, "source": {"uri": f"file://{path}", "format": "parquet"}}
    profiled = run_profile(dataset, f"file://{tmp_path}/store")
    stored = json.loads(Path(profiled.profile_uri.removeprefix("file://")).read_text())
    assert stored["digest"] == profiled.digest and stored["rows"] == 400 and stored["columns"] == 5
    assert {f["name"]: f["type"] for f in stored["features"]}["plan"] == "categorical"
    assert len(stored["reference"]["features"]) == 4
    assert profiled.profile_uri.endswith(f"/profiles/{profiled.digest.replace(':', '-')}/profile.json")
    trained = run_training(RUN, dataset, tmp_path / "store", dataset_digest=profiled.digest)
    assert trained.dataset_digest == profiled.digest


def test_data_that_changed_since_profiling_is_refused(csv_file: Path, tmp_path: Path) -> None:
    dataset = {**DATASET, "source": {"uri": str(csv_file)}}
    with pytest.raises(BadInputError, match="changed since the Dataset was profiled") as info:
        run_training(RUN, dataset, tmp_path, dataset_digest="sha256:" + "0" * 64)
    assert info.value.reason == "DatasetChanged"


def test_the_digest_is_of_the_file_bytes(csv_file: Path, tmp_path: Path) -> None:
    import hashlib

    outcome = run_profile({**DATASET, "source": {"uri": str(csv_file)}}, str(tmp_path))
    assert outcome.digest == "sha256:" + hashlib.sha256(csv_file.read_bytes()).hexdigest()


def test_a_non_numeric_value_in_a_numeric_column_is_a_clear_error(tmp_path: Path) -> None:
    frame = customers(50).astype({"tenure_months": object})
    frame.loc[7, "tenure_months"] = "seven"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(BadInputError, match=r"Column 'tenure_months' is declared numeric but holds .*'seven'"):
        run_profile({**DATASET, "source": {"uri": str(path)}}, str(tmp_path))


def test_missing_files_and_unreachable_hosts_are_unreachable_sources(tmp_path: Path) -> None:
    with pytest.raises(UnreachableError, match="does not exist") as info:
        run_profile({"target": "y", "source": {"uri": f"file://{tmp_path}/nope.csv"}}, str(tmp_path))
    assert info.value.reason == "SourceNotFound"
    with pytest.raises(UnreachableError, match=r"Cannot reach https://127\.0\.0\.1:9/data\.csv"):
        run_profile({"target": "y", "source": {"uri": "https://127.0.0.1:9/data.csv"}}, str(tmp_path))


def test_pvc_sources_read_from_the_mounted_claim(csv_file: Path, tmp_path: Path) -> None:
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "c.csv").write_bytes(csv_file.read_bytes())
    outcome = run_profile(
        {**DATASET, "source": {"uri": "pvc://data-claim/datasets/c.csv"}}, "pvc://store/out", pvc_mount=str(tmp_path)
    )
    assert outcome.profile_uri.startswith("pvc://store/out/profiles/sha256-")
    assert (tmp_path / "out" / "profiles").is_dir()


def test_garbage_is_not_readable_as_parquet(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(BadInputError, match="not readable as parquet") as info:
        run_profile({"target": "y", "source": {"uri": str(path), "format": "parquet"}}, str(tmp_path))
    assert info.value.reason == "UnreadableData"
