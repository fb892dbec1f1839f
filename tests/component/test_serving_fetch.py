"""``yardarm-serve fetch`` against a real S3 server (versitygw): each failure has its own sentence,
the digest is verified before anything lands, and memory does not grow with the bundle's size."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio

from yardarm.bundle import MANIFEST_FILE, MODEL_FILE, bundle_dirname, manifest_bytes, read_bundle, sha256_bytes
from yardarm.s3 import make_client, settings_from_env
from yardarm.serving.fetch import main as fetch_main

from .conftest import VERSITYGW, S3Server, TrainedBundle, _free_port

pytestmark = pytest.mark.component

BUCKET = "serving"


def upload_bundle(client: Minio, prefix: str, model: bytes, manifest_data: bytes) -> str:
    """Put a bundle's two files under ``prefix`` and return its s3:// URI."""
    for name, data in ((MODEL_FILE, model), (MANIFEST_FILE, manifest_data)):
        client.put_object(BUCKET, f"{prefix}/{name}", io.BytesIO(data), len(data))
    return f"s3://{BUCKET}/{prefix}"


@pytest.fixture(scope="module")
def stored(s3_server: S3Server, iris_bundle: TrainedBundle) -> tuple[str, str, dict[str, str]]:
    """The iris bundle in the bucket: its URI, digest and the environment to read it."""
    env = s3_server.env()
    client = make_client(settings_from_env(env), env)
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)
    directory, digest = iris_bundle.directory, iris_bundle.digest
    uri = upload_bundle(
        client,
        f"team/bundles/{bundle_dirname(digest)}",
        (directory / MODEL_FILE).read_bytes(),
        (directory / MANIFEST_FILE).read_bytes(),
    )
    return uri, digest, env


