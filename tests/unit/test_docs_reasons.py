"""Every failure reason the docs promise is one the code can actually report.

A reason renamed in the code but not in the docs (``QualityGateFailed`` vs the live
``QualityGateMissed``) would otherwise go unnoticed: users grep for the documented word.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CODE_DIRS = ("training", "operator", "serving", "yardarm")
REASON = re.compile(r"`([A-Z][a-z]+[A-Za-z]*)`")  # a backticked CamelCase word; ALL_CAPS are code names


def _reasons_in_code() -> set[str]:
    """String constants the code passes as a ``reason`` (keyword, default_reason, reason variables)."""
    found: set[str] = set()
    for folder in CODE_DIRS:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.keyword) and node.arg == "reason":
                    values = [node.value]
                elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names = {t.id if isinstance(t, ast.Name) else getattr(t, "attr", "") for t in targets}
                    values = [node.value] if any("reason" in n.lower() for n in names) and node.value else []
                else:
                    values = []
                for value in values:
                    for const in ast.walk(value):
                        if isinstance(const, ast.Constant) and isinstance(const.value, str):
                            found.add(const.value)
    return found


def _documented_reasons() -> dict[str, set[str]]:
    training = (REPO / "docs" / "training.md").read_text(encoding="utf-8")
    rows = [line for line in training.splitlines() if re.match(r"^\| \d \| `[A-Z_]+` \|", line)]
    operator = (REPO / "docs" / "operator.md").read_text(encoding="utf-8")
    job_row = [line for line in operator.splitlines() if line.startswith("| the termination message |")]
    return {
        "docs/training.md exit-code table": {r for row in rows for r in REASON.findall(row)},
        "docs/operator.md failure reasons": {r for row in job_row for r in REASON.findall(row)},
    }


def test_every_documented_job_reason_exists_in_the_code() -> None:
    code = _reasons_in_code()
    documented = _documented_reasons()
    assert all(documented.values()), "the reason tables were not found in the docs"
    missing = {where: sorted(reasons - code) for where, reasons in documented.items() if reasons - code}
    assert not missing, f"documented reasons the code never reports: {missing}"
