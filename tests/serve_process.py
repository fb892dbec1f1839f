"""A real ``yardarm-serve`` process for component tests: start it on a free port, read its metrics."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
from prometheus_client.parser import text_string_to_metric_families

from yardarm.bundle import read_bundle

SERVE = Path(sys.executable).with_name("yardarm-serve")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(repr=False)
class Server:
    """A running ``yardarm-serve`` process and a client bound to it."""

    process: subprocess.Popen[bytes]
    url: str
    client: httpx.Client
    log: list[bytes]
    pump: threading.Thread

    def __repr__(self) -> str:
        return f"Server({self.url})"

    def stop(self) -> int:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self.pump.join(timeout=5)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code


def start_server(bundle: Path, *args: str, digest: str | None = None, wait_ready: bool = True) -> Server:
    port = free_port()
    cmd = [str(SERVE), "--bundle", str(bundle), "--host", "127.0.0.1", "--port", str(port), "--threads", "1"]
    if digest:
        cmd += ["--digest", digest]
    process = subprocess.Popen([*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log: list[bytes] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=10)
    server = Server(process, url, client, log, reader)
    if wait_ready:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited {process.returncode}: {b''.join(log).decode()}")
            try:
                if client.get("/v2/health/ready").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        server.stop()
        raise RuntimeError("server did not become ready")
    return server


def metric_samples(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` by (name, sorted labels)."""
    response = server.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def sample(samples: dict, name: str, **labels: str) -> float:
    matches = [v for (n, lab), v in samples.items() if n == name and labels.items() <= dict(lab).items()]
    assert matches, f"no sample {name} {labels}"
    return sum(matches)


def has(samples: dict, name: str, labels: dict[str, str]) -> bool:
    return any(n == name and labels.items() <= dict(lab).items() for (n, lab) in samples)


def reference(bundle: Path, rows: list[list[object]]) -> list[np.ndarray]:
    """What ONNX Runtime itself answers for these rows: the parity the server must keep."""
    manifest, model_bytes = read_bundle(bundle)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    feeds = {}
    for j, spec in enumerate(manifest.inputs):
        column = [row[j] for row in rows]
        if spec.type == "numeric":
            feeds[spec.name] = np.asarray(column, dtype=np.float32).reshape(-1, 1)
        else:
            feeds[spec.name] = np.asarray(column, dtype=object).reshape(-1, 1)
    return session.run(None, feeds)
