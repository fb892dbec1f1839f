"""The ASGI app's lifecycle, driven in-process: not ready until the model loads; a failed load is fatal."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import orjson
import pytest

from yardarm.serving.app import ServeConfig, ServingApp
from yardarm.serving.model import Model

pytestmark = pytest.mark.unit


async def _get(app: ServingApp, path: str, method: str = "GET", body: bytes = b"") -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": path, "method": method, "headers": [(b"content-length", str(len(body)).encode())]}
    await app(scope, receive, send)
    return sent[0]["status"], orjson.loads(sent[1]["body"])


def test_probes_answer_while_loading_and_a_failed_load_calls_the_fatal_hook() -> None:
    release = threading.Event()
    fatal = threading.Event()

    def loader() -> Model:
        release.wait(10)
        raise RuntimeError("the ONNX graph disagrees with bundle.json")

    app = ServingApp(loader, name="m", revision="2", config=ServeConfig(access_log_sample=0), on_fatal=fatal.set)

    async def scenario() -> None:
        messages = asyncio.Queue[dict[str, Any]]()
        await messages.put({"type": "lifespan.startup"})
        replies: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            replies.append(message)

        lifespan = asyncio.create_task(app({"type": "lifespan"}, messages.get, send))
        while not replies:
            await asyncio.sleep(0.01)
        assert replies[0]["type"] == "lifespan.startup.complete"
        assert await _get(app, "/v2/health/live") == (200, {"live": True})
        assert await _get(app, "/v2/health/ready") == (503, {"ready": False})
        assert await _get(app, "/v2/models/m/versions/2/ready") == (503, {"name": "m", "ready": False})
        status, body = await _get(app, "/v2/models/m/infer", "POST", b"{}")
        assert status == 503
        assert "not ready yet" in body["error"]
        release.set()
        for _ in range(500):
            if fatal.is_set():
                break
            await asyncio.sleep(0.01)
        assert fatal.is_set()
        assert await _get(app, "/v2/health/ready") == (503, {"ready": False})
        await messages.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(lifespan, 10)
        assert replies[-1]["type"] == "lifespan.shutdown.complete"

    asyncio.run(scenario())


def test_unknown_paths_name_what_is_unknown() -> None:
    app = ServingApp(lambda: None, name="m", revision="2", config=ServeConfig())  # type: ignore[arg-type,return-value]

    async def scenario() -> None:
        assert (await _get(app, "/v2/models/other"))[1]["error"].startswith("Model 'other' is not served here")
        assert "no version '1'" in (await _get(app, "/v2/models/m/versions/1/infer", "POST"))[1]["error"]
        assert (await _get(app, "/v2/models/m/infer"))[0] == 405
        assert (await _get(app, "/v2"))[1]["name"] == "yardarm"

    asyncio.run(scenario())
