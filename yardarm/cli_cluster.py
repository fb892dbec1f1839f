"""The ``yardarm`` commands that talk to a cluster: status, history, explain, predict, rollback.

Each command reads objects through :mod:`yardarm.client`, turns them into rows or sentences with
the pure functions of :mod:`yardarm.cli_format`, and prints either a table (``rich`` when it is
installed, plain columns otherwise) or, with ``-o json``, a document for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import yaml

from yardarm import cli_format as fmt
from yardarm.client import Client, ClientError

_TONE_STYLE = {"good": "green", "bad": "bold red", "busy": "yellow"}


# ---------------------------------------------------------------------------------------------
# Output


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO | None = None) -> None:
    """A table with ``rich`` when available (cells may carry rich markup), else aligned plain text."""
    out = out or sys.stdout
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        plain = [[_strip_markup(str(c)) for c in row] for row in rows]
        widths = [max([len(h)] + [len(r[i]) for r in plain]) for i, h in enumerate(columns)]
        print(title, file=out)
        print("  ".join(h.upper().ljust(w) for h, w in zip(columns, widths, strict=True)).rstrip(), file=out)
        for cells in plain:
            print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip(), file=out)
        return
    table = Table(show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    console = Console(file=out, soft_wrap=False, width=None if out.isatty() else 200)
    console.print(title, highlight=False)  # above the table, never wrapped to its width
    console.print(table)


def _strip_markup(text: str) -> str:
    try:
        from rich.text import Text
    except ImportError:
        return text
    return Text.from_markup(text).plain


def _escape(text: str) -> str:
    try:
        from rich.markup import escape
    except ImportError:
        return text
    return escape(text)


def styled(phase: str) -> str:
    """A phase with rich markup for its tone."""
    return f"[{_TONE_STYLE[fmt.tone(phase)]}]{_escape(phase)}[/]"


def _result_cell(result: str) -> str:
    style = {"Pass": "green", "Fail": "bold red"}.get(result, "yellow")
    return f"[{style}]{_escape(result)}[/]"


def _cell(node: fmt.Node | None) -> str:
    if node is None:
        return "[dim]-[/]"
    text = f"{_escape(node.name)} {styled(node.phase)}"
    if node.detail:
        text += f"\n[dim]{_escape(node.detail)}[/]"
    return text


def _print_json(doc: Any, out: TextIO | None = None) -> None:
    print(json.dumps(doc, indent=2, sort_keys=False, default=str), file=out or sys.stdout)


# ---------------------------------------------------------------------------------------------
# Commands


def _connect(args: argparse.Namespace) -> tuple[Client, str]:
    client = Client.connect(args.kubeconfig, args.context)
    namespace = args.namespace or Client.current_namespace(args.kubeconfig, args.context)
    return client, namespace


def cmd_status(args: argparse.Namespace) -> int:
    """Every Yardarm object in a namespace (or all of them), one lineage path per row."""
    client = Client.connect(args.kubeconfig, args.context)
    scope = None if args.all_namespaces else (args.namespace or Client.current_namespace(args.kubeconfig, args.context))
    kinds = ("Dataset", "TrainingRun", "ModelDeployment", "Monitor")
    objects = {kind: client.list(kind, scope) for kind in kinds}
    by_namespace = fmt.group_by_namespace(objects)
    if scope is not None:
        by_namespace.setdefault(scope, {kind: [] for kind in kinds})
    documents = {
        ns: fmt.lineage(o["Dataset"], o["TrainingRun"], o["ModelDeployment"], o["Monitor"])
        for ns, o in sorted(by_namespace.items())
    }
    if args.output == "json":
        docs = [fmt.lineage_json(ns, rows) for ns, rows in documents.items()]
        _print_json(docs[0] if scope is not None else {"namespaces": docs})
        return 0
    if not any(documents.values()):
        print(f"No Yardarm resources in {'any namespace' if scope is None else f'namespace {scope}'}.")
        return 0
    for ns, rows in documents.items():
        if not rows:
            print(f"No Yardarm resources in namespace {ns}.")
            continue
        print_table(
            f"Yardarm resources in {ns}: Dataset -> TrainingRun -> ModelDeployment -> Monitor",
            ["Dataset", "TrainingRun", "ModelDeployment", "Monitor"],
            [[f"[dim]{c}[/]" if isinstance(c, str) else _cell(c) for c in cells] for cells in fmt.blank_repeats(rows)],
        )
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """The revisions of one ModelDeployment: digests, outcomes, reasons."""
    client, ns = _connect(args)
    mdep = client.get("ModelDeployment", ns, args.name)
    if args.output == "json":
        _print_json(fmt.history_json(mdep))
        return 0
    rows = fmt.history_rows(mdep)
    status = mdep.get("status") or {}
    title = (
        f"ModelDeployment {ns}/{args.name}: {styled(fmt.phase_of(mdep))}, serving revision "
        f"{status.get('currentRevision', '-')} ({fmt.short_digest(status.get('currentDigest'))})"
    )
    if not rows:
        print_table(title, ["Revision"], [])
        print("No revisions yet.")
        return 0
    print_table(
        title,
        ["Rev", "Digest", "TrainingRun", "Deployed", "Outcome", "Reason"],
        [
            [
                f"{'*' if r.current else ' '}{r.revision}",
                fmt.short_digest(r.digest),
                _escape(r.training_run or "-"),
                _escape(r.deployed_at),
                styled(r.outcome),
                _escape(r.reason or ""),
            ]
            for r in rows
        ],
    )
    if status.get("desiredDigest") and status.get("desiredDigest") != status.get("currentDigest"):
        print(
            f"spec.model asks for {fmt.short_digest(status['desiredDigest'])}, which is not what runs: "
            "see the reasons above. `yardarm rollback --help` shows how to change spec.model."
        )
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """A Monitor's verdict in words."""
    client, ns = _connect(args)
    explanation = fmt.explain_monitor(client.get("Monitor", ns, args.name))
    if args.output == "json":
        _print_json(explanation.to_json())
        return 0
    print(f"Monitor {ns}/{explanation.monitor} watches ModelDeployment {explanation.target}.")
    print(explanation.summary + ".")
    if explanation.checks:
        print_table(
            "Checks in the last evaluation",
            ["Check", "Result", "Value", "", "Threshold", "Samples", "In words"],
            [
                [
                    _escape(c.name),
                    _result_cell(c.result),
                    "n/a" if c.value is None else f"{c.value:.4g}",
                    c.comparison,
                    f"{c.threshold:.4g}",
                    str(c.samples),
                    _escape(c.sentence),
                ]
                for c in explanation.checks
            ],
        )
    if explanation.verdict:
        print("Verdict: " + explanation.verdict + ".")
    if explanation.action:
        print(explanation.action[0].upper() + explanation.action[1:] + ".")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Rows from a CSV or JSON file through the API server's service proxy to the model."""
    text = sys.stdin.read() if args.file == "-" else None
    instances = fmt.read_instances(args.file if args.file != "-" else "stdin.json", text)
    client, ns = _connect(args)
    mdep = client.get("ModelDeployment", ns, args.name)
    status = mdep.get("status") or {}
    service = args.service or status.get("deploymentName") or f"{args.name}-serving"
    model = args.model_name or _model_name(mdep)
    body = {"instances": instances}
    code, response = client.service_proxy_post(ns, service, "http", f"v1/models/{model}:predict", body)
    if code != 200:
        # The server answers {"error": ...}; the API server's proxy a Status with "message".
        message = (response.get("error") or response.get("message")) if isinstance(response, dict) else response
        print(f"error: {service} answered {code}: {message}", file=sys.stderr)
        return 1
    if args.output == "json":
        _print_json(response)
        return 0
    rows = fmt.prediction_rows(instances, response)
    columns = list(rows[0]) if rows else ["prediction"]
    print_table(
        f"{len(rows)} prediction(s) from {ns}/{args.name} (request id {response.get('id', '-')})",
        columns,
        [[_escape(str(r.get(c, ""))) for c in columns] for r in rows],
    )
    return 0


