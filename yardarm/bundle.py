"""The model bundle: the contract between training (which writes it) and serving (which reads it).

A bundle is a directory holding ``model.onnx`` and ``bundle.json``. ``bundle.json`` pins the model
by its sha256 and carries everything serving and monitoring need: the input schema (feature names,
types and order), class labels, metrics, parity, the reference profile used for drift, and lineage.

The bundle's digest is the sha256 of the exact ``bundle.json`` bytes. Since ``bundle.json`` holds
the model's own sha256, one digest covers both files: a digest in a status is a promise that the
bytes never change. Bundles live under ``<store>/bundles/sha256-<hex>/`` (:func:`bundle_dirname`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1
MODEL_FILE = "model.onnx"
MANIFEST_FILE = "bundle.json"
#: Name of the categorical bin that collects every category outside the reference's top list.
OTHER = "__other__"


class _Model(BaseModel):
    # NaN and Infinity are not JSON: a manifest holding one is refused when it is built.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class InputFeature(_Model):
    """One input column, in the order the model expects it.

    ``name`` is the column's name in the data, exactly — what clients send (V2 tensor names, V1
    object keys) and what metrics and drift report. ``onnx_name`` is the ONNX graph's input for it:
    a column name may hold anything a data file allows (spaces, ``/``, unicode, ``label``), while
    the graph's names are plain identifiers (see ``yardarm.training.export.onnx_input_names``).
    This field is the one place the two are mapped; ``None`` (older bundles) means the same name.
    """

    name: str
    type: Literal["numeric", "categorical"]
    #: Open Inference Protocol datatype a client sends: FP32/FP64/INT64 for numeric, BYTES for categorical.
    datatype: Literal["FP32", "FP64", "INT64", "BYTES"]
    onnx_name: str | None = None

    @property
    def onnx_input(self) -> str:
        """The ONNX graph input that takes this feature."""
        return self.name if self.onnx_name is None else self.onnx_name


class NumericBins(_Model):
    """Quantile bins of a numeric variable with open ends.

    ``edges`` are the inner cut points e_0 < … < e_{n-1}; they make n+1 bins:
    (-inf, e_0], (e_0, e_1], …, (e_{n-1}, +inf). ``proportions`` has n+1 entries summing to 1.
    A missing or NaN value is counted in no bin (it shows in the missing count instead).
    """

    kind: Literal["numeric"] = "numeric"
    edges: list[float]
    proportions: list[float]


class CategoricalBins(_Model):
    """Top categories of a categorical variable plus :data:`OTHER`, with reference proportions.

    ``categories`` ends with :data:`OTHER`; ``proportions`` aligns with it and sums to 1.
    """

    kind: Literal["categorical"] = "categorical"
    categories: list[str]
    proportions: list[float]


Bins = NumericBins | CategoricalBins


class FeatureProfile(_Model):
    """The reference distribution of one feature (from the training data)."""

    name: str
    bins: Bins = Field(discriminator="kind")
    missing_fraction: float = 0.0
    #: Non-missing values the proportions were counted from: the Monitor's tests need it, since a
    #: small reference is itself a noisy estimate. None in bundles written before it was recorded.
    rows: int | None = None


class ReferenceProfile(_Model):
    """Reference distributions for drift: every input feature, and the model's predictions.

    For classifiers the prediction profile is categorical over class labels; for regressors it is
    numeric bins of the predicted value. Feature bins come from every row the model was trained and
    tested on (``rows``); predictions from the test split (their own ``rows``).
    """

    rows: int
    features: list[FeatureProfile]
    predictions: FeatureProfile | None = None


class ParityReport(_Model):
    """ONNX Runtime versus scikit-learn on the test split."""

    max_abs_diff: float
    label_agreement: float | None = None
    tolerance: float
    passed: bool


class Lineage(_Model):
    """Where the model came from, for audit."""

    training_run: str | None = None
    namespace: str | None = None
    dataset_uri: str | None = None
    dataset_digest: str | None = None
    estimator: str
    params: dict[str, object] = Field(default_factory=dict)
    libraries: dict[str, str] = Field(default_factory=dict)
    created_at: datetime


class BundleManifest(_Model):
    """The content of ``bundle.json``."""

    format_version: int = FORMAT_VERSION
    task: Literal["classification", "regression"]
    model_file: str = MODEL_FILE
    model_sha256: str
    opset: int
    #: Name of the ONNX input tensor per feature, in order. One input per feature keeps the
    #: per-column datatype (a string column cannot share a tensor with a float column).
    inputs: list[InputFeature]
    #: ONNX output names: ``label`` and, for classifiers, ``probabilities`` (a plain tensor, no ZipMap).
    outputs: list[str]
    class_labels: list[str] | None = None
    target: str
    metrics: dict[str, float]
    parity: ParityReport
    profile: ReferenceProfile
    lineage: Lineage


#: Open Inference Protocol datatype and shape of one output, e.g. ``("FP32", [-1, 1])``; -1 = rows.
OutputType = tuple[str, list[int]]


def served_outputs(task: str, graph: Mapping[str, OutputType]) -> dict[str, OutputType]:
    """Each output's datatype and shape as a server answers it, from the graph's (in its order).

    The one declaration both the training runtime (``TrainingRun`` ``status.model.outputs``) and
    ``yardarm-serve`` (V2 and gRPC model metadata) publish, so they cannot disagree. It is the
    graph's own, except a classifier's label output (``label``, else the first): servers answer it
    with class names from ``class_labels``, one per row, also when the graph emits integer class
    values or indices, so it is declared BYTES ``[-1]``.
    """
    served = {name: (datatype, list(shape)) for name, (datatype, shape) in graph.items()}
    if task == "classification" and served:
        label = "label" if "label" in served else next(iter(served))
        served[label] = ("BYTES", [-1])
    return served


def sha256_file(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def sha256_bytes(data: bytes) -> str:
    """``sha256:<hex>`` of some bytes."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def bundle_dirname(digest: str) -> str:
    """The directory name of a bundle in the store: ``sha256-<hex>`` (no colon, safe in paths)."""
    return digest.replace(":", "-")


