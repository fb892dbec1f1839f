"""Generate CustomResourceDefinitions from the pydantic API types (as controller-gen does).

The types are the single source of truth. :func:`render_crds` turns each kind's spec and status
models into a structural OpenAPI v3 schema: ``$ref`` inlined, optionals made non-required,
``Literal`` as enums, bounds and patterns kept, CEL rules carried over as
``x-kubernetes-validations``, opaque maps as ``x-kubernetes-preserve-unknown-fields``. A unit
test regenerates them and fails when ``crds/`` is stale; ``make generate`` rewrites them (and
every other generated file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from yardarm.api.common import GROUP, VERSION
from yardarm.api.dataset import DatasetSpec, DatasetStatus
from yardarm.api.modeldeployment import (
    MODELDEPLOYMENT_NAME_RULES,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
)
from yardarm.api.modeldeployment import (
    NAME_MAX_LENGTH as MODELDEPLOYMENT_NAME_MAX,
)
from yardarm.api.monitor import MonitorSpec, MonitorStatus
from yardarm.api.trainingrun import TrainingRunSpec, TrainingRunStatus

CATEGORY = "yardarm"
_QUANTITY = "x-yardarm-quantity"
_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_DROP = {"title", "discriminator", "$defs", _QUANTITY}


@dataclass(frozen=True)
class PrinterColumn:
    """One column of ``kubectl get``."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0

    def render(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            column["description"] = self.description
        if self.priority:
            column["priority"] = self.priority
        return column


@dataclass(frozen=True)
class KindInfo:
    """What a CRD needs beyond the schema: names and columns."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec: type[BaseModel]
    status: type[BaseModel]
    description: str
    columns: tuple[PrinterColumn, ...] = field(default=())
    #: CEL rules on the whole object (``self.metadata.name`` is visible there).
    rules: tuple[dict[str, str], ...] = field(default=())
    #: The ``scale`` subresource, so that ``kubectl scale`` works.
    scale: dict[str, str] | None = None
    #: Longest ``metadata.name`` (also bounds the cost CEL estimates for rules on the name).
    name_max_length: int = 253

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


_PHASE = PrinterColumn("Phase", ".status.phase", description="Where the resource is in its life.")
_READY = PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status', description="Ready condition.")
_AGE = PrinterColumn("Age", ".metadata.creationTimestamp", type="date")

KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        kind="Dataset",
        plural="datasets",
        short_names=("dset",),
        spec=DatasetSpec,
        status=DatasetStatus,
        description="A registered, profiled data set that TrainingRuns train on.",
        columns=(
            _PHASE,
            PrinterColumn("Rows", ".status.rows", type="integer", description="Rows in the data."),
            PrinterColumn("Columns", ".status.columns", type="integer", description="Columns, target included."),
            PrinterColumn("Source", ".spec.source.uri", priority=1, description="Where the data lives."),
            PrinterColumn("Digest", ".status.digest", priority=1, description="sha256 of the content."),
            _AGE,
        ),
    ),
    KindInfo(
        kind="TrainingRun",
        plural="trainingruns",
        short_names=("tr",),
        spec=TrainingRunSpec,
        status=TrainingRunStatus,
        description="One training of a scikit-learn model on a Dataset, exported to ONNX.",
        columns=(
            PrinterColumn("Dataset", ".spec.datasetRef.name", description="The Dataset trained on."),
            PrinterColumn("Estimator", ".spec.estimator.kind", description="scikit-learn estimator."),
            _PHASE,
            PrinterColumn("Metric", ".status.headline", description="The task's main test metric."),
            PrinterColumn("Model", ".status.model.digest", priority=1, description="Digest of the bundle."),
            _AGE,
        ),
    ),
    KindInfo(
        kind="ModelDeployment",
        plural="modeldeployments",
        short_names=("mdep",),
        spec=ModelDeploymentSpec,
        status=ModelDeploymentStatus,
        description="A model served over HTTP by ONNX Runtime pods, with automatic rollback.",
        columns=(
            PrinterColumn("Run", ".spec.model.trainingRunRef.name", description="TrainingRun whose model is wanted."),
            PrinterColumn("Wanted", ".spec.replicas", type="integer", description="Serving pods asked for."),
            PrinterColumn("Ready", ".status.readyReplicas", type="integer", description="Ready serving pods."),
            PrinterColumn("Revision", ".status.currentRevision", type="integer", description="Revision served."),
            _PHASE,
            PrinterColumn("URI", ".spec.model.uri", priority=1, description="Bundle wanted, when given by URI."),
            PrinterColumn("Serving", ".status.currentDigest", priority=1, description="Digest served."),
            PrinterColumn("URL", ".status.url", priority=1, description="In-cluster inference URL."),
            _AGE,
        ),
        rules=MODELDEPLOYMENT_NAME_RULES,
        name_max_length=MODELDEPLOYMENT_NAME_MAX,
        scale={
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.labelSelector",
        },
    ),
    KindInfo(
        kind="Monitor",
        plural="monitors",
        short_names=("mon",),
        spec=MonitorSpec,
        status=MonitorStatus,
        description="Watches a live ModelDeployment and reports when its model degrades.",
        columns=(
            PrinterColumn("Target", ".spec.targetRef.name", description="The ModelDeployment watched."),
            _PHASE,
            PrinterColumn(
                "Failures",
                ".status.consecutiveFailures",
                type="integer",
                description="Failing evaluations in a row.",
            ),
            PrinterColumn("Action", ".spec.action", priority=1, description="rollback or alert."),
            PrinterColumn("Evaluated", ".status.lastEvaluationTime", type="date", description="Last evaluation."),
            _AGE,
        ),
    ),
)


class SchemaError(ValueError):
    """A type cannot be expressed as a structural schema."""


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline ``$ref`` and single ``allOf``, keeping the referencing node's own keys on top."""
    while True:
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
        else:
            return node


def _anyof(node: dict[str, Any], defs: dict[str, Any], where: str) -> dict[str, Any]:
    """Collapse ``X | None`` to X and ``int | str`` to int-or-string; refuse other unions.

    A :data:`~yardarm.api.common.Quantity` (number or string) becomes a node without a type whose
    value validations apply by the kind of value found (see the type's comment).
    """
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    options = [_resolve(o, defs) for o in node["anyOf"] if o.get("type") != "null"]
    if rest.get("default", 0) is None:
        del rest["default"]
    if len(options) == 1:
        merged = {**options[0], **rest}
        return _anyof(merged, defs, where) if "anyOf" in options[0] else merged
    if rest.get(_QUANTITY):
        return {"x-kubernetes-preserve-unknown-fields": True, **rest}
    if sorted(o.get("type", "") for o in options) == ["integer", "string"]:
        return {"x-kubernetes-int-or-string": True, **rest}
    raise SchemaError(f"{where}: unions other than optional and int-or-string are not structural")


def structural(node: dict[str, Any], defs: dict[str, Any], where: str = "$") -> dict[str, Any]:
    """Convert one pydantic JSON-schema node into a structural OpenAPI v3 schema node."""
    node = _resolve(node, defs)
    if "anyOf" in node:
        node = _anyof(node, defs, where)
    if not node or node == {"description": node.get("description")}:
        node = {**node, "x-kubernetes-preserve-unknown-fields": True}  # any JSON value (typing.Any)
    out: dict[str, Any] = {}
    opaque = node.get("x-kubernetes-preserve-unknown-fields", False)
    for key, value in node.items():
        if key in _DROP or (opaque and key == "additionalProperties"):
            continue
        if key == "properties":
            out[key] = {name: structural(sub, defs, f"{where}.{name}") for name, sub in value.items()}
        elif key == "items" and _PRESERVE in value:
            out[key] = value
        elif key == "items":
            out[key] = structural(value, defs, f"{where}[]")
        elif key == "additionalProperties":
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict) and _PRESERVE in value:
                out[key] = value  # a bounded JSON value, already structural
            elif value is not False:
                out[key] = structural(value, defs, f"{where}{{}}")
        elif key == "exclusiveMinimum":
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum":
            out["maximum"], out["exclusiveMaximum"] = value, True
        elif key == "const":
            out["enum"] = [value]
        elif key == "default" and isinstance(value, dict):
            out[key] = {}  # the API server fills nested defaults from the inner schemas
        else:
            out[key] = value
    if out.get("type") == "number":
        out = _fractional_bounds(out)
    if "description" in out:
        out["description"] = described(out)
    if "type" not in out and not out.get("x-kubernetes-int-or-string") and not out.get(_PRESERVE):
        raise SchemaError(f"{where}: no type")
    return out


