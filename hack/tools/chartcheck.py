#!/usr/bin/env python3
"""Lint, render and validate the Helm chart: the functions the chart tests use, and a CLI for people.

* :func:`helm` finds the helm that ``hack/build-binaries.sh`` builds (``$CACHE/bin/<k8s>/helm``).
* :func:`kubeconform` finds (or builds, through ``hack/tools/install.sh``) kubeconform.
* :func:`render` runs ``helm template`` with values and returns the parsed objects.
* :func:`validate` runs kubeconform in strict mode on objects, with the offline schemas of
  ``hack/tools/schemas.py``. prometheus-operator kinds (ServiceMonitor, PodMonitor,
  PrometheusRule) are skipped: their CRDs cannot be fetched here, so the tests check them by hand.

    python hack/tools/chartcheck.py [-f values.yaml ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "yardarm"
K8S_VERSION = os.environ.get("YARDARM_K8S_VERSION", "v1.34.4")
CACHE = Path(os.environ.get("YARDARM_CACHE", "/var/cache/yardarm"))
TOOLS = CACHE / "bin" / "tools"
#: Kinds whose schemas are not available offline (prometheus-operator CRDs).
SKIPPED_KINDS = ("ServiceMonitor", "PodMonitor", "PrometheusRule")
RELEASE = "yardarm"
NAMESPACE = "yardarm-system"


def helm() -> str | None:
    """Path of helm: the cached build, else one on PATH, else None."""
    built = CACHE / "bin" / K8S_VERSION / "helm"
    return str(built) if built.exists() else shutil.which("helm")


def kubeconform(install: bool = True) -> str | None:
    """Path of kubeconform; builds it with ``hack/tools/install.sh`` when missing and ``install``."""
    path = TOOLS / "kubeconform"
    if not path.exists() and install:
        subprocess.run(["bash", str(REPO / "hack" / "tools" / "install.sh")], check=False, timeout=1200)
    if path.exists():
        return str(path)
    return shutil.which("kubeconform")


def _schemas_tool() -> Any:
    spec = importlib.util.spec_from_file_location("yardarm_schemas_tool", Path(__file__).with_name("schemas.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_schemas(out: Path) -> Path:
    """Generate the kubeconform schemas into ``out`` (built-ins from the k8s module, our CRDs)."""
    module = _schemas_tool()
    openapi = module.find_openapi(K8S_VERSION)
    if openapi is None:
        raise FileNotFoundError(
            f"k8s.io/kubernetes@{K8S_VERSION} is not in the Go module cache: run hack/build-binaries.sh"
        )
    module.write_schemas(out, openapi, REPO / "crds")
    return out


def run_helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm with ``args``; raise with its output when ``check`` and it fails."""
    binary = helm()
    if binary is None:
        raise FileNotFoundError("helm not found: run hack/build-binaries.sh helm")
    res = subprocess.run([binary, *args], text=True, capture_output=True, timeout=300)
    if check and res.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({res.returncode}):\n{res.stderr}{res.stdout}")
    return res


def _values_file(values: dict[str, Any] | None, tmp: Path) -> list[str]:
    if not values:
        return []
    path = tmp / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return ["-f", str(path)]


def render_text(
    values: dict[str, Any] | None = None,
    *,
    namespace: str = NAMESPACE,
    include_crds: bool = False,
    show_tests: bool = True,
) -> str:
    """``helm template`` output as text."""
    with tempfile.TemporaryDirectory() as tmp:
        args = ["template", RELEASE, str(CHART), "--namespace", namespace, "--kube-version", K8S_VERSION]
        args += _values_file(values, Path(tmp))
        if include_crds:
            args.append("--include-crds")
        if not show_tests:
            args.append("--skip-tests")
        return run_helm(*args).stdout


def render(values: dict[str, Any] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    """``helm template`` output as a list of objects."""
    return [doc for doc in yaml.safe_load_all(render_text(values, **kwargs)) if doc]


def lint(values: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    """``helm lint --strict`` of the chart, with optional values."""
    with tempfile.TemporaryDirectory() as tmp:
        args = ["lint", "--strict", str(CHART), "--kube-version", K8S_VERSION, *_values_file(values, Path(tmp))]
        return run_helm(*args, check=False)


def validate(objects: Iterable[dict[str, Any]] | str, schema_dir: Path) -> subprocess.CompletedProcess[str]:
    """kubeconform -strict on objects (or YAML text); returns the finished process (JSON output)."""
    binary = kubeconform()
    if binary is None:
        raise FileNotFoundError("kubeconform not found: run hack/tools/install.sh")
    text = objects if isinstance(objects, str) else yaml.safe_dump_all(list(objects))
    # Kinds whose CRDs come with the objects (e.g. Kopf's peering kinds) get schemas too.
    for name, schema in _schemas_tool().schemas_of_crds(yaml.safe_load_all(text)).items():
        path = schema_dir / name
        if not path.exists():
            path.write_text(json.dumps(schema))
    location = f"{schema_dir}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json"
    cmd = [binary, "-strict", "-summary", "-output", "json", "-schema-location", location]
    cmd += ["-skip", ",".join(SKIPPED_KINDS), "-"]
    return subprocess.run(cmd, input=text, text=True, capture_output=True, timeout=300)


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """kubeconform's JSON report: ``resources`` (the non-valid ones) and ``summary`` counts."""
    return json.loads(result.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-f", "--values", action="append", type=Path, default=[], help="extra values file(s)")
    args = parser.parse_args(argv)
    values: dict[str, Any] = {}
    for path in args.values:
        values.update(yaml.safe_load(path.read_text()) or {})
    res = lint(values)
    print(res.stdout + res.stderr)
    if res.returncode != 0:
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        schema_dir = write_schemas(Path(tmp))
        result = validate(render_text(values, include_crds=True), schema_dir)
        print(result.stdout + result.stderr)
        return result.returncode


if __name__ == "__main__":
    sys.exit(main())