def _model_name(mdep: dict[str, Any]) -> str:
    """The name the server uses in URLs: the operator starts it with ``--model-name <mdep name>``."""
    return str(mdep["metadata"]["name"])


def cmd_rollback(args: argparse.Namespace) -> int:
    """Print the ``spec.model`` change that pins an earlier revision (GitOps-friendly: commit it)."""
    client, ns = _connect(args)
    mdep = client.get("ModelDeployment", ns, args.name)
    try:
        patch = fmt.rollback_patch(mdep, args.to_revision)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output == "json":
        _print_json(patch)
        return 0
    model = {k: v for k, v in patch["spec"]["model"].items() if v is not None}
    print(f"# In Git, set spec.model of ModelDeployment {ns}/{args.name} to:")
    print(yaml.safe_dump({"spec": {"model": model}}, sort_keys=False).rstrip())
    print("# Without GitOps, the same change as a command:")
    print(f"kubectl -n {ns} patch modeldeployment {args.name} --type merge -p '{json.dumps(patch)}'")
    return 0


# ---------------------------------------------------------------------------------------------
# Parser


def add_commands(sub: Any) -> None:
    """Register the cluster commands on the ``yardarm`` sub-parsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's)")
    common.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    common.add_argument("--context", help="kubeconfig context (default: the current one)")
    common.add_argument("-o", "--output", choices=["table", "json"], default="table", help="table or json")

    status = sub.add_parser("status", parents=[common], help="all Yardarm resources in a namespace, with their lineage")
    status.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace, one table each")
    status.set_defaults(func=cmd_status)

    history = sub.add_parser("history", parents=[common], help="revisions of a ModelDeployment and why they ended")
    history.add_argument("name", help="ModelDeployment name")
    history.set_defaults(func=cmd_history)

    explain = sub.add_parser("explain", parents=[common], help="a Monitor's verdict in words")
    explain.add_argument("name", help="Monitor name")
    explain.set_defaults(func=cmd_explain)

    predict = sub.add_parser("predict", parents=[common], help="send rows from a CSV or JSON file to a ModelDeployment")
    predict.add_argument("name", help="ModelDeployment name")
    predict.add_argument("file", help="CSV with a header of feature names, or JSON rows; - for stdin (JSON)")
    predict.add_argument("--service", help="Service name (default: status.deploymentName)")
    predict.add_argument("--model-name", help="model name in the URL (default: the ModelDeployment's name)")
    predict.set_defaults(func=cmd_predict)

    rollback = sub.add_parser(
        "rollback",
        parents=[common],
        help="print the spec.model change that goes back to an earlier revision (commit it to Git)",
    )
    rollback.add_argument("name", help="ModelDeployment name")
    rollback.add_argument("--to-revision", type=int, help="revision to go back to (default: the last good one)")
    rollback.set_defaults(func=cmd_rollback)


def run(args: argparse.Namespace) -> int:
    """Run a cluster command, turning API failures into one line on stderr and exit code 1."""
    try:
        return int(args.func(args))
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
