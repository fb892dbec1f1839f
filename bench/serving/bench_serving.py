"""Run the serving benchmark: Yardarm vs MLServer (sklearn) vs KServe (ONNX Runtime), one process each.

Each contender serves the same 30-feature model (``bench_model.py``) as one server process pinned
to CPU 0 (``taskset``) while ``wrk`` runs pinned to CPU 1, so the server and the load generator do
not steal each other's core. Per contender: a short warm-up, then the same 1-row V2 request at
concurrency 16, then a 256-row V2 request at concurrency 4; RSS is read after the runs. Every run
is bounded (``--seconds``) and targets only 127.0.0.1. Prints a Markdown table and writes JSON.

Usage (after ``bench/serving/setup.sh``)::

    .venv/bin/python bench/serving/bench_serving.py [--seconds 12] [--only yardarm,kserve,mlserver]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("BENCH_ROOT", "/var/cache/yardarm/bench"))
MODEL_DIR = ROOT / "model"
SERVER_CPU, LOAD_CPU = "0", "1"


def contenders(model_dir: Path) -> dict[str, tuple[list[str], int, dict[str, str] | None, Path | None]]:
    digest, bundle = (model_dir / "bundle.txt").read_text().split()
    serve = str(Path(sys.executable).with_name("yardarm-serve"))
    settings = {"http_port": 18303, "grpc_port": 18313, "metrics_port": 18323, "parallel_workers": 0}
    (model_dir / "mlserver" / "settings.json").write_text(json.dumps(settings))
    return {
        "yardarm": (
            [serve, "--bundle", bundle, "--digest", digest, "--host", "127.0.0.1", "--port", "18301", "--threads", "1"],
            18301,
            None,
            None,
        ),
        # The same server with the access log off, to measure what logging every request costs.
        "yardarm-nolog": (
            [
                serve,
                "--bundle",
                bundle,
                "--digest",
                digest,
                "--host",
                "127.0.0.1",
                "--port",
                "18304",
                "--threads",
                "1",
                "--access-log-sample",
                "0",
            ],
            18304,
            None,
            None,
        ),
        "kserve": (
            [
                str(ROOT / "kserve/bin/python"),
                str(HERE / "kserve_onnx_server.py"),
                "--model_dir",
                str(model_dir),
                "--model_name",
                "bench",
                "--http_port",
                "18302",
                "--grpc_port",
                "18312",
            ],
            18302,
            None,
            None,
        ),
        "mlserver": ([str(ROOT / "mlserver/bin/mlserver"), "start", "."], 18303, None, model_dir / "mlserver"),
    }


def wait_ready(port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/bench/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on {port} not ready")


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (MLServer/KServe may fork)."""
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    children = sum(int(x) for x in out.split())
    own = int(subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True).stdout.strip())
    return own + children


