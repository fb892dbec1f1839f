"""CPU budget of this process from its cgroup, so ONNX Runtime sizes its thread pool to the pod.

ONNX Runtime sizes its intra-op pool from the host's cores; in a pod limited to 2 CPUs on a 64-core
node that means 64 spinning threads fighting for 2 CPUs of quota (throttling, tail latency). The
quota is read from cgroup v2 (``cpu.max``) and cgroup v1 (``cpu.cfs_quota_us`` /
``cpu.cfs_period_us``), following the process's own cgroup path from ``/proc/self/cgroup`` and
falling back to the mount root (what a container sees with a private cgroup namespace).
"""

from __future__ import annotations

import math
import os
from pathlib import Path


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _own_paths(proc_cgroup: str | None) -> tuple[str | None, dict[str, str]]:
    """The v2 path and the v1 paths per controller from the text of ``/proc/self/cgroup``."""
    v2: str | None = None
    v1: dict[str, str] = {}
    for line in (proc_cgroup or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2 = path
        else:
            for controller in controllers.split(","):
                v1[controller] = path
    return v2, v1


def _candidates(base: Path, own: str | None) -> list[Path]:
    """The process's own cgroup directory first, then the mount root."""
    dirs = []
    if own and own != "/":
        dirs.append(base / own.lstrip("/"))
    dirs.append(base)
    return dirs


def _quota_v2(root: Path, own: str | None) -> float | None:
    for mount in (root, root / "unified"):
        for directory in _candidates(mount, own):
            text = _read(directory / "cpu.max")
            if text is None:
                continue
            fields = text.split()
            if not fields or fields[0] == "max":
                return None
            try:
                quota = int(fields[0])
                period = int(fields[1]) if len(fields) > 1 else 100_000
            except ValueError:
                return None
            return quota / period if quota > 0 and period > 0 else None
    return None


def _quota_v1(root: Path, own: dict[str, str]) -> float | None:
    for name in ("cpu,cpuacct", "cpu", "cpuacct,cpu"):
        mount = root / name
        for directory in _candidates(mount, own.get("cpu")):
            quota_text = _read(directory / "cpu.cfs_quota_us")
            period_text = _read(directory / "cpu.cfs_period_us")
            if quota_text is None or period_text is None:
                continue
            try:
                quota, period = int(quota_text), int(period_text)
            except ValueError:
                return None
            return quota / period if quota > 0 and period > 0 else None
    return None


def cpu_quota(root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """CPUs granted by the cgroup quota (e.g. 1.5), or ``None`` when unlimited or unknown.

    When both hierarchies set a quota (hybrid hosts) the smaller one is what the kernel enforces.
    """
    v2_path, v1_paths = _own_paths(_read(proc_cgroup))
    quotas = [q for q in (_quota_v2(root, v2_path), _quota_v1(root, v1_paths)) if q is not None]
    return min(quotas) if quotas else None


def host_cpus() -> int:
    """CPUs this process may run on (affinity mask), which can be fewer than the host's cores."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def intra_op_threads(
    override: int | None = None,
    root: Path = Path("/sys/fs/cgroup"),
    proc_cgroup: Path = Path("/proc/self/cgroup"),
) -> int:
    """Threads for ONNX Runtime's intra-op pool: the override, else ceil(quota), capped by host CPUs."""
    if override is not None and override > 0:
        return override
    cpus = host_cpus()
    quota = cpu_quota(root, proc_cgroup)
    if quota is None:
        return cpus
    return max(1, min(cpus, math.ceil(quota - 1e-9)))