def facts(node: dict[str, Any]) -> list[str]:
    """Default and bounds of a schema node, in words (for ``kubectl explain`` and docs/api.md)."""
    found = []
    if "enum" in node and len(node["enum"]) > 1:
        found.append("one of " + ", ".join(str(v) for v in node["enum"]))
    if "default" in node and node["default"] != {}:
        found.append(f"default {json.dumps(node['default'])}")
    if node.get("type") in ("integer", "number"):
        low, high = node.get("minimum"), node.get("maximum")
        low_word = ">" if node.get("exclusiveMinimum") else ">="
        high_word = "<" if node.get("exclusiveMaximum") else "<="
        if low is not None:
            found.append(f"{low_word} {low}")
        if high is not None:
            found.append(f"{high_word} {high}")
    if node.get("type") == "string" and "maxLength" in node:
        found.append(f"at most {node['maxLength']} characters")
    if node.get("type") == "array":
        if "minItems" in node:
            found.append(f"at least {node['minItems']} items")
        if "maxItems" in node:
            found.append(f"at most {node['maxItems']} items")
    if node.get("type") == "object" and "maxProperties" in node:
        found.append(f"at most {node['maxProperties']} entries")
    return found


def described(node: dict[str, Any]) -> str:
    """A node's description with its default and bounds appended, e.g. ``(default 3; >= 1; <= 100)``."""
    base = node.get("description", "").strip()
    words = facts(node)
    return f"{base} ({'; '.join(words)})" if words else base


