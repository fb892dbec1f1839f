"""Read serving pods' Prometheus counters into a :class:`~yardarm.operator.evaluate.Snapshot`.

Two sources, one result. By default the operator scrapes ``/metrics`` of each ready serving pod
directly (pod IP and container port from the pod, plain HTTP, a short timeout, all pods at once):
no Prometheus needed. When a Monitor sets ``spec.prometheusUrl``, the same series are read with
one instant query of the Prometheus HTTP API instead, grouped by their ``pod`` label. Either way
every sample goes through :func:`metrics_from_samples`, so the evaluation cannot tell them apart.

Metric names are the serving runtime's (``serving/metrics.py``); the mapping to counter keys is
documented in ``docs/monitoring.md``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from .evaluate import CounterKey, PodMetrics, Reference, Snapshot

#: Port of ``yardarm-serve`` when a pod names none (the CLI's default).
DEFAULT_PORT = 8080
DEFAULT_TIMEOUT = 3.0
#: A pod's answer larger than this is refused (a misbehaving pod must not exhaust the operator).
MAX_BODY = 16 * 1024 * 1024

REQUESTS = "yardarm_requests_total"
LATENCY_BUCKET = "yardarm_request_duration_seconds_bucket"
FEATURE_BIN = "yardarm_feature_bin_total"
FEATURE_MISSING = "yardarm_feature_missing_total"
FEATURE_REFERENCE = "yardarm_feature_bin_reference_ratio"
FEATURE_REFERENCE_ROWS = "yardarm_feature_reference_rows"
PREDICTION_BIN = "yardarm_prediction_bin_total"
PREDICTION_REFERENCE = "yardarm_prediction_bin_reference_ratio"
PREDICTION_REFERENCE_ROWS = "yardarm_prediction_reference_rows"
ROWS = "yardarm_inference_rows_total"
FEEDBACK = "yardarm_feedback_total"
MODEL_INFO = "yardarm_model_info"
START_TIME = "process_start_time_seconds"

#: Every series the evaluation reads; the Prometheus query asks for exactly these.
SERIES = (
    REQUESTS,
    LATENCY_BUCKET,
    FEATURE_BIN,
    FEATURE_MISSING,
    FEATURE_REFERENCE,
    FEATURE_REFERENCE_ROWS,
    PREDICTION_BIN,
    PREDICTION_REFERENCE,
    PREDICTION_REFERENCE_ROWS,
    ROWS,
    FEEDBACK,
    MODEL_INFO,
    START_TIME,
)

Sample = tuple[str, Mapping[str, str], float]


class ScrapeError(Exception):
    """A source could not be read (connection, HTTP status, or body)."""


@dataclass(frozen=True)
class Target:
    """One pod to scrape: its name (the snapshot key) and its ``/metrics`` URL."""

    pod: str
    url: str


def _le(value: str) -> float:
    return math.inf if value in ("+Inf", "Inf", "inf") else float(value)


def metrics_from_samples(samples: Iterable[Sample]) -> PodMetrics:
    """One pod's samples (name, labels, value) as :class:`PodMetrics`; unknown series are ignored."""
    counters: dict[CounterKey, float] = {}
    digest = revision = None
    start_time = None
    feature_ref: dict[str, dict[int, float]] = {}
    feature_categorical: dict[str, bool] = {}
    prediction_ref: dict[int, float] = {}
    prediction_categorical = False
    feature_rows: dict[str, int] = {}
    prediction_rows: int | None = None

    def add(key: CounterKey, value: float) -> None:
        counters[key] = counters.get(key, 0.0) + value

    for name, labels, value in samples:
        if math.isnan(value):
            continue
        if name == REQUESTS:
            add(("requests", labels.get("endpoint", ""), labels.get("code", "")), value)
        elif name == LATENCY_BUCKET:
            add(("latency", labels.get("endpoint", ""), _le(labels.get("le", "+Inf"))), value)
        elif name == FEATURE_BIN:
            add(("feature", labels.get("feature", ""), int(labels.get("bin", "0"))), value)
        elif name == FEATURE_MISSING:
            add(("missing", labels.get("feature", "")), value)
        elif name == PREDICTION_BIN:
            add(("prediction", int(labels.get("bin", "0"))), value)
        elif name == ROWS:
            add(("rows",), value)
        elif name == FEEDBACK:
            add(("feedback", labels.get("outcome", "")), value)
        elif name == MODEL_INFO and value > 0:
            digest, revision = labels.get("digest"), labels.get("revision")
        elif name == START_TIME:
            start_time = value
        elif name == FEATURE_REFERENCE:
            feature = labels.get("feature", "")
            feature_ref.setdefault(feature, {})[int(labels.get("bin", "0"))] = value
            feature_categorical[feature] = bool(labels.get("category"))
        elif name == PREDICTION_REFERENCE:
            prediction_ref[int(labels.get("bin", "0"))] = value
            prediction_categorical = bool(labels.get("category"))
        elif name == FEATURE_REFERENCE_ROWS:
            feature_rows[labels.get("feature", "")] = int(value)
        elif name == PREDICTION_REFERENCE_ROWS:
            prediction_rows = int(value)

    def reference(by_bin: Mapping[int, float], categorical: bool, rows: int | None) -> Reference:
        return Reference(tuple(by_bin.get(i, 0.0) for i in range(max(by_bin) + 1)), categorical, rows)

    return PodMetrics(
        counters=counters,
        digest=digest,
        revision=revision,
        start_time=start_time,
        feature_reference={
            f: reference(b, feature_categorical[f], feature_rows.get(f)) for f, b in feature_ref.items() if b
        },
        prediction_reference=(
            reference(prediction_ref, prediction_categorical, prediction_rows) if prediction_ref else None
        ),
    )


