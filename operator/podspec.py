"""Pieces every pod the operator creates shares: owner references, the restricted security
context, the artifact-store volume and a writable ``/tmp``.

All pods run as the image's non-root user (uid 65532) with a read-only root filesystem, no
privilege escalation, no capabilities and the runtime's default seccomp profile, so they pass
the ``restricted`` Pod Security Standard. Python needs a writable temporary directory, hence
the small ``emptyDir`` on ``/tmp``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from yardarm.operator.config import Config
from yardarm.store import PVC_MOUNT, parse_store_uri

Body = dict[str, Any]

#: uid and gid of the ``nonroot`` user in Yardarm's images.
NONROOT_UID = 65532
ARTIFACTS_VOLUME = "artifacts"
TMP_VOLUME = "tmp"


def owner_reference(owner: Mapping[str, Any], *, controller: bool = True) -> Body:
    """A reference that makes the garbage collector delete the child with its owner."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def pod_security_context() -> Body:
    """Pod-level settings of the restricted profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": NONROOT_UID,
        "runAsGroup": NONROOT_UID,
        "fsGroup": NONROOT_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> Body:
    """Container-level settings of the restricted profile, plus a read-only root filesystem."""
    return {
        "runAsNonRoot": True,
        "runAsUser": NONROOT_UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def tmp_volume() -> tuple[Body, Body]:
    """A small memory-backed ``/tmp`` (the root filesystem is read-only)."""
    return (
        {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": TMP_VOLUME, "mountPath": "/tmp"},
    )


def artifacts_volume(claim: str, *, read_only: bool) -> tuple[Body, Body]:
    """The artifact-store claim, mounted where store URIs expect it (``/artifacts``)."""
    return (
        {"name": ARTIFACTS_VOLUME, "persistentVolumeClaim": {"claimName": claim, "readOnly": read_only}},
        {"name": ARTIFACTS_VOLUME, "mountPath": PVC_MOUNT, "readOnly": read_only},
    )


def claim_of(uri: str | None) -> str | None:
    """The PVC a ``pvc://`` URI names, else ``None``."""
    if not uri:
        return None
    try:
        parsed = parse_store_uri(uri)
    except ValueError:
        return None
    return parsed.location if parsed.scheme == "pvc" else None


def resources(spec_resources: Mapping[str, Any] | None, default: Mapping[str, Any]) -> Body:
    """A container's resources: the spec's, else the default; quantities as strings."""
    chosen = spec_resources or default
    return {
        part: {k: str(v) for k, v in values.items()} for part in ("requests", "limits") if (values := chosen.get(part))
    }


#: Where a CA bundle ConfigMap is mounted in pods that talk to S3, and the key it must hold.
CA_VOLUME = "s3-ca"
CA_MOUNT = "/etc/yardarm/s3-ca"
CA_KEY = "ca.crt"


@dataclass(frozen=True)
class StoreAccess:
    """What a container needs to reach the S3 store: environment, and a CA bundle volume."""

    env: list[Body] = field(default_factory=list)
    volumes: list[Body] = field(default_factory=list)
    mounts: list[Body] = field(default_factory=list)


def store_access(config: Config, *options: Mapping[str, Any] | None) -> StoreAccess:
    """S3 settings and credentials for a container: the operator's, overridden by spec ``s3`` options.

    ``options`` are S3Options objects of the spec (wire form), weakest first; a later one's set
    fields win. Credentials come from a Secret by reference, never by value, or from the SDK's
    default chain (``defaultCredentialChain``: IRSA or workload identity on the pod's
    ServiceAccount). One Job has one credential pair: a Dataset source's Secret wins over the
    output's, which wins over the operator's.
    """
    endpoint, region, insecure = config.s3_endpoint, config.s3_region, config.s3_insecure
    addressing, credentials = config.s3_addressing, config.s3_credentials
    secret, ca_map, ca_key = config.s3_secret, config.s3_ca_configmap, CA_KEY
    for opts in options:
        if not opts:
            continue
        if opts.get("endpoint"):
            # Another endpoint: the operator's plain-HTTP switch is about its own endpoint.
            endpoint, insecure = opts["endpoint"], bool(opts.get("insecure", False))
        elif opts.get("insecure"):
            insecure = True
        region = opts.get("region") or region
        addressing = opts.get("addressing") or addressing
        if opts.get("defaultCredentialChain"):
            credentials, secret = "chain", None
        elif (opts.get("credentialsSecretRef") or {}).get("name"):
            credentials, secret = "static", opts["credentialsSecretRef"]["name"]
        if (opts.get("caBundleRef") or {}).get("name"):
            ca_map, ca_key = opts["caBundleRef"]["name"], opts["caBundleRef"].get("key") or CA_KEY
    access = StoreAccess()
    for name, value in (
        ("YARDARM_S3_ENDPOINT", endpoint),
        ("AWS_REGION", region),
        ("YARDARM_S3_INSECURE", "true" if insecure else None),
        ("YARDARM_S3_ADDRESSING", addressing),
        ("YARDARM_S3_CREDENTIALS", credentials),
    ):
        if value:
            access.env.append({"name": name, "value": value})
    if secret and credentials != "chain":
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            access.env.append(
                {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}}}
            )
    if ca_map:
        access.env.append({"name": "YARDARM_S3_CA_BUNDLE", "value": f"{CA_MOUNT}/{CA_KEY}"})
        access.volumes.append(
            {"name": CA_VOLUME, "configMap": {"name": ca_map, "items": [{"key": ca_key, "path": CA_KEY}]}}
        )
        access.mounts.append({"name": CA_VOLUME, "mountPath": CA_MOUNT, "readOnly": True})
    return access
