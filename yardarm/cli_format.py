"""Pure functions behind the ``yardarm`` commands: lineage, history rows, Monitor explanations, patches.

They take objects as the API returns them (plain dicts, camelCase) and return plain data or text,
so they are unit-tested without a cluster and shared by the table and ``--output json`` renderers.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Obj = Mapping[str, Any]

#: Phases that mean "all is well", "needs a person", and everything else is "in progress".
GOOD_PHASES = frozenset({"Ready", "Succeeded", "Healthy", "Serving"})
BAD_PHASES = frozenset({"Failed", "Degraded", "RolledBack", "Stalled"})


def _status(obj: Obj | None) -> Mapping[str, Any]:
    return (obj or {}).get("status") or {}


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def condition(obj: Obj | None, type_: str) -> Mapping[str, Any] | None:
    """The condition of ``type_`` in ``obj.status.conditions``, if any."""
    conditions: list[Mapping[str, Any]] = _status(obj).get("conditions") or []
    for c in conditions:
        if c.get("type") == type_:
            return c
    return None


def short_digest(digest: str | None, length: int = 12) -> str:
    """``sha256:0123456789ab`` from a full digest; ``-`` when there is none."""
    if not digest:
        return "-"
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:length]}" if hexpart else digest[:length]


def phase_of(obj: Obj | None) -> str:
    """A one-word state: ``status.phase``, else ``Stalled``/``Ready`` from conditions, else ``Pending``."""
    if obj is None:
        return "Missing"
    status = _status(obj)
    generation = obj.get("metadata", {}).get("generation")
    observed = status.get("observedGeneration")
    stalled = condition(obj, "Stalled")
    if stalled and stalled.get("status") == "True":
        return "Stalled"
    if status.get("phase"):
        phase = str(status["phase"])
        if generation is not None and observed is not None and observed < generation:
            return f"{phase} (stale)"
        return phase
    ready = condition(obj, "Ready")
    if ready:
        return "Ready" if ready.get("status") == "True" else "NotReady"
    return "Pending"


def tone(phase: str) -> str:
    """``good``, ``bad`` or ``busy``: how a renderer should colour a phase."""
    word = phase.split(" ", 1)[0]
    if word in GOOD_PHASES:
        return "good"
    if word in BAD_PHASES or word == "Missing":
        return "bad"
    return "busy"


# ---------------------------------------------------------------------------------------------
# Lineage


@dataclass(frozen=True)
class Node:
    """One object in a lineage row, summarised."""

    kind: str
    name: str
    phase: str
    detail: str = ""

    @property
    def missing(self) -> bool:
        return self.phase == "Missing"


@dataclass(frozen=True)
class LineageRow:
    """Dataset -> TrainingRun -> ModelDeployment -> Monitor; any link may be absent."""

    dataset: Node | None = None
    training_run: Node | None = None
    model_deployment: Node | None = None
    monitor: Node | None = None

    def nodes(self) -> tuple[Node | None, Node | None, Node | None, Node | None]:
        return (self.dataset, self.training_run, self.model_deployment, self.monitor)


def dataset_node(name: str, obj: Obj | None) -> Node:
    """Summary of a Dataset: phase, rows and digest."""
    status = _status(obj)
    detail = ""
    if status.get("rows") is not None:
        detail = f"{status['rows']} rows, {short_digest(status.get('digest'), 8)}"
    return Node("Dataset", name, phase_of(obj), detail)


def training_run_node(name: str, obj: Obj | None) -> Node:
    """Summary of a TrainingRun: phase and headline metric (or the failure reason)."""
    status = _status(obj)
    detail = status.get("headline") or ""
    if not detail and status.get("metrics"):
        key, value = next(iter(sorted(status["metrics"].items())))
        detail = f"{key}={value:.4g}"
    if status.get("phase") == "Failed":
        detail = status.get("reason") or status.get("message") or detail
    return Node("TrainingRun", name, phase_of(obj), str(detail))


def model_deployment_node(name: str, obj: Obj | None) -> Node:
    """Summary of a ModelDeployment: phase, revision, digest and ready replicas."""
    status = _status(obj)
    parts = []
    if status.get("currentRevision") is not None:
        parts.append(f"rev {status['currentRevision']} {short_digest(status.get('currentDigest'), 8)}")
    if status.get("replicas") is not None:
        parts.append(f"{status.get('readyReplicas') or 0}/{status['replicas']} ready")
    return Node("ModelDeployment", name, phase_of(obj), ", ".join(parts))


def monitor_node(name: str, obj: Obj | None) -> Node:
    """Summary of a Monitor: phase and failing checks (or samples)."""
    status = _status(obj)
    failing = [c["name"] for c in status.get("checks") or [] if c.get("result") == "Fail"]
    if failing:
        detail = "failing: " + ", ".join(failing)
    elif status.get("samples") is not None:
        detail = f"{status['samples']} samples"
    else:
        detail = ""
    return Node("Monitor", name, phase_of(obj), detail)


def natural(name: str | None) -> tuple[Any, ...]:
    """Sort key that puts ``run-2`` before ``run-10``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name or ""))


