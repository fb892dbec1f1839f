"""The children that serve a ModelDeployment: Deployment, Service, HPA and PDB. Pure builders.

The Deployment's pod template is a function of the revision it runs (number, digest, bundle
URI) and of the serving knobs in the spec, so going back to an earlier revision restores the
exact template of that revision and the Deployment controller simply scales its old ReplicaSet
up again. ``maxUnavailable: 0`` keeps the old pods serving until new ones are ready: a model
that never becomes ready never takes traffic, and the rollout fails after
``progressDeadlineSeconds`` (which the reconciler turns into a rollback), or sooner when its
pods cannot start at all (:mod:`yardarm.operator.podfailure`).

A ``pvc://`` bundle is mounted read-only from its claim; an ``s3://`` bundle is streamed into an
``emptyDir`` by an init container of the same image (``yardarm-serve fetch``) that verifies the
digest, so the server container only ever starts on checked bytes and no claim ties serving pods
to one node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from yardarm.api.modeldeployment import GRPC_PORT, Revision
from yardarm.jobresult import TERMINATION_LOG
from yardarm.operator import names
from yardarm.operator.config import SERVING_PORT, Config
from yardarm.operator.podspec import (
    StoreAccess,
    artifacts_volume,
    claim_of,
    container_security_context,
    owner_reference,
    pod_security_context,
    resources,
    store_access,
    tmp_volume,
)
from yardarm.store import parse_store_uri

Body = dict[str, Any]

SERVING_RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
SERVICE_PORT = 80
#: gRPC is HTTP/2 without TLS inside the cluster: the Kubernetes-defined appProtocol for that, which
#: Gateway API implementations and meshes read to speak HTTP/2 to the pods (the port name ``grpc``
#: is what Istio's name-based protocol selection reads).
GRPC_APP_PROTOCOL = "kubernetes.io/h2c"


#: Where an s3:// bundle is fetched to (an emptyDir shared by the fetch and server containers).
FETCHED_BUNDLE = "/bundle"
BUNDLE_VOLUME = "bundle"
FETCH_CONTAINER = "fetch"
FETCH_RESOURCES = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}


class UnservableModel(ValueError):  # noqa: N818 - a condition reason, read as a noun
    """The model's URI cannot be mounted into a serving pod."""


def bundle_path(uri: str) -> str:
    """Where a bundle URI is found inside a serving pod (s3:// bundles are fetched to an emptyDir)."""
    try:
        parsed = parse_store_uri(uri)
    except ValueError as exc:
        raise UnservableModel(str(exc)) from exc
    if parsed.scheme == "s3":
        return FETCHED_BUNDLE
    return str(parsed.local_path())


def fetch_container(revision: Revision, config: Config, store: StoreAccess) -> Body:
    """The init container that streams an s3:// bundle into the pod and verifies its digest.

    Its failure reason (one sentence) is its termination message, which the reconciler reads
    when a rollout fails (:mod:`yardarm.operator.podfailure`).
    """
    _, tmp_mount = tmp_volume()
    return {
        "name": FETCH_CONTAINER,
        "image": config.serving_image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["yardarm-serve"],
        "args": ["fetch", "--uri", revision.model_uri, "--digest", revision.model_digest, "--dest", FETCHED_BUNDLE],
        "env": store.env,
        "resources": resources(None, FETCH_RESOURCES),
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": BUNDLE_VOLUME, "mountPath": FETCHED_BUNDLE}, tmp_mount, *store.mounts],
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def grpc_enabled(md: Mapping[str, Any]) -> bool:
    """Whether ``spec.serving.grpc.enabled`` asks for the gRPC service (off by default)."""
    serving = (md.get("spec") or {}).get("serving") or {}
    return bool((serving.get("grpc") or {}).get("enabled"))


def container_ports(md: Mapping[str, Any]) -> list[Body]:
    """The server container's named ports: ``http``, and ``grpc`` only when enabled."""
    ports: list[Body] = [{"name": "http", "containerPort": SERVING_PORT, "protocol": "TCP"}]
    if grpc_enabled(md):
        ports.append({"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"})
    return ports


def service_ports(md: Mapping[str, Any]) -> list[Body]:
    """The Service's ports: ``http`` (80), and ``grpc`` (8081, HTTP/2 cleartext) only when enabled."""
    ports: list[Body] = [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}]
    if grpc_enabled(md):
        ports.append(
            {
                "name": "grpc",
                "port": GRPC_PORT,
                "targetPort": "grpc",
                "protocol": "TCP",
                "appProtocol": GRPC_APP_PROTOCOL,
            }
        )
    return ports


def replicas_of(spec: Mapping[str, Any]) -> int | None:
    """Fixed replica count, ``None`` when an HPA owns it."""
    if spec.get("autoscaling"):
        return None
    replicas = spec.get("replicas")
    return 1 if replicas is None else int(replicas)


def _meta(md: Mapping[str, Any], labels: Mapping[str, str]) -> Body:
    return {
        "name": names.serving_name(md["metadata"]["name"]),
        "namespace": md["metadata"]["namespace"],
        "labels": dict(labels),
        "ownerReferences": [owner_reference(md)],
    }


