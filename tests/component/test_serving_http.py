"""The real ``yardarm-serve`` under hostile HTTP: slowloris, too many connections, malformed requests.

Every attack here is bounded (a fixed number of connections and a hard stop), runs on loopback
only, and checks what a user notices: the connection is closed on time with a JSON answer, and
valid requests meanwhile are served at their normal latency.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from serve_process import SERVE, Server, free_port, metric_samples, sample, start_server

pytestmark = pytest.mark.component

TIMEOUT = 2.0  # header, body and keep-alive timeouts of the guarded server
SLACK = 2.0  # scheduling slack on a shared 2-CPU machine
HARD_STOP = 12.0  # every attacking connection gives up after this, closed or not


@pytest.fixture(scope="module")
def guarded(iris_bundle: tuple[Path, str]) -> Iterator[Server]:
    directory, digest = iris_bundle[:2]
    seconds = str(TIMEOUT)
    server = start_server(
        directory,
        "--model-name",
        "iris",
        "--header-timeout",
        seconds,
        "--body-timeout",
        seconds,
        "--keep-alive-timeout",
        seconds,
        digest=digest,
    )
    yield server
    server.stop()


def _port(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _valid_body(server: Server) -> bytes:
    meta = server.client.get("/v2/models/iris").json()
    (spec,) = meta["inputs"]
    rows = [[5.1, 3.5, 1.4, 0.2]]
    return orjson.dumps({"inputs": [{"name": spec["name"], "shape": [1, 4], "datatype": "FP32", "data": rows}]})


def _latencies(server: Server, body: bytes, seconds: float) -> list[float]:
    """Valid 1-row requests on one keep-alive connection for ``seconds``: each one's latency."""
    out = []
    with httpx.Client(base_url=server.url, timeout=10) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            start = time.perf_counter()
            response = client.post("/v2/models/iris/infer", content=body)
            out.append(time.perf_counter() - start)
            assert response.status_code == 200, response.text
            time.sleep(0.01)
    return out


