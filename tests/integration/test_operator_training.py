"""Datasets and TrainingRuns against the real control plane, with the test playing the kubelet."""

# ruff: noqa: F811 - fixtures imported from the harness are redefined as test parameters

from __future__ import annotations

from typing import Any

from tests.integration.test_operator_harness import (  # noqa: F401 - fixtures
    A,
    B,
    cluster,
    cond,
    create,
    events_of,
    finish_pod,
    namespace,
    operator,
    status,
    wait_for,
    wait_job_pod,
    wait_pod,
)
from yardarm.api.dataset import FeatureSummary
from yardarm.api.trainingrun import ModelInfo
from yardarm.jobresult import ProfileResult, TrainResult, encode_result
from yardarm.operator import kube, names
from yardarm.training.errors import QualityGateError

DATASET_SPEC: dict[str, Any] = {"source": {"uri": "builtin://iris"}, "target": "target"}


def profile_message(digest: str = A) -> str:
    result = ProfileResult(
        ok=True,
        exit_code=0,
        reason="Profiled",
        message="150 rows",
        digest=digest,
        rows=150,
        columns=5,
        profile_uri=f"pvc://artifacts/yardarm/profiles/{digest.replace(':', '-')}/profile.json",
        features=[FeatureSummary(name="sepal length (cm)", type="numeric", mean=5.8, std=0.8, min=4.3, max=7.9)],
    )
    return encode_result(result).decode()


def train_message() -> str:
    result = TrainResult(
        ok=True,
        exit_code=0,
        reason="Trained",
        message="ok",
        dataset_digest=A,
        metrics={"accuracy": 0.967, "f1Macro": 0.96},
        headline="accuracy=0.967",
        model=ModelInfo(uri="pvc://artifacts/yardarm/bundles/sha256-" + "b" * 64, digest=B, opset=17),
    )
    return encode_result(result).decode()


def tr_spec(dataset: str, **job: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "datasetRef": {"name": dataset},
        "task": "classification",
        "estimator": {"kind": "LogisticRegression"},
        "qualityGates": [{"metric": "accuracy", "min": 0.9}],
    }
    if job:
        spec["job"] = job
    return spec


def profile_dataset(ns: str, name: str) -> None:
    job = names.profile_job_name(name, {**DATASET_SPEC})
    pod = wait_job_pod(ns, wait_for("the profile Job", lambda: status("Dataset", ns, name).get("jobName")))
    finish_pod(ns, pod, exit_code=0, message=profile_message())
    assert job
    wait_for("the Dataset to be Ready", lambda: status("Dataset", ns, name).get("phase") == "Ready")


def test_a_dataset_is_profiled_in_a_job_and_reports_its_profile(operator: Any, namespace: str, cluster: Any) -> None:
    create("Dataset", namespace, "iris", DATASET_SPEC)
    job_name = wait_for("the profile Job", lambda: status("Dataset", namespace, "iris").get("jobName"))
    job = kube.get("Job", namespace, job_name)
    assert job is not None
    assert job["metadata"]["ownerReferences"][0]["kind"] == "Dataset"
    pod_spec = job["spec"]["template"]["spec"]
    assert pod_spec["containers"][0]["args"][:1] == ["profile"]
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert cond("Dataset", namespace, "iris", "Reconciling")["status"] == "True"
    pod = wait_job_pod(namespace, job_name)
    finish_pod(namespace, pod, exit_code=0, message=profile_message())
    wait_for("the Dataset to be Ready", lambda: status("Dataset", namespace, "iris").get("phase") == "Ready")
    st = status("Dataset", namespace, "iris")
    assert (st["digest"], st["rows"], st["columns"]) == (A, 150, 5)
    assert st["features"][0]["name"] == "sepal length (cm)"
    assert st["profileUri"].endswith("profile.json")
    assert cond("Dataset", namespace, "iris", "Ready")["status"] == "True"
    assert st["observedGeneration"] == 1
    # kubectl wait reads the same condition.
    cluster.kubectl("wait", "--for=condition=Ready", "-n", namespace, "dataset/iris", "--timeout=10s")
    assert "Profiled" in {e["reason"] for e in events_of(namespace, "iris")}


def test_a_training_run_waits_for_its_dataset_then_trains(operator: Any, namespace: str, cluster: Any) -> None:
    create("TrainingRun", namespace, "tr-ok", tr_spec("later"))
    wait_for("Waiting", lambda: status("TrainingRun", namespace, "tr-ok").get("phase") == "Waiting")
    reconciling = cond("TrainingRun", namespace, "tr-ok", "Reconciling")
    assert reconciling["status"] == "True" and "Dataset later" in reconciling["message"]
    assert kube.get("Job", namespace, names.training_job_name("tr-ok")) is None

    create("Dataset", namespace, "later", DATASET_SPEC)
    profile_dataset(namespace, "later")
    job_name = names.training_job_name("tr-ok")
    wait_for("the training Job", lambda: kube.get("Job", namespace, job_name))
    job = kube.get("Job", namespace, job_name)
    assert job is not None
    spec = job["spec"]
    assert spec["backoffLimit"] == 1 and spec["activeDeadlineSeconds"] == 3600
    container = spec["template"]["spec"]["containers"][0]
    ctx = container["securityContext"]
    assert ctx["readOnlyRootFilesystem"] and not ctx["allowPrivilegeEscalation"]
    assert ctx["capabilities"]["drop"] == ["ALL"] and ctx["runAsUser"] == 65532
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp", "/artifacts"}
    # The Job is created before the status that records it: wait for that write, not a moment.
    pinned = wait_for("the pinned digest", lambda: status("TrainingRun", namespace, "tr-ok").get("datasetDigest"))
    assert pinned == A

    finish_pod(namespace, wait_job_pod(namespace, job_name), exit_code=0, message=train_message())
    wait_for("Succeeded", lambda: status("TrainingRun", namespace, "tr-ok").get("phase") == "Succeeded")
    st = status("TrainingRun", namespace, "tr-ok")
    assert st["model"]["digest"] == B and st["headline"] == "accuracy=0.967"
    assert st["metrics"]["accuracy"] == 0.967
    cluster.kubectl("wait", "--for=condition=Ready", "-n", namespace, "trainingrun/tr-ok", "--timeout=10s")


