"""An S3 client for sources and stores, configured from a spec's S3 options and the environment.

Credentials never appear in specs: the operator maps a Secret to ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``. The endpoint, region and plain-HTTP switch come from the Dataset's
``source.s3`` for sources, and from ``YARDARM_S3_ENDPOINT`` (or ``AWS_ENDPOINT_URL``),
``AWS_REGION`` and ``YARDARM_S3_INSECURE`` for the output store. ``minio`` is used rather than
boto3 because botocore's python-dateutil pin conflicts with the kubernetes client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from minio import Minio

#: Seconds to wait for a connection and for each read; a missing endpoint fails fast, not in minutes.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0


@dataclass(frozen=True)
class S3Settings:
    """Where and how to reach an S3-compatible server."""

    endpoint: str | None = None
    region: str | None = None
    insecure: bool = False


def settings_from_env(env: Mapping[str, str] | None = None) -> S3Settings:
    """S3 settings for the output store, from the Job's environment."""
    env = os.environ if env is None else env
    endpoint = env.get("YARDARM_S3_ENDPOINT") or env.get("AWS_ENDPOINT_URL") or None
    insecure = env.get("YARDARM_S3_INSECURE", "").lower() in ("1", "true", "yes")
    return S3Settings(endpoint=endpoint, region=env.get("AWS_REGION") or None, insecure=insecure)


def make_client(settings: S3Settings, env: Mapping[str, str] | None = None) -> Minio:
    """A client with short timeouts and few retries, credentials from the environment (anonymous without)."""
    env = os.environ if env is None else env
    endpoint = settings.endpoint or "https://s3.amazonaws.com"
    if "://" not in endpoint:
        endpoint = ("http://" if settings.insecure else "https://") + endpoint
    parts = urlsplit(endpoint)
    secure = parts.scheme == "https" and not settings.insecure
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
    )
    return Minio(
        parts.netloc,
        access_key=env.get("AWS_ACCESS_KEY_ID") or None,
        secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        session_token=env.get("AWS_SESSION_TOKEN") or None,
        secure=secure,
        region=settings.region,
        http_client=http,
    )
