"""Shared component fixtures: real model bundles from the training runtime, and a real S3 server.

``iris_bundle`` and ``diabetes_bundle`` train real scikit-learn models through
:func:`yardarm.training.train.run_training` once per session (a second or two each) and return a
:class:`TrainedBundle` — ``(directory, digest)`` plus the manifest — for tests of serving and
monitoring. ``s3_server`` starts versitygw (built by ``hack/s3/install.sh``) on a free loopback
port, serving a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import pytest

from yardarm.bundle import BundleManifest

#: A fixed lineage time, so the session's bundles have the same digest on every run.
BUNDLE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
VERSITYGW = Path(os.environ.get("YARDARM_VERSITYGW", "/var/cache/yardarm/bin/versitygw"))


class TrainedBundle(NamedTuple):
    """A bundle written by the training runtime: unpack as ``directory, digest``."""

    directory: Path
    digest: str
    manifest: BundleManifest | None = None


def _train_bundle(
    store: Path, dataset: str, task: str, estimator: str, params: dict[str, object], source: str | None = None
) -> TrainedBundle:
    from yardarm.training.train import run_training

    outcome = run_training(
        {"datasetRef": {"name": dataset}, "task": task, "estimator": {"kind": estimator, "params": params}},
        {"source": {"uri": source or f"builtin://{dataset}"}, "target": "target"},
        store,
        name=f"{dataset}-fixture",
        namespace="default",
        now=BUNDLE_TIME,
    )
    return TrainedBundle(outcome.bundle_dir, outcome.digest, outcome.manifest)


@pytest.fixture(scope="session")
def bundle_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store directory shared by the session's fixture bundles (``<store>/bundles/sha256-…``)."""
    return tmp_path_factory.mktemp("bundle-store")


@pytest.fixture(scope="session")
def iris_bundle(bundle_store: Path) -> TrainedBundle:
    """LogisticRegression on iris: 4 FP32 inputs (sepal_length_cm, …), classes "setosa", "versicolor",
    "virginica" (the graph's label output is a string tensor)."""
    return _train_bundle(bundle_store, "iris", "classification", "LogisticRegression", {"max_iter": 500})


@pytest.fixture(scope="session")
def iris_int_bundle(bundle_store: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedBundle:
    """The same model on a CSV whose target is 0, 1, 2: the graph emits INT64 labels, which serving
    answers as the bundle's class labels "0", "1", "2"."""
    from sklearn.datasets import load_iris

    from yardarm.training.sources import builtin_frame

    frame = builtin_frame("iris").assign(target=load_iris().target)
    path = tmp_path_factory.mktemp("iris-int") / "iris.csv"
    frame.to_csv(path, index=False)
    return _train_bundle(
        bundle_store, "iris-int", "classification", "LogisticRegression", {"max_iter": 500}, source=f"file://{path}"
    )


@pytest.fixture(scope="session")
def diabetes_bundle(bundle_store: Path) -> TrainedBundle:
    """Ridge on diabetes: 10 FP32 inputs (age, sex, bmi, bp, s1…s6), one ``label`` output."""
    return _train_bundle(bundle_store, "diabetes", "regression", "Ridge", {"alpha": 1.0})


# -- a real S3-compatible server ---------------------------------------------------------------------


@dataclass(frozen=True)
class S3Server:
    """A running versitygw: its endpoint and root credentials."""

    endpoint: str
    access_key: str
    secret_key: str
    root: Path

    def env(self) -> dict[str, str]:
        """Environment a Job gets for this server (output store and source credentials)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
            "YARDARM_S3_ENDPOINT": self.endpoint,
            "YARDARM_S3_INSECURE": "true",
        }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """versitygw (posix backend) on 127.0.0.1; skipped only when the binary was not built."""
    if not (VERSITYGW.is_file() and os.access(VERSITYGW, os.X_OK)):
        pytest.skip(f"versitygw not found at {VERSITYGW}: run `bash hack/s3/install.sh` to build it")
    root = tmp_path_factory.mktemp("s3-root")
    sidecar = tmp_path_factory.mktemp("s3-meta")
    port = _free_port()
    server = S3Server(f"http://127.0.0.1:{port}", "yardarm-test", "yardarm-test-secret", root)
    log = (tmp_path_factory.getbasetemp() / "versitygw.log").open("wb")
    process = subprocess.Popen(
        [
            str(VERSITYGW),
            "--port",
            f"127.0.0.1:{port}",
            "--access",
            server.access_key,
            "--secret",
            server.secret_key,
            "--health",
            "/health",
            "posix",
            "--sidecar",
            str(sidecar),
            str(root),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"versitygw exited with {process.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{server.endpoint}/health", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"versitygw did not answer on port {port} within 20 s") from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
