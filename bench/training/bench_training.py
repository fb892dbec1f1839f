"""Benchmark of the training runtime on a 100k-row synthetic table.

Measures, per estimator: profiling (read + digest + validate + summary + bins + write), the whole
``run_training`` call, and inside it the fit, the ONNX export and the ONNX Runtime parity check on
the test split. Prints a Markdown table (pasted into docs/training.md).

    .venv/bin/python bench/training/bench_training.py [--rows 100000] [--repeat 1]

``--memory`` measures instead the peak resident memory of ``yardarm-train profile`` and
``yardarm-train train`` (LogisticRegression) processes on an all-numeric table (20 float features
and a binary target, as CSV) per row count, against the in-memory size of its numeric data as
float64 (rows x 20 x 8 bytes; docs/training.md says why), reporting the worst of ``--rounds``:

    .venv/bin/python bench/training/bench_training.py --memory [--memory-rows 100000 1000000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from yardarm.api.dataset import DatasetSpec
from yardarm.api.trainingrun import TrainingRunSpec
from yardarm.training.export import check_parity, export_onnx
from yardarm.training.pipeline import build_pipeline, make_estimator
from yardarm.training.prepare import prepare
from yardarm.training.profile import run_profile
from yardarm.training.sources import read_source
from yardarm.training.train import run_training

ESTIMATORS: list[tuple[str, str, dict[str, Any]]] = [
    ("classification", "LogisticRegression", {"max_iter": 300}),
    ("classification", "RandomForestClassifier", {"n_estimators": 50, "max_depth": 12}),
    ("classification", "HistGradientBoostingClassifier", {"max_iter": 100}),
    ("regression", "Ridge", {}),
    ("regression", "HistGradientBoostingRegressor", {"max_iter": 100}),
]


def synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    """8 numeric and 2 categorical features, 2% missing, a binary and a numeric target."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(rows, 8))
    frame = pd.DataFrame(numeric, columns=[f"x{i}" for i in range(8)])
    frame["city"] = rng.choice([f"city_{i}" for i in range(40)], size=rows)
    frame["device"] = rng.choice(["ios", "android", "web"], size=rows, p=[0.3, 0.5, 0.2])
    signal = numeric @ rng.normal(size=8) + (frame["device"] == "ios") * 0.7
    frame["amount"] = (signal * 10 + rng.normal(scale=3, size=rows)).round(3)
    frame["label"] = np.where(signal + rng.normal(scale=0.5, size=rows) > 0, "yes", "no")
    mask = rng.random((rows, 2)) < 0.02
    frame.loc[mask[:, 0], "x0"] = np.nan
    frame.loc[mask[:, 1], "city"] = None
    return frame


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def dataset_spec(path: Path, task: str) -> dict[str, Any]:
    features = [{"name": f"x{i}", "type": "numeric"} for i in range(8)]
    features += [{"name": "city", "type": "categorical"}, {"name": "device", "type": "categorical"}]
    return {
        "source": {"uri": f"file://{path}"},
        "target": "label" if task == "classification" else "amount",
        "features": features,
    }


def bench(rows: int) -> list[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="yardarm-bench-"))
    path = work / "data.csv"
    synthetic(rows).to_csv(path, index=False)
    out: list[dict[str, Any]] = []
    profile_s, profiled = timed(lambda: run_profile(dataset_spec(path, "classification"), f"file://{work}/store"))
    out.append({"step": f"profile ({rows:,} rows, {path.stat().st_size / 1e6:.1f} MB CSV)", "seconds": profile_s})
    for task, kind, params in ESTIMATORS:
        # Features are declared, so the other task's target column never leaks into the inputs.
        ds = dataset_spec(path, task)
        spec = {"datasetRef": {"name": "bench"}, "task": task, "estimator": {"kind": kind, "params": params}}
        total_s, outcome = timed(lambda ds=ds, spec=spec: run_training(spec, ds, work / "store"))
        # The same steps by hand, to split the total into fit / export / parity.
        run, data_spec = TrainingRunSpec.model_validate(spec), DatasetSpec.model_validate(ds)
        prepared = prepare(read_source(data_spec.source).frame, data_spec)
        from sklearn.model_selection import train_test_split

        y = prepared.y.to_numpy()
        x_train, x_test, y_train, _ = train_test_split(prepared.x, y, test_size=0.2, random_state=42)
        estimator = make_estimator(kind, params, task, 42)
        pipeline = build_pipeline(prepared.features, x_train, run.preprocessing, estimator)
        fit_s, _ = timed(lambda p=pipeline, x=x_train, t=y_train: p.fit(x, t))
        export_s, exported = timed(lambda p=pipeline, f=prepared.features, t=task: export_onnx(p, f, t))
        reference = pipeline.predict_proba(x_test) if task == "classification" else pipeline.predict(x_test)
        labels = pipeline.predict(x_test)
        parity_s, parity = timed(
            lambda e=exported, x=x_test, lab=labels, r=reference, t=task: check_parity(
                e.model_bytes, e.inputs, x, lab, r, t
            )
        )
        out.append(
            {
                "step": f"train {kind}",
                "seconds": total_s,
                "fit": fit_s,
                "export": export_s,
                "parity": parity_s,
                "model_kb": len(exported.model_bytes) / 1024,
                "metric": outcome.headline,
                "max_abs_diff": parity.max_abs_diff,
            }
        )
    del profiled
    return out


MEMORY_FEATURES = 20
TRAIN_CLI = Path(sys.executable).with_name("yardarm-train")


