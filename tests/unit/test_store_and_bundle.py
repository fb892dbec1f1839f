"""Store URIs resolve the same way everywhere; bundles are content-addressed and verified."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from yardarm.bundle import (
    BundleError,
    BundleManifest,
    CategoricalBins,
    FeatureProfile,
    InputFeature,
    Lineage,
    NumericBins,
    ParityReport,
    ReferenceProfile,
    read_bundle,
    sha256_bytes,
    write_bundle,
)
from yardarm.store import parse_store_uri


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        ("pvc://artifacts/models", "/artifacts/models"),
        ("file:///tmp/store", "/tmp/store"),
        ("/tmp/store", "/tmp/store"),
    ],
)
def test_local_paths(uri: str, local: str) -> None:
    assert str(parse_store_uri(uri).local_path()) == local


def test_s3_uri_is_not_local_and_keeps_bucket_and_prefix() -> None:
    uri = parse_store_uri("s3://models/team-a/")
    assert (uri.location, uri.path, str(uri.join("bundles"))) == (
        "models",
        "team-a",
        "s3://models/team-a/bundles",
    )
    with pytest.raises(ValueError, match="downloaded"):
        uri.local_path()


@pytest.mark.parametrize("bad", ["http://x/y", "file://relative", "pvc:///path", "models"])
def test_bad_store_uris_say_what_is_expected(bad: str) -> None:
    with pytest.raises(ValueError, match=r"file:///|claim|store URI"):
        parse_store_uri(bad)


def _manifest(model: bytes) -> BundleManifest:
    return BundleManifest(
        task="classification",
        model_sha256=sha256_bytes(model),
        opset=17,
        inputs=[
            InputFeature(name="x", type="numeric", datatype="FP32"),
            InputFeature(name="c", type="categorical", datatype="BYTES"),
        ],
        outputs=["label", "probabilities"],
        class_labels=["a", "b"],
        target="y",
        metrics={"accuracy": 1.0},
        parity=ParityReport(max_abs_diff=0.0, label_agreement=1.0, tolerance=1e-4, passed=True),
        profile=ReferenceProfile(
            rows=2,
            features=[
                FeatureProfile(name="x", bins=NumericBins(edges=[0.5], proportions=[0.5, 0.5])),
                FeatureProfile(name="c", bins=CategoricalBins(categories=["u", "__other__"], proportions=[1.0, 0.0])),
            ],
        ),
        lineage=Lineage(estimator="LogisticRegression", created_at=datetime(2026, 1, 1, tzinfo=UTC)),
    )


def test_bundle_round_trip_and_digest_pins_both_files(tmp_path: Path) -> None:
    model = b"onnx-bytes"
    digest, directory = write_bundle(tmp_path, model, _manifest(model))
    assert directory.name == digest.replace(":", "-")
    manifest, loaded = read_bundle(directory, digest)
    assert loaded == model and manifest.class_labels == ["a", "b"]
    assert write_bundle(tmp_path, model, _manifest(model)) == (digest, directory)
    assert not [p for p in (tmp_path / "bundles").iterdir() if p.name.startswith(".tmp")]

    (directory / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(BundleError, match="does not match"):
        read_bundle(directory, digest)


def test_bundle_with_the_wrong_digest_is_refused(tmp_path: Path) -> None:
    model = b"m"
    _, directory = write_bundle(tmp_path, model, _manifest(model))
    with pytest.raises(BundleError, match="expected sha256:0"):
        read_bundle(directory, "sha256:" + "0" * 64)
