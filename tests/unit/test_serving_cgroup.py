"""CPU quota detection for ONNX Runtime's thread pool, on fake cgroup trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from yardarm.serving.cgroup import cpu_quota, host_cpus, intra_op_threads

pytestmark = pytest.mark.unit


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_cpu_max_at_the_namespace_root(tmp_path: Path) -> None:
    _write(tmp_path, "cg/cpu.max", "150000 100000\n")
    _write(tmp_path, "self", "0::/\n")
    assert cpu_quota(tmp_path / "cg", tmp_path / "self") == 1.5
    assert intra_op_threads(None, tmp_path / "cg", tmp_path / "self") == min(2, host_cpus())


def test_cgroup_v2_follows_the_process_path_first(tmp_path: Path) -> None:
    _write(tmp_path, "cg/cpu.max", "max 100000\n")
    _write(tmp_path, "cg/kubepods/pod1/cpu.max", "50000 100000\n")
    _write(tmp_path, "self", "0::/kubepods/pod1\n")
    assert cpu_quota(tmp_path / "cg", tmp_path / "self") == 0.5
    assert intra_op_threads(None, tmp_path / "cg", tmp_path / "self") == 1


def test_unlimited_v2_means_host_cpus(tmp_path: Path) -> None:
    _write(tmp_path, "cg/cpu.max", "max 100000\n")
    _write(tmp_path, "self", "0::/\n")
    assert cpu_quota(tmp_path / "cg", tmp_path / "self") is None
    assert intra_op_threads(None, tmp_path / "cg", tmp_path / "self") == host_cpus()


def test_cgroup_v1_quota_and_period(tmp_path: Path) -> None:
    _write(tmp_path, "cg/cpu,cpuacct/cpu.cfs_quota_us", "200000\n")
    _write(tmp_path, "cg/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    _write(tmp_path, "self", "4:cpu,cpuacct:/\n1:name=systemd:/\n")
    assert cpu_quota(tmp_path / "cg", tmp_path / "self") == 2.0


def test_cgroup_v1_unlimited_is_minus_one(tmp_path: Path) -> None:
    _write(tmp_path, "cg/cpu/cpu.cfs_quota_us", "-1\n")
    _write(tmp_path, "cg/cpu/cpu.cfs_period_us", "100000\n")
    _write(tmp_path, "self", "1:cpu:/\n")
    assert cpu_quota(tmp_path / "cg", tmp_path / "self") is None


def test_hybrid_hosts_take_the_smaller_quota(tmp_path: Path) -> None:
    _write(tmp_path, "cg/cpu/cpu.cfs_quota_us", "300000\n")
    _write(tmp_path, "cg/cpu/cpu.cfs_period_us", "100000\n")
    _write(tmp_path, "cg/unified/cpu.max", "100000 100000\n")
    _write(tmp_path, "self", "1:cpu:/\n0::/\n")
    assert cpu_quota(tmp_path / "cg", tmp_path / "self") == 1.0


def test_no_cgroup_files_and_the_override(tmp_path: Path) -> None:
    assert cpu_quota(tmp_path / "missing", tmp_path / "missing-self") is None
    assert intra_op_threads(3, tmp_path / "missing", tmp_path / "missing-self") == 3
    assert intra_op_threads(None, tmp_path / "missing", tmp_path / "missing-self") == host_cpus()


def test_garbage_in_cpu_max_is_ignored(tmp_path: Path) -> None:
    _write(tmp_path, "cg/cpu.max", "lots\n")
    _write(tmp_path, "self", "0::/\n")
    assert cpu_quota(tmp_path / "cg", tmp_path / "self") is None
