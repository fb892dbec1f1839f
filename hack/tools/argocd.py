#!/usr/bin/env python3
"""Write the Argo CD health checks of the four Yardarm kinds from ``gitops/argocd/health/health.lua``.

One Lua script serves all four kinds. Argo CD wants it per kind, either as a file in a
``resource_customizations``-style tree (``<group>_<Kind>/health.lua``) or as a key of the
``argocd-cm`` ConfigMap; this script writes both, and ``tests/unit/test_argocd_health.py`` fails
when they drift from the source.

    make generate          # or: python hack/tools/argocd.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "gitops" / "argocd"
SOURCE = ARGOCD / "health" / "health.lua"
GROUP = "mlops.yardarm.dev"
KINDS = ("Dataset", "TrainingRun", "ModelDeployment", "Monitor")
CM_PATCH = ARGOCD / "argocd-cm-patch.yaml"


class _Literal(str):
    """A string dumped as a YAML block literal."""


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


yaml.SafeDumper.add_representer(_Literal, _literal)


def rendered() -> dict[Path, str]:
    """Every generated file and its expected content."""
    script = SOURCE.read_text()
    files = {ARGOCD / "health" / f"{GROUP}_{kind}" / "health.lua": script for kind in KINDS}
    patch = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm",
            "namespace": "argocd",
            "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
        },
        "data": {f"resource.customizations.health.{GROUP}_{kind}": _Literal(script) for kind in KINDS},
    }
    header = (
        "# Generated from gitops/argocd/health/health.lua by hack/tools/argocd.py -- do not edit.\n"
        "# Merge into Argo CD's argocd-cm (kubectl patch, Kustomize strategic merge, or the Helm\n"
        "# chart's configs.cm values) to give the four Yardarm kinds real health.\n"
    )
    files[CM_PATCH] = header + yaml.safe_dump(patch, sort_keys=False, width=1000)
    return files


def main() -> int:
    for path, content in rendered().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
