"""Simulation bench of the Monitor's verdicts: false-alarm rate and power per check type.

Windows are drawn from real data sets that ship with scikit-learn (no download), counted into
reference bins built by the training code (``yardarm.training.bins``) the way serving counts them
(``searchsorted(edges, v, side="left")``), and judged by the Monitor's own code
(``yardarm.operator.evaluate.run_checks``). A window "fails" when any check fails.

Scenarios (each a table row):

* ``bootstrap`` — the reference is every row of the data set; windows are drawn from those rows with
  replacement, so the reference is the exact truth of the traffic.
* ``split`` — each round splits the rows at random: the reference (bins, proportions, row count)
  comes from one half and the window is drawn *without* replacement from the other, so reference
  and window are independent samples of one population (the reference's own noise counts).
* ``shift`` — as ``bootstrap``, with 3 features shifted by 0.5 of their standard deviation (power).

The binomial checks have no real data set: ``errorRate`` draws 5xx counts at exactly the
threshold (the worst healthy case) and at twice it; ``latency`` draws request latencies into the
server's buckets with exactly 1 - q of them slower than the threshold, and 3 times that;
``accuracy`` uses real feedback: a classifier's correctness on bootstrap rows, with the threshold
at its accuracy on all rows (the worst healthy case), and with 10 % of labels flipped.

    .venv/bin/python bench/monitor/bench_monitor.py            # the table in docs/monitoring.md
    .venv/bin/python bench/monitor/bench_monitor.py --rounds 300 --quick
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sklearn import datasets
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from yardarm.api.monitor import MonitorSpec
from yardarm.operator.evaluate import CounterKey, Reference, Window, run_checks
from yardarm.training.bins import numeric_bins
from yardarm.training.sources import builtin_frame

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"

#: The latency buckets of ``yardarm-serve`` (serving/metrics.py).
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.0075, 0.01,
    0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, math.inf,
)  # fmt: skip

LOADERS: dict[str, Callable[[], np.ndarray]] = {
    "breast_cancer": lambda: datasets.load_breast_cancer().data,
    "wine": lambda: datasets.load_wine().data,
    "diabetes": lambda: datasets.load_diabetes().data,
    "digits": lambda: datasets.load_digits().data,
}


@dataclass(frozen=True)
class Bins:
    """One feature's reference bins (edges, proportions) and the rows they were counted from."""

    edges: np.ndarray
    proportions: tuple[float, ...]
    rows: int


def reference_bins(column: np.ndarray) -> Bins:
    bins = numeric_bins(column)
    return Bins(np.asarray(bins.edges, dtype=float), tuple(bins.proportions), int(column.size))


def counts_of(column: np.ndarray, bins: Bins) -> np.ndarray:
    return np.bincount(np.searchsorted(bins.edges, column, side="left"), minlength=len(bins.proportions))


def spec_of(checks: Sequence[dict[str, object]], **kw: object) -> MonitorSpec:
    return MonitorSpec.model_validate({"targetRef": {"name": "bench"}, "checks": list(checks), **kw})


def drift_window(columns: Sequence[np.ndarray], bins: Sequence[Bins]) -> tuple[Window, dict[str, Reference]]:
    """A window of feature counts (one column of values per feature) and its references."""
    totals: dict[CounterKey, float] = {}
    references: dict[str, Reference] = {}
    for j, (column, b) in enumerate(zip(columns, bins, strict=True)):
        name = f"f{j}"
        for i, c in enumerate(counts_of(column, b).tolist()):
            totals[("feature", name, i)] = float(c)
        references[name] = Reference(b.proportions, False, b.rows)
    return Window(60.0, ("bench",), totals), references


@dataclass
class Tally:
    """Outcomes of the windows of one cell: failing, significant (whatever the effect), Inconclusive."""

    rounds: int = 0
    failing: int = 0
    significant: int = 0
    inconclusive: int = 0

    def add(self, spec: MonitorSpec, window: Window, refs: dict[str, Reference], prediction: Reference | None) -> None:
        checks = run_checks(spec, window, refs, prediction)
        self.rounds += 1
        self.failing += any(c.result == "Fail" for c in checks)
        self.significant += any(c.p_value is not None and c.p_value <= spec.false_alarm_rate for c in checks)
        self.inconclusive += any(c.result == "Inconclusive" for c in checks)

    @property
    def rate(self) -> float:
        return self.failing / max(self.rounds, 1)


# -- feature drift -------------------------------------------------------------------------------------


