"""Sizing native thread pools (OpenMP, BLAS) to the pod's CPU limit, not the node's cores.

OpenMP (HistGradientBoosting) and BLAS size their pools from the host's core count. In a pod
limited to 1 CPU on a 32-core node that means 32 threads fighting over one core's quota — CFS
throttling makes training several times slower. The cgroup's CPU quota says what the pod may use.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

#: cgroup v2 (unified) and v1 locations of the CPU quota, in the order they are tried.
_V2 = ("cpu.max", "unified/cpu.max")
_V1 = ("cpu/cpu.cfs_quota_us", "cpu,cpuacct/cpu.cfs_quota_us")


def cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs the cgroup may use (e.g. 1.5), or None when unlimited or unknown."""
    for name in _V2:
        try:
            quota, period = (root / name).read_text().split()[:2]
        except (OSError, ValueError):
            continue
        return None if quota == "max" else int(quota) / int(period)
    for name in _V1:
        try:
            quota_us = int((root / name).read_text())
            period_us = int((root / name).with_name("cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if quota_us <= 0 else quota_us / period_us
    return None


def thread_budget(root: Path = Path("/sys/fs/cgroup")) -> int:
    """Threads worth running: the quota rounded up, never more than the visible cores, at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cpu_quota(root)
    return max(1, min(cores, math.ceil(quota) if quota else cores))


def limit_native_threads(root: Path = Path("/sys/fs/cgroup")) -> int:
    """Cap OpenMP and BLAS pools for this process; returns the cap."""
    from threadpoolctl import threadpool_limits

    budget = thread_budget(root)
    threadpool_limits(limits=budget)
    return budget