def parse_exposition(text: str) -> PodMetrics:
    """A ``/metrics`` page (Prometheus text format) as :class:`PodMetrics`."""
    samples: list[Sample] = []
    try:
        for family in text_string_to_metric_families(text):
            samples.extend((s.name, s.labels, float(s.value)) for s in family.samples)
    except ValueError as exc:
        raise ScrapeError(f"not a Prometheus text exposition: {exc}") from None
    return metrics_from_samples(samples)


# -- pods ----------------------------------------------------------------------------------------------


def _port(pod: Mapping[str, Any]) -> int:
    """The serving port: a container port named http/metrics, else the first one, else the default."""
    ports = [p for c in (pod.get("spec") or {}).get("containers") or [] for p in c.get("ports") or []]
    for wanted in ("metrics", "http"):
        for port in ports:
            if port.get("name") == wanted and port.get("containerPort"):
                return int(port["containerPort"])
    for port in ports:
        if port.get("containerPort") and port.get("protocol", "TCP") == "TCP":
            return int(port["containerPort"])
    return DEFAULT_PORT


def targets_of(pods: Iterable[Mapping[str, Any]]) -> list[Target]:
    """Scrape targets of pods that have an IP (IPv6 addresses in brackets)."""
    out: list[Target] = []
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        name = (pod.get("metadata") or {}).get("name")
        if not ip or not name:
            continue
        host = f"[{ip}]" if ":" in ip else ip
        out.append(Target(pod=name, url=f"http://{host}:{_port(pod)}/metrics"))
    return out