def numeric_csv(path: Path, rows: int, seed: int = 0, chunk: int = 100_000) -> None:
    """``rows`` x 20 normal floats (full precision, as real exports are) and a binary target, in chunks."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=MEMORY_FEATURES)
    with path.open("w") as handle:
        for start in range(0, rows, chunk):
            x = rng.normal(size=(min(chunk, rows - start), MEMORY_FEATURES))
            frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(MEMORY_FEATURES)])
            frame["y"] = (x @ weights + rng.normal(size=len(x)) > 0).astype(int)
            frame.to_csv(handle, index=False, header=start == 0)


def peak_rss_mib(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Peak RSS (MiB) and wall seconds of one child process, from ``wait4``'s rusage; and its stderr tail."""
    start = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{args[:2]} exited {process.returncode}: {err[-2000:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start, err.strip().splitlines()[-1] if err.strip() else ""


def bench_memory(row_counts: list[int], rounds: int = 2) -> list[dict[str, float]]:
    """Peak RSS of the profile and train processes per row count (worst of ``rounds``), and of imports alone."""
    env = {**os.environ, "YARDARM_RESULT_PATH": os.devnull}
    imports = "import yardarm.training.cli, yardarm.training.train, yardarm.training.profile"
    # The smallest baseline of the rounds: "above imports" is then the worst case too.
    baseline = min(peak_rss_mib([sys.executable, "-c", imports], env)[0] for _ in range(rounds))
    out = []
    with tempfile.TemporaryDirectory(prefix="yardarm-bench-mem-") as tmp:
        root = Path(tmp)
        for rows in row_counts:
            csv = root / f"numeric-{rows}.csv"
            numeric_csv(csv, rows)
            dataset = {"source": {"uri": csv.as_uri()}, "target": "y"}
            spec = {
                "datasetRef": {"name": "numeric"},
                "task": "classification",
                "estimator": {"kind": "LogisticRegression"},
            }
            (root / "ds.json").write_text(json.dumps(dataset))
            (root / "tr.json").write_text(json.dumps(spec))
            store = (root / "store").as_uri()
            profile_cmd = [str(TRAIN_CLI), "profile", "--spec", str(root / "ds.json"), "--output", store]
            train_cmd = [
                str(TRAIN_CLI),
                "train",
                "--spec",
                str(root / "tr.json"),
                "--dataset-spec",
                str(root / "ds.json"),
                "--output",
                store,
            ]
            profiles = [peak_rss_mib(profile_cmd, env) for _ in range(rounds)]
            trains = [peak_rss_mib(train_cmd, env) for _ in range(rounds)]
            out.append(
                {
                    "rows": rows,
                    "csv_mib": csv.stat().st_size / 2**20,
                    "numeric_mib": rows * MEMORY_FEATURES * 8 / 2**20,
                    "baseline": baseline,
                    "profile": max(p[0] for p in profiles),
                    "profile_s": max(p[1] for p in profiles),
                    "train": max(t[0] for t in trains),
                    "train_s": max(t[1] for t in trains),
                    "rounds": rounds,
                }
            )
            csv.unlink()
    return out


def print_memory(results: list[dict[str, float]]) -> None:
    print(
        f"imports alone (the baseline every process pays): {results[0]['baseline']:.0f} MiB peak RSS; "
        f"worst of {results[0]['rounds']:.0f} rounds per cell"
    )
    print()
    print(
        "| rows | CSV MiB | numeric data MiB (float64) | profile peak MiB | profile above imports / numeric "
        "| train peak MiB | train above imports / numeric | profile s | train s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        profile, train = r["profile"] - r["baseline"], r["train"] - r["baseline"]
        print(
            f"| {r['rows']:,} | {r['csv_mib']:.0f} | {r['numeric_mib']:.0f} "
            f"| {r['profile']:.0f} | {profile:.0f} = {profile / r['numeric_mib']:.2f}x "
            f"| {r['train']:.0f} | {train:.0f} = {train / r['numeric_mib']:.2f}x "
            f"| {r['profile_s']:.1f} | {r['train_s']:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=0, help="OpenMP/BLAS threads (default: as yardarm-train)")
    parser.add_argument("--memory", action="store_true", help="measure peak RSS per row count instead")
    parser.add_argument("--memory-rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=2, help="memory rounds per row count (the worst is shown)")
    args = parser.parse_args()
    if args.memory:
        print_memory(bench_memory(args.memory_rows, args.rounds))
        return
    from threadpoolctl import threadpool_limits

    from yardarm.training.threads import thread_budget

    threads = args.threads or thread_budget()
    threadpool_limits(limits=threads)
    load_before = os.getloadavg()[0]
    results = bench(args.rows)
    cpu = platform.processor() or platform.machine()
    print(
        f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {threads} native threads, "
        f"1-min load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after"
    )
    print()
    print(
        "| step | total s | fit s | ONNX export s | parity s (ORT, 20k rows) "
        "| model KiB | test metric | parity max abs diff |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    for row in results:
        if "fit" not in row:
            print(f"| {row['step']} | {row['seconds']:.2f} | | | | | | |")
            continue
        print(
            f"| {row['step']} | {row['seconds']:.2f} | {row['fit']:.2f} | {row['export']:.2f} | {row['parity']:.2f} "
            f"| {row['model_kb']:.0f} | {row['metric']} | {row['max_abs_diff']:.2g} |"
        )


if __name__ == "__main__":
    main()
