"""Serving children, model resolution, rollout observation and the ModelDeployment status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from yardarm.api.conditions import State
from yardarm.api.modeldeployment import Revision
from yardarm.operator import names, serving_children
from yardarm.operator.config import Config
from yardarm.operator.modeldeployment import Unresolved, md_status, observe_rollout, resolve_model, verdicts_of
from yardarm.operator.rollback import Decision, Resolved, Rollout, RolloutState
from yardarm.operator.statuses import changes

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def md(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.yardarm.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "iris", "namespace": "ml", "uid": "u", "generation": 2},
        "spec": {"model": {"uri": "pvc://models/b/x", "digest": A}, **spec},
    }


def rev(number: int, digest: str, outcome: str, uri: str = "pvc://models/bundles/x") -> Revision:
    return Revision(revision=number, model_digest=digest, model_uri=uri, deployed_at=NOW, outcome=outcome)


def test_the_deployment_runs_the_revision_with_a_restricted_read_only_pod() -> None:
    deploy = serving_children.deployment(md(replicas=3, serving={"threads": 2}), rev(4, A, "Progressing"), Config())
    spec = deploy["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    labels = spec["template"]["metadata"]["labels"]
    assert labels[names.LABEL_REVISION] == "4" and spec["selector"]["matchLabels"].items() <= labels.items()
    container = spec["template"]["spec"]["containers"][0]
    assert container["args"][:4] == ["--bundle", "/artifacts/bundles/x", "--digest", A]
    assert "--threads" in container["args"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/artifacts"]["readOnly"] is True and "/tmp" in mounts
    assert spec["template"]["spec"]["securityContext"]["runAsUser"] == 65532


def test_the_same_revision_always_builds_the_same_template() -> None:
    one = serving_children.deployment(md(), rev(1, A, "Progressing"), Config())
    two = serving_children.deployment(md(), rev(1, A, "Serving"), Config())
    assert one == two


def test_autoscaling_leaves_replicas_to_the_hpa() -> None:
    spec = {"autoscaling": {"minReplicas": 2, "maxReplicas": 5}}
    deploy = serving_children.deployment(md(**spec), rev(1, A, "Progressing"), Config())
    assert "replicas" not in deploy["spec"]
    hpa = serving_children.hpa(md(**spec))
    assert hpa is not None and (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert serving_children.pdb(md(**spec)) is not None


def test_a_pdb_only_with_more_than_one_pod_and_no_hpa_without_autoscaling() -> None:
    assert serving_children.pdb(md()) is None
    assert serving_children.pdb(md(replicas=1)) is None
    assert serving_children.pdb(md(replicas=2)) is not None
    assert serving_children.hpa(md(replicas=2)) is None


def _pod(deploy: dict[str, Any]) -> dict[str, Any]:
    return deploy["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def test_an_s3_bundle_is_fetched_by_an_init_container_into_an_empty_dir_and_no_claim_is_mounted() -> None:
    config = Config(s3_endpoint="https://s3.internal:9000", s3_secret="store", s3_region="eu-1")
    uri = "s3://models/team/bundles/sha256-" + "a" * 64
    pod = _pod(serving_children.deployment(md(), rev(1, A, "Progressing", uri=uri), config))
    (fetch,) = pod["initContainers"]
    assert fetch["args"] == ["fetch", "--uri", uri, "--digest", A, "--dest", "/bundle"]
    assert fetch["image"] == config.serving_image and fetch["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in fetch["env"]}
    assert env["YARDARM_S3_ENDPOINT"]["value"] == "https://s3.internal:9000"
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "store"
    assert "value" not in env["AWS_ACCESS_KEY_ID"]  # by reference, never by value
    server = pod["containers"][0]
    assert server["args"][:2] == ["--bundle", "/bundle"]
    assert not any("persistentVolumeClaim" in v for v in pod["volumes"])
    server_mounts = {m["mountPath"]: m for m in server["volumeMounts"]}
    assert server_mounts["/bundle"]["readOnly"] is True  # the server cannot change verified bytes
    assert {"name": "bundle", "emptyDir": {}} in pod["volumes"]


def test_the_bundle_s_own_s3_options_win_and_the_default_chain_drops_static_keys() -> None:
    config = Config(s3_endpoint="http://in-cluster:7070", s3_insecure=True, s3_secret="store")
    options = {
        "endpoint": "https://s3.eu-west-1.amazonaws.com",
        "defaultCredentialChain": True,
        "addressing": "virtual",
    }
    deploy = serving_children.deployment(md(), rev(1, A, "Progressing", uri="s3://b/x"), config, options)
    env = {e["name"]: e.get("value") for e in _pod(deploy)["initContainers"][0]["env"]}
    assert env["YARDARM_S3_ENDPOINT"] == "https://s3.eu-west-1.amazonaws.com"
    assert "YARDARM_S3_INSECURE" not in env  # the operator's plain-HTTP switch was about its own endpoint
    assert env["YARDARM_S3_CREDENTIALS"] == "chain" and env["YARDARM_S3_ADDRESSING"] == "virtual"
    assert "AWS_ACCESS_KEY_ID" not in env


def test_a_ca_bundle_config_map_is_mounted_where_the_fetch_reads_it() -> None:
    config = Config(s3_endpoint="https://minio.corp", s3_ca_configmap="corp-ca")
    pod = _pod(serving_children.deployment(md(), rev(1, A, "Progressing", uri="s3://b/x"), config))
    fetch = pod["initContainers"][0]
    env = {e["name"]: e.get("value") for e in fetch["env"]}
    mounts = {m["name"]: m["mountPath"] for m in fetch["volumeMounts"]}
    volume = next(v for v in pod["volumes"] if v["name"] == "s3-ca")
    assert volume["configMap"]["name"] == "corp-ca"
    assert env["YARDARM_S3_CA_BUNDLE"] == f"{mounts['s3-ca']}/{volume['configMap']['items'][0]['path']}"


def test_a_malformed_bundle_uri_is_unservable() -> None:
    with pytest.raises(serving_children.UnservableModel):
        serving_children.deployment(md(), rev(1, A, "Progressing", uri="ftp://bucket/b"), Config())


def test_the_service_selects_every_revision() -> None:
    svc = serving_children.service(md())
    assert svc["spec"]["selector"] == names.serving_selector("iris")
    assert serving_children.url(md()) == "http://iris-serving.ml.svc"


def _server(deploy: dict[str, Any]) -> dict[str, Any]:
    return _pod(deploy)["containers"][0]  # type: ignore[no-any-return]


def test_grpc_is_off_by_default_one_http_port_in_the_pod_and_the_service() -> None:
    server = _server(serving_children.deployment(md(), rev(1, A, "Progressing"), Config()))
    assert "--grpc-port" not in server["args"]
    assert server["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert serving_children.service(md())["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert serving_children.grpc_address(md()) is None


def test_the_crd_default_grpc_disabled_builds_the_same_children_so_upgrades_roll_no_pods() -> None:
    # The API server fills spec.serving.grpc.enabled=false into every stored object once the
    # field exists; the children must not change, or every ModelDeployment would roll.
    off = md(serving={"grpc": {"enabled": False}})
    revision = rev(1, A, "Serving")
    assert serving_children.deployment(off, revision, Config()) == serving_children.deployment(md(), revision, Config())
    assert serving_children.service(off) == serving_children.service(md())


def test_enabled_grpc_passes_the_port_names_it_in_the_pod_and_exposes_it_as_h2c() -> None:
    on = md(serving={"grpc": {"enabled": True}})
    server = _server(serving_children.deployment(on, rev(1, A, "Progressing"), Config()))
    at = server["args"].index("--grpc-port")
    assert server["args"][at + 1] == "8081"
    assert {p["name"]: p["containerPort"] for p in server["ports"]} == {"http": 8080, "grpc": 8081}
    assert server["readinessProbe"]["httpGet"]["port"] == "http"  # a failed gRPC bind exits the process
    ports = {p["name"]: p for p in serving_children.service(on)["spec"]["ports"]}
    assert ports["http"] == {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    assert ports["grpc"] == {
        "name": "grpc",
        "port": 8081,
        "targetPort": "grpc",
        "protocol": "TCP",
        "appProtocol": "kubernetes.io/h2c",
    }
    assert serving_children.grpc_address(on) == "iris-serving.ml.svc:8081"


def test_the_status_names_the_grpc_address_only_while_enabled_and_clears_it_after() -> None:
    serving = rev(1, A, "Serving")
    decision = Decision(history=[serving], target=serving, desired_digest=A)
    rollout = Rollout(1, RolloutState.AVAILABLE)
    on = md(serving={"grpc": {"enabled": True}})
    enabled = md_status(on, decision, Resolved(A, "u"), rollout, url="http://x", now=NOW)
    assert enabled["grpcAddress"] == "iris-serving.ml.svc:8081"
    disabled = md_status({**md(), "status": enabled}, decision, Resolved(A, "u"), rollout, url="http://x", now=NOW)
    assert changes(enabled, disabled)["grpcAddress"] is None  # the merge patch deletes it
    never = md_status(md(), decision, Resolved(A, "u"), rollout, url="http://x", now=NOW)
    assert "grpcAddress" not in changes({}, never)


def tr(phase: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "run"}, "status": {"phase": phase, **status}}


def test_model_resolution() -> None:
    assert resolve_model({"uri": "pvc://m/x", "digest": A}, None) == Resolved(A, "pvc://m/x")
    ref = {"trainingRunRef": {"name": "run"}}
    ok = resolve_model(ref, tr("Succeeded", model={"uri": "pvc://m/y", "digest": B}))
    assert ok == Resolved(B, "pvc://m/y", "run")
    missing = resolve_model(ref, None)
    assert isinstance(missing, Unresolved) and missing.state is State.STALLED
    failed = resolve_model(ref, tr("Failed", reason="OOMKilled", message="out of memory"))
    assert isinstance(failed, Unresolved) and failed.state is State.STALLED
    assert failed.message == "TrainingRun run failed (OOMKilled): out of memory"
    running = resolve_model(ref, tr("Running"))
    assert isinstance(running, Unresolved) and running.state is State.RECONCILING


def deploy(revision: int = 1, generation: int = 1, observed: int = 1, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {names.LABEL_REVISION: str(revision)}}}},
        "status": {"observedGeneration": observed, **status},
    }


def test_rollout_observation() -> None:
    assert observe_rollout(None).state is RolloutState.UNKNOWN
    assert observe_rollout(deploy(generation=2, observed=1)).state is RolloutState.UNKNOWN
    available = observe_rollout(deploy(replicas=2, updatedReplicas=2, availableReplicas=2))
    assert (available.revision, available.state) == (1, RolloutState.AVAILABLE)
    # Old pods still around, or a crash-looping new pod: not available.
    assert observe_rollout(deploy(replicas=3, updatedReplicas=2, availableReplicas=2)).state is RolloutState.PROGRESSING
    assert observe_rollout(deploy(replicas=2, updatedReplicas=2, availableReplicas=1)).state is RolloutState.PROGRESSING


def timed_out(revision_in_template: int, rs_revision: int) -> Rollout:
    condition = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "iris-serving-abc" has timed out progressing.',
    }
    rs = {
        "metadata": {"name": "iris-serving-abc"},
        "spec": {"template": {"metadata": {"labels": {names.LABEL_REVISION: str(rs_revision)}}}},
    }
    return observe_rollout(deploy(revision_in_template, conditions=[condition]), [rs])


def test_a_deadline_counts_only_for_the_replicaset_it_names() -> None:
    assert timed_out(2, 2).state is RolloutState.FAILED
    assert timed_out(1, 2).state is RolloutState.PROGRESSING


def status_of(decision: Decision, resolution: Resolved | Unresolved, rollout: Rollout) -> dict[str, Any]:
    return md_status(md(), decision, resolution, rollout, url="http://x", now=NOW)


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_status_ready_only_when_the_target_serves() -> None:
    serving = rev(1, A, "Serving")
    decision = Decision(history=[serving], target=serving, desired_digest=A)
    ok = status_of(decision, Resolved(A, "u"), Rollout(1, RolloutState.AVAILABLE, "2/2"))
    assert ok["phase"] == "Ready" and conditions(ok)["Ready"] == ("True", "Serving")
    assert (ok["currentRevision"], ok["currentDigest"], ok["desiredDigest"]) == (1, A, A)
    assert conditions(ok)["RolledBack"][0] == "False"
    degraded = status_of(decision, Resolved(A, "u"), Rollout(1, RolloutState.PROGRESSING, "1/2"))
    assert degraded["phase"] == "Progressing" and conditions(degraded)["Reconciling"][0] == "True"


def test_status_after_a_rollback_is_stalled_and_says_why() -> None:
    good = rev(1, A, "Serving")
    bad = rev(2, B, "RolledBack").model_copy(update={"reason": "Monitor m: errorRate 0.3"})
    decision = Decision(history=[good, bad], target=good, desired_digest=B)
    st = status_of(decision, Resolved(B, "u"), Rollout(1, RolloutState.AVAILABLE))
    assert st["phase"] == "RolledBack"
    assert conditions(st)["Stalled"] == ("True", "RolledBack")
    assert conditions(st)["RolledBack"] == ("True", "Monitor")
    assert "Change spec.model" in st["message"]


def test_status_when_the_training_run_failed_and_nothing_serves() -> None:
    unresolved = Unresolved(State.STALLED, "TrainingRunFailed", "TrainingRun run failed")
    st = status_of(
        Decision(history=[], target=None, desired_digest=None), unresolved, Rollout(None, RolloutState.UNKNOWN)
    )
    assert st["phase"] == "Pending" and conditions(st)["Stalled"] == ("True", "TrainingRunFailed")


def test_only_monitors_targeting_the_deployment_count() -> None:
    monitors = [
        {
            "metadata": {"name": "m1"},
            "spec": {"targetRef": {"name": "iris"}, "action": "alert"},
            "status": {"verdict": {"degraded": True, "digest": A}},
        },
        {
            "metadata": {"name": "m2"},
            "spec": {"targetRef": {"name": "other"}},
            "status": {"verdict": {"degraded": True}},
        },
        {"metadata": {"name": "m3"}, "spec": {"targetRef": {"name": "iris"}}, "status": {}},
    ]
    verdicts = verdicts_of(monitors, "iris")
    assert [(v.monitor, v.action, v.degraded) for v in verdicts] == [("m1", "alert", True)]
