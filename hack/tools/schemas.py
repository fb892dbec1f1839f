#!/usr/bin/env python3
"""Write kubeconform JSON schemas offline: Kubernetes built-ins from OpenAPI v2, Yardarm kinds from crds/.

kubeconform normally downloads its schemas from GitHub, which this workplace cannot reach. This
script makes the same kind of *standalone strict* schemas (every object closed with
``additionalProperties: false``) from sources on the machine:

* the Kubernetes OpenAPI v2 document -- ``api/openapi-spec/swagger.json`` of the
  ``k8s.io/kubernetes`` Go module that ``hack/build-binaries.sh`` already downloads (the same
  document the API server serves, so no cluster is needed), ``--openapi FILE``, or
  ``--from-cluster KUBECONFIG`` (a live kube-apiserver's ``/openapi/v2``);
* the ``openAPIV3Schema`` of each CustomResourceDefinition in ``crds/``.

Files are named as kubeconform's ``{{ .ResourceKind }}{{ .KindSuffix }}.json`` template expects
(``deployment-apps-v1.json``, ``service-v1.json``, ``modeldeployment-mlops-v1alpha1.json``); run
kubeconform with ``-strict -schema-location 'DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json'``.

    python hack/tools/schemas.py --out /var/cache/yardarm/schemas/v1.34.4
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S_VERSION = os.environ.get("YARDARM_K8S_VERSION", os.environ.get("K8S_VERSION", "v1.34.4"))
CACHE = Path(os.environ.get("YARDARM_CACHE", "/var/cache/yardarm"))
DEFAULT_OUT = CACHE / "schemas" / K8S_VERSION

_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_STRING_OR_NUMBER = {"oneOf": [{"type": "string"}, {"type": "number"}]}
_STRING_OR_INTEGER = {"oneOf": [{"type": "string"}, {"type": "integer"}]}


def kind_suffix(group: str, version: str) -> str:
    """kubeconform's ``KindSuffix``: ``-<first label of the group>-<version>``, or ``-<version>`` for core."""
    return f"-{group.split('.')[0].lower()}-{version.lower()}" if group else f"-{version.lower()}"


def schema_filename(kind: str, group: str, version: str) -> str:
    """The file kubeconform looks up for one kind."""
    return f"{kind.lower()}{kind_suffix(group, version)}.json"