def feature_sets(k: int) -> list[tuple[np.ndarray, list[int]]]:
    """(data, feature indices) pairs making ``k`` features: one data set when it has enough, else several."""
    if k <= 30:
        return [(LOADERS["breast_cancer"](), list(range(k)))]
    out: list[tuple[np.ndarray, list[int]]] = []
    left = k
    for name in ("digits", "breast_cancer", "wine", "diabetes"):
        data = LOADERS[name]()
        take = min(left, data.shape[1])
        out.append((data, list(range(take))))
        left -= take
        if not left:
            break
    return out


def drift_rate(
    data_sets: Sequence[tuple[np.ndarray, list[int]]],
    n: int,
    rounds: int,
    rng: np.random.Generator,
    *,
    scenario: str,
    threshold: float = 0.2,
    shifted: int = 0,
    **spec_kw: object,
) -> Tally:
    """Outcomes of the featureDrift check over ``rounds`` windows."""
    spec = spec_of([{"name": "drift", "type": "featureDrift", "threshold": threshold}], **spec_kw)
    fixed = [[reference_bins(data[:, j]) for j in cols] for data, cols in data_sets]
    tally = Tally()
    for _ in range(rounds):
        columns: list[np.ndarray] = []
        bins: list[Bins] = []
        for (data, cols), ref in zip(data_sets, fixed, strict=True):
            if scenario == "split":
                order = rng.permutation(data.shape[0])
                half = data.shape[0] // 2
                ref_rows, rest = data[order[:half]], data[order[half:]]
                rows = rest[rng.choice(rest.shape[0], size=n, replace=False)]
                ref = [reference_bins(ref_rows[:, j]) for j in cols]
            else:
                rows = data[rng.integers(0, data.shape[0], size=n)]
            for pos, j in enumerate(cols):
                column = rows[:, j].astype(float)
                if pos < shifted and len(columns) < shifted:
                    column = column + 0.5 * data[:, j].std()
                columns.append(column)
            bins.extend(ref)
        window, references = drift_window(columns, bins)
        tally.add(spec, window, references, None)
    return tally


# -- prediction drift and accuracy (a real classifier) ----------------------------------------------


def classifier_rates(name: str, n: int, rounds: int, rng: np.random.Generator, **spec_kw: object) -> dict[str, Tally]:
    """predictionDrift and accuracy on a logistic regression's predictions and feedback."""
    loaded = getattr(datasets, f"load_{name}")()
    x, y = loaded.data, loaded.target
    model = LogisticRegression(max_iter=5000).fit((x - x.mean(0)) / (x.std(0) + 1e-12), y)
    scaled = (x - x.mean(0)) / (x.std(0) + 1e-12)
    predictions = model.predict(scaled)
    classes = np.unique(y)
    ref_props = tuple(float((predictions == c).mean()) for c in classes)
    prediction_ref = Reference(ref_props, True, int(predictions.size))
    accuracy = float((predictions == y).mean())
    drift = spec_of([{"name": "pred", "type": "predictionDrift", "threshold": 0.2}], **spec_kw)
    acc = spec_of([{"name": "acc", "type": "accuracy", "threshold": accuracy}], **spec_kw)
    out = {"predictionDrift": Tally(), "accuracy": Tally(), "accuracy power": Tally()}
    for _ in range(rounds):
        idx = rng.integers(0, x.shape[0], size=n)
        pred = predictions[idx]
        totals: dict[CounterKey, float] = {("prediction", i): float((pred == c).sum()) for i, c in enumerate(classes)}
        correct = float((pred == y[idx]).sum())
        totals[("feedback", "correct")] = correct
        totals[("feedback", "incorrect")] = n - correct
        window = Window(60.0, ("bench",), totals)
        out["predictionDrift"].add(drift, window, {}, prediction_ref)
        out["accuracy"].add(acc, window, {}, None)
        flipped = rng.random(n) < 0.10
        worse = float(((pred == y[idx]) & ~flipped).sum())
        noisy = Window(60.0, ("bench",), {("feedback", "correct"): worse, ("feedback", "incorrect"): n - worse})
        out["accuracy power"].add(acc, noisy, {}, None)
    return out


# -- error rate and latency (synthetic counts at the boundary) ---------------------------------------


