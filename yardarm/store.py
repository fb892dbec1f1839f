"""Artifact-store URIs: where datasets, profiles and model bundles live.

Three schemes are understood everywhere:

* ``file:///abs/path`` — a local directory (local runs, tests).
* ``pvc://claim/sub/path`` — a PersistentVolumeClaim; pods mount the claim at :data:`PVC_MOUNT`,
  so inside a pod the URI is the local directory ``/artifacts/sub/path``.
* ``s3://bucket/prefix`` — an S3-compatible bucket (training uploads, serving downloads).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

#: Where pods mount the artifact-store claim.
PVC_MOUNT = "/artifacts"

Scheme = Literal["file", "pvc", "s3"]
_URI = re.compile(r"^(?P<scheme>file|pvc|s3)://(?P<rest>.*)$")


@dataclass(frozen=True)
class StoreURI:
    """A parsed store URI. ``location`` is the claim or bucket (empty for file://)."""

    scheme: Scheme
    location: str
    path: str

    def __str__(self) -> str:
        if self.scheme == "file":
            return f"file://{self.path}"
        return f"{self.scheme}://{self.location}/{self.path}".rstrip("/")

    def join(self, *parts: str) -> StoreURI:
        """A URI below this one."""
        joined = str(PurePosixPath(self.path, *parts)) if self.path else str(PurePosixPath(*parts))
        return StoreURI(self.scheme, self.location, joined)

    def local_path(self, pvc_mount: str = PVC_MOUNT) -> Path:
        """The directory this URI names on a machine or in a pod that has it mounted."""
        if self.scheme == "file":
            return Path(self.path)
        if self.scheme == "pvc":
            return Path(pvc_mount, self.path)
        raise ValueError(f"{self} is not a local path: s3:// objects are downloaded, not mounted")


def parse_store_uri(uri: str) -> StoreURI:
    """Parse ``file://``, ``pvc://`` or ``s3://``; a plain absolute path is taken as ``file://``."""
    if uri.startswith("/"):
        return StoreURI("file", "", uri)
    match = _URI.match(uri)
    if not match:
        raise ValueError(f"{uri!r} is not a store URI (file:///path, pvc://claim/path or s3://bucket/prefix)")
    scheme, rest = match["scheme"], match["rest"]
    if scheme == "file":
        if not rest.startswith("/"):
            raise ValueError(f"{uri!r}: a file:// URI needs an absolute path, as in file:///data/models")
        return StoreURI("file", "", rest)
    location, _, path = rest.partition("/")
    if not location:
        raise ValueError(f"{uri!r} names no {'claim' if scheme == 'pvc' else 'bucket'}")
    return StoreURI("pvc" if scheme == "pvc" else "s3", location, path.strip("/"))  # _URI allows no other
