"""Failures and chaos on a real node: what goes wrong is refused, reported or undone by itself.

* invalid manifests are refused by the API server with the CRD's CEL message (every rule);
* a TrainingRun that misses its quality gate ends Failed, with the reason in status and an Event;
* a model that cannot load fails its rollout, and the ModelDeployment rolls back by itself;
* the operator pod deleted mid-training: no second Job, the run completes with the right status;
* traffic without drift for several Monitor intervals causes no rollback;
* kube-apiserver stopped and started while serving: the operator recovers and keeps monitoring.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import (
    REPO,
    demo,
    events,
    operator_pods,
    restart_apiserver,
    send_rows,
    wait_operator_ready,
)

#: The first test may build the images (cold: several minutes) and install the chart.
pytestmark = pytest.mark.timeout(1800)

API = "mlops.yardarm.dev/v1alpha1"

# --------------------------------------------------------------------------- invalid manifests

VALID: dict[str, dict[str, Any]] = {
    "Dataset": {"source": {"uri": "builtin://iris"}, "target": "target"},
    "TrainingRun": {
        "datasetRef": {"name": "iris"},
        "task": "classification",
        "estimator": {"kind": "LogisticRegression"},
    },
    "ModelDeployment": {"model": {"trainingRunRef": {"name": "iris-logreg-1"}}},
    "Monitor": {
        "targetRef": {"name": "iris"},
        "interval": "10s",
        "window": "1m",
        "checks": [{"name": "p99", "type": "latency", "quantile": 0.99, "threshold": 0.1}],
    },
}
SHA = "sha256:" + "0" * 64

#: (kind, change to the valid spec, words the API server's refusal must contain).
INVALID: list[tuple[str, dict[str, Any], str]] = [
    (
        "Dataset",
        {"source": {"uri": "https://example.invalid/x.csv", "s3": {"region": "eu"}}},
        "source.s3 applies only to s3:// URIs",
    ),
    (
        "Dataset",
        {"features": [{"name": "target", "type": "numeric"}]},
        "the target column must not also be listed in features",
    ),
    ("Dataset", {"split": {"testFraction": 0.9}}, "spec.split.testFraction"),
    (
        "Dataset",
        {
            "source": {
                "uri": "s3://b/x.csv",
                "s3": {"credentialsSecretRef": {"name": "k"}, "defaultCredentialChain": True},
            }
        },
        "set s3.credentialsSecretRef or s3.defaultCredentialChain, not both",
    ),
    ("Dataset", {"source": {"uri": "builtin://iris", "format": "xlsx"}}, "Unsupported value"),
    (
        "Dataset",
        {"source": {"uri": "s3://b/x.csv", "s3": {"caBundleRef": {"name": "ca", "key": "a/b"}}}},
        "must be a ConfigMap key: letters, digits, '-', '_' and '.'",
    ),
    (
        "Dataset",
        {"source": {"uri": "s3://b/x.csv", "s3": {"caBundleRef": {"name": "ca", "key": ".."}}}},
        "must not be '.' or '..'",
    ),
    ("Monitor", {"falseAlarmRate": 0.5}, "must be at most 0.2"),
    (
        "ModelDeployment",
        {"model": {"trainingRunRef": {"name": "a"}, "uri": "pvc://m/x", "digest": SHA}},
        "set exactly one of model.trainingRunRef or model.uri",
    ),
    ("ModelDeployment", {"model": {"uri": "pvc://m/x"}}, "model.uri needs model.digest, so the bytes are pinned"),
    (
        "ModelDeployment",
        {"model": {"trainingRunRef": {"name": "a"}, "digest": SHA}},
        "model.digest goes with model.uri",
    ),
    (
        "ModelDeployment",
        {"autoscaling": {"minReplicas": 3, "maxReplicas": 2}},
        "autoscaling.maxReplicas must be at least minReplicas",
    ),
    (
        "ModelDeployment",
        {"replicas": 2, "autoscaling": {"minReplicas": 1, "maxReplicas": 2}},
        "set replicas or autoscaling, not both",
    ),
    ("ModelDeployment", {"replicas": 101}, "spec.replicas"),
    ("ModelDeployment", {"progressDeadlineSeconds": 5}, "spec.progressDeadlineSeconds"),
    ("ModelDeployment", {"model": {"uri": "pvc://m/x", "digest": "md5:abc"}}, "spec.model.digest"),
    ("ModelDeployment", {"model": {"uri": "http://m/x", "digest": SHA}}, "spec.model.uri"),
    (
        "Monitor",
        {"checks": [{"name": "e", "type": "errorRate", "threshold": 2}]},
        "errorRate and accuracy thresholds are fractions between 0 and 1",
    ),
    (
        "Monitor",
        {"checks": [{"name": "e", "type": "errorRate", "threshold": 0.1, "quantile": 0.9}]},
        "quantile applies only to latency checks",
    ),
    (
        "Monitor",
        {"checks": [{"name": "l", "type": "latency", "threshold": 0.1, "method": "psi"}]},
        "method applies only to drift checks",
    ),
    (
        "Monitor",
        {"checks": [{"name": "p", "type": "predictionDrift", "threshold": 0.1, "features": ["a"]}]},
        "features applies only to featureDrift",
    ),
    (
        "Monitor",
        {"interval": "1m", "window": "30s"},
        "window must be at least as long as interval (interval defaults to 30s, window to 5m)",
    ),
    ("Monitor", {"interval": "1s", "window": "1m"}, "interval must be at least 5s"),
    ("Monitor", {"failureThreshold": 0}, "spec.failureThreshold"),
    (
        "TrainingRun",
        {"qualityGates": [{"metric": "accuracy", "min": 0.9, "max": 1.0}]},
        "a quality gate sets exactly one of min or max",
    ),
    (
        "TrainingRun",
        {"qualityGates": [{"metric": "logLoss", "min": 0.1}]},
        "logLoss, rmse and mae are lower-is-better: gate them with max",
    ),
    (
        "TrainingRun",
        {"qualityGates": [{"metric": "accuracy", "max": 0.9}]},
        "accuracy, f1Macro, rocAuc and r2 are higher-is-better: gate them with min",
    ),
    (
        "TrainingRun",
        {"estimator": {"kind": "Ridge"}},
        "a classification task needs a classifier estimator",
    ),
    (
        "TrainingRun",
        {"task": "regression", "estimator": {"kind": "LogisticRegression"}},
        "a regression task needs a regressor estimator",
    ),
    (
        "TrainingRun",
        {"qualityGates": [{"metric": "r2", "min": 0.5}]},
        "a quality gate names a metric of another task",
    ),
    ("TrainingRun", {"estimator": {"kind": "PickledModel"}}, "Unsupported value"),
    # -- issue 14, class 1: paths that escape their claim; URIs that name no claim; schemes.
    (
        "Dataset",
        {"source": {"uri": "pvc://data/../../etc/passwd"}},
        "must not contain '..' segments: a path stays inside its claim, bucket or directory",
    ),
    (
        "ModelDeployment",
        {"model": {"uri": "pvc:///bundles/x", "digest": SHA}},
        (
            "a pvc:// URI starts with the name of a PersistentVolumeClaim, as in pvc://models/bundles "
            "(lowercase letters, digits, '-' and '.')"
        ),
    ),
    (
        "ModelDeployment",
        {"model": {"uri": "pvc://models", "digest": SHA}},
        "a pvc:// URI names a path inside the claim, as in pvc://data/iris.csv",
    ),
    (
        "TrainingRun",
        {"output": {"uri": "http://store/models"}},
        "must start with pvc://<claim>/, s3://<bucket>/ or file:/// (an absolute path)",
    ),
    (
        "Dataset",
        {"source": {"uri": "ftp://host/x.csv"}},
        "must start with builtin://, pvc://<claim>/, s3://<bucket>/, https:// or file:/// (an absolute path)",
    ),
    (
        "Dataset",
        {"source": {"uri": "s3://A_B/x.csv"}},
        (
            "an s3:// URI starts with a bucket name, as in s3://models/bundles "
            "(3 to 63 lowercase letters, digits, '.', '-')"
        ),
    ),
    ("Dataset", {"source": {"uri": "s3://bucket"}}, "an s3:// URI names a key in the bucket, as in s3://data/iris.csv"),
    (
        "Dataset",
        {"source": {"uri": "file://x.csv"}},
        "a file:// URI names an absolute path, as in file:///data/iris.csv",
    ),
    ("Dataset", {"source": {"uri": "https:///x.csv"}}, "an https:// URI names a host and a path"),
    (
        "Monitor",
        {"prometheusUrl": "prometheus:9090"},
        "must be an http:// or https:// URL with a host, as in http://prometheus:9090",
    ),
    (
        "ModelDeployment",
        {"model": {"uri": "pvc://" + "c" * 254 + "/x", "digest": SHA}},
        "the claim name in a pvc:// URI is at most 253 characters",
    ),
    # -- class 2: values that make a check meaningless or dangerous.
    # The server's OpenAPI check compares an integer with a fractional bound cut to an integer.
    ("Dataset", {"split": {"testFraction": 0}}, "must be at least 0.05"),
    ("Dataset", {"split": {"testFraction": 1}}, "must be at most 0.5"),
    (
        "Monitor",
        {"checks": [{"name": "p99", "type": "latency", "threshold": 0}]},
        "a latency threshold is a number of seconds above 0 (0 would fail every evaluation)",
    ),
    (
        "TrainingRun",
        {"qualityGates": [{"metric": "accuracy", "min": 1.5}]},
        "accuracy is between 0 and 1: a gate outside that range can never be met as meant",
    ),
    (
        "TrainingRun",
        {"qualityGates": [{"metric": "f1Macro", "min": 2}]},
        "f1Macro is between 0 and 1: a gate outside that range can never be met as meant",
    ),
    (
        "TrainingRun",
        {"qualityGates": [{"metric": "rocAuc", "min": -0.5}]},
        "rocAuc is between 0 and 1: a gate outside that range can never be met as meant",
    ),
    (
        "TrainingRun",
        {"qualityGates": [{"metric": "logLoss", "max": -1}]},
        "logLoss is at least 0: a gate below that can never be met",
    ),
    (
        "TrainingRun",
        {"task": "regression", "estimator": {"kind": "Ridge"}, "qualityGates": [{"metric": "rmse", "max": -1}]},
        "rmse is at least 0: a gate below that can never be met",
    ),
    (
        "TrainingRun",
        {"task": "regression", "estimator": {"kind": "Ridge"}, "qualityGates": [{"metric": "mae", "max": -0.1}]},
        "mae is at least 0: a gate below that can never be met",
    ),
    (
        "TrainingRun",
        {"task": "regression", "estimator": {"kind": "Ridge"}, "qualityGates": [{"metric": "r2", "min": 1.5}]},
        "r2 is at most 1: a gate above that can never be met",
    ),
    ("TrainingRun", {"search": {"grid": {"max_depth": 5}}}, "must be of type array"),
    (
        "Dataset",
        {"features": []},
        "features must not be empty: leave features unset to use every column but the target",
    ),
    (
        "Monitor",
        {"checks": [{"name": "d", "type": "featureDrift", "threshold": 0.2, "features": []}]},
        "features must not be empty: leave features unset to test every feature",
    ),
    (
        "Dataset",
        {"features": [{"name": f"{i:03d}" + "x" * 250} for i in range(300)]},
        "feature names together are too long: at most 65536 characters",
    ),
    ("TrainingRun", {"estimator": {"kind": "LogisticRegression", "params": {"C": "x" * 300}}}, "Too long"),
    ("TrainingRun", {"estimator": {"kind": "LogisticRegression", "params": {"C": list(range(20))}}}, "Too many"),
    (
        "Dataset",
        {"source": {"uri": "builtin://titanic"}},
        "builtin:// data sets are iris, wine, breast_cancer, diabetes and digits",
    ),
    # -- class 3: names whose children cannot exist.
    (
        "ModelDeployment",
        {"metadata": {"name": "2iris"}},
        (
            "a ModelDeployment name must also be a valid Service name: lowercase letters, digits and '-', "
            "starting with a letter (no dots)"
        ),
    ),
    (
        "ModelDeployment",
        {"metadata": {"name": "iris.v2"}},
        (
            "a ModelDeployment name must also be a valid Service name: lowercase letters, digits and '-', "
            "starting with a letter (no dots)"
        ),
    ),
    (
        "ModelDeployment",
        {"metadata": {"name": "m" * 56}},
        "metadata.name: Too long",
    ),
    (
        "TrainingRun",
        {"datasetRef": {"name": "Iris_Data"}},
        "must be an object name: lowercase letters, digits, '-' and '.', starting and ending alphanumeric",
    ),
    (
        "Monitor",
        {"checks": [{"name": "P99", "type": "latency", "threshold": 0.1}]},
        "must be lowercase letters, digits and '-', starting and ending alphanumeric",
    ),
    # -- class 4: fields the child object would refuse.
    (
        "ModelDeployment",
        {"resources": {"requests": {"memory": "lots"}}},
        "must be a quantity of bytes such as 512Mi, 2Gi or 1000000, and not negative",
    ),
    (
        "ModelDeployment",
        {"resources": {"requests": {"cpu": "half"}}},
        "spec.resources.requests.cpu in body should match",
    ),
    ("ModelDeployment", {"resources": {"limits": {"cpu": -1}}}, "spec.resources.limits.cpu in body should be greater"),
    (
        "ModelDeployment",
        {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}},
        "resources.requests.memory must be at most resources.limits.memory",
    ),
    (
        "TrainingRun",
        {"job": {"resources": {"requests": {"ephemeral-storage": "2Gi"}, "limits": {"ephemeral-storage": "1Gi"}}}},
        "resources.requests.ephemeral-storage must be at most resources.limits.ephemeral-storage",
    ),
    ("TrainingRun", {"job": {"ttlSecondsAfterFinished": 2**31}}, "spec.job.ttlSecondsAfterFinished"),
    ("Dataset", {"split": {"seed": 2**32}}, "spec.split.seed"),
    # -- class 5: size. A 200 KB TrainingRun is refused with the limit it broke.
    (
        "TrainingRun",
        {"estimator": {"kind": "LogisticRegression", "params": {"solver": "x" * 200_000}}},
        "spec.estimator.params.solver: Too long: may not be more than 256",
    ),
    # -- class 7: messages. A duration says what a duration is; none is ever a conversion error.
    ("Monitor", {"interval": "1x"}, "must be a duration such as 30s, 5m or 1h30m (units ms, s, m, h)"),
    ("Monitor", {"window": "999999999h"}, "must be a duration such as 30s, 5m or 1h30m"),
    # A default that causes the refusal is named: interval is left to its default (null is pruned).
    ("Monitor", {"interval": None, "window": "10s"}, "interval defaults to 30s"),
    (
        "Dataset",
        {"source": {"uri": "s3://data/iris.csv", "s3": {"credentialsSecretRef": {"name": "S3_Creds"}}}},
        "must be an object name",
    ),
]
#: Manifests a Pod-literate person expects to be accepted (issue 14, class 6, and edge cases).
VALID_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("ModelDeployment", {"resources": {"requests": {"cpu": 0.5, "memory": 268435456}, "limits": {"cpu": "1"}}}),
    ("ModelDeployment", {"model": {"uri": "s3://models/bundles/sha256-x", "digest": SHA}}),
    ("ModelDeployment", {"metadata": {"name": "m" * 55}}),
    ("TrainingRun", {"output": {"uri": "pvc://models"}}),
    ("TrainingRun", {"estimator": {"kind": "LogisticRegression", "params": {"class_weight": {"0": 1.0, "1": 2.0}}}}),
    ("Dataset", {"source": {"uri": "pvc://data/a..b/iris.csv"}}),
    ("Monitor", {"interval": "1m30s", "window": "1.5h"}),
]
#: Rules that need an update, not a create, to break.
UPDATE_ONLY = {"TrainingRun spec is immutable: create a new TrainingRun to train again"}


def _manifest(kind: str, name: str, change: dict[str, Any]) -> dict[str, Any]:
    """The valid spec of ``kind`` with ``change`` merged in (a ``metadata`` key sets the object's name)."""
    spec = copy.deepcopy(VALID[kind])
    spec.update(copy.deepcopy(change))
    metadata = spec.pop("metadata", {"name": name})
    return {"apiVersion": API, "kind": kind, "metadata": metadata, "spec": spec}


def _refusal(release: Any, manifest: dict[str, Any]) -> str:
    """Server-side dry-run create; returns the API server's error (fails if it accepted)."""
    with pytest.raises(demo.DemoError) as refused:
        release.kubectl("create", "--dry-run=server", "-n", release.namespace, "-f", "-", input=json.dumps(manifest))
    return str(refused.value)


def _cel_messages(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for rule in node.get("x-kubernetes-validations") or []:
            yield rule["message"]
        for value in node.values():
            yield from _cel_messages(value)
    elif isinstance(node, list):
        for value in node:
            yield from _cel_messages(value)


def test_every_cel_rule_of_the_crds_has_a_refusal_case() -> None:
    messages = {m for path in (REPO / "crds").glob("*.yaml") for m in _cel_messages(yaml.safe_load(path.read_text()))}
    covered = {words for _, _, words in INVALID} | UPDATE_ONLY
    assert messages, "no CEL rules found in crds/"
    assert messages <= covered, f"CEL rules without an e2e refusal case: {sorted(messages - covered)}"


def test_valid_manifests_are_accepted(release: Any) -> None:
    for kind, change in [*((k, {}) for k in VALID), *VALID_VARIANTS]:
        manifest = _manifest(kind, "valid", change)
        release.kubectl("create", "--dry-run=server", "-n", release.namespace, "-f", "-", input=json.dumps(manifest))


@pytest.mark.parametrize(("kind", "change", "words"), INVALID, ids=[f"{k}-{w[:40]}" for k, _, w in INVALID])
def test_invalid_manifest_is_refused_with_its_message(
    release: Any, kind: str, change: dict[str, Any], words: str
) -> None:
    error = _refusal(release, _manifest(kind, "invalid", change))
    assert "is invalid" in error
    assert words in error


def test_trainingrun_spec_is_immutable(release: Any) -> None:
    # A run on a Dataset that does not exist waits: no Job, only the object to update.
    manifest = _manifest("TrainingRun", "immutable", {"datasetRef": {"name": "no-such-dataset"}})
    release.apply(manifest)
    try:
        patch = json.dumps({"spec": {"estimator": {"kind": "RandomForestClassifier"}}})
        with pytest.raises(demo.DemoError) as refused:
            release.kubectl("patch", "trainingrun", "immutable", "-n", release.namespace, "--type=merge", "-p", patch)
        assert "TrainingRun spec is immutable: create a new TrainingRun to train again" in str(refused.value)
    finally:
        release.kubectl("delete", "trainingrun", "immutable", "-n", release.namespace, "--wait=false")


# --------------------------------------------------------------------------- training and rollout failures


def test_trainingrun_that_misses_its_quality_gate_fails_with_reason_and_event(
    release: Any, iris_dataset: dict[str, Any]
) -> None:
    # A one-split tree cannot tell three classes apart: accuracy about 0.6, far from the gate.
    run = {
        "apiVersion": API,
        "kind": "TrainingRun",
        "metadata": {"name": "iris-stump"},
        "spec": {
            "datasetRef": {"name": "iris"},
            "task": "classification",
            "estimator": {"kind": "DecisionTreeClassifier", "params": {"max_depth": 1}},
            "qualityGates": [{"metric": "accuracy", "min": 0.95}],
        },
    }
    release.apply(run)
    status = demo.finished_run(release, "iris-stump", timeout=420)
    assert status["phase"] == "Failed", status
    assert status["reason"] == "QualityGateMissed", status
    assert "accuracy" in status["message"]
    assert not status.get("model"), "a run that missed its gate offers no model"
    assert demo.condition(status, "Ready")["status"] == "False"
    warning = release.wait(
        "a QualityGateMissed Event",
        lambda: [e for e in events(release, "TrainingRun", "iris-stump") if e["reason"] == "QualityGateMissed"],
        timeout=60,
        every=2,
    )
    assert warning[0]["type"] == "Warning"
    assert "accuracy" in warning[0]["message"]


def test_model_that_cannot_load_fails_its_rollout_and_rolls_back(release: Any, logreg_run: dict[str, Any]) -> None:
    good = logreg_run["model"]
    release.apply(
        {
            "apiVersion": API,
            "kind": "ModelDeployment",
            "metadata": {"name": "unloadable"},
            "spec": {
                "model": {"trainingRunRef": {"name": "iris-logreg-1"}},
                "replicas": 1,
                "progressDeadlineSeconds": 30,
            },
        }
    )
    demo.serving(release, "unloadable", good["digest"], timeout=300)
    # The same bundle with a digest that is not its own: the server refuses to load it.
    wrong = "sha256:" + "f" * 64
    patch = {"spec": {"model": {"trainingRunRef": None, "uri": good["uri"], "digest": wrong}}}
    release.kubectl(
        "patch", "modeldeployment", "unloadable", "-n", release.namespace, "--type=merge", "-p", json.dumps(patch)
    )

    status = demo.rolled_back(release, "unloadable", good["digest"], timeout=300)
    history = {r["revision"]: r for r in status["history"]}
    assert history[2]["modelDigest"] == wrong
    assert history[2]["outcome"] == "Failed"
    assert history[2]["reason"]
    assert history[1]["outcome"] == "Serving"
    assert demo.condition(status, "RolledBack")["reason"] == "RolloutFailed"
    reasons = {e["reason"] for e in events(release, "ModelDeployment", "unloadable")}
    assert {"RolloutFailed", "RolledBack"} <= reasons, reasons
    reply = demo.predict_rows(release, demo.NORMAL_ROWS, name="unloadable")
    assert [str(x) for x in demo.labels_of(reply)] == [str(c) for c in demo.EXPECTED_CLASSES]
    release.kubectl("delete", "modeldeployment", "unloadable", "-n", release.namespace, "--wait=false")


# --------------------------------------------------------------------------- chaos


def test_operator_pod_deleted_during_training_creates_no_second_job(release: Any, iris_dataset: dict[str, Any]) -> None:
    wait_operator_ready(release)
    run = {
        "apiVersion": API,
        "kind": "TrainingRun",
        "metadata": {"name": "iris-chaos"},
        "spec": {
            "datasetRef": {"name": "iris"},
            "task": "classification",
            # A small grid search keeps the Job busy long enough for the operator to go away mid-run.
            "estimator": {"kind": "RandomForestClassifier", "params": {"n_estimators": 150, "random_state": 1}},
            "search": {"grid": {"max_depth": [2, 3, 4, 6]}, "cvFolds": 5},
            "qualityGates": [{"metric": "accuracy", "min": 0.9}],
        },
    }
    release.apply(run)
    selector = "app.kubernetes.io/instance=iris-chaos"

    def job() -> dict[str, Any] | None:
        items = json.loads(release.kubectl("get", "jobs", "-n", release.namespace, "-l", selector, "-o", "json"))
        return items["items"][0] if items["items"] else None

    first = release.wait("the training Job", job, timeout=120, every=1)
    assert release.status("trainingrun", "iris-chaos").get("phase") not in ("Succeeded", "Failed"), (
        "training finished before the operator could be deleted"
    )
    old = operator_pods(release)[0]["metadata"]["name"]
    release.kubectl("delete", "pod", old, "-n", release.namespace, "--wait=false")
    new = wait_operator_ready(release)
    assert new != old

    status = demo.finished_run(release, "iris-chaos", timeout=420)
    assert status["phase"] == "Succeeded", status
    jobs = json.loads(release.kubectl("get", "jobs", "-n", release.namespace, "-l", selector, "-o", "json"))["items"]
    assert [j["metadata"]["uid"] for j in jobs] == [first["metadata"]["uid"]], "the Job was created twice"
    assert status["jobName"] == first["metadata"]["name"]
    assert status["model"]["digest"].startswith("sha256:")
    assert status["metrics"]["accuracy"] >= 0.9
    created = [e for e in events(release, "TrainingRun", "iris-chaos") if e["reason"] == "JobCreated"]
    assert sum(e.get("count") or 1 for e in created) == 1, created


STEADY_MONITOR: dict[str, Any] = {
    "apiVersion": API,
    "kind": "Monitor",
    "metadata": {"name": "steady"},
    "spec": {
        "targetRef": {"name": "steady"},
        "interval": "5s",
        "window": "20s",
        # What iris' 150 reference rows (38 test predictions) can show: the iris example's drift
        # thresholds, and windows of at least minSamples requests (send_rows: 5 rows a request).
        "minSamples": 100,
        "failureThreshold": 2,
        "action": "rollback",
        "checks": [
            {"name": "errors", "type": "errorRate", "threshold": 0.05},
            {"name": "input-drift", "type": "featureDrift", "method": "psi", "threshold": 0.5},
            {"name": "output-drift", "type": "predictionDrift", "method": "psi", "threshold": 1.0},
        ],
    },
}


@pytest.fixture(scope="module")
def steady(release: Any, logreg_run: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A ModelDeployment ``steady`` serving the logistic regression, watched by a strict Monitor."""
    release.apply(
        {
            "apiVersion": API,
            "kind": "ModelDeployment",
            "metadata": {"name": "steady"},
            "spec": {"model": {"trainingRunRef": {"name": "iris-logreg-1"}}, "replicas": 1},
        }
    )
    demo.serving(release, "steady", logreg_run["model"]["digest"], timeout=300)
    release.apply(STEADY_MONITOR)
    yield logreg_run
    release.kubectl("delete", "monitor,modeldeployment", "steady", "-n", release.namespace, "--wait=false")


def _assert_still_serving_revision_1(release: Any, digest: str) -> None:
    status = release.status("modeldeployment", "steady")
    assert status["currentDigest"] == digest
    assert [r["outcome"] for r in status["history"]] == ["Serving"]
    assert demo.condition(status, "RolledBack").get("status") != "True"


def test_traffic_without_drift_causes_no_rollback(
    release: Any, steady: dict[str, Any], iris_rows: list[list[float]]
) -> None:
    phases: list[str | None] = []
    deadline = time.monotonic() + 45  # nine 5 s intervals
    while time.monotonic() < deadline:
        send_rows(release, "steady", iris_rows, seconds=4, batch=5)
        monitor = release.status("monitor", "steady")
        phases.append(monitor.get("phase"))
        assert monitor.get("phase") != "Degraded", monitor
    assert "Healthy" in phases, f"the Monitor never judged the traffic: {phases}"
    monitor = release.status("monitor", "steady")
    assert monitor.get("consecutiveFailures", 0) == 0, monitor
    assert all(c["result"] != "Fail" for c in monitor.get("checks") or []), monitor
    _assert_still_serving_revision_1(release, steady["model"]["digest"])


def test_apiserver_restart_while_serving_operator_keeps_monitoring(
    release: Any, steady: dict[str, Any], iris_rows: list[list[float]]
) -> None:
    send_rows(release, "steady", iris_rows, seconds=6, batch=5)
    back = restart_apiserver(down_seconds=5)

    def evaluated_after_restart() -> dict[str, Any] | None:
        send_rows(release, "steady", iris_rows, seconds=2, batch=5)
        monitor = release.status("monitor", "steady")
        stamp = monitor.get("lastEvaluationTime")
        if not stamp:
            return None
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        return monitor if when > back + 1 and monitor.get("phase") == "Healthy" else None

    monitor = release.wait("a Healthy evaluation after the restart", evaluated_after_restart, timeout=180, every=1)
    assert monitor["consecutiveFailures"] == 0
    _assert_still_serving_revision_1(release, steady["model"]["digest"])
    # The operator still acts on new objects after the restart.
    release.kubectl(
        "patch",
        "modeldeployment",
        "steady",
        "-n",
        release.namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"replicas": 2}}),
    )
    release.wait(
        "the operator to scale the Deployment after the restart",
        lambda: release.status("modeldeployment", "steady").get("readyReplicas") == 2,
        timeout=180,
    )
