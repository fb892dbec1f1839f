"""One S3 client for every runtime that talks to the artifact store: training Jobs and serving pods.

Settings come from a spec's S3 options and from the pod's environment, which the operator fills
from its configuration (the chart's ``artifacts.s3`` values):

==========================  =====================================================================
``YARDARM_S3_ENDPOINT``     endpoint URL (``AWS_ENDPOINT_URL`` also works); AWS when unset
``AWS_REGION``              bucket region
``YARDARM_S3_INSECURE``     plain HTTP (test setups only)
``YARDARM_S3_CA_BUNDLE``    PEM file of the CA that signed a private endpoint's certificate
``YARDARM_S3_ADDRESSING``   ``path`` (``host/bucket/key``), ``virtual`` (``bucket.host/key``) or
                            ``auto`` (virtual for AWS, path elsewhere: the SDK's rule)
``YARDARM_S3_CREDENTIALS``  ``static`` (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, mapped
                            from a Secret; anonymous without) or ``chain`` (the SDK's default
                            chain: environment keys, then IRSA's web-identity token, container
                            and instance credentials)
==========================  =====================================================================

Credentials never appear in specs. ``minio`` is used rather than boto3 because botocore's
python-dateutil pin conflicts with the kubernetes client; it is in the ``train`` and ``serve``
extras, not in the core, so only runtimes that talk to S3 import this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.credentials.providers import ChainedProvider, EnvAWSProvider, IamAwsProvider

#: Seconds to wait for a connection and for each read; a missing endpoint fails fast, not in minutes.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0

Addressing = Literal["auto", "path", "virtual"]
CredentialsMode = Literal["static", "chain"]
ADDRESSING: tuple[Addressing, ...] = ("auto", "path", "virtual")
CREDENTIALS: tuple[CredentialsMode, ...] = ("static", "chain")

_TRUE = ("1", "true", "yes")


@dataclass(frozen=True)
class S3Settings:
    """Where and how to reach an S3-compatible server."""

    endpoint: str | None = None
    region: str | None = None
    insecure: bool = False
    #: A PEM file with the CA certificate(s) to trust instead of the system store.
    ca_bundle: str | None = None
    addressing: Addressing = "auto"
    credentials: CredentialsMode = "static"


def settings_from_env(env: Mapping[str, str] | None = None) -> S3Settings:
    """S3 settings for the artifact store, from the pod's environment (unknown values fall back to defaults)."""
    env = os.environ if env is None else env
    endpoint = env.get("YARDARM_S3_ENDPOINT") or env.get("AWS_ENDPOINT_URL") or None
    addressing = (env.get("YARDARM_S3_ADDRESSING") or "auto").lower()
    credentials = (env.get("YARDARM_S3_CREDENTIALS") or "static").lower()
    return S3Settings(
        endpoint=endpoint,
        region=env.get("AWS_REGION") or None,
        insecure=(env.get("YARDARM_S3_INSECURE") or "").lower() in _TRUE,
        ca_bundle=env.get("YARDARM_S3_CA_BUNDLE") or env.get("AWS_CA_BUNDLE") or None,
        addressing=addressing if addressing in ADDRESSING else "auto",
        credentials=credentials if credentials in CREDENTIALS else "static",
    )


def merged(
    base: S3Settings,
    *,
    endpoint: str | None = None,
    region: str | None = None,
    insecure: bool | None = None,
    ca_bundle: str | None = None,
    addressing: Addressing | None = None,
    credentials: CredentialsMode | None = None,
) -> S3Settings:
    """``base`` with the non-``None`` overrides applied (a spec's options over the environment's)."""
    return replace(
        base,
        endpoint=base.endpoint if endpoint is None else endpoint,
        region=base.region if region is None else region,
        insecure=base.insecure if insecure is None else insecure,
        ca_bundle=base.ca_bundle if ca_bundle is None else ca_bundle,
        addressing=base.addressing if addressing is None else addressing,
        credentials=base.credentials if credentials is None else credentials,
    )


def make_client(settings: S3Settings, env: Mapping[str, str] | None = None) -> Minio:
    """A client with short timeouts and few retries; credentials by ``settings.credentials``."""
    env = os.environ if env is None else env
    endpoint = settings.endpoint or "https://s3.amazonaws.com"
    if "://" not in endpoint:
        endpoint = ("http://" if settings.insecure else "https://") + endpoint
    parts = urlsplit(endpoint)
    secure = parts.scheme == "https" and not settings.insecure
    # Connection-pool keywords, which urllib3 types as Any (a str here would also match num_pools).
    tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED", "ca_certs": settings.ca_bundle} if settings.ca_bundle else {}
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
        **tls,
    )
    if settings.credentials == "chain":
        client = Minio(
            parts.netloc,
            credentials=ChainedProvider([EnvAWSProvider(), IamAwsProvider()]),
            secure=secure,
            region=settings.region,
            http_client=http,
        )
    else:
        client = Minio(
            parts.netloc,
            access_key=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
            secure=secure,
            region=settings.region,
            http_client=http,
        )
    if settings.addressing == "path":
        client.disable_virtual_style_endpoint()  # type: ignore[no-untyped-call]  # minio leaves it unannotated
    elif settings.addressing == "virtual":
        client.enable_virtual_style_endpoint()  # type: ignore[no-untyped-call]  # minio leaves it unannotated
    return client