def binomial_rates(n: int, rounds: int, rng: np.random.Generator, **spec_kw: object) -> dict[str, Tally]:
    errors = spec_of([{"name": "errors", "type": "errorRate", "threshold": 0.01}], **spec_kw)
    latency = spec_of([{"name": "p99", "type": "latency", "threshold": 0.25, "quantile": 0.99}], **spec_kw)
    out = {k: Tally() for k in ("errorRate", "errorRate power", "latency", "latency power")}
    for _ in range(rounds):
        for key, rate in (("errorRate", 0.01), ("errorRate power", 0.02)):
            bad = float(rng.binomial(n, rate))
            totals: dict[CounterKey, float] = {("requests", "infer", "200"): n - bad, ("requests", "infer", "500"): bad}
            out[key].add(errors, Window(60.0, ("bench",), totals), {}, None)
        for key, slow_share in (("latency", 0.01), ("latency power", 0.03)):
            slow = rng.random(n) < slow_share
            # Fast requests spread over the buckets below 0.25 s, slow ones above it.
            fast_values = rng.uniform(0.001, 0.25, size=n)
            slow_values = rng.uniform(0.2500001, 2.0, size=n)
            values = np.where(slow, slow_values, fast_values)
            cumulative = {
                ("latency", "infer", le): float((values <= le).sum()) for le in LATENCY_BUCKETS if math.isfinite(le)
            }
            cumulative[("latency", "infer", math.inf)] = float(n)
            out[key].add(latency, Window(60.0, ("bench",), cumulative), {}, None)
    return out


# -- the shipped example Monitors -----------------------------------------------------------------------

#: Each shipped example Monitor, the built-in data set its model trains on, and that model.
EXAMPLES: dict[str, tuple[str, Callable[[], Any]]] = {
    "iris": ("iris", lambda: LogisticRegression(max_iter=5000)),
    "drift": ("iris", lambda: LogisticRegression(max_iter=5000)),
    "diabetes": ("diabetes", lambda: HistGradientBoostingRegressor(max_iter=200, random_state=0)),
}


def example_spec(name: str) -> MonitorSpec:
    """``examples/<name>/monitor.yaml`` as shipped, its drift checks only.

    The latency and error-rate checks judge request counters a data set does not have; their
    false-alarm rate at any threshold is the binomial rows' of the main table.
    """
    doc = yaml.safe_load((EXAMPLES_DIR / name / "monitor.yaml").read_text())
    spec = doc["spec"]
    spec["checks"] = [c for c in spec["checks"] if c["type"] in ("featureDrift", "predictionDrift")]
    return MonitorSpec.model_validate(spec)


