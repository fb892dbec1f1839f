"""pytest plugin: no silent layers.

A skipped test is a layer that did not run, and a green run must not hide it. Any skip fails the
run unless the person opts out explicitly with ``YARDARM_ALLOW_SKIPS=1`` (see the README); the
summary names every skip reason either way.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

ALLOW_SKIPS_ENV = "YARDARM_ALLOW_SKIPS"
_skipped: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember every skipped test with its reason."""
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append((report.nodeid, reason.removeprefix("Skipped: ")))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int) -> None:
    """Name what was skipped, grouped by reason, and say whether that fails the run."""
    if not _skipped:
        return
    by_reason: dict[str, list[str]] = {}
    for nodeid, reason in _skipped:
        by_reason.setdefault(reason, []).append(nodeid)
    allowed = os.environ.get(ALLOW_SKIPS_ENV) == "1"
    verdict = f"allowed by {ALLOW_SKIPS_ENV}=1" if allowed else f"this FAILS the run (set {ALLOW_SKIPS_ENV}=1 to allow)"
    terminalreporter.section(f"{len(_skipped)} tests skipped: {verdict}", sep="=", red=not allowed, bold=True)
    for reason, ids in sorted(by_reason.items(), key=lambda item: -len(item[1])):
        terminalreporter.write_line(f"{len(ids):4d} x {reason}  (e.g. {ids[0]})")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Turn a run with skips into a failure unless skips were explicitly allowed."""
    if _skipped and os.environ.get(ALLOW_SKIPS_ENV) != "1" and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