def _fractional_bounds(node: dict[str, Any]) -> dict[str, Any]:
    """Repeat fractional bounds of a number as CEL rules.

    The API server's OpenAPI validator compares an integer value with the bound cut to an
    integer: ``testFraction: 0`` passes ``minimum: 0.05``. CEL compares numbers exactly.
    """
    rules = []
    for key, op, word in (("minimum", ">=", "at least"), ("maximum", "<=", "at most")):
        bound = node.get(key)
        if bound is None or float(bound).is_integer():
            continue
        exclusive = node.get(f"exclusive{key.capitalize()}", False)
        strict = op[0] if exclusive else op
        words = ("above" if key == "minimum" else "below") if exclusive else word
        rules.append({"rule": f"self {strict} {float(bound)}", "message": f"must be {words} {bound:g}"})
    if not rules:
        return node
    return {**node, "x-kubernetes-validations": [*node.get("x-kubernetes-validations", []), *rules]}


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural schema of one pydantic model (camelCase field names)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return structural(raw, raw.get("$defs", {}), model.__name__)


def _metadata(info: KindInfo) -> dict[str, Any]:
    """The root ``metadata`` schema: only ``name`` and ``generateName`` may be constrained."""
    if not info.rules:
        return {"type": "object"}
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": info.name_max_length},
            "generateName": {"type": "string", "maxLength": info.name_max_length},
        },
    }


