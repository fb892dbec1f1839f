"""Writing artifacts (profiles, model bundles) to a store: a local directory or an S3 bucket.

``file://`` and ``pvc://`` stores are directories (a claim is mounted at ``/artifacts`` in pods).
For ``s3://`` the bundle is first written locally through :func:`yardarm.bundle.write_bundle`
(which verifies it), then uploaded model first and ``bundle.json`` last, so a reader that finds
the manifest always finds the model it pins. Each object goes to a temporary key under
``<store>/.tmp/`` and is copied to its final, content-addressed key only once complete.
"""

from __future__ import annotations

import io
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from yardarm.bundle import MANIFEST_FILE, MODEL_FILE, BundleManifest, bundle_dirname, write_bundle
from yardarm.store import PVC_MOUNT, StoreURI, parse_store_uri
from yardarm.training.errors import BadInputError, UnreachableError
from yardarm.training.s3 import make_client, settings_from_env


@dataclass(frozen=True)
class StoredBundle:
    """Where a bundle was written: its digest, a local copy, and its URI in the store."""

    digest: str
    directory: Path
    uri: str


def parse_output(uri: str) -> StoreURI:
    """Parse an output store URI, as a user error when malformed."""
    try:
        return parse_store_uri(uri)
    except ValueError as exc:
        raise BadInputError(f"The output {exc}.", reason="InvalidOutputURI") from exc


def write_local(root: Path, relpath: str, data: bytes) -> Path:
    """Write ``data`` atomically to ``root/relpath`` (temp file + rename)."""
    target = root / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def _upload(store: StoreURI, relpath: str, data: bytes | Path, env: Mapping[str, str] | None) -> None:
    """Upload to a temporary key, then copy it to the final key: nothing partial is ever visible there.

    A single PUT is atomic in S3, but a multipart upload of a large model or an S3-compatible
    server need not be; the server-side copy makes the final key appear whole or not at all.
    Files are streamed from disk, so memory does not grow with the model's size.
    """
    from minio.commonconfig import CopySource
    from minio.error import S3Error

    final = str(store.join(relpath).path)
    tmp = str(store.join(".tmp", uuid.uuid4().hex, PurePosixPath(relpath).name).path)
    client = make_client(settings_from_env(env), env)
    try:
        if isinstance(data, Path):
            client.fput_object(store.location, tmp, str(data))
        else:
            client.put_object(store.location, tmp, io.BytesIO(data), len(data))
        client.copy_object(store.location, final, CopySource(store.location, tmp))
        client.remove_object(store.location, tmp)
    except S3Error as exc:
        raise UnreachableError(
            f"Uploading to {store.join(relpath)} failed: {exc.code} ({exc.message}).", reason="StoreUnreachable"
        ) from exc
    except Exception as exc:  # urllib3 connection errors come in many types
        raise UnreachableError(
            f"Cannot reach the S3 endpoint for {store}: {type(exc).__name__}.", reason="StoreUnreachable"
        ) from exc


def put_file(
    output: str, relpath: str, data: bytes, *, env: Mapping[str, str] | None = None, pvc_mount: str = PVC_MOUNT
) -> str:
    """Store one file below ``output`` and return its URI."""
    store = parse_output(output)
    if store.scheme == "s3":
        _upload(store, relpath, data, env)
    else:
        try:
            write_local(store.local_path(pvc_mount), relpath, data)
        except OSError as exc:
            raise UnreachableError(
                f"Cannot write to {store}: {exc.strerror or exc}.", reason="StoreUnwritable"
            ) from exc
    return str(store.join(relpath))


def put_bundle(
    output: str,
    model_bytes: bytes,
    manifest: BundleManifest,
    *,
    env: Mapping[str, str] | None = None,
    pvc_mount: str = PVC_MOUNT,
    staging: Path | None = None,
) -> StoredBundle:
    """Write a bundle under ``<output>/bundles/sha256-…/`` and return where it is."""
    store = parse_output(output)
    if store.scheme != "s3":
        try:
            digest, directory = write_bundle(store.local_path(pvc_mount), model_bytes, manifest)
        except OSError as exc:
            raise UnreachableError(
                f"Cannot write to {store}: {exc.strerror or exc}.", reason="StoreUnwritable"
            ) from exc
        return StoredBundle(digest, directory, str(store.join("bundles", directory.name)))
    root = staging or Path(tempfile.mkdtemp(prefix="yardarm-bundle-"))
    digest, directory = write_bundle(root, model_bytes, manifest)
    prefix = f"bundles/{bundle_dirname(digest)}"
    for name in (MODEL_FILE, MANIFEST_FILE):  # model first, manifest last
        _upload(store, f"{prefix}/{name}", directory / name, env)
    return StoredBundle(digest, directory, str(store.join(prefix)))
