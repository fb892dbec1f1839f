"""s3:// sources and stores against a real S3 server (versitygw on loopback, see conftest)."""

from __future__ import annotations

import io
import json

import pytest
from minio import Minio

from yardarm.bundle import MANIFEST_FILE, MODEL_FILE, bundle_dirname, sha256_bytes
from yardarm.training.errors import UnreachableError
from yardarm.training.profile import run_profile
from yardarm.training.s3 import make_client, settings_from_env
from yardarm.training.sources import builtin_frame
from yardarm.training.train import run_training

pytestmark = pytest.mark.component

RUN = {
    "datasetRef": {"name": "wine"},
    "task": "classification",
    "estimator": {"kind": "LogisticRegression", "params": {"max_iter": 1000}},
}


@pytest.fixture(scope="module")
def s3(s3_server) -> tuple[Minio, dict[str, str], dict[str, object]]:
    """A client, the Job environment, and a Dataset spec whose CSV is in the bucket."""
    env = s3_server.env()
    client = make_client(settings_from_env(env), env)
    for bucket in ("datasets", "models"):
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
    data = builtin_frame("wine").to_csv(index=False).encode()
    client.put_object("datasets", "wine/wine.csv", io.BytesIO(data), len(data))
    dataset = {
        "source": {
            "uri": "s3://datasets/wine/wine.csv",
            "format": "csv",
            "s3": {"endpoint": s3_server.endpoint, "insecure": True, "region": "us-east-1"},
        },
        "target": "target",
    }
    return client, env, dataset


def test_profile_reads_from_s3_and_writes_the_profile_to_s3(s3) -> None:
    client, env, dataset = s3
    outcome = run_profile(dataset, "s3://models/team-a", env=env)
    expected = client.get_object("datasets", "wine/wine.csv").read()
    assert outcome.digest == sha256_bytes(expected)
    key = f"team-a/profiles/{bundle_dirname(outcome.digest)}/profile.json"
    assert outcome.profile_uri == f"s3://models/{key}"
    stored = json.loads(client.get_object("models", key).read())
    assert stored["rows"] == 178 and stored["digest"] == outcome.digest


def test_training_uploads_the_bundle_under_its_digest(s3) -> None:
    client, env, dataset = s3
    outcome = run_training(RUN, dataset, "s3://models/team-a", env=env)
    prefix = f"team-a/bundles/{bundle_dirname(outcome.digest)}"
    assert outcome.bundle_uri == f"s3://models/{prefix}"
    manifest_bytes = client.get_object("models", f"{prefix}/{MANIFEST_FILE}").read()
    model_bytes = client.get_object("models", f"{prefix}/{MODEL_FILE}").read()
    assert sha256_bytes(manifest_bytes) == outcome.digest
    assert json.loads(manifest_bytes)["model_sha256"] == sha256_bytes(model_bytes)
    assert (outcome.bundle_dir / MODEL_FILE).read_bytes() == model_bytes


def test_a_missing_object_and_wrong_credentials_are_unreachable(s3) -> None:
    _client, env, dataset = s3
    missing = {**dataset, "source": {**dataset["source"], "uri": "s3://datasets/wine/nope.csv"}}
    with pytest.raises(UnreachableError, match=r"s3://datasets/wine/nope.csv failed: NoSuchKey") as info:
        run_profile(missing, "s3://models/x", env=env)
    assert info.value.reason == "SourceNotFound"
    wrong = {**env, "AWS_SECRET_ACCESS_KEY": "wrong"}
    with pytest.raises(UnreachableError, match=r"SignatureDoesNotMatch|AccessDenied"):
        run_profile(dataset, "s3://models/x", env=wrong)


def test_an_endpoint_nobody_listens_on_fails_fast(s3) -> None:
    _client, env, dataset = s3
    nowhere = {**dataset, "source": {**dataset["source"], "s3": {"endpoint": "http://127.0.0.1:9", "insecure": True}}}
    with pytest.raises(UnreachableError, match="Cannot reach the S3 endpoint"):
        run_profile(nowhere, "s3://models/x", env=env)


def test_uploads_leave_no_temporary_objects_and_a_repeat_upload_is_identical(s3) -> None:
    client, env, dataset = s3
    first = run_training(RUN, dataset, "s3://models/atomic", env=env)
    second = run_training(RUN, dataset, "s3://models/atomic", env=env)
    assert first.digest == second.digest  # content-addressed: the same bytes, the same key
    keys = sorted(o.object_name for o in client.list_objects("models", prefix="atomic/", recursive=True))
    prefix = f"atomic/bundles/{bundle_dirname(first.digest)}"
    assert keys == [f"{prefix}/{MANIFEST_FILE}", f"{prefix}/{MODEL_FILE}"]  # nothing left under atomic/.tmp/
