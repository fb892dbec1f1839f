"""``yardarm-serve fetch``: copy a bundle from object storage into the pod, verified, before serving.

A ModelDeployment whose bundle is ``s3://…`` runs this in an init container of the serving image:
it writes the bundle into an ``emptyDir`` that the server container then reads, so the server
never starts on bytes that were not checked. Memory stays flat whatever the model's size: the
model is streamed in 1 MiB chunks to a temporary file while its sha256 is computed, and renamed
into place only when the hash matches ``bundle.json``; ``bundle.json`` itself is checked against
the pinned digest before anything else is downloaded.

Every failure ends as one sentence in the container's termination message (which the operator
copies into the ModelDeployment's status and a Warning Event) and a non-zero exit, one sentence
per cause: missing object, refused credentials, unreachable endpoint, TLS failure, digest mismatch.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from urllib3 import BaseHTTPResponse

from yardarm.bundle import MANIFEST_FILE, BundleManifest, sha256_bytes
from yardarm.jobresult import TERMINATION_LOG, TERMINATION_MESSAGE_LIMIT, ExitCode
from yardarm.s3 import S3Settings, make_client, settings_from_env
from yardarm.store import parse_store_uri

CHUNK = 1 << 20
#: ``bundle.json`` holds schema, metrics and drift bins: small. A larger one is not a bundle.
MANIFEST_LIMIT = 16 << 20

#: S3 error codes that mean "these credentials may not read this".
_DENIED = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "AllAccessDisabled",
        "AccountProblem",
        "XAdminUserNotFound",  # versitygw: an access key it does not know
    }
)
_MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchObject", "NotFound", "ResourceNotFound"})


@dataclass(frozen=True)
class FetchError(Exception):
    """Why a bundle could not be fetched: a CamelCase reason and one sentence for a person."""

    reason: str
    message: str
    exit_code: ExitCode = ExitCode.UNREACHABLE

    def __str__(self) -> str:
        return self.message


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it was raised from or during (urllib3 wraps the real cause)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]  # MaxRetryError.reason


def classify(exc: BaseException, *, uri: str, key: str, endpoint: str) -> FetchError:
    """The one-sentence reason for an exception raised while talking to the store. Pure."""
    import ssl

    from minio.error import S3Error
    from urllib3.exceptions import SSLError

    for cause in _chain(exc):
        if isinstance(cause, S3Error):
            code = cause.code or "Error"
            if code in _MISSING:
                what = "bucket" if code == "NoSuchBucket" else "object"
                return FetchError(
                    "BundleNotFound", f"The bundle {uri} is not in the object store ({code}: no {what} {key})."
                )
            # Any 403 is a refusal of these credentials too, whatever code the store gives it.
            if code in _DENIED or getattr(cause.response, "status", None) == 403:
                return FetchError(
                    "AccessDenied",
                    f"The object store at {endpoint} refused the credentials for {uri} ({code}): "
                    "check the credentials Secret or the ServiceAccount's role.",
                )
            return FetchError("StoreError", f"The object store at {endpoint} answered {code} for {uri}.")
        if isinstance(cause, SSLError | ssl.SSLError):
            detail = str(getattr(cause, "reason", "") or cause).splitlines()[0][:160]
            return FetchError(
                "TLSFailure",
                f"TLS with the object store at {endpoint} failed ({detail}): "
                "give the endpoint's CA bundle, or check that the endpoint speaks HTTPS.",
            )
    if isinstance(exc, ValueError) and "credential" in str(exc).lower():
        return FetchError(
            "NoCredentials", f"No credentials for the object store at {endpoint}: {str(exc).splitlines()[0][:160]}."
        )
    return FetchError(
        "EndpointUnreachable",
        f"Cannot reach the object store at {endpoint} ({type(exc).__name__}): "
        "check the endpoint URL, DNS and network policies.",
    )


def _endpoint(settings: S3Settings) -> str:
    return settings.endpoint or "https://s3.amazonaws.com"


def fetch_bundle(
    uri: str, dest: Path, digest: str, *, settings: S3Settings, env: Mapping[str, str] | None = None
) -> BundleManifest:
    """Download the bundle at ``uri`` into ``dest``, verified against ``digest``; raise :class:`FetchError`."""
    store = parse_store_uri(uri)
    if store.scheme != "s3":
        raise FetchError("UnsupportedURI", f"{uri} is not an s3:// bundle.", ExitCode.BAD_INPUT)
    endpoint = _endpoint(settings)
    client = make_client(settings, env)
    manifest_key = store.join(MANIFEST_FILE).path

    def get(key: str) -> BaseHTTPResponse:
        try:
            return client.get_object(store.location, key)
        except Exception as exc:  # minio raises S3Error, urllib3 many kinds, credentials ValueError
            raise classify(exc, uri=uri, key=key, endpoint=endpoint) from exc

    response = get(manifest_key)
    try:
        data = _read_bounded(response, MANIFEST_LIMIT, uri=uri, key=manifest_key, endpoint=endpoint)
    finally:
        _close(response)
    actual = sha256_bytes(data)
    if actual != digest:
        raise FetchError(
            "DigestMismatch",
            f"The bundle at {uri} has digest {actual[:19]}…, not the pinned {digest[:19]}…: "
            "the stored bundle.json changed or the wrong digest is pinned.",
            ExitCode.BAD_INPUT,
        )
    manifest = BundleManifest.model_validate_json(data)
    dest.mkdir(parents=True, exist_ok=True)
    model_key = store.join(manifest.model_file).path
    part = dest / f".{manifest.model_file}.part"
    response = get(model_key)
    hasher = hashlib.sha256()
    try:
        with part.open("wb") as handle:
            for chunk in _stream(response, uri=uri, key=model_key, endpoint=endpoint):
                hasher.update(chunk)
                handle.write(chunk)
    finally:
        _close(response)
    if f"sha256:{hasher.hexdigest()}" != manifest.model_sha256:
        part.unlink(missing_ok=True)
        raise FetchError(
            "DigestMismatch",
            f"{manifest.model_file} at {uri} does not match the sha256 in its bundle.json: "
            "the stored model is corrupt or was replaced.",
            ExitCode.BAD_INPUT,
        )
    part.replace(dest / manifest.model_file)
    tmp = dest / f".{MANIFEST_FILE}.part"
    tmp.write_bytes(data)
    tmp.replace(dest / MANIFEST_FILE)  # last: a directory with bundle.json is a complete bundle
    return manifest


def _stream(response: BaseHTTPResponse, *, uri: str, key: str, endpoint: str) -> Iterator[bytes]:
    """The body in chunks; a connection lost mid-body is classified like any other failure."""
    try:
        yield from response.stream(CHUNK)
    except Exception as exc:
        raise classify(exc, uri=uri, key=key, endpoint=endpoint) from exc


def _read_bounded(response: BaseHTTPResponse, limit: int, *, uri: str, key: str, endpoint: str) -> bytes:
    chunks, size = [], 0
    for chunk in _stream(response, uri=uri, key=key, endpoint=endpoint):
        size += len(chunk)
        if size > limit:
            raise FetchError("NotABundle", f"{key} in {uri} is larger than {limit >> 20} MiB: not a bundle.json.")
        chunks.append(chunk)
    return b"".join(chunks)


def _close(response: BaseHTTPResponse) -> None:
    for method in ("close", "release_conn"):
        fn = getattr(response, method, None)
        if fn is not None:
            fn()


def write_termination_message(path: Path, message: str) -> None:
    """The sentence Kubernetes shows as the container's termination message (truncated to its limit)."""
    # Outside a pod (tests, local runs) the path may not be writable; stderr still has the sentence.
    with contextlib.suppress(OSError):
        path.write_bytes(message.encode()[:TERMINATION_MESSAGE_LIMIT])


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="yardarm-serve fetch", description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True, help="s3://bucket/…/bundles/sha256-<hex>")
    parser.add_argument("--digest", required=True, help="the pinned digest, sha256:<hex>")
    parser.add_argument("--dest", type=Path, required=True, help="directory to write the bundle into")
    parser.add_argument("--termination-log", type=Path, default=Path(TERMINATION_LOG))
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    try:
        manifest = fetch_bundle(args.uri, args.dest, args.digest, settings=settings_from_env(env), env=env)
    except FetchError as exc:
        print(f"{exc.reason}: {exc.message}", file=sys.stderr)
        write_termination_message(args.termination_log, exc.message)
        return int(exc.exit_code)
    size = (args.dest / manifest.model_file).stat().st_size
    print(f"fetched {args.uri} ({size} bytes, digest {args.digest}) into {args.dest}", file=sys.stderr)
    return 0