def deployment(
    md: Mapping[str, Any], revision: Revision, config: Config, store_options: Mapping[str, Any] | None = None
) -> Body:
    """The Deployment running ``revision`` of the model.

    ``store_options`` are the S3 options that apply to the bundle (``spec.model.s3``, else the
    TrainingRun's ``spec.output.s3``); the operator's store settings fill the rest.
    """
    name = md["metadata"]["name"]
    spec = md.get("spec") or {}
    serving = spec.get("serving") or {}
    path = bundle_path(revision.model_uri)
    args = [
        "--bundle",
        path,
        "--digest",
        revision.model_digest,
        "--model-name",
        name,
        "--revision",
        str(revision.revision),
        "--port",
        str(SERVING_PORT),
        "--max-request-bytes",
        str(serving.get("maxRequestBytes", 4194304)),
        "--feedback-capacity",
        str(serving.get("feedbackCapacity", 100000)),
    ]
    if serving.get("threads"):
        args += ["--threads", str(serving["threads"])]
    if grpc_enabled(md):
        args += ["--grpc-port", str(GRPC_PORT)]
    tmp, tmp_mount = tmp_volume()
    volumes, mounts = [tmp], [tmp_mount]
    claim = claim_of(revision.model_uri)
    init_containers: list[Body] = []
    if claim:
        volume, mount = artifacts_volume(claim, read_only=True)
        volumes.append(volume)
        mounts.append(mount)
    elif path == FETCHED_BUNDLE:
        store = store_access(config, store_options)
        init_containers.append(fetch_container(revision, config, store))
        volumes += [{"name": BUNDLE_VOLUME, "emptyDir": {}}, *store.volumes]
        mounts.append({"name": BUNDLE_VOLUME, "mountPath": FETCHED_BUNDLE, "readOnly": True})
    pod_labels = names.serving_labels(name, revision.revision, revision.model_digest)
    probe_port = {"port": "http"}
    container = {
        "name": "server",
        "image": config.serving_image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["yardarm-serve"],
        "args": args,
        "ports": container_ports(md),
        "readinessProbe": {
            "httpGet": {"path": "/v2/health/ready", **probe_port},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/v2/health/live", **probe_port},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "resources": resources(spec.get("resources"), SERVING_RESOURCES),
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    deploy_spec: Body = {
        "selector": {"matchLabels": names.serving_selector(name)},
        "progressDeadlineSeconds": int(spec.get("progressDeadlineSeconds", 600)),
        "revisionHistoryLimit": 3,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {
            "metadata": {"labels": pod_labels},
            "spec": {
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": 30,
                "securityContext": pod_security_context(),
                "containers": [container],
                "volumes": volumes,
            },
        },
    }
    if init_containers:
        deploy_spec["template"]["spec"]["initContainers"] = init_containers
    if config.serving_service_account:
        deploy_spec["template"]["spec"]["serviceAccountName"] = config.serving_service_account
    replicas = replicas_of(spec)
    if replicas is not None:
        deploy_spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(md, names.serving_labels(name)),
        "spec": deploy_spec,
    }


def service(md: Mapping[str, Any]) -> Body:
    """The ClusterIP Service in front of the serving pods (all revisions share it)."""
    name = md["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(md, names.serving_labels(name)),
        "spec": {
            "type": "ClusterIP",
            "selector": names.serving_selector(name),
            "ports": service_ports(md),
        },
    }


def url(md: Mapping[str, Any]) -> str:
    """The in-cluster URL of the inference endpoint."""
    meta = md["metadata"]
    return f"http://{names.serving_name(meta['name'])}.{meta['namespace']}.svc"


def grpc_address(md: Mapping[str, Any]) -> str | None:
    """The in-cluster ``host:port`` of the gRPC service (what gRPC clients dial), if enabled."""
    if not grpc_enabled(md):
        return None
    meta = md["metadata"]
    return f"{names.serving_name(meta['name'])}.{meta['namespace']}.svc:{GRPC_PORT}"


def hpa(md: Mapping[str, Any]) -> Body | None:
    """A CPU HorizontalPodAutoscaler when ``spec.autoscaling`` is set."""
    auto = (md.get("spec") or {}).get("autoscaling")
    if not auto:
        return None
    name = md["metadata"]["name"]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(md, names.serving_labels(name)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": names.serving_name(name)},
            "minReplicas": int(auto.get("minReplicas", 1)),
            "maxReplicas": int(auto["maxReplicas"]),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": int(auto.get("targetCPUUtilizationPercentage", 70)),
                        },
                    },
                }
            ],
        },
    }


def pdb(md: Mapping[str, Any]) -> Body | None:
    """A PodDisruptionBudget (one pod down at a time) when more than one pod serves."""
    spec = md.get("spec") or {}
    auto = spec.get("autoscaling")
    least = (
        int(auto.get("minReplicas", 1))
        if auto
        else int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    )
    if least <= 1:
        return None
    name = md["metadata"]["name"]
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(md, names.serving_labels(name)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": names.serving_selector(name)}},
    }
