"""ModelDeployments against the real control plane: serving children, readiness, rollbacks, GC.

The test plays the kubelet: it marks serving pods Ready (the real ReplicaSet and Deployment
controllers then count them available) and writes Monitor verdicts the way the Monitor
evaluation would.
"""

# ruff: noqa: F811 - fixtures imported from the harness are redefined as test parameters

from __future__ import annotations

import contextlib
import time
from typing import Any

from tests.integration.test_operator_harness import (  # noqa: F401 - fixtures
    A,
    B,
    C,
    cluster,
    cond,
    create,
    events_of,
    finish_pod,
    namespace,
    operator,
    ready_all,
    serving_pods,
    status,
    wait_for,
    wait_job_pod,
)
from tests.integration.test_operator_training import DATASET_SPEC, profile_dataset, tr_spec
from yardarm.jobresult import TrainResult, encode_result
from yardarm.operator import kube, names
from yardarm.training.errors import QualityGateError


def uri_model(digest: str) -> dict[str, Any]:
    return {"uri": f"pvc://artifacts/yardarm/bundles/{digest.replace(':', '-')}", "digest": digest}


def deployment(ns: str, md: str) -> dict[str, Any] | None:
    return kube.get("Deployment", ns, names.serving_name(md))


def template_revision(ns: str, md: str) -> str | None:
    deploy = deployment(ns, md)
    return deploy["spec"]["template"]["metadata"]["labels"].get(names.LABEL_REVISION) if deploy else None


def md_phase(ns: str, md: str) -> str | None:
    return status("ModelDeployment", ns, md).get("phase")


def set_model(ns: str, md: str, model: dict[str, Any]) -> None:
    kube.patch("ModelDeployment", ns, md, {"spec": {"model": model}})


def serve(ns: str, md: str, model: dict[str, Any], **spec: Any) -> None:
    """Create a ModelDeployment and bring revision 1 to Ready."""
    create("ModelDeployment", ns, md, {"model": model, **spec})
    wait_for("the Deployment", lambda: deployment(ns, md))
    ready_all(ns, md, 1, count=int(spec.get("replicas", 1)))
    wait_for(f"{md} Ready", lambda: md_phase(ns, md) == "Ready")


def rollout_to(ns: str, md: str, model: dict[str, Any], revision: int) -> None:
    set_model(ns, md, model)
    wait_for(f"revision {revision} in the template", lambda: template_revision(ns, md) == str(revision))
    ready_all(ns, md, revision)
    wait_for(
        f"revision {revision} serving",
        lambda: status("ModelDeployment", ns, md).get("currentRevision") == revision and md_phase(ns, md) == "Ready",
    )


def write_verdict(ns: str, monitor: str, *, degraded: bool, digest: str, revision: int, phase: str) -> None:
    """Write a Monitor verdict as the evaluation would (after its own first round, so it is not overwritten)."""
    with contextlib.suppress(AssertionError):  # an evaluation that writes nothing cannot overwrite us either
        wait_for("the Monitor's first evaluation", lambda: status("Monitor", ns, monitor).get("phase"), timeout=20)
    kube.patch_status(
        "Monitor",
        ns,
        monitor,
        {
            "phase": phase,
            "verdict": {
                "degraded": degraded,
                "digest": digest,
                "revision": revision,
                "since": "2026-11-30T12:00:00Z",
                "reason": "errorRate 0.31 > 0.05 for 3 evaluations",
            },
        },
    )


def monitor(ns: str, name: str, target: str, action: str = "rollback") -> None:
    create(
        "Monitor",
        ns,
        name,
        {
            "targetRef": {"name": target},
            "interval": "1h",
            "window": "1h",
            "action": action,
            "checks": [{"name": "errors", "type": "errorRate", "threshold": 0.05}],
        },
    )


