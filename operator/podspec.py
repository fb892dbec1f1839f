"""Pieces every pod the operator creates shares: owner references, the restricted security
context, the artifact-store volume and a writable ``/tmp``.

All pods run as the image's non-root user (uid 65532) with a read-only root filesystem, no
privilege escalation, no capabilities and the runtime's default seccomp profile, so they pass
the ``restricted`` Pod Security Standard. Python needs a writable temporary directory, hence
the small ``emptyDir`` on ``/tmp``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
