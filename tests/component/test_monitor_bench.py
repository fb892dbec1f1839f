"""A small run of bench/monitor: the false-alarm rate at the defaults stays under 1 %, power holds.

The windows are real rows of scikit-learn data sets judged by the Monitor's own code. A cell fails
when its count is above the 99.9 % quantile of Binomial(windows, 1 %): with a true rate at the
1 % target, this test fails by chance once in a thousand runs per cell.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from yardarm.api.monitor import MonitorSpec
from yardarm.operator.stats import binom_cdf, binom_sf

BENCH = Path(__file__).resolve().parents[2] / "bench" / "monitor" / "bench_monitor.py"
TARGET = 0.01
WINDOWS = 200


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_monitor", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_monitor"] = module
    spec.loader.exec_module(module)
    return module


bench = _bench()


def most_alarms(windows: int, rate: float = TARGET) -> int:
    """Largest count consistent with ``rate`` (the 99.9 % quantile of the binomial)."""
    return next(k for k in range(windows + 1) if binom_sf(k + 1, windows, rate) < 1e-3)


def test_the_defaults_are_the_targets_settings() -> None:
    defaults = MonitorSpec.model_validate(
        {"targetRef": {"name": "m"}, "checks": [{"name": "c", "type": "errorRate", "threshold": 0.1}]}
    )
    assert (defaults.false_alarm_rate, defaults.min_samples, defaults.failure_threshold) == (0.01, 100, 3)


@pytest.mark.parametrize(
    ("features", "rows", "scenario"),
    [(1, 300, "bootstrap"), (30, 500, "bootstrap"), (100, 200, "bootstrap"), (30, 800, "digits-split")],
)
def test_false_alarm_rate_on_undrifted_windows_is_within_the_target(features: int, rows: int, scenario: str) -> None:
    rng = np.random.default_rng(features * 1000 + rows)
    if scenario == "digits-split":
        sets = [(bench.LOADERS["digits"](), list(range(features)))]
        tally = bench.drift_rate(sets, rows, WINDOWS, rng, scenario="split")
    else:
        tally = bench.drift_rate(bench.feature_sets(features), rows, WINDOWS, rng, scenario=scenario)
    assert tally.inconclusive < WINDOWS  # the cell measured something
    assert tally.failing <= most_alarms(WINDOWS)
    # The tests alone (whatever the effect) hold the rate too: the threshold is not what saves us.
    assert tally.significant <= most_alarms(WINDOWS)


def test_binomial_checks_at_their_threshold_stay_within_the_target() -> None:
    rates = bench.binomial_rates(1000, WINDOWS, np.random.default_rng(5))
    for check in ("errorRate", "latency"):
        assert rates[check].failing <= most_alarms(WINDOWS), check


def test_classifier_checks_on_undrifted_traffic_stay_within_the_target() -> None:
    rates = bench.classifier_rates("breast_cancer", 500, WINDOWS, np.random.default_rng(6))
    assert rates["predictionDrift"].failing <= most_alarms(WINDOWS)
    assert rates["accuracy"].failing <= most_alarms(WINDOWS)


def test_power_on_a_half_sd_shift_of_three_features_at_500_rows() -> None:
    windows = 60
    tally = bench.drift_rate(
        bench.feature_sets(30), 500, windows, np.random.default_rng(7), scenario="bootstrap", shifted=3
    )
    # At a true power of 90 %, fewer than this many detections happen with probability < 0.1 %.
    least = next(k for k in range(windows + 1) if binom_cdf(k, windows, 0.9) >= 1e-3)
    assert tally.failing >= least, f"{tally.failing} of {windows} shifted windows caught"


@pytest.mark.parametrize(("example", "windows"), [("iris", WINDOWS), ("drift", WINDOWS), ("diabetes", 50)])
def test_each_shipped_example_monitor_holds_the_target_at_its_min_samples(example: str, windows: int) -> None:
    """The drift checks of examples/<example>/monitor.yaml, as shipped, on undrifted windows of minSamples rows."""
    spec = bench.example_spec(example)
    tally = bench.example_rates(example, spec.min_samples, windows, np.random.default_rng(11))
    assert tally.inconclusive < windows  # at minSamples the example's checks can decide
    assert tally.failing <= most_alarms(windows)