def crd(info: KindInfo) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    spec_schema = model_schema(info.spec)
    spec_schema["description"] = (info.spec.__doc__ or "").strip().splitlines()[0]
    status_schema = model_schema(info.status)
    status_schema["description"] = (info.status.__doc__ or "").strip().splitlines()[0]
    schema: dict[str, Any] = {
        "type": "object",
        "description": info.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "API version of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": _metadata(info),
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    if info.rules:
        schema["x-kubernetes-validations"] = list(info.rules)
    subresources: dict[str, Any] = {"status": {}}
    if info.scale:
        subresources["scale"] = dict(info.scale)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": info.crd_name,
            "labels": {"app.kubernetes.io/name": "yardarm", "app.kubernetes.io/part-of": "yardarm"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": subresources,
                    "additionalPrinterColumns": [c.render() for c in info.columns],
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no anchors or aliases, which kubectl and reviewers read poorly."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_HEADER = "# Generated from yardarm/api by `make generate`. Do not edit.\n"


def render_crds() -> dict[str, str]:
    """File name → YAML text of every CRD."""
    return {
        f"{GROUP}_{info.plural}.yaml": _HEADER + yaml.dump(crd(info), Dumper=_Dumper, sort_keys=False, width=120)
        for info in KINDS
    }


def _reference_rows(node: dict[str, Any], prefix: str) -> list[str]:
    rows = []
    required = set(node.get("required", []))
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}.{name}"
        kind = sub.get("type", "int-or-string")
        if kind == "array":
            kind = f"[]{sub['items'].get('type', 'object')}"
        marks = ["required"] if name in required else []
        description = sub.get("description", "").replace("|", "\\|")
        rows.append(f"| `{path}` | {kind} | {description} | {'; '.join(marks)} |")
        target = sub["items"] if kind.startswith("[]") and "properties" in sub.get("items", {}) else sub
        rows += _reference_rows(target, f"{path}[]" if target is not sub else path)
    return rows


def _rules(node: dict[str, Any], prefix: str) -> list[str]:
    found = [f"- `{prefix}`: {r['message']} (`{r['rule']}`)" for r in node.get("x-kubernetes-validations", [])]
    for name, sub in node.get("properties", {}).items():
        found += _rules(sub, f"{prefix}.{name}")
    if "items" in node:
        found += _rules(node["items"], f"{prefix}[]")
    return found


def render_api_reference() -> str:
    """Markdown reference of every kind's spec and status, generated like the CRDs."""
    out = [
        "# API reference: `mlops.yardarm.dev/v1alpha1`",
        "",
        "Generated from `yardarm/api` by `make generate`; do not edit. `kubectl explain <kind>.spec` prints the same",
        "descriptions from the installed CRDs, with each field's default and bounds in parentheses.",
        "",
        "## Admission",
        "",
        "Whatever the API server admits, the operator runs, or reports within one reconcile as `Stalled` with a",
        "one-sentence reason and a Warning Event. Everything that can be checked without the cluster's state is in",
        "the CRDs (OpenAPI bounds and CEL rules, listed under each kind), so `kubectl apply --dry-run=server`,",
        "Argo CD and Flux refuse it before it lands, with a sentence that says what is wrong:",
        "",
        "- URIs: a known scheme; a `pvc://` URI names a claim (and a path, where a file or bundle is meant);",
        "  no `..` segments anywhere; `builtin://` names a bundled data set.",
        "- Names: a ModelDeployment name is a Service name (DNS-1035: no dots, starts with a letter) of at",
        "  most 55 characters, so its children are exactly `<name>-serving`.",
        "- Values: a latency threshold is above 0; quality gates lie within their metric's range; a search",
        "  grid entry is a list; `features: []` is refused in every kind (leave it unset for all columns).",
        "- Sizes: every string, list and map in a spec is bounded, so a spec always fits in the one",
        "  environment variable that carries it into a Job (Linux refuses 128 KiB).",
        "- Quantities: memory and storage are checked with CEL's quantity library (and requests against",
        "  limits); CPU may be a number (`cpu: 0.5`) or a string (`500m`), as in Pods.",
        "",
        "What the schema cannot express (a CPU quantity CEL cannot see, estimator parameter names) the operator",
        "checks with these same types before building a child: `Stalled`, reason `InvalidSpec`.",
        "ModelDeployments have the `scale` subresource: `kubectl scale mdep NAME --replicas=N`.",
    ]
    for info in KINDS:
        schema = crd(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        out += ["", f"## {info.kind} (`{', '.join(info.short_names)}`)", "", info.description, ""]
        out += ["| field | type | description (default; bounds) | |", "|---|---|---|---|"]
        out += _reference_rows(schema["properties"]["spec"], "spec")
        rules = _rules({"x-kubernetes-validations": schema.get("x-kubernetes-validations", [])}, "object")
        rules += _rules(schema["properties"]["spec"], "spec")
        if rules:
            out += ["", "Rules the API server enforces (CEL):", "", *rules]
        out += ["", "| status field | type | description | |", "|---|---|---|---|"]
        out += _reference_rows(schema["properties"]["status"], "status")
    return "\n".join(out) + "\n"


#: Directories that hold a copy of the CRDs: the top level, and the Helm chart's crds/.
CRD_DIRS = ("crds", "charts/yardarm/crds")
#: The generated API reference.
API_REFERENCE = "docs/api.md"


def write_crds(root: Path) -> list[Path]:
    """Write every CRD into each of :data:`CRD_DIRS` and the API reference; stale CRD files are removed."""
    rendered = render_crds()
    written = [root / API_REFERENCE]
    written[0].parent.mkdir(parents=True, exist_ok=True)
    written[0].write_text(render_api_reference())
    for directory in CRD_DIRS:
        target = root / directory
        target.mkdir(parents=True, exist_ok=True)
        for stale in target.glob(f"{GROUP}_*.yaml"):
            if stale.name not in rendered:
                stale.unlink()
        for name, text in rendered.items():
            path = target / name
            path.write_text(text)
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write_crds(Path.cwd()):
        print(f"wrote {path}")