def test_a_model_by_uri_is_served_by_a_deployment_and_a_service(operator: Any, namespace: str, cluster: Any) -> None:
    create("ModelDeployment", namespace, "plain", {"model": uri_model(A), "replicas": 2})
    deploy = wait_for("the Deployment", lambda: deployment(namespace, "plain"))
    assert md_phase(namespace, "plain") == "Progressing"
    assert cond("ModelDeployment", namespace, "plain", "Ready")["status"] == "False"
    spec = deploy["spec"]
    assert spec["replicas"] == 2 and spec["progressDeadlineSeconds"] == 600
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "yardarm/serving:dev" and container["imagePullPolicy"] == "IfNotPresent"
    args = container["args"]
    assert args[args.index("--bundle") + 1] == f"/artifacts/yardarm/bundles/{A.replace(':', '-')}"
    assert args[args.index("--digest") + 1] == A
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    artifacts = next(v for v in pod["volumes"] if v["name"] == "artifacts")
    assert artifacts["persistentVolumeClaim"] == {"claimName": "artifacts", "readOnly": True}
    assert spec["template"]["metadata"]["labels"][names.LABEL_REVISION] == "1"
    assert kube.get("Service", namespace, names.serving_name("plain")) is not None
    assert kube.get("PodDisruptionBudget", namespace, names.serving_name("plain")) is not None

    # One ready pod of two is not Ready; both are.
    pods = wait_for("2 pods", lambda: (lambda p: p if len(p) == 2 else None)(serving_pods(namespace, "plain", 1)))
    from tests.integration.test_operator_harness import make_ready

    make_ready(namespace, pods[0])
    wait_for("1 ready replica", lambda: status("ModelDeployment", namespace, "plain").get("readyReplicas") == 1)
    assert md_phase(namespace, "plain") == "Progressing"
    make_ready(namespace, pods[1])
    wait_for("Ready", lambda: md_phase(namespace, "plain") == "Ready")
    st = status("ModelDeployment", namespace, "plain")
    assert (st["currentRevision"], st["currentDigest"], st["desiredDigest"]) == (1, A, A)
    assert st["url"] == f"http://{names.serving_name('plain')}.{namespace}.svc"
    assert st["history"][0]["outcome"] == "Serving"
    cluster.kubectl("wait", "--for=condition=Ready", "-n", namespace, "modeldeployment/plain", "--timeout=10s")

    # A crash-looping pod (readiness lost) makes it not Ready again.
    make_ready(namespace, pods[1], ready=False)
    wait_for("not Ready", lambda: md_phase(namespace, "plain") == "Progressing")


def test_autoscaling_creates_an_hpa_and_leaves_replicas_to_it(operator: Any, namespace: str) -> None:
    create("ModelDeployment", namespace, "auto", {"model": uri_model(A), "autoscaling": {"maxReplicas": 4}})
    deploy = wait_for("the Deployment", lambda: deployment(namespace, "auto"))
    hpa = wait_for("the HPA", lambda: kube.get("HorizontalPodAutoscaler", namespace, names.serving_name("auto")))
    assert hpa["spec"]["maxReplicas"] == 4 and hpa["spec"]["scaleTargetRef"]["name"] == deploy["metadata"]["name"]
    fields = [f for f in deploy["metadata"]["managedFields"] if f["manager"] == "yardarm-operator"]
    assert fields and "f:replicas" not in str(fields[0]["fieldsV1"].get("f:spec", {}))


def test_a_model_from_a_succeeded_training_run_is_served(operator: Any, namespace: str) -> None:
    create("Dataset", namespace, "md-data", DATASET_SPEC)
    profile_dataset(namespace, "md-data")
    create("TrainingRun", namespace, "md-tr", tr_spec("md-data"))
    create("ModelDeployment", namespace, "from-tr", {"model": {"trainingRunRef": {"name": "md-tr"}}})
    wait_for("Pending", lambda: md_phase(namespace, "from-tr") == "Pending")
    assert "TrainingRun md-tr" in cond("ModelDeployment", namespace, "from-tr", "Reconciling")["message"]
    job_name = names.training_job_name("md-tr")
    wait_for("job", lambda: kube.get("Job", namespace, job_name))
    from tests.integration.test_operator_training import train_message

    finish_pod(namespace, wait_job_pod(namespace, job_name), exit_code=0, message=train_message())
    wait_for("the Deployment", lambda: deployment(namespace, "from-tr"))
    history = status("ModelDeployment", namespace, "from-tr")["history"]
    assert history[0]["trainingRun"] == "md-tr" and history[0]["modelDigest"] == B


def test_a_failed_training_run_stalls_the_model_deployment_with_a_message(operator: Any, namespace: str) -> None:
    create("Dataset", namespace, "bad-data", DATASET_SPEC)
    profile_dataset(namespace, "bad-data")
    create("TrainingRun", namespace, "bad-tr", tr_spec("bad-data"))
    job_name = names.training_job_name("bad-tr")
    wait_for("job", lambda: kube.get("Job", namespace, job_name))
    failed = TrainResult(ok=False, exit_code=4, reason=QualityGateError.default_reason, message="accuracy 0.5 < 0.9")
    finish_pod(namespace, wait_job_pod(namespace, job_name), exit_code=4, message=encode_result(failed).decode())
    create("ModelDeployment", namespace, "from-bad", {"model": {"trainingRunRef": {"name": "bad-tr"}}})
    wait_for(
        "Stalled",
        lambda: cond("ModelDeployment", namespace, "from-bad", "Stalled").get("reason") == "TrainingRunFailed",
    )
    message = cond("ModelDeployment", namespace, "from-bad", "Stalled")["message"]
    assert f"bad-tr failed ({QualityGateError.default_reason}): accuracy 0.5 < 0.9" in message
    assert deployment(namespace, "from-bad") is None

    create("ModelDeployment", namespace, "from-missing", {"model": {"trainingRunRef": {"name": "nope"}}})
    wait_for(
        "Stalled",
        lambda: cond("ModelDeployment", namespace, "from-missing", "Stalled").get("reason") == "TrainingRunNotFound",
    )


