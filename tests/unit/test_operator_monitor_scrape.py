"""Parsing the serving pods' exposition and Prometheus answers into the same counters."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

import pytest

from yardarm.operator.scrape import (
    ScrapeError,
    Target,
    parse_exposition,
    prometheus_query,
    scrape_pods,
    snapshot_from_prometheus,
    targets_of,
)

DIGEST = "sha256:" + "a" * 64
EXPOSITION = f"""\
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.7e+09
# HELP yardarm_requests HTTP requests by endpoint and status code.
# TYPE yardarm_requests counter
yardarm_requests_total{{code="200",endpoint="infer",model="m",revision="3"}} 90.0
yardarm_requests_total{{code="503",endpoint="infer",model="m",revision="3"}} 10.0
yardarm_requests_created{{code="200",endpoint="infer",model="m",revision="3"}} 1.7e+09
# HELP yardarm_request_duration_seconds Time.
# TYPE yardarm_request_duration_seconds histogram
yardarm_request_duration_seconds_bucket{{endpoint="infer",le="0.01",model="m",revision="3"}} 60.0
yardarm_request_duration_seconds_bucket{{endpoint="infer",le="+Inf",model="m",revision="3"}} 100.0
yardarm_request_duration_seconds_count{{endpoint="infer",model="m",revision="3"}} 100.0
yardarm_request_duration_seconds_sum{{endpoint="infer",model="m",revision="3"}} 1.5
# HELP yardarm_model_info Always 1.
# TYPE yardarm_model_info gauge
yardarm_model_info{{digest="{DIGEST}",model="m",model_sha256="x",revision="3",task="classification",threads="1"}} 1.0
# HELP yardarm_feature_bin Input values counted into the reference bins.
# TYPE yardarm_feature_bin counter
yardarm_feature_bin_total{{bin="0",feature="x",model="m",revision="3"}} 40.0
yardarm_feature_bin_total{{bin="1",feature="x",model="m",revision="3"}} 60.0
# HELP yardarm_feature_missing Missing.
# TYPE yardarm_feature_missing counter
yardarm_feature_missing_total{{feature="x",model="m",revision="3"}} 2.0
# HELP yardarm_feature_bin_reference_ratio Reference.
# TYPE yardarm_feature_bin_reference_ratio gauge
yardarm_feature_bin_reference_ratio{{bin="0",category="",feature="x",lower="-Inf",upper="1.0"}} 0.5
yardarm_feature_bin_reference_ratio{{bin="1",category="",feature="x",lower="1.0",upper="+Inf"}} 0.5
yardarm_feature_bin_reference_ratio{{bin="0",category="red",feature="c",lower="",upper=""}} 0.9
yardarm_feature_bin_reference_ratio{{bin="1",category="__other__",feature="c",lower="",upper=""}} 0.1
# HELP yardarm_feature_reference_rows Rows.
# TYPE yardarm_feature_reference_rows gauge
yardarm_feature_reference_rows{{feature="x",model="m",revision="3"}} 569.0
# HELP yardarm_prediction_bin Predictions.
# TYPE yardarm_prediction_bin counter
yardarm_prediction_bin_total{{bin="0",model="m",revision="3"}} 100.0
# HELP yardarm_prediction_bin_reference_ratio Reference.
# TYPE yardarm_prediction_bin_reference_ratio gauge
yardarm_prediction_bin_reference_ratio{{bin="0",category="a",lower="",upper=""}} 1.0
# HELP yardarm_inference_rows Rows.
# TYPE yardarm_inference_rows counter
yardarm_inference_rows_total{{model="m",revision="3"}} 100.0
# HELP yardarm_feedback Feedback.
# TYPE yardarm_feedback counter
yardarm_feedback_total{{model="m",outcome="correct",revision="3"}} 7.0
"""


def test_exposition_becomes_counter_keys_identity_and_references() -> None:
    pod = parse_exposition(EXPOSITION)
    assert (pod.digest, pod.revision, pod.start_time) == (DIGEST, "3", 1.7e9)
    c = pod.counters
    assert c[("requests", "infer", "200")] == 90
    assert c[("requests", "infer", "503")] == 10
    assert c[("latency", "infer", 0.01)] == 60
    assert c[("latency", "infer", math.inf)] == 100
    assert c[("feature", "x", 0)] == 40
    assert c[("missing", "x")] == 2
    assert c[("prediction", 0)] == 100
    assert c[("rows",)] == 100
    assert c[("feedback", "correct")] == 7
    assert not any(k[0] == "requests_created" for k in c)  # _created samples are not counters
    assert pod.feature_reference["x"].proportions == (0.5, 0.5)
    assert not pod.feature_reference["x"].categorical
    assert pod.feature_reference["c"].categorical
    assert pod.prediction_reference is not None
    assert pod.prediction_reference.categorical
    assert pod.feature_reference["x"].rows == 569  # the two-sample tests need the reference's size
    assert pod.feature_reference["c"].rows is None  # not advertised: treated as exact


def test_garbage_is_a_scrape_error() -> None:
    with pytest.raises(ScrapeError):
        parse_exposition('yardarm_requests_total{code="200" 1\n')


def test_targets_use_the_named_port_and_skip_pods_without_ip() -> None:
    pods = [
        {
            "metadata": {"name": "a"},
            "spec": {"containers": [{"ports": [{"containerPort": 9000}, {"name": "http", "containerPort": 8080}]}]},
            "status": {"podIP": "10.1.2.3"},
        },
        {"metadata": {"name": "b"}, "spec": {"containers": [{}]}, "status": {"podIP": "fd00::5"}},
        {"metadata": {"name": "c"}, "spec": {}, "status": {}},
        {
            "metadata": {"name": "d"},
            "spec": {"containers": [{"ports": [{"containerPort": 7000}]}]},
            "status": {"podIP": "10.0.0.9"},
        },
    ]
    assert targets_of(pods) == [
        Target("a", "http://10.1.2.3:8080/metrics"),
        Target("b", "http://[fd00::5]:8080/metrics"),
        Target("d", "http://10.0.0.9:7000/metrics"),
    ]


def test_prometheus_query_names_every_series_and_the_pods() -> None:
    query = prometheus_query("team-a", ["iris-serving-1.x", "iris-serving-2"])
    assert 'namespace="team-a"' in query
    assert 'pod=~"iris-serving-1\\\\.x|iris-serving-2"' in query
    assert "yardarm_feature_bin_total" in query
    assert "process_start_time_seconds" in query
    assert 'pod=~".+"' in prometheus_query("ns", [])


def test_a_prometheus_vector_is_grouped_by_pod() -> None:
    def item(name: str, pod: str, value: str, **labels: str) -> dict[str, object]:
        return {"metric": {"__name__": name, "pod": pod, "namespace": "ns", **labels}, "value": [1.0, value]}

    answer = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                item("yardarm_requests_total", "p1", "5", endpoint="infer", code="200"),
                item("yardarm_requests_total", "p2", "7", endpoint="infer", code="200"),
                item("yardarm_model_info", "p1", "1", digest=DIGEST, revision="3"),
                item("yardarm_request_duration_seconds_bucket", "p1", "5", endpoint="infer", le="+Inf"),
                item("process_start_time_seconds", "p2", "123"),
                item("yardarm_rows_bogus", "p2", "not-a-number"),
            ],
        },
    }
    snapshot = snapshot_from_prometheus(answer, now=42.0)
    assert snapshot.time == 42.0
    assert snapshot.pods["p1"].counters[("requests", "infer", "200")] == 5
    assert snapshot.pods["p1"].counters[("latency", "infer", math.inf)] == 5
    assert snapshot.pods["p1"].digest == DIGEST
    assert snapshot.pods["p2"].start_time == 123


def test_a_prometheus_error_is_a_scrape_error() -> None:
    with pytest.raises(ScrapeError, match="bad_data"):
        snapshot_from_prometheus({"status": "error", "error": "bad_data"}, now=0)
    with pytest.raises(ScrapeError, match="matrix"):
        snapshot_from_prometheus({"status": "success", "data": {"resultType": "matrix"}}, now=0)


# -- whole bodies, over real HTTP ------------------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def scrape_from(handler: Handler) -> tuple[dict[str, object], dict[str, str]]:
    """Run ``handler`` as a real TCP HTTP server and scrape it once; (pods, errors)."""

    async def main() -> tuple[dict[str, object], dict[str, str]]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            try:
                await handler(reader, writer)
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            snapshot = await scrape_pods([Target("pod-0", f"http://127.0.0.1:{port}/metrics")], timeout=5.0)
        return dict(snapshot.pods), dict(snapshot.errors)

    return asyncio.run(main())


BODY = EXPOSITION.encode()
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"


def test_a_body_arriving_in_pieces_is_read_whole() -> None:
    # The old reader returned whatever had arrived: here the first half, which parses.
    cut = BODY.index(b"# HELP yardarm_feature_bin ")

    async def slow(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY[:cut])
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.write(BODY[cut:])
        await writer.drain()

    pods, errors = scrape_from(slow)
    assert errors == {}
    assert pods["pod-0"].counters[("feature", "x", 1)] == 60  # type: ignore[attr-defined]


def test_a_body_cut_short_at_a_line_break_is_a_scrape_error_not_a_partial_page() -> None:
    cut = BODY.index(b"# HELP yardarm_feature_bin ")

    async def truncated(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY[:cut])
        await writer.drain()

    pods, errors = scrape_from(truncated)
    assert pods == {}
    assert "pod-0" in errors


def test_a_chunked_body_without_its_last_chunk_is_a_scrape_error() -> None:
    async def chunked(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        part = BODY[:500]
        writer.write(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(part):x}\r\n".encode() + part + b"\r\n")
        await writer.drain()

    pods, errors = scrape_from(chunked)
    assert pods == {}
    assert "pod-0" in errors


def test_a_body_longer_than_the_cap_is_refused_from_its_content_length(monkeypatch: pytest.MonkeyPatch) -> None:
    from yardarm.operator import scrape

    monkeypatch.setattr(scrape, "MAX_BODY", 100)

    async def large(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY)
        await writer.drain()

    pods, errors = scrape_from(large)
    assert pods == {}
    assert "more than 100 bytes" in errors["pod-0"]