def find_openapi(version: str = K8S_VERSION) -> Path | None:
    """The ``swagger.json`` of the k8s.io/kubernetes module in the Go module cache, if present."""
    candidates: list[Path] = []
    gomodcache = os.environ.get("GOMODCACHE")
    if not gomodcache:
        try:
            gomodcache = subprocess.run(
                ["go", "env", "GOMODCACHE"], text=True, capture_output=True, timeout=30, check=False
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            gomodcache = ""
    for root in filter(None, [gomodcache, str(Path.home() / "go" / "pkg" / "mod"), "/root/go/pkg/mod"]):
        candidates.append(Path(root) / f"k8s.io/kubernetes@{version}" / "api" / "openapi-spec" / "swagger.json")
    return next((c for c in candidates if c.is_file()), None)


def fetch_openapi(kubeconfig: str, out: Path) -> Path:
    """Save a live API server's ``/openapi/v2`` (built-ins plus its CRDs) next to the schemas."""
    kubectl = CACHE / "bin" / K8S_VERSION / "kubectl"
    binary = str(kubectl) if kubectl.exists() else "kubectl"
    doc = subprocess.run(
        [binary, f"--kubeconfig={kubeconfig}", "get", "--raw", "/openapi/v2"],
        text=True,
        capture_output=True,
        timeout=120,
        check=True,
    ).stdout
    out.mkdir(parents=True, exist_ok=True)
    path = out / ".openapi-v2.json"
    path.write_text(doc)
    return path


def _close(node: Any) -> Any:
    """Recursively add ``additionalProperties: false`` to object schemas that list their properties."""
    if isinstance(node, dict):
        out = {k: _close(v) for k, v in node.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_close(v) for v in node]
    return node


def _fix_v2(node: Any) -> Any:
    """Make OpenAPI v2 idioms plain JSON schema: int-or-string, quantities, schemaless objects."""
    if isinstance(node, dict):
        if node.get("format") == "int-or-string":
            return dict(_STRING_OR_INTEGER)
        return {k: _fix_v2(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_fix_v2(v) for v in node]
    return node


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            yield ref.removeprefix("#/definitions/")
        for v in node.values():
            yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def builtin_schemas(openapi: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Standalone strict schemas by file name for every kind with a group-version-kind in ``openapi``."""
    definitions: dict[str, Any] = dict(openapi["definitions"])
    definitions[_QUANTITY] = dict(_STRING_OR_NUMBER)
    definitions[_INT_OR_STRING] = dict(_STRING_OR_INTEGER)
    definitions = {name: _close(_fix_v2(d)) for name, d in definitions.items()}
    out: dict[str, dict[str, Any]] = {}
    for name, definition in definitions.items():
        for gvk in openapi["definitions"][name].get("x-kubernetes-group-version-kind", []):
            needed: dict[str, Any] = {}
            todo = list(_refs(definition))
            while todo:
                ref = todo.pop()
                if ref in needed or ref not in definitions:
                    continue
                needed[ref] = definitions[ref]
                todo.extend(_refs(definitions[ref]))
            schema = copy.deepcopy(definition)
            # apiVersion and kind are optional in OpenAPI; a manifest must carry exactly these values.
            props = schema.setdefault("properties", {})
            group_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            props["apiVersion"] = {"type": "string", "enum": [group_version]}
            props["kind"] = {"type": "string", "enum": [gvk["kind"]]}
            schema["$schema"] = "http://json-schema.org/draft-04/schema#"
            schema["definitions"] = needed
            out[schema_filename(gvk["kind"], gvk["group"], gvk["version"])] = schema
    return out


def _fix_v3(node: Any) -> Any:
    """Make CRD structural-schema extensions plain JSON schema (int-or-string)."""
    if isinstance(node, dict):
        if node.get("x-kubernetes-int-or-string"):
            rest = {k: v for k, v in node.items() if k not in {"x-kubernetes-int-or-string", "anyOf", "type"}}
            return {**rest, **_STRING_OR_INTEGER}
        return {k: _fix_v3(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_fix_v3(v) for v in node]
    return node


def crd_schemas(crd_dir: Path) -> dict[str, dict[str, Any]]:
    """Standalone strict schemas by file name for every served version of every CRD in ``crd_dir``."""
    docs = [doc for path in sorted(crd_dir.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]
    return schemas_of_crds(docs)


def schemas_of_crds(docs: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Schemas by file name for the CustomResourceDefinitions among ``docs`` (others are ignored)."""
    out: dict[str, dict[str, Any]] = {}
    for crd in docs:
        if isinstance(crd, dict) and crd.get("kind") == "CustomResourceDefinition":
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = _close(_fix_v3(copy.deepcopy(version["schema"]["openAPIV3Schema"])))
                props = schema.setdefault("properties", {})
                props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
                props["kind"] = {"type": "string", "enum": [kind]}
                # Object metadata is validated by the API server, not by the CRD schema.
                props["metadata"] = {"type": "object"}
                schema["$schema"] = "http://json-schema.org/draft-04/schema#"
                out[schema_filename(kind, group, version["name"])] = schema
    return out


def write_schemas(out: Path, openapi_path: Path | None, crd_dir: Path) -> int:
    """Write all schemas into ``out``; return how many files were written."""
    schemas: dict[str, dict[str, Any]] = {}
    if openapi_path is not None:
        print(f"[schemas] built-ins from {openapi_path}", file=sys.stderr)
        schemas.update(builtin_schemas(json.loads(openapi_path.read_text())))
    print(f"[schemas] custom resources from {crd_dir}", file=sys.stderr)
    schemas.update(crd_schemas(crd_dir))
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas.items():
        tmp = out / f".{name}.tmp"
        tmp.write_text(json.dumps(schema, sort_keys=True))
        tmp.replace(out / name)
    print(f"[schemas] wrote {len(schemas)} schemas into {out}", file=sys.stderr)
    return len(schemas)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument("--openapi", type=Path, help="OpenAPI v2 JSON (default: k8s.io/kubernetes in GOMODCACHE)")
    parser.add_argument(
        "--from-cluster",
        metavar="KUBECONFIG",
        help="take the built-ins from a live kube-apiserver's /openapi/v2 (kubectl get --raw) instead",
    )
    parser.add_argument("--crds", type=Path, default=REPO / "crds", help="directory of CRD YAML (default crds/)")
    parser.add_argument("--crds-only", action="store_true", help="only the custom resources")
    args = parser.parse_args(argv)
    if args.from_cluster and not args.crds_only:
        args.openapi = fetch_openapi(args.from_cluster, args.out)
    openapi = None if args.crds_only else (args.openapi or find_openapi())
    if openapi is None and not args.crds_only:
        print(
            f"[schemas] ERROR: no OpenAPI document: k8s.io/kubernetes@{K8S_VERSION} is not in the Go module "
            "cache (run hack/build-binaries.sh, or pass --openapi)",
            file=sys.stderr,
        )
        return 1
    write_schemas(args.out, openapi, args.crds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