def wrk(port: int, body: Path | None, connections: int, seconds: int) -> dict[str, float]:
    """One bounded wrk run: POST ``body`` to the infer URL, or GET liveness when ``body`` is None."""
    cmd = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if body is None:
        cmd += [f"http://127.0.0.1:{port}/v2/health/live"]
    else:
        cmd += ["-s", str(HERE / "post.lua"), f"http://127.0.0.1:{port}/v2/models/bench/infer"]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "BODY": str(body)}, check=True)
    text = out.stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "90", "99"):
        match = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", text)
        assert match, text
        scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[match.group(2)]
        result[f"p{pct}_ms"] = float(match.group(1)) * scale
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    result["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return result


def run_one(name: str, spec: tuple, seconds: int) -> dict[str, object]:
    cmd, port, env, cwd = spec
    log = open(f"/tmp/bench-{name}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *cmd], stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env)
    try:
        wait_ready(port)
        wrk(port, MODEL_DIR / "v2_1.json", 16, 3)  # warm-up
        single = wrk(port, MODEL_DIR / "v2_1.json", 16, seconds)
        batch = wrk(port, MODEL_DIR / "v2_256.json", 4, seconds)
        rss = rss_kib(proc.pid)
        # The machine's noise floor: the trivial liveness endpoint under the same load. Its p99
        # shows how much of the tail is CPU taken by other processes rather than the server.
        floor = wrk(port, None, 16, max(3, seconds // 2)) if name == "yardarm" else None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    result: dict[str, object] = {"single": single, "batch": batch, "batch_rows_per_s": batch["rps"] * 256}
    result["rss_mib"] = rss / 1024
    if floor is not None:
        result["floor"] = floor
    return result


def _median(runs: list[dict[str, object]]) -> dict[str, object]:
    """Per-metric median over rounds."""

    def med(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[len(ordered) // 2]

    out: dict[str, object] = {}
    for key in ("single", "batch"):
        metrics = runs[0][key]
        assert isinstance(metrics, dict)
        out[key] = {m: med([float(r[key][m]) for r in runs]) for m in metrics}  # type: ignore[index]
    for key in ("batch_rows_per_s", "rss_mib"):
        out[key] = med([float(r[key]) for r in runs])  # type: ignore[arg-type]
    if all("floor" in r for r in runs):
        out["floor"] = {m: med([float(r["floor"][m]) for r in runs]) for m in runs[0]["floor"]}  # type: ignore[index,union-attr]
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--only", default="yardarm,yardarm-nolog,kserve,mlserver")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the table shows medians")
    parser.add_argument("--out", type=Path, default=ROOT / "results.json")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: run bench/serving/setup.sh")
    if not (MODEL_DIR / "bundle.txt").exists():
        subprocess.run([sys.executable, str(HERE / "bench_model.py"), str(MODEL_DIR)], check=True, cwd="/")
    specs = contenders(MODEL_DIR)
    names = args.only.split(",")
    rounds: dict[str, list[dict[str, object]]] = {name: [] for name in names}
    loads = [os.getloadavg()[0]]
    for round_no in range(args.rounds):
        for name in names:  # interleaved, so a noisy neighbour hurts every contender alike
            print(f"[bench] round {round_no + 1}/{args.rounds}: {name} ...", file=sys.stderr, flush=True)
            rounds[name].append(run_one(name, specs[name], args.seconds))
            loads.append(os.getloadavg()[0])
    results = {name: _median(runs) for name, runs in rounds.items()}
    machine = f"{_cpu_model()}, {os.cpu_count()} CPUs, Linux {platform.release()}"
    args.out.write_text(json.dumps({"machine": machine, "rounds": rounds, "median": results}, indent=2))
    print(
        f"\nMachine: {machine}; server on CPU {SERVER_CPU}, wrk on CPU {LOAD_CPU}; {args.seconds}s per run; "
        f"median of {args.rounds} interleaved round(s); 1-min load average during the runs "
        f"{min(loads):.1f}-{max(loads):.1f}\n"
    )
    print("| server | 1-row req/s (c=16) | p50 ms | p90 ms | p99 ms | batch-256 rows/s (c=4) | RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        s = r["single"]
        print(
            f"| {name} | {s['rps']:.0f} | {s['p50_ms']:.2f} | {s['p90_ms']:.2f} | {s['p99_ms']:.2f} "
            f"| {r['batch_rows_per_s']:.0f} | {r['rss_mib']:.0f} |"
        )
    floor = results.get("yardarm", {}).get("floor")
    if floor:
        print(
            f"\nNoise floor (GET /v2/health/live on yardarm, c=16): {floor['rps']:.0f} req/s, "
            f"p50 {floor['p50_ms']:.2f} ms, p99 {floor['p99_ms']:.2f} ms"
        )
    if "yardarm" in results and "kserve" in results:
        y, k = results["yardarm"]["single"], results["kserve"]["single"]
        print(f"\nyardarm/kserve throughput: {y['rps'] / k['rps']:.1f}x; p99 ratio: {y['p99_ms'] / k['p99_ms']:.2f}")


if __name__ == "__main__":
    main()