def test_a_missed_quality_gate_shows_its_reason(operator: Any, namespace: str) -> None:
    create("Dataset", namespace, "gate-data", DATASET_SPEC)
    profile_dataset(namespace, "gate-data")
    create("TrainingRun", namespace, "tr-gate", tr_spec("gate-data"))
    job_name = names.training_job_name("tr-gate")
    pod = wait_job_pod(namespace, wait_for("job", lambda: kube.get("Job", namespace, job_name))["metadata"]["name"])
    failed = TrainResult(
        ok=False,
        exit_code=4,
        reason=QualityGateError.default_reason,
        message="accuracy 0.71 is below the gate 0.9",
        metrics={"accuracy": 0.71},
    )
    finish_pod(namespace, pod, exit_code=4, message=encode_result(failed).decode())
    wait_for("Failed", lambda: status("TrainingRun", namespace, "tr-gate").get("phase") == "Failed")
    stalled = cond("TrainingRun", namespace, "tr-gate", "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == QualityGateError.default_reason
    assert "below the gate" in stalled["message"]
    assert status("TrainingRun", namespace, "tr-gate")["metrics"] == {"accuracy": 0.71}
    warnings = [e for e in events_of(namespace, "tr-gate") if e["type"] == "Warning"]
    assert any(e["reason"] == QualityGateError.default_reason for e in warnings)


def test_an_oom_killed_training_pod_is_reported_as_oomkilled(operator: Any, namespace: str) -> None:
    create("Dataset", namespace, "oom-data", DATASET_SPEC)
    profile_dataset(namespace, "oom-data")
    create("TrainingRun", namespace, "tr-oom", tr_spec("oom-data", backoffLimit=0))
    job_name = names.training_job_name("tr-oom")
    wait_for("job", lambda: kube.get("Job", namespace, job_name))
    finish_pod(namespace, wait_job_pod(namespace, job_name), exit_code=137, reason="OOMKilled")
    wait_for("Failed", lambda: status("TrainingRun", namespace, "tr-oom").get("phase") == "Failed", timeout=90)
    st = status("TrainingRun", namespace, "tr-oom")
    assert st["reason"] == "OOMKilled", st
    assert "out of memory (limit 2Gi)" in st["message"]


def test_an_image_that_cannot_be_pulled_is_reported_while_waiting(operator: Any, namespace: str) -> None:
    create("Dataset", namespace, "pull-data", DATASET_SPEC)
    profile_dataset(namespace, "pull-data")
    create("TrainingRun", namespace, "tr-pull", tr_spec("pull-data"))
    job_name = names.training_job_name("tr-pull")
    wait_for("job", lambda: kube.get("Job", namespace, job_name))
    pod = wait_job_pod(namespace, job_name)
    wait_pod(namespace, pod, reason="ImagePullBackOff", message='Back-off pulling image "yardarm/operator:dev"')
    wait_for(
        "Stalled ImagePullBackOff",
        lambda: cond("TrainingRun", namespace, "tr-pull", "Stalled").get("reason") == "ImagePullBackOff",
        timeout=60,
    )
    assert "Back-off pulling image" in cond("TrainingRun", namespace, "tr-pull", "Stalled")["message"]
    assert any(e["reason"] == "ImagePullBackOff" for e in events_of(namespace, "tr-pull"))


def test_a_changed_dataset_spec_is_profiled_again_in_a_new_job(operator: Any, namespace: str) -> None:
    create("Dataset", namespace, "moving", DATASET_SPEC)
    profile_dataset(namespace, "moving")
    first = status("Dataset", namespace, "moving")["jobName"]
    kube.patch("Dataset", namespace, "moving", {"spec": {"split": {"seed": 7}}})

    def new_job() -> str | None:
        job = status("Dataset", namespace, "moving").get("jobName")
        return job if job and job != first else None

    second = wait_for("a new profile Job", new_job)
    assert status("Dataset", namespace, "moving")["phase"] == "Profiling"
    assert kube.get("Job", namespace, second) is not None
    finish_pod(namespace, wait_job_pod(namespace, second), exit_code=0, message=profile_message())
    wait_for("Ready again", lambda: status("Dataset", namespace, "moving").get("phase") == "Ready")
    assert status("Dataset", namespace, "moving")["observedGeneration"] == 2
