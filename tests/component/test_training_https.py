"""https:// sources against a real TLS server on loopback (a self-signed certificate the test trusts)."""

from __future__ import annotations

import functools
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from yardarm.bundle import sha256_bytes
from yardarm.training.errors import UnreachableError
from yardarm.training.profile import run_profile
from yardarm.training.sources import builtin_frame
from yardarm.training.train import run_training

pytestmark = pytest.mark.component


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """A TLS file server on 127.0.0.1: (base URL, served directory, CA file to trust)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificate")
    work = tmp_path_factory.mktemp("https")
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    served = work / "www"
    served.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(served)))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", served, cert
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_csv_over_https_is_digested_profiled_and_trained(
    https_server: tuple[str, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, served, ca = https_server
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    data = builtin_frame("iris").to_csv(index=False).encode()
    (served / "iris.csv").write_bytes(data)
    dataset = {"source": {"uri": f"{base}/iris.csv"}, "target": "target"}
    profiled = run_profile(dataset, str(tmp_path))
    assert profiled.digest == sha256_bytes(data) and profiled.profile.rows == 150
    spec = {"datasetRef": {"name": "iris"}, "task": "classification", "estimator": {"kind": "DecisionTreeClassifier"}}
    outcome = run_training(spec, dataset, tmp_path, dataset_digest=profiled.digest)
    assert outcome.manifest.lineage.dataset_uri == f"{base}/iris.csv"


def test_a_missing_file_is_source_not_found(
    https_server: tuple[str, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _served, ca = https_server
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    with pytest.raises(UnreachableError, match=r"failed with HTTP 404") as info:
        run_profile({"source": {"uri": f"{base}/nope.csv"}, "target": "y"}, str(tmp_path))
    assert info.value.reason == "SourceNotFound"


def test_an_untrusted_certificate_is_refused(https_server: tuple[str, Path, Path], tmp_path: Path) -> None:
    base, served, _ca = https_server
    (served / "x.csv").write_text("a,y\n1,0\n")
    with pytest.raises(UnreachableError, match="CERTIFICATE_VERIFY_FAILED"):
        run_profile({"source": {"uri": f"{base}/x.csv"}, "target": "y"}, str(tmp_path))
