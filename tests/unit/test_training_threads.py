"""Thread budget from the cgroup CPU quota (v2 and v1 layouts)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yardarm.training.threads import cpu_quota, thread_budget

pytestmark = pytest.mark.unit


def test_cgroup_v2_quota_is_read(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cpu_quota(tmp_path) == 1.5
    assert thread_budget(tmp_path) == min(2, len(os.sched_getaffinity(0)))


def test_unlimited_v2_means_all_visible_cores(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpu_quota(tmp_path) is None
    assert thread_budget(tmp_path) == len(os.sched_getaffinity(0))


def test_cgroup_v1_quota_is_read(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_quota(tmp_path) == 0.5
    assert thread_budget(tmp_path) == 1


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert cpu_quota(tmp_path) is None
