"""The access log: structured JSON lines, sampling, bounded queue."""

from __future__ import annotations

import io

import orjson
import pytest

from yardarm.serving.logs import AccessLog, _Clock

pytestmark = pytest.mark.unit


def _lines(stream: io.BytesIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_records_are_written_as_one_json_object_per_line() -> None:
    stream = io.BytesIO()
    log = AccessLog(stream=stream, static={"model": "iris"})
    log.record("POST", "/v2/models/iris/infer", 200, 0.0012345, "abc")
    log.record("GET", "/nope", 404, 0.0001, None)
    assert log.flush() == 2
    first, second = _lines(stream)
    assert first["msg"] == "access"
    assert first["model"] == "iris"
    assert first["status"] == 200
    assert first["duration_ms"] == 1.234
    assert first["id"] == "abc"
    assert str(first["ts"]).endswith("Z")
    assert second["status"] == 404


def test_sampling_keeps_every_error() -> None:
    stream = io.BytesIO()
    log = AccessLog(stream=stream, sample=0.1)
    for _ in range(100):
        log.record("POST", "/i", 200, 0.001, None)
    for _ in range(3):
        log.record("POST", "/i", 400, 0.001, None)
    log.flush()
    statuses = [line["status"] for line in _lines(stream)]
    assert statuses.count(200) == 10
    assert statuses.count(400) == 3


def test_sample_zero_logs_errors_only_and_a_full_queue_drops_and_counts() -> None:
    dropped = []
    log = AccessLog(stream=io.BytesIO(), sample=0, capacity=2, on_drop=lambda: dropped.append(1))
    log.record("GET", "/", 200, 0.0, None)
    for _ in range(4):
        log.record("GET", "/", 500, 0.0, None)
    assert log.flush() == 2
    assert len(dropped) == 2


def test_clock_formats_rfc3339_utc_milliseconds() -> None:
    clock = _Clock()
    assert clock(0.0) == "1970-01-01T00:00:00.000Z"
    assert clock(86400.25) == "1970-01-02T00:00:00.250Z"