def _training_run_of(mdep: Obj) -> str | None:
    ref = ((mdep.get("spec") or {}).get("model") or {}).get("trainingRunRef") or {}
    if ref.get("name"):
        return str(ref["name"])
    # A model given by URI may still come from a TrainingRun: the served revision says so.
    status = _status(mdep)
    for revision in reversed(status.get("history") or []):
        if revision.get("revision") == status.get("currentRevision") and revision.get("trainingRun"):
            return str(revision["trainingRun"])
    return None


def lineage(
    datasets: Sequence[Obj],
    training_runs: Sequence[Obj],
    deployments: Sequence[Obj],
    monitors: Sequence[Obj],
) -> list[LineageRow]:
    """Rows of the lineage table: one per path Dataset -> TrainingRun -> ModelDeployment -> Monitor.

    Every object appears in at least one row. A reference to an object that does not exist shows
    as a node with phase ``Missing``, so a broken link is visible rather than silently dropped.
    """
    ds_by = {_name(o): o for o in datasets}
    tr_by = {_name(o): o for o in training_runs}
    md_by = {_name(o): o for o in deployments}

    mons_of: dict[str, list[Obj]] = {}
    for mon in monitors:
        target = str(((mon.get("spec") or {}).get("targetRef") or {}).get("name", ""))
        mons_of.setdefault(target, []).append(mon)
    mdeps_of: dict[str | None, list[str]] = {}
    for name, mdep in md_by.items():
        mdeps_of.setdefault(_training_run_of(mdep), []).append(name)
    trs_of: dict[str | None, list[str]] = {}
    for name, tr in tr_by.items():
        ds = ((tr.get("spec") or {}).get("datasetRef") or {}).get("name")
        trs_of.setdefault(str(ds) if ds else None, []).append(name)

    def tails(mdep_name: str) -> list[tuple[Node, Node | None]]:
        node = model_deployment_node(mdep_name, md_by.get(mdep_name))
        mons = sorted(mons_of.get(mdep_name) or [], key=lambda m: natural(_name(m)))
        return [(node, monitor_node(_name(m), m)) for m in mons] or [(node, None)]

    def from_training_run(tr_name: str) -> list[tuple[Node, Node | None, Node | None]]:
        node = training_run_node(tr_name, tr_by.get(tr_name))
        out: list[tuple[Node, Node | None, Node | None]] = [
            (node, md, mon) for md_name in sorted(mdeps_of.get(tr_name, []), key=natural) for md, mon in tails(md_name)
        ]
        return out or [(node, None, None)]

    rows: list[LineageRow] = []
    dataset_names = sorted(set(ds_by) | {d for d in trs_of if d is not None}, key=natural)
    for ds_name in dataset_names:
        ds_node = dataset_node(ds_name, ds_by.get(ds_name))
        chains = [chain for tr in sorted(trs_of.get(ds_name, []), key=natural) for chain in from_training_run(tr)]
        rows.extend(LineageRow(ds_node, *chain) for chain in chains) if chains else rows.append(LineageRow(ds_node))
    for tr_name in sorted(trs_of.get(None, []), key=natural):
        rows.extend(LineageRow(None, *chain) for chain in from_training_run(tr_name))
    # TrainingRuns referenced by deployments but absent from the namespace.
    for tr_name in sorted((n for n in mdeps_of if n is not None and n not in tr_by), key=natural):
        rows.extend(LineageRow(None, *chain) for chain in from_training_run(tr_name))
    for md_name in sorted(mdeps_of.get(None, []), key=natural):
        rows.extend(LineageRow(None, None, md, mon) for md, mon in tails(md_name))
    for target in sorted((t for t in mons_of if t not in md_by), key=natural):
        missing = model_deployment_node(target, None) if target else None
        rows.extend(LineageRow(None, None, missing, monitor_node(_name(m), m)) for m in mons_of[target])
    return rows