def test_a_degraded_verdict_rolls_back_and_the_bad_digest_stays_out(operator: Any, namespace: str) -> None:
    serve(namespace, "roll", uri_model(A))
    rollout_to(namespace, "roll", uri_model(B), 2)
    monitor(namespace, "roll-quality", "roll")

    # Inconclusive (not degraded) never rolls back.
    write_verdict(namespace, "roll-quality", degraded=False, digest=B, revision=2, phase="Inconclusive")
    wait_for("the verdict to be stored", lambda: status("Monitor", namespace, "roll-quality").get("verdict"))
    time.sleep(2)
    assert template_revision(namespace, "roll") == "2" and md_phase(namespace, "roll") == "Ready"

    write_verdict(namespace, "roll-quality", degraded=True, digest=B, revision=2, phase="Degraded")
    wait_for("the Deployment back on revision 1", lambda: template_revision(namespace, "roll") == "1", timeout=30)
    st = status("ModelDeployment", namespace, "roll")
    by_revision = {h["revision"]: h for h in st["history"]}
    assert by_revision[2]["outcome"] == "RolledBack"
    assert "Monitor roll-quality: errorRate 0.31" in by_revision[2]["reason"]
    assert cond("ModelDeployment", namespace, "roll", "RolledBack")["status"] == "True"
    assert st["desiredDigest"] == B
    warnings = [e for e in events_of(namespace, "roll") if e["type"] == "Warning" and e["reason"] == "RolledBack"]
    assert len(warnings) == 1
    assert 'yardarm_rollbacks_total{trigger="monitor"} 1.0' in operator.metrics()

    ready_all(namespace, "roll", 1)
    wait_for("revision 1 serving", lambda: status("ModelDeployment", namespace, "roll").get("currentRevision") == 1)
    assert md_phase(namespace, "roll") == "RolledBack"
    assert cond("ModelDeployment", namespace, "roll", "Stalled")["status"] == "True"
    time.sleep(2)
    assert template_revision(namespace, "roll") == "1"  # B is not deployed again

    # A new spec.model moves on.
    rollout_to(namespace, "roll", uri_model(C), 3)
    assert cond("ModelDeployment", namespace, "roll", "RolledBack")["status"] == "False"


def test_deleting_a_model_deployment_deletes_its_children(operator: Any, namespace: str, cluster: Any) -> None:
    create("ModelDeployment", namespace, "gone", {"model": uri_model(A)})
    deploy = wait_for("the Deployment", lambda: deployment(namespace, "gone"))
    assert deploy["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"
    cluster.kubectl("delete", "-n", namespace, "modeldeployment/gone", "--wait=true", "--timeout=30s")
    wait_for("the Deployment to be collected", lambda: deployment(namespace, "gone") is None, timeout=60)
    wait_for(
        "the Service to be collected",
        lambda: kube.get("Service", namespace, names.serving_name("gone")) is None,
        timeout=60,
    )


def test_an_alert_only_monitor_warns_once_and_never_rolls_back(operator: Any, namespace: str) -> None:
    serve(namespace, "alerted", uri_model(A))
    rollout_to(namespace, "alerted", uri_model(B), 2)
    monitor(namespace, "alerted-quality", "alerted", action="alert")
    write_verdict(namespace, "alerted-quality", degraded=True, digest=B, revision=2, phase="Degraded")
    wait_for(
        "a ModelDegraded warning",
        lambda: [e for e in events_of(namespace, "alerted") if e["reason"] == "ModelDegraded"],
        timeout=30,
    )
    kube.patch("ModelDeployment", namespace, "alerted", {"metadata": {"labels": {"poke": "1"}}})
    time.sleep(2)
    assert template_revision(namespace, "alerted") == "2" and md_phase(namespace, "alerted") == "Ready"
    assert len([e for e in events_of(namespace, "alerted") if e["reason"] == "ModelDegraded"]) == 1
