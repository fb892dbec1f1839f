"""The test suite's own rule: a skipped layer fails the run unless skips are explicitly allowed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _run_pytest(tmp_path: Path, allow: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n\n"
        "def test_runs():\n    assert True\n\n"
        "def test_needs_a_cluster():\n    pytest.skip('the local Kubernetes needs root')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "YARDARM_ALLOW_SKIPS"}
    env["PYTHONPATH"] = str(TESTS)
    if allow is not None:
        env["YARDARM_ALLOW_SKIPS"] = allow
    cmd = [sys.executable, "-m", "pytest", "-p", "skips", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    return subprocess.run(cmd, cwd=tmp_path, env=env, text=True, capture_output=True, timeout=120)


def test_a_skip_fails_the_run_and_is_named(tmp_path: Path) -> None:
    res = _run_pytest(tmp_path, allow=None)
    assert res.returncode == 1, res.stdout
    assert "1 tests skipped: this FAILS the run" in res.stdout
    assert "the local Kubernetes needs root" in res.stdout


def test_skips_pass_only_when_explicitly_allowed(tmp_path: Path) -> None:
    assert _run_pytest(tmp_path, allow="1").returncode == 0
    assert _run_pytest(tmp_path, allow="yes").returncode == 1  # one documented spelling, no guessing