def run_fetch(tmp_path: Path, uri: str, digest: str, env: dict[str, str]) -> tuple[int, str, Path]:
    """Run the fetch entry point; its exit code, termination message and destination."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    log, dest = tmp_path / "termination-log", tmp_path / "bundle"
    code = fetch_main(["--uri", uri, "--digest", digest, "--dest", str(dest), "--termination-log", str(log)], env=env)
    return code, log.read_text() if log.exists() else "", dest


def test_a_bundle_is_fetched_and_verified_and_the_server_can_read_it(stored, tmp_path: Path) -> None:
    uri, digest, env = stored
    code, message, dest = run_fetch(tmp_path, uri, digest, env)
    assert (code, message) == (0, "")
    manifest, model = read_bundle(dest, digest)
    assert sha256_bytes(model) == manifest.model_sha256
    assert not list(dest.glob(".*.part"))


def test_each_failure_has_its_own_one_sentence_reason(stored, s3_server: S3Server, tmp_path: Path) -> None:
    uri, digest, env = stored
    cases = {
        "missing": (uri.replace("/team/", "/nobody/"), digest, env),
        "credentials": (uri, digest, {**env, "AWS_SECRET_ACCESS_KEY": "wrong"}),
        "unknown key": (uri, digest, {**env, "AWS_ACCESS_KEY_ID": "nobody", "AWS_SECRET_ACCESS_KEY": "wrong"}),
        "unreachable": (uri, digest, {**env, "YARDARM_S3_ENDPOINT": f"http://127.0.0.1:{_free_port()}"}),
        "tls": (
            uri,
            digest,
            {**env, "YARDARM_S3_ENDPOINT": s3_server.endpoint.replace("http:", "https:"), "YARDARM_S3_INSECURE": ""},
        ),
        "digest": (uri, "sha256:" + "0" * 64, env),
    }
    expected = {
        "missing": "is not in the object store (NoSuchKey",
        "credentials": "refused the credentials",
        "unknown key": "refused the credentials",
        "unreachable": "Cannot reach the object store at http://127.0.0.1:",
        "tls": "TLS with the object store at https://127.0.0.1",
        "digest": "not the pinned sha256:000000000000",
    }
    messages = {}
    for name, (case_uri, case_digest, case_env) in cases.items():
        started = time.monotonic()
        code, message, dest = run_fetch(tmp_path / name, case_uri, case_digest, case_env)
        assert code != 0, name
        assert expected[name] in message, (name, message)
        assert message.count(". ") == 0 and message.endswith("."), (name, message)  # one sentence
        assert not (dest / MANIFEST_FILE).exists() and not (dest / MODEL_FILE).exists(), name
        assert time.monotonic() - started < 15, name  # fails fast, never a hang
        messages[name] = message
    assert len(set(messages.values())) == len(messages)  # the two credential cases name their codes


def test_a_replaced_model_is_refused_even_when_bundle_json_matches(stored, tmp_path: Path) -> None:
    uri, digest, env = stored
    client = make_client(settings_from_env(env), env)
    prefix = uri.removeprefix(f"s3://{BUCKET}/")
    manifest_data = client.get_object(BUCKET, f"{prefix}/{MANIFEST_FILE}").read()
    tampered = upload_bundle(client, "tampered/bundles/x", b"not the model", manifest_data)
    code, message, dest = run_fetch(tmp_path, tampered, digest, env)
    assert code != 0 and "does not match the sha256 in its bundle.json" in message
    assert not (dest / MODEL_FILE).exists() and not list(dest.glob(".*.part"))


# -- TLS with a private CA ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A second versitygw over HTTPS with a self-signed certificate, on the same data: (endpoint, CA file)."""
    work = tmp_path_factory.mktemp("tls")
    cert, key = work / "ca.crt", work / "ca.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    port = _free_port()
    process = subprocess.Popen(
        [str(VERSITYGW), "--port", f"127.0.0.1:{port}", "--access", s3_server.access_key, "--secret",
         s3_server.secret_key, "--cert", str(cert), "--key", str(key), "--health", "/health",
         "posix", "--sidecar", str(work / "meta"), str(s3_server.root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    (work / "meta").mkdir(exist_ok=True)
    endpoint = f"https://127.0.0.1:{port}"
    try:
        import ssl

        context = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/health", timeout=1, context=context):
                    break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"versitygw with TLS did not start (exit {process.poll()})")
                time.sleep(0.1)
        yield endpoint, cert
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_private_endpoint_fails_on_tls_without_its_ca_and_works_with_the_ca_bundle(
    stored, tls_server: tuple[str, Path], tmp_path: Path
) -> None:
    uri, digest, env = stored
    endpoint, ca = tls_server
    tls_env = {**env, "YARDARM_S3_ENDPOINT": endpoint, "YARDARM_S3_INSECURE": ""}
    code, message, _ = run_fetch(tmp_path / "no-ca", uri, digest, tls_env)
    assert code != 0 and "TLS with the object store" in message and "CERTIFICATE_VERIFY_FAILED" in message
    code, message, dest = run_fetch(tmp_path / "ca", uri, digest, {**tls_env, "YARDARM_S3_CA_BUNDLE": str(ca)})
    assert (code, message) == (0, "")
    read_bundle(dest, digest)


# -- constant memory ------------------------------------------------------------------------------


#: Runs one fetch, then prints the process's peak resident memory. VmHWM belongs to the address
#: space, which exec replaces, so the parent's (pytest's) memory is not counted, unlike ru_maxrss.
_MEASURE = """
import sys
from yardarm.serving.fetch import main
code = main(sys.argv[1:])
hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM:'))
print(int(hwm.split()[1]))
sys.exit(code)
"""


def _peak_rss_kib(uri: str, digest: str, env: dict[str, str], dest: Path) -> int:
    """Peak resident memory of one fetch in a fresh interpreter (what the init container costs)."""
    args = [sys.executable, "-c", _MEASURE, "--uri", uri, "--digest", digest, "--dest", str(dest),
            "--termination-log", str(dest.parent / f"{dest.name}.log")]  # fmt: skip
    done = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def test_fetch_memory_does_not_grow_with_a_50_mb_bundle(stored, iris_bundle: TrainedBundle, tmp_path: Path) -> None:
    _uri, _digest, env = stored
    client = make_client(settings_from_env(env), env)
    assert iris_bundle.manifest is not None
    peaks = {}
    for size_mb in (1, 50):
        model = os.urandom(size_mb << 20)  # fetch does not parse ONNX: any bytes with the right sha256
        manifest = iris_bundle.manifest.model_copy(update={"model_sha256": sha256_bytes(model)})
        data = manifest_bytes(manifest)
        digest = sha256_bytes(data)
        uri = upload_bundle(client, f"big/bundles/{bundle_dirname(digest)}", model, data)
        del model
        dest = tmp_path / f"b{size_mb}"
        peaks[size_mb] = _peak_rss_kib(uri, digest, env, dest)
        assert (dest / MODEL_FILE).stat().st_size == size_mb << 20
    growth_mib = (peaks[50] - peaks[1]) / 1024
    assert growth_mib < 8, f"peak RSS grew by {growth_mib:.1f} MiB for 49 MB more model: not streaming ({peaks})"


def test_the_default_credential_chain_and_path_addressing_reach_the_store(
    stored, s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, digest, _ = stored
    # The chain's first link reads the process environment, as in a pod; IRSA's web identity is next.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    env = {
        "YARDARM_S3_ENDPOINT": s3_server.endpoint,
        "YARDARM_S3_INSECURE": "true",
        "AWS_REGION": "us-east-1",
        "YARDARM_S3_CREDENTIALS": "chain",
        "YARDARM_S3_ADDRESSING": "path",
    }
    code, message, dest = run_fetch(tmp_path, uri, digest, env)
    assert (code, message) == (0, "")
    read_bundle(dest, digest)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    code, message, _ = run_fetch(tmp_path / "wrong", uri, digest, env)
    assert code != 0 and "refused the credentials" in message