async def read_body(response: aiohttp.ClientResponse, url: str) -> bytes:
    """The whole body, or :class:`ScrapeError`: a page cut short is never parsed partially.

    ``StreamReader.read(n)`` returns what has *arrived*, which for a large ``/metrics`` page can be a
    prefix that still parses (cut at a line break, with a fraction of its series). So the body is read
    to its end, and its length must equal ``Content-Length`` when the server sent one (a connection
    closed early raises; aiohttp also refuses a chunked body without its last chunk). Bodies larger
    than :data:`MAX_BODY` are refused before and while reading.
    """
    expected = response.content_length
    if expected is not None and expected > MAX_BODY:
        raise ScrapeError(f"{url}: Content-Length {expected} is more than {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY:
            raise ScrapeError(f"{url}: more than {MAX_BODY} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if expected is not None and len(body) != expected:
        raise ScrapeError(f"{url}: body cut short ({len(body)} of {expected} bytes)")
    return body


async def _fetch(session: aiohttp.ClientSession, target: Target) -> PodMetrics:
    try:
        async with session.get(target.url, headers={"Accept": "text/plain"}) as response:
            if response.status != 200:
                raise ScrapeError(f"HTTP {response.status} from {target.url}")
            body = await read_body(response, target.url)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise ScrapeError(f"{target.url}: {type(exc).__name__} {exc}".strip()) from None
    return parse_exposition(body.decode("utf-8", errors="replace"))


async def scrape_pods(
    targets: Sequence[Target], *, timeout: float = DEFAULT_TIMEOUT, now: float | None = None
) -> Snapshot:
    """Scrape every target concurrently; a pod that fails is recorded in ``errors``, not raised."""
    when = time.time() if now is None else now
    pods: dict[str, PodMetrics] = {}
    errors: dict[str, str] = {}
    if targets:
        client_timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 2.0))
        async with aiohttp.ClientSession(timeout=client_timeout, trust_env=False) as session:
            results = await asyncio.gather(*(_fetch(session, t) for t in targets), return_exceptions=True)
        for target, result in zip(targets, results, strict=True):
            if isinstance(result, PodMetrics):
                pods[target.pod] = result
            elif isinstance(result, Exception):
                errors[target.pod] = str(result)
            else:
                raise result
    return Snapshot(time=when, pods=pods, errors=errors)


# -- Prometheus ----------------------------------------------------------------------------------------


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def prometheus_query(namespace: str, pods: Sequence[str]) -> str:
    """The instant query for the serving pods' series (Kubernetes SD's ``namespace``/``pod`` labels)."""
    names = "|".join(SERIES)
    pod_regex = "|".join(p.replace(".", "\\\\.") for p in sorted(pods)) or ".+"
    return f'{{__name__=~"{names}",namespace="{_quote(namespace)}",pod=~"{pod_regex}"}}'


def snapshot_from_prometheus(answer: Mapping[str, Any], *, now: float) -> Snapshot:
    """A ``/api/v1/query`` vector answer, grouped by ``pod`` (``instance`` if absent)."""
    if answer.get("status") != "success":
        raise ScrapeError(f"Prometheus answered {answer.get('status')}: {answer.get('error', '')}")
    data = answer.get("data") or {}
    if data.get("resultType") != "vector":
        raise ScrapeError(f"Prometheus answered a {data.get('resultType')}, not a vector")
    by_pod: dict[str, list[Sample]] = {}
    for item in data.get("result") or []:
        labels = dict(item.get("metric") or {})
        name = labels.pop("__name__", "")
        pod = labels.get("pod") or labels.get("instance") or ""
        try:
            value = float(item["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        by_pod.setdefault(pod, []).append((name, labels, value))
    return Snapshot(time=now, pods={pod: metrics_from_samples(s) for pod, s in by_pod.items()})


async def scrape_prometheus(
    base_url: str, namespace: str, pods: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT * 2
) -> Snapshot:
    """One instant query to Prometheus for the given pods; raises :class:`ScrapeError`."""
    now = time.time()
    url = base_url.rstrip("/") + "/api/v1/query"
    query = {"query": prometheus_query(namespace, pods), "time": f"{now:.3f}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(url, data=query) as response,
        ):
            if response.status != 200:
                text = await response.text()
                raise ScrapeError(f"HTTP {response.status} from {url}: {text[:200]}")
            answer = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        raise ScrapeError(f"{url}: {type(exc).__name__} {exc}".strip()) from None
    return snapshot_from_prometheus(answer, now=now)