def example_rates(name: str, n: int, rounds: int, rng: np.random.Generator) -> Tally:
    """Undrifted windows of ``n`` rows, drawn with replacement from every row, judged by an example
    Monitor's drift checks as shipped.

    References are what training records: feature bins from every row, prediction bins from the
    predictions on a 25 % test split of a model trained on the other 75 %. (The ``split`` scenario
    of the main table needs data sets large enough to halve; iris' 150 rows halved cannot show
    the examples' thresholds at all, so every window would be Inconclusive.)
    """
    data_name, make_model = EXAMPLES[name]
    frame = builtin_frame(data_name)
    x = frame.drop(columns="target").to_numpy(dtype=float)
    y = frame["target"].to_numpy()
    names = [str(c) for c in frame.columns if c != "target"]
    spec = example_spec(name)
    order = rng.permutation(x.shape[0])
    test, train = order[: x.shape[0] // 4], order[x.shape[0] // 4 :]
    model = make_model().fit(x[train], y[train])
    # Predictions depend on the row only: computed once, looked up per window.
    predicted_all = model.predict(x)
    bins = [reference_bins(x[:, j]) for j in range(len(names))]
    references = {f: Reference(b.proportions, False, b.rows) for f, b in zip(names, bins, strict=True)}
    classes = np.unique(y) if data_name == "iris" else None
    if classes is not None:
        held_out = predicted_all[test]
        proportions = tuple(float((held_out == c).mean()) for c in classes)
        prediction_ref = Reference(proportions, True, int(test.size))
    else:
        pbins = reference_bins(predicted_all[test].astype(float))
        prediction_ref = Reference(pbins.proportions, False, pbins.rows)
    tally = Tally()
    for _ in range(rounds):
        idx = rng.integers(0, x.shape[0], size=n)
        totals: dict[CounterKey, float] = {}
        for j, (feature, b) in enumerate(zip(names, bins, strict=True)):
            for i, c in enumerate(counts_of(x[idx, j], b).tolist()):
                totals[("feature", feature, i)] = float(c)
        predicted = predicted_all[idx]
        if classes is not None:
            for i, c in enumerate(classes):
                totals[("prediction", i)] = float((predicted == c).sum())
        else:
            for i, c in enumerate(counts_of(predicted.astype(float), pbins).tolist()):
                totals[("prediction", i)] = float(c)
        tally.add(spec, Window(60.0, ("bench",), totals), references, prediction_ref)
    return tally


# -- the table -----------------------------------------------------------------------------------------


def ci_upper(rate: float, rounds: int) -> float:
    """Upper end of the 95 % Wilson interval of a rate measured over ``rounds`` windows."""
    z = 1.96
    centre = (rate + z * z / (2 * rounds)) / (1 + z * z / rounds)
    half = z * math.sqrt(rate * (1 - rate) / rounds + z * z / (4 * rounds * rounds)) / (1 + z * z / rounds)
    return centre + half


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000, help="windows per cell")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="fewer cells")
    parser.add_argument("--examples", action="store_true", help="only the shipped example Monitors' rows")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rounds = args.rounds
    sizes = (100, 300, 1000) if args.quick else (100, 200, 500, 1000, 5000)
    started = time.time()
    print(f"{rounds} windows per cell; failing = the check failed; significant = p <= falseAlarmRate whatever")
    print("the effect; 95% upper = Wilson upper bound of the failing rate.\n")
    print("| check | features | scenario | rows | failing | 95% upper | significant | Inconclusive |")
    print("|---|---|---|---|---|---|---|---|")

    def row(check: str, features: str, scenario: str, n: int, t: Tally) -> None:
        r = t.rounds
        print(
            f"| {check} | {features} | {scenario} | {n} | {t.rate:.1%} | {ci_upper(t.rate, r):.1%} "
            f"| {t.significant / r:.1%} | {t.inconclusive / r:.0%} |",
            flush=True,
        )

    if not args.examples:
        for k in (1, 10, 30, 100):
            sets = feature_sets(k)
            for n in sizes:
                rate = drift_rate(sets, n, rounds, rng, scenario="bootstrap")
                row("featureDrift psi 0.2", str(k), "bootstrap", n, rate)
            smallest = min(data.shape[0] for data, _ in sets) // 2
            for n in sorted({min(100, smallest), min(250, smallest)}):
                row("featureDrift psi 0.2", str(k), "split", n, drift_rate(sets, n, rounds, rng, scenario="split"))
        digits = LOADERS["digits"]()
        for k in (10, 30, 64):
            for n in (300, 800):
                rate = drift_rate([(digits, list(range(k)))], n, rounds, rng, scenario="split")
                row("featureDrift psi 0.2 (digits)", str(k), "split", n, rate)
        for name in ("wine", "diabetes", "digits"):
            data = LOADERS[name]()
            sets = [(data, list(range(min(10, data.shape[1]))))]
            for n in (100, 500):
                rate = drift_rate(sets, n, rounds, rng, scenario="bootstrap")
                row(f"featureDrift psi 0.2 ({name})", str(len(sets[0][1])), "bootstrap", n, rate)
        for k in (3, 10, 30):
            sets = feature_sets(k)
            rate = drift_rate(sets, 500, rounds, rng, scenario="bootstrap", shifted=3)
            row("featureDrift psi 0.2", str(k), "shift 0.5 SD x 3 (power)", 500, rate)
        for name in ("breast_cancer", "wine", "digits"):
            for n in (100, 500):
                rates = classifier_rates(name, n, rounds, rng)
                row(f"predictionDrift psi 0.2 ({name})", "-", "bootstrap", n, rates["predictionDrift"])
                row(f"accuracy at its true value ({name})", "-", "bootstrap", n, rates["accuracy"])
                row(f"accuracy, 10% labels flipped ({name})", "-", "power", n, rates["accuracy power"])
        for n in (100, 1000, 5000):
            rates = binomial_rates(n, rounds, rng)
            row("errorRate 1% (true rate 1%)", "-", "binomial", n, rates["errorRate"])
            row("errorRate 1% (true rate 2%)", "-", "power", n, rates["errorRate power"])
            row("latency p99 0.25 s (1% slower)", "-", "histogram", n, rates["latency"])
            row("latency p99 0.25 s (3% slower)", "-", "power", n, rates["latency power"])
    for name in EXAMPLES:
        spec = example_spec(name)
        for n in (spec.min_samples, 2 * spec.min_samples, 5 * spec.min_samples):
            rate = example_rates(name, n, rounds, rng)
            row(f"examples/{name}/monitor.yaml (drift checks)", "all", "bootstrap", n, rate)
    print(f"\n{time.time() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
