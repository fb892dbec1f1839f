"""Reading a Dataset's source into bytes (which are digested) and a DataFrame (which is profiled).

Schemes: ``builtin://NAME`` (scikit-learn's bundled sets, no download), plain paths and
``file://``, ``pvc://claim/path`` (the claim mounted at ``/artifacts``), ``https://`` and
``s3://``. The digest is the sha256 of the exact bytes read, so the same file always has the same
digest; a builtin set is digested through a canonical CSV rendering of its frame.

Memory: a local file is digested in chunks and parsed from its path, and downloaded bytes are
dropped once parsed, so only the DataFrame outlives reading (the raw bytes of a 1M-row CSV are
2.5 times its numbers).
"""

from __future__ import annotations

import io
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from minio.error import S3Error

from yardarm.api.dataset import BUILTIN_DATASETS, DataSource
from yardarm.bundle import sha256_bytes, sha256_file
from yardarm.store import PVC_MOUNT
from yardarm.training.errors import BadInputError, UnreachableError
from yardarm.training.s3 import S3Settings, make_client, settings_from_env

#: Seconds an https:// download may stall before the source counts as unreachable.
HTTP_TIMEOUT = 30.0
#: Rows parsed per CSV chunk (bounds the parser's working memory).
CSV_CHUNK_ROWS = 100_000
#: Column that holds the target of a builtin set.
BUILTIN_TARGET = "target"


@dataclass(frozen=True)
class SourceData:
    """What was read: the digest of its bytes and the parsed frame."""

    digest: str
    frame: pd.DataFrame


def sanitize_name(name: str) -> str:
    """A column name usable as an ONNX input and in a URL: ``sepal length (cm)`` → ``sepal_length_cm``."""
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower() or "column"


def builtin_frame(name: str) -> pd.DataFrame:
    """A scikit-learn bundled data set as one frame, sanitized feature names and a ``target`` column."""
    from sklearn import datasets  # deferred: only builtin sources pay for the import

    if name not in BUILTIN_DATASETS:
        raise BadInputError(
            f"builtin://{name} is not a bundled data set; use one of {', '.join(BUILTIN_DATASETS)}.",
            reason="UnknownBuiltinDataset",
        )
    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    features = bunch.data.rename(columns=sanitize_name)
    target = bunch.target.to_numpy()
    names = getattr(bunch, "target_names", None)
    if names is not None and all(isinstance(n, str) for n in names):
        # Classes by name (iris predicts "setosa", not "0"): what a person reads in predictions,
        # feedback and metrics. digits has no names beyond its integers and keeps them.
        target = np.asarray(names, dtype=object)[target]
    return features.assign(**{BUILTIN_TARGET: target})


def canonical_csv(frame: pd.DataFrame) -> bytes:
    """A stable CSV rendering (no index, ``\\n`` line ends, shortest round-trip floats) for digesting."""
    text: str = frame.to_csv(index=False, lineterminator="\n")  # pandas is untyped (Any)
    return text.encode()


def local_path(uri: str, pvc_mount: str = PVC_MOUNT) -> Path | None:
    """The file a ``file://``, ``pvc://`` or absolute-path source names; ``None`` for remote sources."""
    if uri.startswith("file://"):
        path = Path(uri.removeprefix("file://"))
    elif uri.startswith("pvc://"):
        _claim, _, sub = uri.removeprefix("pvc://").partition("/")
        path = Path(pvc_mount, sub)
    elif uri.startswith("/"):
        path = Path(uri)
    else:
        return None
    return path


def _file_state(path: Path) -> tuple[int, int]:
    """Size and modification time: what must not change between digesting a file and parsing it."""
    try:
        stat = path.stat()
    except FileNotFoundError as exc:
        raise UnreachableError(f"The data file {path} does not exist.", reason="SourceNotFound") from exc
    except OSError as exc:
        raise UnreachableError(f"The data file {path} cannot be read: {exc.strerror or exc}.") from exc
    return stat.st_size, stat.st_mtime_ns


def _digest_file(path: Path) -> str:
    try:
        return sha256_file(path)
    except FileNotFoundError as exc:
        raise UnreachableError(f"The data file {path} does not exist.", reason="SourceNotFound") from exc
    except OSError as exc:
        raise UnreachableError(f"The data file {path} cannot be read: {exc.strerror or exc}.") from exc