def blank_repeats(rows: Sequence[LineageRow]) -> list[list[Node | str | None]]:
    """Cells for a table: a node repeated from the row above (same path so far) becomes ``"〃"``."""
    out: list[list[Node | str | None]] = []
    previous: tuple[Node | None, ...] = ()
    for row in rows:
        nodes = row.nodes()
        cells: list[Node | str | None] = []
        same = True
        for i, node in enumerate(nodes):
            same = same and i < len(previous) and node is not None and previous[i] == node and i < len(nodes) - 1
            cells.append("〃" if same else node)
        out.append(cells)
        previous = nodes
    return out


def group_by_namespace(objects: Mapping[str, Sequence[Obj]]) -> dict[str, dict[str, list[Obj]]]:
    """``{kind: [objects]}`` from a cluster-wide list, split into ``{namespace: {kind: [objects]}}``."""
    out: dict[str, dict[str, list[Obj]]] = {}
    for kind, items in objects.items():
        for item in items:
            namespace = str(item.get("metadata", {}).get("namespace") or "")
            out.setdefault(namespace, {k: [] for k in objects})[kind].append(item)
    return out


def lineage_json(namespace: str, rows: Iterable[LineageRow]) -> dict[str, Any]:
    """The lineage as a JSON-ready document (``yardarm status -o json``)."""
    return {
        "namespace": namespace,
        "rows": [
            {
                key: (asdict(node) if node else None)
                for key, node in zip(("dataset", "trainingRun", "modelDeployment", "monitor"), row.nodes(), strict=True)
            }
            for row in rows
        ],
    }


# ---------------------------------------------------------------------------------------------
# History


@dataclass(frozen=True)
class HistoryRow:
    """One revision of a ModelDeployment, as ``yardarm history`` shows it."""

    revision: int
    digest: str
    uri: str
    training_run: str
    deployed_at: str
    outcome: str
    reason: str
    current: bool = False


def history_rows(mdep: Obj) -> list[HistoryRow]:
    """``status.history`` newest first, the revision being served marked ``current``."""
    status = _status(mdep)
    current = status.get("currentRevision")
    rows = [
        HistoryRow(
            revision=int(h.get("revision", 0)),
            digest=str(h.get("modelDigest") or ""),
            uri=str(h.get("modelUri") or ""),
            training_run=str(h.get("trainingRun") or ""),
            deployed_at=str(h.get("deployedAt") or ""),
            outcome=str(h.get("outcome") or ""),
            reason=str(h.get("reason") or ""),
            current=h.get("revision") == current,
        )
        for h in status.get("history") or []
    ]
    return sorted(rows, key=lambda r: r.revision, reverse=True)


def history_json(mdep: Obj) -> dict[str, Any]:
    """``yardarm history -o json``."""
    status = _status(mdep)
    return {
        "name": _name(mdep),
        "namespace": mdep["metadata"].get("namespace"),
        "phase": phase_of(mdep),
        "currentRevision": status.get("currentRevision"),
        "currentDigest": status.get("currentDigest"),
        "desiredDigest": status.get("desiredDigest"),
        "history": [asdict(r) for r in history_rows(mdep)],
    }