def manifest_bytes(manifest: BundleManifest) -> bytes:
    """The canonical bytes of ``bundle.json``: sorted keys, so equal manifests hash equally."""
    return json.dumps(manifest.model_dump(mode="json"), sort_keys=True, indent=2, allow_nan=False).encode() + b"\n"


class BundleError(Exception):
    """A bundle is missing, incomplete, or does not match its digest."""


def write_bundle(store_dir: Path, model_bytes: bytes, manifest: BundleManifest) -> tuple[str, Path]:
    """Write a bundle atomically under ``store_dir/bundles/`` and return ``(digest, directory)``.

    The files go to a temporary directory first that is renamed into place, so a killed writer never
    leaves half a bundle. Writing a bundle that already exists is a no-op (content addressing).
    """
    if sha256_bytes(model_bytes) != manifest.model_sha256:
        raise BundleError("manifest.model_sha256 does not match the model bytes")
    data = manifest_bytes(manifest)
    digest = sha256_bytes(data)
    parent = store_dir / "bundles"
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / bundle_dirname(digest)
    if final.exists():
        return digest, final
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=parent))
    for name, payload in ((MODEL_FILE, model_bytes), (MANIFEST_FILE, data)):
        with (tmp / name).open("wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
    try:
        tmp.rename(final)
    except OSError:
        if not final.exists():
            raise
    return digest, final


def read_bundle(directory: Path, expected_digest: str | None = None) -> tuple[BundleManifest, bytes]:
    """Load and verify a bundle: manifest digest (when expected) and model sha256 must both match."""
    manifest_path = directory / MANIFEST_FILE
    try:
        data = manifest_path.read_bytes()
    except FileNotFoundError as exc:
        raise BundleError(f"no {MANIFEST_FILE} in {directory}") from exc
    if expected_digest is not None and sha256_bytes(data) != expected_digest:
        raise BundleError(f"{manifest_path} has digest {sha256_bytes(data)}, expected {expected_digest}")
    manifest = BundleManifest.model_validate_json(data)
    try:
        model = (directory / manifest.model_file).read_bytes()
    except FileNotFoundError as exc:
        raise BundleError(f"no {manifest.model_file} in {directory}") from exc
    if sha256_bytes(model) != manifest.model_sha256:
        raise BundleError(f"{manifest.model_file} does not match the sha256 recorded in {MANIFEST_FILE}")
    return manifest, model
