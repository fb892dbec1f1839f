"""What serving from S3 costs over serving from a mounted volume, at 1 MB and 50 MB bundles.

Process level, on this machine: a real versitygw on loopback holds the bundles (as the embedded
store does in a cluster). Per bundle size and round:

* **PVC path**: ``yardarm-serve`` on the bundle directory, from process start until
  ``/v2/health/ready`` answers 200 (digest check, ONNX Runtime session, warm-up);
* **S3 path**: ``yardarm-serve fetch`` (what the init container runs) into an empty directory,
  then the same server on it; the fetch's wall time and its peak resident memory (VmHWM, read by
  the fetch process itself) are recorded.

The bundles are real: a RandomForest trained by the training runtime on a noisy synthetic table,
sized by its number of trees. Pod scheduling and container start are not included (they are the
same for both paths, plus one init container start for S3). Prints a Markdown table with the
worst round of each measure and writes JSON.

Usage::

    .venv/bin/python bench/storage/bench_fetch.py [--rounds 3] [--out bench-fetch.json]

Needs versitygw (``bash hack/s3/install.sh``; ``YARDARM_VERSITYGW`` overrides the path).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from yardarm.bundle import MANIFEST_FILE, MODEL_FILE
from yardarm.s3 import make_client, settings_from_env
from yardarm.training.train import run_training

VERSITYGW = Path(os.environ.get("YARDARM_VERSITYGW", "/var/cache/yardarm/bin/versitygw"))
ACCESS, SECRET, BUCKET = "bench", "bench-secret", "models"
#: Trees of the forest per target size (about 0.3 MB per tree on the table below).
TREES = {"1MB": 4, "50MB": 210}

_MEASURE = """
import sys
from yardarm.serving.fetch import main
code = main(sys.argv[1:])
print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1])
sys.exit(code)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_store(root: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    port = free_port()
    (root / "data" / BUCKET).mkdir(parents=True)
    (root / "meta").mkdir()
    args = [str(VERSITYGW), "--port", f"127.0.0.1:{port}", "--access", ACCESS, "--secret", SECRET,
            "--health", "/health", "posix", "--sidecar", str(root / "meta"), str(root / "data")]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/health", 20)
    env = {
        "AWS_ACCESS_KEY_ID": ACCESS,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "us-east-1",
        "YARDARM_S3_ENDPOINT": f"http://127.0.0.1:{port}",
        "YARDARM_S3_INSECURE": "true",
    }
    return process, env


def wait_http(url: str, timeout: float) -> float:
    start = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{url} not ready within {timeout} s")
        time.sleep(0.02)


def make_bundle(work: Path, trees: int, env: dict[str, str]) -> tuple[str, str, Path]:
    """Train a forest of ``trees`` trees through the training runtime; upload; (uri, digest, local dir)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    rows = 20000
    frame = pd.DataFrame(rng.normal(size=(rows, 8)), columns=[f"x{i}" for i in range(8)])
    frame["target"] = (frame["x0"] + rng.normal(scale=2.0, size=rows) > 0).astype(int)  # noisy: deep trees
    csv = work / f"data-{trees}.csv"
    frame.to_csv(csv, index=False)
    run = {
        "datasetRef": {"name": "bench"},
        "task": "classification",
        "estimator": {"kind": "RandomForestClassifier", "params": {"n_estimators": trees, "random_state": 0}},
    }
    dataset = {"source": {"uri": f"file://{csv}"}, "target": "target"}
    outcome = run_training(run, dataset, f"file://{work}/store-{trees}", name="bench")
    client = make_client(settings_from_env(env), env)
    prefix = f"bench/bundles/{outcome.bundle_dir.name}"
    for name in (MODEL_FILE, MANIFEST_FILE):
        client.fput_object(BUCKET, f"{prefix}/{name}", str(outcome.bundle_dir / name))
    return f"s3://{BUCKET}/{prefix}", outcome.digest, outcome.bundle_dir


def serve_until_ready(bundle: Path, digest: str) -> float:
    port = free_port()
    args = ["yardarm-serve", "--bundle", str(bundle), "--digest", digest, "--port", str(port), "--host", "127.0.0.1"]
    start = time.monotonic()
    process = subprocess.Popen([str(Path(sys.executable).with_name(args[0])), *args[1:]], stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/v2/health/ready", 120)
        return time.monotonic() - start
    finally:
        process.terminate()
        process.wait(timeout=30)


def fetch(uri: str, digest: str, env: dict[str, str], dest: Path) -> tuple[float, float]:
    """(seconds, peak MiB) of one ``yardarm-serve fetch``."""
    args = [sys.executable, "-c", _MEASURE, "--uri", uri, "--digest", digest, "--dest", str(dest),
            "--termination-log", str(dest.parent / "termination-log")]  # fmt: skip
    start = time.monotonic()
    done = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True, check=True)
    seconds = time.monotonic() - start
    return seconds, int(done.stdout.split()[-1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-fetch.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="yardarm-bench-fetch-"))
    store, env = start_store(work / "s3")
    results = {}
    try:
        for label, trees in TREES.items():
            uri, digest, local = make_bundle(work, trees, env)
            size_mb = sum(f.stat().st_size for f in local.iterdir()) / 1e6
            rounds = []
            for i in range(args.rounds):
                pvc_ready = serve_until_ready(local, digest)
                dest = work / f"fetched-{label}-{i}" / "bundle"
                fetch_s, fetch_mib = fetch(uri, digest, env, dest)
                s3_ready = fetch_s + serve_until_ready(dest, digest)
                rounds.append({"pvc_ready_s": pvc_ready, "fetch_s": fetch_s, "fetch_peak_mib": fetch_mib,
                               "s3_ready_s": s3_ready, "extra_s": s3_ready - pvc_ready})  # fmt: skip
                shutil.rmtree(dest.parent)
            worst = {key: max(r[key] for r in rounds) for key in rounds[0]}
            median = {key: sorted(r[key] for r in rounds)[len(rounds) // 2] for key in rounds[0]}
            results[label] = {"bundle_mb": size_mb, "rounds": rounds, "worst": worst, "median": median}
    finally:
        store.terminate()
        store.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"worst (median) of {args.rounds} rounds; S3 - PVC is per round")
    print("| bundle | size | PVC: start→ready | S3: fetch | S3: fetch peak RSS | S3: start→ready | S3 - PVC |")
    print("|---|---|---|---|---|---|---|")
    for label, r in results.items():
        w, m = r["worst"], r["median"]

        def cell(key: str, unit: str = "s", fmt: str = ".2f", w: dict = w, m: dict = m) -> str:
            return f"{w[key]:{fmt}} ({m[key]:{fmt}}) {unit}"

        print(
            f"| {label} | {r['bundle_mb']:.1f} MB | {cell('pvc_ready_s')} | {cell('fetch_s')} | "
            f"{cell('fetch_peak_mib', 'MiB', '.0f')} | {cell('s3_ready_s')} | {cell('extra_s', fmt='+.2f')} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