def rollback_patch(mdep: Obj, revision: int | None = None) -> dict[str, Any]:
    """The ``spec.model`` change that pins a ModelDeployment to an earlier revision.

    With no ``revision``: the revision being served when the operator has already rolled back
    (``desiredDigest`` differs from it), so Git catches up with what runs; otherwise the newest
    earlier revision whose outcome was not a failure. The patch names the bundle by ``uri`` +
    ``digest`` (what the revision ran, byte for byte); commit it to Git, or ``kubectl patch --type
    merge`` it where Git is not the source.
    """
    rows = history_rows(mdep)
    if not rows:
        raise ValueError(f"ModelDeployment {_name(mdep)} has no revision history yet")
    if revision is None:
        status = _status(mdep)
        served = next((r for r in rows if r.current), None)
        if served is not None and status.get("desiredDigest") not in (None, served.digest):
            # Already rolled back by the operator: make Git say what runs.
            target = served
        else:
            current = served.revision if served else rows[0].revision
            candidates = [r for r in rows if r.revision < current and r.outcome not in ("Failed", "RolledBack")]
            if not candidates:
                raise ValueError(f"ModelDeployment {_name(mdep)} has no earlier good revision to go back to")
            target = candidates[0]
    else:
        found = [r for r in rows if r.revision == revision]
        if not found:
            known = ", ".join(str(r.revision) for r in rows)
            raise ValueError(f"ModelDeployment {_name(mdep)} has no revision {revision} (known: {known})")
        target = found[0]
    if not target.uri or not target.digest:
        raise ValueError(f"revision {target.revision} has no model uri/digest in status.history")
    # A merge patch: null removes trainingRunRef, since spec.model takes exactly one source.
    return {"spec": {"model": {"trainingRunRef": None, "uri": target.uri, "digest": target.digest}}}


# ---------------------------------------------------------------------------------------------
# Monitor explanation

_MINIMUM_TYPES = frozenset({"accuracy"})
_TYPE_WORDS = {
    "latency": "latency",
    "errorRate": "error rate",
    "featureDrift": "input drift",
    "predictionDrift": "prediction drift",
    "accuracy": "accuracy",
}


@dataclass(frozen=True)
class CheckLine:
    """One check of a Monitor's last evaluation, in words."""

    name: str
    type: str
    result: str
    value: float | None
    threshold: float
    comparison: str
    samples: int
    sentence: str


@dataclass
class Explanation:
    """A Monitor's verdict, explained."""

    monitor: str
    namespace: str
    target: str
    phase: str
    summary: str
    checks: list[CheckLine] = field(default_factory=list)
    verdict: str = ""
    action: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(value: float | None, type_: str) -> str:
    if value is None:
        return "n/a"
    if type_ == "latency":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.3g} s"
    if type_ in ("errorRate", "accuracy"):
        return f"{value:.2%}"
    return f"{value:.3g}"


def _spec_check(mon: Obj, name: str) -> Mapping[str, Any]:
    checks: list[Mapping[str, Any]] = (mon.get("spec") or {}).get("checks") or []
    for c in checks:
        if c.get("name") == name:
            return c
    return {}


def explain_check(check: Obj, spec_check: Obj, min_samples: int) -> CheckLine:
    """One check's outcome as a sentence: value against threshold, and what the samples allow."""
    type_ = str(check.get("type") or spec_check.get("type") or "")
    value = check.get("value")
    threshold = float(check.get("threshold", spec_check.get("threshold", 0.0)))
    samples = int(check.get("samples") or 0)
    result = str(check.get("result") or "Inconclusive")
    minimum = type_ in _MINIMUM_TYPES
    what = _TYPE_WORDS.get(type_, type_)
    if type_ == "latency":
        what = f"p{round(float(spec_check.get('quantile') or 0.99) * 100, 1):g} latency"
    elif type_.endswith("Drift"):
        what = f"{what} ({spec_check.get('method') or 'psi'})"
    limit = f"{'at least' if minimum else 'at most'} {_fmt(threshold, type_)}"
    if result == "Inconclusive":
        comparison = "?"
        # The operator's message names what was needed (drift needs more than minSamples when the
        # threshold asks for it), so minSamples is only the fallback explanation.
        sentence = f"{what} could not be judged"
        if not check.get("message"):
            sentence += f": {samples} samples in the window, {min_samples} needed"
        if value is not None:
            sentence += f" (value so far {_fmt(value, type_)}, limit {limit})"
    else:
        ok = result == "Pass"
        comparison = (">=" if ok else "<") if minimum else ("<=" if ok else ">")
        verb = "within" if ok else "outside"
        sentence = (
            f"{what} {_fmt(value, type_)} {comparison} {_fmt(threshold, type_)}: {verb} the limit ({limit}), "
            f"{samples} samples"
        )
    if check.get("message"):
        sentence += f"; {check['message']}"
    return CheckLine(
        name=str(check.get("name")),
        type=type_,
        result=result,
        value=None if value is None else float(value),
        threshold=threshold,
        comparison=comparison,
        samples=samples,
        sentence=sentence,
    )