async def _attacker(port: int, kind: str) -> tuple[float | None, bytes]:
    """One hostile connection; returns when the server closed it (seconds after opening) and its answer."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = bytearray()

    async def read_all() -> None:
        while chunk := await reader.read(4096):
            received.extend(chunk)

    reading = asyncio.create_task(read_all())
    if kind == "body":  # complete headers, then the body a byte at a time
        writer.write(b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
        trickle = b"["
    elif kind == "headers":  # a header that never ends
        writer.write(b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        trickle = b"a"
    elif kind == "kept-alive":  # one complete request, then silence
        writer.write(b"GET /v2/health/live HTTP/1.1\r\nHost: a\r\n\r\n")
        trickle = b""
    else:  # opened, never a byte
        trickle = b""
    try:
        while not reading.done() and loop.time() - start < HARD_STOP:
            if trickle:
                writer.write(trickle)
                await writer.drain()
            await asyncio.wait({reading}, timeout=0.25)
    except ConnectionError:
        pass
    await asyncio.wait({reading}, timeout=1.0)
    closed = loop.time() - start if reading.done() else None
    reading.cancel()
    writer.close()
    return closed, bytes(received)


def _attack(port: int, plan: dict[str, int], results: dict[str, list[tuple[float | None, bytes]]]) -> None:
    async def run() -> None:
        kinds = [kind for kind, count in plan.items() for _ in range(count)]
        answers = await asyncio.gather(*(_attacker(port, kind) for kind in kinds))
        for kind, answer in zip(kinds, answers, strict=True):
            results.setdefault(kind, []).append(answer)

    asyncio.run(run())


def test_slowloris_connections_are_closed_on_time_while_valid_requests_keep_their_latency(guarded: Server) -> None:
    body = _valid_body(guarded)
    _latencies(guarded, body, 0.5)  # warm
    baseline = _latencies(guarded, body, 2.0)
    plan = {"headers": 200, "body": 100, "idle": 50, "kept-alive": 50}
    results: dict[str, list[tuple[float | None, bytes]]] = {}
    attack = threading.Thread(target=_attack, args=(_port(guarded), plan, results))
    attack.start()
    time.sleep(0.5)
    under_attack = _latencies(guarded, body, 3.0)
    attack.join(HARD_STOP + 10)
    assert not attack.is_alive()

    for kind, count in plan.items():
        answers = results[kind]
        assert len(answers) == count
        closed = [c for c, _ in answers]
        assert all(c is not None for c in closed), f"{kind}: {sum(c is None for c in closed)} connections still open"
        worst = max(c for c in closed if c is not None)
        assert worst <= TIMEOUT + SLACK, f"{kind}: closed after {worst:.2f} s"
        assert min(c for c in closed if c is not None) >= TIMEOUT * 0.9, kind
        for _, answer in answers:
            if kind == "kept-alive":
                assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
                assert answer.count(b"HTTP/1.1") == 1
            else:
                assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
                error = orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
                assert ("headers" if kind != "body" else "body") in error

    normal, attacked = statistics.median(baseline), statistics.median(under_attack)
    p90 = statistics.quantiles(baseline, n=10)[-1], statistics.quantiles(under_attack, n=10)[-1]
    print(
        f"valid 1-row requests: median {normal * 1000:.2f} ms / p90 {p90[0] * 1000:.2f} ms alone "
        f"({len(baseline)} requests), median {attacked * 1000:.2f} ms / p90 {p90[1] * 1000:.2f} ms "
        f"under attack ({len(under_attack)} requests)"
    )
    assert attacked <= 3 * normal + 0.02
    samples = metric_samples(guarded)
    assert sample(samples, "yardarm_connections_closed_total", reason="header_timeout") >= 250
    assert sample(samples, "yardarm_connections_closed_total", reason="body_timeout") >= 100
    assert sample(samples, "yardarm_connections_open") <= 3


def _raw(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, read until the server closes; the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def _json_error(answer: bytes) -> str:
    head, body = answer.split(b"\r\n\r\n", 1)
    assert b"content-type: application/json" in head.lower()
    error = orjson.loads(body)["error"]
    assert isinstance(error, str) and error
    return error


def test_connections_beyond_the_bound_get_503_and_the_server_recovers(iris_bundle: tuple[Path, str]) -> None:
    directory, digest = iris_bundle[:2]
    server = start_server(directory, "--model-name", "iris", "--max-connections", "20", digest=digest)
    port = _port(server)
    server.client.close()  # the helper's keep-alive connection would count too
    try:
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        time.sleep(0.2)
        answer = _raw(port, b"GET /v2/health/live HTTP/1.1\r\nHost: a\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503")
        assert "limit of 20 connections" in _json_error(answer)
        for sock in held:
            sock.close()
        time.sleep(0.2)
        assert _raw(port, b"GET /v2/health/live HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").startswith(
            b"HTTP/1.1 200"
        )
        with httpx.Client(base_url=server.url) as client:
            samples = metric_samples(Server(server.process, server.url, client, server.log, server.pump))
        assert sample(samples, "yardarm_connections_closed_total", reason="over_limit") == 1
    finally:
        server.stop()


def test_malformed_http_is_answered_and_logged_as_json(guarded: Server) -> None:
    port = _port(guarded)
    cases = [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /v2/models/iris/infer HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"GET /v2/health/live HTTP/1.1\r\nHost a\r\n\r\n",
        b"GET /\xff\xfe HTTP/1.1\r\nHost: a\r\n\r\n",
    ]
    for request in cases:
        answer = _raw(port, request)
        assert answer.startswith(b"HTTP/1.1 400"), (request, answer[:100])
        assert _json_error(answer).startswith("Invalid HTTP request")
    big = b"GET /v2/health/live HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    answer = _raw(port, big)
    assert answer.startswith(b"HTTP/1.1 431")
    assert "65536 bytes" in _json_error(answer)
    time.sleep(0.3)
    lines = [line for line in list(guarded.log) if line.strip()]
    records = [orjson.loads(line) for line in lines]  # every line the server wrote is JSON
    invalid = [r for r in records if r["msg"] == "invalid http request"]
    assert len(invalid) >= len(cases)
    assert all(r["level"] == "warning" and r["error"].startswith("Invalid HTTP request") for r in invalid)


def test_head_works_on_every_get_endpoint_and_not_on_post_ones(guarded: Server) -> None:
    c = guarded.client
    for path in ("/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/iris", "/v2/models/iris/ready", "/metrics"):
        got, head = c.get(path), c.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        if path != "/metrics":  # metrics change between the two calls
            assert head.headers["content-length"] == str(len(got.content))
    assert c.head("/v2/models/iris/infer").status_code == 405


@pytest.mark.parametrize(
    "digest", ["0" * 64, "sha256:" + "0" * 63, "sha256:" + "G" * 64, "SHA256:" + "0" * 64, "md5:" + "0" * 32]
)
def test_a_digest_that_is_not_sha256_hex_is_a_format_error(iris_bundle: tuple[Path, str], digest: str) -> None:
    result = subprocess.run(
        [str(SERVE), "--bundle", str(iris_bundle[0]), "--digest", digest, "--port", str(free_port())],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    record = orjson.loads(result.stdout.splitlines()[-1])
    assert record["msg"] == "invalid --digest"
    assert "format error" in record["error"]
    assert "mismatch" in record["error"]  # says it is *not* one


def test_a_classifier_trained_on_class_names_answers_them_at_every_batch_size(iris_bundle: tuple[Path, str]) -> None:
    """Builtin iris trains on "setosa", …: the model's label output is a string tensor, which the
    pre-bound (IO binding) fast path cannot carry; each batch size, again and again, answers names."""
    directory, digest = iris_bundle[:2]
    server = start_server(directory, "--model-name", "iris", digest=digest)
    try:
        flowers = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]
        for rows in (1, 2, 3, 64):
            instances = [flowers[i % 3] for i in range(rows)]
            for _ in range(3):
                reply = server.client.post("/v1/models/iris:predict", json={"instances": instances})
                assert reply.status_code == 200, reply.text
                expected = ["setosa", "versicolor", "virginica"]
                assert reply.json()["predictions"] == [expected[i % 3] for i in range(rows)]
        assert server.process.poll() is None
    finally:
        server.stop()
