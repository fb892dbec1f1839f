#!/usr/bin/env python3
"""Write the chart's RBAC rules (``charts/yardarm/files/rbac/``) from ``operator/rbac.py``.

The operator's permissions are data next to the code that makes the calls; the chart reads the
generated files with ``.Files.Get``. ``tests/component/test_chart_rbac.py`` fails when the files
drift from the module, and when the rendered (Cluster)Roles differ from ``rbac.role(...)``.

    make generate          # or: python hack/tools/chart_rbac.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "charts" / "yardarm" / "files" / "rbac"
HEADER = "# Generated from operator/rbac.py by hack/tools/chart_rbac.py -- do not edit.\n"


def rendered() -> dict[Path, str]:
    """Every generated file and its expected content."""
    from yardarm.operator import rbac

    files: dict[str, list[dict[str, Any]]] = {
        # Every namespace the operator works in (a Role each, or part of the ClusterRole).
        "rules.yaml": rbac.RULES,
        # Added to the ClusterRole when the operator watches the whole cluster.
        "cluster-wide.yaml": rbac.CLUSTER_RULES,
        # Added when operator.peering is set (Kopf peering for HA).
        "peering.yaml": rbac.PEERING_RULES,
    }
    return {
        OUT / name: HEADER + yaml.safe_dump(rules, sort_keys=False, default_flow_style=None, width=120)
        for name, rules in files.items()
    }


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for path, content in rendered().items():
        path.write_text(content)
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