def explain_monitor(mon: Obj) -> Explanation:
    """A Monitor's last evaluation and verdict in words (``yardarm explain``)."""
    spec = mon.get("spec") or {}
    status = _status(mon)
    name = _name(mon)
    target = str((spec.get("targetRef") or {}).get("name", ""))
    phase = phase_of(mon)
    min_samples = int(spec.get("minSamples", 100))
    threshold = int(spec.get("failureThreshold", 3))
    failures = int(status.get("consecutiveFailures") or 0)
    checks = [explain_check(c, _spec_check(mon, str(c.get("name"))), min_samples) for c in status.get("checks") or []]
    if not status:
        summary = "not evaluated yet: the operator has not reported on this Monitor"
    else:
        when = status.get("lastEvaluationTime") or "never"
        summary = (
            f"{phase}: last evaluated {when} over a {spec.get('window', '5m')} window "
            f"({status.get('samples', 0)} samples, {min_samples} needed); "
            f"{failures} consecutive failing evaluation(s), {threshold} make the model Degraded"
        )
        if status.get("message"):
            summary += f". {status['message']}"
    verdict_text = ""
    verdict = status.get("verdict") or {}
    if verdict:
        revision = verdict.get("revision")
        judged = f"revision {revision} ({short_digest(verdict.get('digest'))})" if revision else "the served model"
        if verdict.get("degraded"):
            verdict_text = f"{judged} is Degraded since {verdict.get('since') or '?'}"
        else:
            verdict_text = f"{judged} is not degraded"
        if verdict.get("reason"):
            verdict_text += f": {verdict['reason']}"
    action_text = ""
    last = status.get("lastAction") or {}
    if last:
        action_text = f"last action: {last.get('type')} at {last.get('time')}"
        if last.get("digest"):
            action_text += f" for {short_digest(last['digest'])}"
    elif spec.get("action"):
        action_text = f"on Degraded: {spec['action']}" + (
            " (the ModelDeployment goes back to its last good revision)" if spec["action"] == "rollback" else ""
        )
    return Explanation(
        monitor=name,
        namespace=str(mon["metadata"].get("namespace") or ""),
        target=target,
        phase=phase,
        summary=summary,
        checks=checks,
        verdict=verdict_text,
        action=action_text,
    )


# ---------------------------------------------------------------------------------------------
# Predict input


def _number(text: str) -> Any:
    """A CSV cell as int, float, or the string itself (categorical); empty is null."""
    stripped = text.strip()
    if stripped == "":
        return None
    for cast in (int, float):
        try:
            return cast(stripped)
        except ValueError:
            continue
    return text


def read_instances(path: Path | str, text: str | None = None) -> list[Any]:
    """Rows to predict from a CSV file (header = feature names) or a JSON file.

    JSON may be a list of rows (objects keyed by feature, or lists in feature order), an object
    with ``instances``, or a single object (one row). ``-`` reads standard input via ``text``.
    """
    path = Path(path)
    content = text if text is not None else path.read_text()
    suffix = path.suffix.lower()
    stripped = content.lstrip()
    if suffix == ".json" or (suffix not in (".csv", ".tsv") and stripped[:1] in "[{"):
        doc = json.loads(content)
        if isinstance(doc, dict):
            doc = doc.get("instances", [doc])
        if not isinstance(doc, list) or not doc:
            raise ValueError(f"{path}: expected a non-empty JSON list of rows or an object with 'instances'")
        return doc
    dialect = "excel-tab" if suffix == ".tsv" else "excel"
    reader = csv.DictReader(io.StringIO(content), dialect=dialect)
    rows = [{k.strip(): _number(v or "") for k, v in row.items() if k is not None} for row in reader]
    if not rows:
        raise ValueError(f"{path}: no rows (the first line must name the features)")
    return rows


def prediction_rows(instances: Sequence[Any], response: Obj) -> list[dict[str, Any]]:
    """Zip V1 ``predictions`` back onto the input rows, for a table."""
    predictions = list(response.get("predictions") or [])
    out = []
    for i, prediction in enumerate(predictions):
        row = instances[i] if i < len(instances) else {}
        features = row if isinstance(row, dict) else {f"x{j}": v for j, v in enumerate(row)}
        out.append({"#": i, **features, "prediction": prediction})
    return out
