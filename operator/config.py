"""Typed operator configuration, from environment variables and command-line flags.

Flags win over the environment, the environment over the defaults. The chart sets the
environment; people running the operator locally use flags. The values are read once at start
and passed down, so builders never look at the environment themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

#: Image of profiling and training Jobs (it carries the ``train`` extra).
DEFAULT_TRAINING_IMAGE = "yardarm/operator:dev"
DEFAULT_SERVING_IMAGE = "yardarm/serving:dev"
#: The serving container's port, the Service's port and the scrape port of the Monitor.
SERVING_PORT = 8080


@dataclass(frozen=True)
class Config:
    """Everything the reconcilers need to know that is not in a resource's spec."""

    training_image: str = DEFAULT_TRAINING_IMAGE
    serving_image: str = DEFAULT_SERVING_IMAGE
    image_pull_policy: str = "IfNotPresent"
    #: PVC mounted at /artifacts in profiling and training pods; serving pods mount the claim
    #: named in the model's pvc:// URI.
    artifacts_claim: str | None = None
    #: Where Jobs write profiles and bundles when a spec names no output (default pvc://<claim>).
    default_output_uri: str | None = None
    #: ServiceAccount of Job pods (e.g. one with S3 credentials); the namespace default when unset.
    job_service_account: str | None = None
    #: The artifact store when it is S3: endpoint, region, plain HTTP, and a Secret holding
    #: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, all handed to Job pods as environment.
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_insecure: bool = False
    s3_secret: str | None = None
    #: ``path``, ``virtual`` or ``auto`` bucket addressing (see :mod:`yardarm.s3`).
    s3_addressing: str | None = None
    #: ``static`` (keys from ``s3_secret``) or ``chain`` (the SDK's default chain: IRSA, instance roles).
    s3_credentials: str | None = None
    #: A ConfigMap (in each workload namespace) whose ``ca.crt`` is the CA bundle of a private endpoint.
    s3_ca_configmap: str | None = None
    #: ServiceAccount of serving pods; the namespace default when unset.
    serving_service_account: str | None = None
    #: This replica's name (the pod name), the Kopf peering identity when peering.
    pod_name: str | None = None
    #: Seconds between full re-reconciles of every object (level-based safety net).
    resync_seconds: float = 60.0
    #: Reconciles running at the same time (they mostly wait on the API server).
    workers: int = 16
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    #: Kopf peering object name for HA; standalone when unset.
    peering: str | None = None
    metrics_port: int = 9090
    health_port: int = 8081
    log_format: str = "json"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def output_uri(self) -> str | None:
        """The default store prefix for profiles and bundles."""
        if self.default_output_uri:
            return self.default_output_uri
        return f"pvc://{self.artifacts_claim}/yardarm" if self.artifacts_claim else None

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with the non-``None`` values of ``changes`` applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    value = env.get(key)
    return float(value) if value else default


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    value = env.get(key)
    return int(value) if value else default


def from_env(env: Mapping[str, str] | None = None) -> Config:
    """Configuration from ``YARDARM_*`` environment variables."""
    env = os.environ if env is None else env
    namespaces = tuple(n for n in (env.get("YARDARM_NAMESPACES") or "").replace(",", " ").split() if n)
    return Config(
        training_image=env.get("YARDARM_TRAINING_IMAGE") or DEFAULT_TRAINING_IMAGE,
        serving_image=env.get("YARDARM_SERVING_IMAGE") or DEFAULT_SERVING_IMAGE,
        image_pull_policy=env.get("YARDARM_IMAGE_PULL_POLICY") or "IfNotPresent",
        artifacts_claim=env.get("YARDARM_ARTIFACTS_CLAIM") or None,
        default_output_uri=env.get("YARDARM_DEFAULT_OUTPUT_URI") or None,
        job_service_account=env.get("YARDARM_JOB_SERVICE_ACCOUNT") or None,
        s3_endpoint=env.get("YARDARM_S3_ENDPOINT") or None,
        s3_region=env.get("YARDARM_S3_REGION") or None,
        s3_insecure=(env.get("YARDARM_S3_INSECURE") or "").lower() in ("1", "true", "yes"),
        s3_secret=env.get("YARDARM_S3_SECRET") or None,
        s3_addressing=env.get("YARDARM_S3_ADDRESSING") or None,
        s3_credentials=env.get("YARDARM_S3_CREDENTIALS") or None,
        s3_ca_configmap=env.get("YARDARM_S3_CA_CONFIGMAP") or None,
        serving_service_account=env.get("YARDARM_SERVING_SERVICE_ACCOUNT") or None,
        pod_name=env.get("YARDARM_POD_NAME") or None,
        resync_seconds=_float(env, "YARDARM_RESYNC_SECONDS", 60.0),
        workers=_int(env, "YARDARM_WORKERS", 16),
        namespaces=namespaces,
        all_namespaces=(env.get("YARDARM_ALL_NAMESPACES") or "").lower() in ("1", "true", "yes"),
        peering=env.get("YARDARM_PEERING") or None,
        metrics_port=_int(env, "YARDARM_METRICS_PORT", 9090),
        health_port=_int(env, "YARDARM_HEALTH_PORT", 8081),
        log_format=env.get("YARDARM_LOG_FORMAT") or "json",
    )