def fetch_bytes(source: DataSource, *, env: Mapping[str, str] | None = None) -> bytes:
    """The raw bytes of a remote (``https://``, ``s3://``) source; failures raise :class:`UnreachableError`."""
    if source.uri.startswith("https://"):
        return _fetch_https(source.uri)
    if source.uri.startswith("s3://"):
        return _fetch_s3(source, env)
    raise BadInputError(f"The source URI {source.uri!r} has an unknown scheme.", reason="InvalidSourceURI")


def _fetch_https(uri: str) -> bytes:
    request = urllib.request.Request(uri, headers={"User-Agent": "yardarm-train"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            body: bytes = response.read()  # typeshed types urlopen's answer as Any
            return body
    except urllib.error.HTTPError as exc:
        exc.close()  # an HTTPError holds the open response
        reason = "SourceNotFound" if exc.code == 404 else "SourceUnreachable"
        raise UnreachableError(f"Downloading {uri} failed with HTTP {exc.code} {exc.reason}.", reason=reason) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        why = getattr(exc, "reason", exc)
        raise UnreachableError(f"Cannot reach {uri}: {why}.") from exc


def _fetch_s3(source: DataSource, env: Mapping[str, str] | None) -> bytes:
    bucket, _, key = source.uri.removeprefix("s3://").partition("/")
    options = source.s3
    settings = S3Settings(
        endpoint=options.endpoint if options else None,
        region=options.region if options else None,
        insecure=options.insecure if options else False,
        # A source's CA bundle is mounted by the operator like the store's (one per pod).
        ca_bundle=settings_from_env(env).ca_bundle,
        addressing=(options.addressing if options else None) or "auto",
        credentials="chain" if options and options.default_credential_chain else "static",
    )
    client = make_client(settings, env)
    try:
        response = client.get_object(bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()
    except S3Error as exc:
        reason = "SourceNotFound" if exc.code in ("NoSuchKey", "NoSuchBucket") else "SourceUnreachable"
        raise UnreachableError(f"Reading {source.uri} failed: {exc.code} ({exc.message}).", reason=reason) from exc
    except Exception as exc:  # urllib3 raises many kinds (MaxRetryError, ProtocolError, ...)
        raise UnreachableError(f"Cannot reach the S3 endpoint for {source.uri}: {type(exc).__name__}.") from exc


def parse_frame(content: bytes | Path, fmt: str, uri: str) -> pd.DataFrame:
    """A DataFrame from CSV or Parquet bytes (or a file); unparseable data is the user's problem."""
    handle = content if isinstance(content, Path) else io.BytesIO(content)
    try:
        if fmt == "parquet":
            return pd.read_parquet(handle)
        # In chunks: one whole-file parse peaks at ~4x the frame it returns, chunks at ~2x. pandas
        # infers types per chunk either way (its low_memory mode), so the result is the same.
        chunks = pd.read_csv(handle, skipinitialspace=True, chunksize=CSV_CHUNK_ROWS)
        return pd.concat(chunks, ignore_index=True)
    except pd.errors.EmptyDataError as exc:
        raise BadInputError(f"The data at {uri} is empty.", reason="EmptyData") from exc
    except Exception as exc:  # pandas and pyarrow raise many types for malformed files
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(
            f"The data at {uri} is not readable as {fmt}: {why}.",
            reason="UnreadableData",
        ) from exc


def read_source(source: DataSource, *, env: Mapping[str, str] | None = None, pvc_mount: str = PVC_MOUNT) -> SourceData:
    """Read, digest and parse a Dataset's source."""
    if source.uri.startswith("builtin://"):
        frame = builtin_frame(source.uri.removeprefix("builtin://"))
        return SourceData(digest=sha256_bytes(canonical_csv(frame)), frame=frame)
    path = local_path(source.uri, pvc_mount)
    if path is not None:
        # Digested and parsed in two passes (neither holds the bytes), so a file rewritten in between
        # would pair one content's digest with another's data: refuse that rather than record it.
        before = _file_state(path)
        digest = _digest_file(path)
        frame = parse_frame(path, source.format, source.uri)
        if _file_state(path) != before:
            raise UnreachableError(
                f"The data file {path} changed while it was being read; run again once nothing writes to it."
            )
        return SourceData(digest=digest, frame=frame)
    content = fetch_bytes(source, env=env)
    return SourceData(digest=sha256_bytes(content), frame=parse_frame(content, source.format, source.uri))
