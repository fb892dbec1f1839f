"""Profiling/training Job builders and how a Job's outcome is read back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from yardarm.jobresult import ProfileResult, TrainResult, encode_result
from yardarm.operator import names
from yardarm.operator.config import Config
from yardarm.operator.jobs import ENV_DATASET, job_outcome, profile_job, training_job
from yardarm.training.errors import QualityGateError

DS = {
    "apiVersion": "mlops.yardarm.dev/v1alpha1",
    "kind": "Dataset",
    "metadata": {"name": "iris", "namespace": "ml", "uid": "u-1", "generation": 1},
    "spec": {"source": {"uri": "builtin://iris"}, "target": "target"},
    "status": {"phase": "Ready", "digest": "sha256:" + "a" * 64},
}
TR = {
    "apiVersion": "mlops.yardarm.dev/v1alpha1",
    "kind": "TrainingRun",
    "metadata": {"name": "iris-lr", "namespace": "ml", "uid": "u-2"},
    "spec": {
        "datasetRef": {"name": "iris"},
        "task": "classification",
        "estimator": {"kind": "LogisticRegression"},
        "job": {"backoffLimit": 2, "activeDeadlineSeconds": 600, "ttlSecondsAfterFinished": 60},
    },
}
CONFIG = Config(artifacts_claim="artifacts")


def job(conditions: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    built = training_job(TR, DS, output_uri="pvc://artifacts/m", claim="artifacts", dataset_digest=None, config=CONFIG)
    built["status"] = {"conditions": conditions or [], **status}
    return built


def pod(state: dict[str, Any], created: str = "2026-11-30T12:00:00Z", last: dict[str, Any] | None = None) -> dict:
    cs: dict[str, Any] = {"name": "main", "state": state}
    if last:
        cs["lastState"] = last
    return {"metadata": {"creationTimestamp": created}, "status": {"containerStatuses": [cs]}}


def done(type_: str, reason: str = "", message: str = "") -> list[dict[str, Any]]:
    return [{"type": type_, "status": "True", "reason": reason, "message": message, "lastTransitionTime": "t"}]


def test_the_profile_job_is_named_by_its_spec_and_carries_the_dataset() -> None:
    built = profile_job(DS, output_uri="pvc://artifacts/yardarm", claim="artifacts", config=CONFIG)
    assert built["metadata"]["name"] == names.profile_job_name("iris", DS["spec"])
    container = built["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: json.loads(e["value"]) for e in container["env"]}
    assert env[ENV_DATASET]["spec"] == DS["spec"]
    assert env[ENV_DATASET]["metadata"] == {"name": "iris", "namespace": "ml"}
    assert container["args"] == ["profile", "--spec-env", ENV_DATASET, "--output", "pvc://artifacts/yardarm"]
    changed = {**DS, "spec": {**DS["spec"], "target": "species"}}
    assert (
        profile_job(changed, output_uri="x", claim=None, config=CONFIG)["metadata"]["name"] != built["metadata"]["name"]
    )


def test_the_training_job_uses_the_spec_knobs_and_a_restricted_pod() -> None:
    built = training_job(
        TR, DS, output_uri="pvc://artifacts/m", claim="artifacts", dataset_digest="sha256:" + "a" * 64, config=CONFIG
    )
    spec = built["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (2, 600, 60)
    assert built["metadata"]["ownerReferences"][0] == {
        "apiVersion": "mlops.yardarm.dev/v1alpha1",
        "kind": "TrainingRun",
        "name": "iris-lr",
        "uid": "u-2",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Never" and pod_spec["automountServiceAccountToken"] is False
    assert pod_spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod_spec["containers"][0]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert "--dataset-digest" in container["args"]
    assert spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [2, 4, 5]
    assert built["metadata"]["labels"][names.LABEL_TRAININGRUN] == "iris-lr"


def test_a_complete_job_with_a_result_succeeded() -> None:
    result = ProfileResult(ok=True, exit_code=0, reason="Profiled", digest="sha256:" + "a" * 64, rows=3)
    message = encode_result(result).decode()
    outcome = job_outcome(job(done("Complete")), [pod({"terminated": {"exitCode": 0, "message": message}})])
    assert outcome.state == "Succeeded"
    assert isinstance(outcome.result, ProfileResult) and outcome.result.rows == 3


def test_a_complete_job_without_a_result_is_a_failure() -> None:
    outcome = job_outcome(job(done("Complete")), [pod({"terminated": {"exitCode": 0}})])
    assert (outcome.state, outcome.reason) == ("Failed", "ResultMissing")


def test_the_result_reason_wins_over_the_job_reason() -> None:
    failed = TrainResult(ok=False, exit_code=4, reason=QualityGateError.default_reason, message="accuracy 0.5 < 0.9")
    terminated = {"terminated": {"exitCode": 4, "message": encode_result(failed).decode()}}
    outcome = job_outcome(job(done("Failed", "PodFailurePolicy", "x")), [pod(terminated)])
    assert (outcome.state, outcome.reason, outcome.message) == (
        "Failed",
        QualityGateError.default_reason,
        "accuracy 0.5 < 0.9",
    )


def test_an_oom_kill_is_named_with_the_memory_limit() -> None:
    terminated = {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
    outcome = job_outcome(job(done("Failed", "BackoffLimitExceeded")), [pod({"waiting": {}}, last=terminated)])
    assert outcome.reason == "OOMKilled"
    assert "limit 2Gi" in outcome.message


def test_a_deadline_is_reported_with_the_jobs_reason() -> None:
    outcome = job_outcome(job(done("Failed", "DeadlineExceeded", "Job was active longer than specified")), [])
    assert (outcome.state, outcome.reason) == ("Failed", "DeadlineExceeded")


def test_a_crash_adds_the_exit_code_to_backoff_limit_exceeded() -> None:
    terminated = {"terminated": {"exitCode": 1, "reason": "Error"}}
    outcome = job_outcome(
        job(done("Failed", "BackoffLimitExceeded", "Job has reached the backoff limit")), [pod(terminated)]
    )
    assert outcome.reason == "BackoffLimitExceeded" and "exit code 1" in outcome.message


def test_a_deadline_while_the_image_never_pulled_names_the_image_problem() -> None:
    waiting = {"waiting": {"reason": "ErrImagePull", "message": "not found"}}
    outcome = job_outcome(job(done("Failed", "DeadlineExceeded")), [pod(waiting)])
    assert outcome.reason == "ErrImagePull" and "DeadlineExceeded" in outcome.message


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"])
def test_a_container_that_cannot_start_is_stuck(reason: str) -> None:
    outcome = job_outcome(job(active=1), [pod({"waiting": {"reason": reason, "message": "m"}})])
    assert (outcome.state, outcome.reason, outcome.stuck) == ("Running", reason, True)


def test_a_running_and_a_pending_job() -> None:
    assert job_outcome(job(active=1), [pod({"running": {}})]).state == "Running"
    assert job_outcome(job(), []).state == "Pending"
    assert job_outcome(None, []).state == "Pending"


def test_the_newest_pods_result_is_read_first() -> None:
    old = TrainResult(ok=False, exit_code=1, reason="Crashed")
    new = TrainResult(ok=True, exit_code=0, reason="Trained")
    pods = [
        pod({"terminated": {"exitCode": 1, "message": encode_result(old).decode()}}, "2026-11-30T12:00:00Z"),
        pod({"terminated": {"exitCode": 0, "message": encode_result(new).decode()}}, "2026-11-30T12:05:00Z"),
    ]
    assert job_outcome(job(done("Complete")), pods).reason == "Trained"


def test_a_garbled_termination_message_is_ignored() -> None:
    outcome = job_outcome(
        job(done("Failed", "BackoffLimitExceeded")), [pod({"terminated": {"exitCode": 1, "message": "{"}})]
    )
    assert outcome.reason == "BackoffLimitExceeded"


def test_s3_settings_and_credentials_reach_the_job_by_reference() -> None:
    config = Config(s3_endpoint="http://minio:9000", s3_region="eu-1", s3_insecure=True, s3_secret="store-creds")
    built = profile_job(DS, output_uri="s3://models/y", claim=None, config=config)
    env = {e["name"]: e for e in built["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["YARDARM_S3_ENDPOINT"]["value"] == "http://minio:9000" and env["AWS_REGION"]["value"] == "eu-1"
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "store-creds"
    source = {"uri": "s3://d/x.csv", "s3": {"credentialsSecretRef": {"name": "d"}}}
    own = {**DS, "spec": {**DS["spec"], "source": source}}
    built = profile_job(own, output_uri="s3://models/y", claim=None, config=config)
    env = {e["name"]: e for e in built["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "d"
    assert "volumes" in built["spec"]["template"]["spec"]  # /tmp only, no claim


def test_an_object_s_own_output_store_settings_reach_its_job() -> None:
    config = Config(s3_endpoint="http://in-cluster:7070", s3_insecure=True, s3_secret="store-creds")
    output = {
        "uri": "s3://team-bucket/p",
        "s3": {
            "endpoint": "https://s3.corp",
            "defaultCredentialChain": True,
            "caBundleRef": {"name": "corp-ca", "key": "root.pem"},
            "addressing": "path",
        },
    }
    tr = {**TR, "spec": {**TR["spec"], "output": output}}
    built = training_job(tr, DS, output_uri="s3://team-bucket/p", claim=None, dataset_digest=None, config=config)
    pod = built["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["YARDARM_S3_ENDPOINT"] == "https://s3.corp" and "YARDARM_S3_INSECURE" not in env
    assert env["YARDARM_S3_CREDENTIALS"] == "chain" and "AWS_ACCESS_KEY_ID" not in env
    assert env["YARDARM_S3_ADDRESSING"] == "path"
    ca = next(v for v in pod["volumes"] if v["name"] == "s3-ca")
    assert ca["configMap"] == {"name": "corp-ca", "items": [{"key": "root.pem", "path": "ca.crt"}]}
    assert env["YARDARM_S3_CA_BUNDLE"] == "/etc/yardarm/s3-ca/ca.crt"
    mount = {"name": "s3-ca", "mountPath": "/etc/yardarm/s3-ca", "readOnly": True}
    assert mount in pod["containers"][0]["volumeMounts"]
