"""The pure functions behind the ``yardarm`` commands: lineage, history, rollback patch, explain, input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from yardarm import cli_format as fmt

pytestmark = pytest.mark.unit

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


def obj(kind: str, name: str, spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None) -> dict:
    out: dict[str, Any] = {"kind": kind, "metadata": {"name": name, "namespace": "ml", "generation": 1}}
    out["spec"] = spec or {}
    if status is not None:
        out["status"] = {"observedGeneration": 1, **status}
    return out


def ds(name: str, **status: Any) -> dict:
    return obj("Dataset", name, {"source": {"uri": "builtin://iris"}}, status or None)


def tr(name: str, dataset: str, **status: Any) -> dict:
    return obj("TrainingRun", name, {"datasetRef": {"name": dataset}}, status or None)


def md(name: str, model: dict[str, Any], **status: Any) -> dict:
    return obj("ModelDeployment", name, {"model": model}, status or None)


def mon(name: str, target: str, **status: Any) -> dict:
    return obj("Monitor", name, {"targetRef": {"name": target}}, status or None)


def names(rows: list[fmt.LineageRow]) -> list[tuple[str | None, ...]]:
    return [tuple(n.name if n else None for n in row.nodes()) for row in rows]


def test_short_digest_keeps_the_algorithm() -> None:
    assert fmt.short_digest(D1) == "sha256:111111111111"
    assert fmt.short_digest(None) == "-"


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        (None, "Pending"),
        ({"phase": "Ready"}, "Ready"),
        ({"conditions": [{"type": "Ready", "status": "True"}]}, "Ready"),
        ({"conditions": [{"type": "Ready", "status": "False"}]}, "NotReady"),
        ({"phase": "Progressing", "conditions": [{"type": "Stalled", "status": "True"}]}, "Stalled"),
    ],
)
def test_phase_of_reads_phase_then_conditions(status: dict[str, Any] | None, phase: str) -> None:
    assert fmt.phase_of(ds("d", **(status or {}))) == phase


def test_phase_of_marks_a_stale_status() -> None:
    stale = ds("d", phase="Ready")
    stale["metadata"]["generation"] = 2
    assert fmt.phase_of(stale) == "Ready (stale)"
    assert fmt.tone("Ready (stale)") == "good"
    assert fmt.tone("RolledBack") == "bad"
    assert fmt.tone("Profiling") == "busy"


def test_lineage_follows_references_from_dataset_to_monitor() -> None:
    rows = fmt.lineage(
        [ds("iris", phase="Ready", rows=150, digest=D1)],
        [tr("iris-1", "iris", phase="Succeeded", headline="accuracy=0.97")],
        [md("iris", {"trainingRunRef": {"name": "iris-1"}}, phase="Ready", currentRevision=1, currentDigest=D1)],
        [mon("iris-mon", "iris", phase="Healthy", samples=400)],
    )
    assert names(rows) == [("iris", "iris-1", "iris", "iris-mon")]
    row = rows[0]
    assert row.dataset == fmt.Node("Dataset", "iris", "Ready", "150 rows, sha256:11111111")
    assert row.training_run and row.training_run.detail == "accuracy=0.97"
    assert row.model_deployment and row.model_deployment.detail == "rev 1 sha256:11111111"
    assert row.monitor and row.monitor.detail == "400 samples"


def test_lineage_branches_into_one_row_per_path() -> None:
    rows = fmt.lineage(
        [ds("iris")],
        [tr("a", "iris"), tr("b", "iris")],
        [md("prod", {"trainingRunRef": {"name": "a"}}), md("canary", {"trainingRunRef": {"name": "a"}})],
        [mon("m1", "prod"), mon("m2", "prod")],
    )
    assert names(rows) == [
        ("iris", "a", "canary", None),
        ("iris", "a", "prod", "m1"),
        ("iris", "a", "prod", "m2"),
        ("iris", "b", None, None),
    ]


def test_lineage_sorts_names_naturally() -> None:
    rows = fmt.lineage([ds("d")], [tr("run-10", "d"), tr("run-2", "d"), tr("run-1", "d")], [], [])
    assert [r.training_run.name for r in rows if r.training_run] == ["run-1", "run-2", "run-10"]


def test_lineage_shows_broken_links_as_missing() -> None:
    rows = fmt.lineage(
        [],
        [tr("orphan-run", "deleted-ds")],
        [md("by-uri", {"uri": "pvc://m/b", "digest": D1}), md("lost", {"trainingRunRef": {"name": "gone-run"}})],
        [mon("watcher", "no-such-mdep")],
    )
    assert names(rows) == [
        ("deleted-ds", "orphan-run", None, None),
        (None, "gone-run", "lost", None),
        (None, None, "by-uri", None),
        (None, None, "no-such-mdep", "watcher"),
    ]
    assert rows[0].dataset and rows[0].dataset.missing
    assert rows[1].training_run and rows[1].training_run.phase == "Missing"
    assert rows[3].model_deployment and rows[3].model_deployment.missing


def test_a_model_by_uri_links_to_the_training_run_of_the_served_revision() -> None:
    history = [{"revision": 1, "modelDigest": D1, "modelUri": "pvc://m/1", "trainingRun": "t", "outcome": "Serving"}]
    rows = fmt.lineage(
        [ds("d")], [tr("t", "d")], [md("m", {"uri": "pvc://m/1", "digest": D1}, currentRevision=1, history=history)], []
    )
    assert names(rows) == [("d", "t", "m", None)]


def test_blank_repeats_marks_the_shared_prefix() -> None:
    rows = fmt.lineage([ds("iris")], [tr("a", "iris"), tr("b", "iris")], [], [])
    cells = fmt.blank_repeats(rows)
    assert cells[0][0] == rows[0].dataset
    assert cells[1][0] == "〃"
    assert cells[1][1] == rows[1].training_run


def test_lineage_json_is_serializable() -> None:
    doc = fmt.lineage_json("ml", fmt.lineage([ds("iris")], [], [], []))
    assert json.loads(json.dumps(doc)) == {
        "namespace": "ml",
        "rows": [
            {
                "dataset": {"kind": "Dataset", "name": "iris", "phase": "Pending", "detail": ""},
                "trainingRun": None,
                "modelDeployment": None,
                "monitor": None,
            }
        ],
    }


def revision(n: int, digest: str, outcome: str, reason: str = "") -> dict[str, Any]:
    return {
        "revision": n,
        "modelDigest": digest,
        "modelUri": f"pvc://models/{n}",
        "trainingRun": f"run-{n}",
        "deployedAt": f"2026-11-30T1{n}:00:00Z",
        "outcome": outcome,
        "reason": reason,
    }


def test_history_rows_are_newest_first_with_the_current_marked() -> None:
    mdep = md(
        "iris",
        {"trainingRunRef": {"name": "run-3"}},
        currentRevision=2,
        history=[revision(1, D1, "Superseded"), revision(2, D2, "Serving"), revision(3, D3, "RolledBack", "drift")],
    )
    rows = fmt.history_rows(mdep)
    assert [(r.revision, r.current, r.outcome) for r in rows] == [
        (3, False, "RolledBack"),
        (2, True, "Serving"),
        (1, False, "Superseded"),
    ]
    assert rows[0].reason == "drift"
    doc = fmt.history_json(mdep)
    assert doc["currentRevision"] == 2
    assert doc["history"][1]["digest"] == D2


def test_history_of_a_new_deployment_is_empty() -> None:
    assert fmt.history_rows(md("x", {})) == []


def test_rollback_patch_after_an_automatic_rollback_pins_what_runs() -> None:
    mdep = md(
        "iris",
        {"trainingRunRef": {"name": "run-2"}},
        currentRevision=1,
        currentDigest=D1,
        desiredDigest=D2,
        history=[revision(1, D1, "Serving"), revision(2, D2, "RolledBack")],
    )
    assert fmt.rollback_patch(mdep) == {
        "spec": {"model": {"trainingRunRef": None, "uri": "pvc://models/1", "digest": D1}}
    }


def test_rollback_patch_goes_back_to_the_last_good_earlier_revision() -> None:
    mdep = md(
        "iris",
        {},
        currentRevision=3,
        currentDigest=D3,
        desiredDigest=D3,
        history=[revision(1, D1, "Superseded"), revision(2, D2, "Failed"), revision(3, D3, "Serving")],
    )
    assert fmt.rollback_patch(mdep)["spec"]["model"]["digest"] == D1
    assert fmt.rollback_patch(mdep, 2)["spec"]["model"]["digest"] == D2
    with pytest.raises(ValueError, match=r"no revision 7 \(known: 3, 2, 1\)"):
        fmt.rollback_patch(mdep, 7)


def test_rollback_patch_without_history_says_so() -> None:
    with pytest.raises(ValueError, match="no revision history"):
        fmt.rollback_patch(md("iris", {}))
    only = md("iris", {}, currentRevision=1, desiredDigest=D1, history=[revision(1, D1, "Serving")])
    with pytest.raises(ValueError, match="no earlier good revision"):
        fmt.rollback_patch(only)


MONITOR_SPEC = {
    "targetRef": {"name": "iris"},
    "window": "1m",
    "minSamples": 50,
    "failureThreshold": 2,
    "action": "rollback",
    "checks": [
        {"name": "p99", "type": "latency", "quantile": 0.99, "threshold": 0.25},
        {"name": "acc", "type": "accuracy", "threshold": 0.9},
        {"name": "drift", "type": "featureDrift", "method": "ks", "threshold": 0.2},
    ],
}


def test_explain_check_compares_value_and_threshold_in_the_right_direction() -> None:
    spec = {c["name"]: c for c in MONITOR_SPEC["checks"]}
    latency = fmt.explain_check(
        {"name": "p99", "type": "latency", "result": "Fail", "value": 0.4, "threshold": 0.25, "samples": 80},
        spec["p99"],
        50,
    )
    assert latency.comparison == ">"
    assert latency.sentence == "p99 latency 400.0 ms > 250.0 ms: outside the limit (at most 250.0 ms), 80 samples"
    accuracy = fmt.explain_check(
        {"name": "acc", "type": "accuracy", "result": "Pass", "value": 0.95, "threshold": 0.9, "samples": 60},
        spec["acc"],
        50,
    )
    assert accuracy.comparison == ">="
    assert "accuracy 95.00% >= 90.00%: within the limit (at least 90.00%)" in accuracy.sentence


def test_explain_check_says_why_it_is_inconclusive() -> None:
    line = fmt.explain_check(
        {"name": "drift", "type": "featureDrift", "result": "Inconclusive", "threshold": 0.2, "samples": 12},
        MONITOR_SPEC["checks"][2],
        50,
    )
    assert line.comparison == "?"
    assert line.sentence == "input drift (ks) could not be judged: 12 samples in the window, 50 needed"


def test_explain_monitor_summarises_verdict_and_action() -> None:
    m = obj(
        "Monitor",
        "iris",
        MONITOR_SPEC,
        {
            "phase": "Degraded",
            "lastEvaluationTime": "T",
            "samples": 80,
            "consecutiveFailures": 2,
            "checks": [
                {"name": "p99", "type": "latency", "result": "Fail", "value": 0.4, "threshold": 0.25, "samples": 80}
            ],
            "verdict": {"degraded": True, "revision": 3, "digest": D3, "since": "S", "reason": "p99 failed"},
            "lastAction": {"type": "rollback", "time": "T2", "digest": D3},
        },
    )
    e = fmt.explain_monitor(m)
    assert e.target == "iris"
    assert e.summary.startswith("Degraded: last evaluated T over a 1m window (80 samples, 50 needed)")
    assert "2 consecutive failing evaluation(s), 2 make the model Degraded" in e.summary
    assert e.verdict == "revision 3 (sha256:333333333333) is Degraded since S: p99 failed"
    assert e.action == "last action: rollback at T2 for sha256:333333333333"
    assert json.loads(json.dumps(e.to_json()))["checks"][0]["result"] == "Fail"


def test_explain_monitor_before_the_first_evaluation() -> None:
    e = fmt.explain_monitor(obj("Monitor", "iris", MONITOR_SPEC))
    assert e.phase == "Pending"
    assert "not evaluated yet" in e.summary
    assert e.action.startswith("on Degraded: rollback")


def test_read_instances_from_csv_types_the_cells(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("sepal_length,petal_width,colour\n5.1,0.2,red\n6,,blue\n")
    assert fmt.read_instances(path) == [
        {"sepal_length": 5.1, "petal_width": 0.2, "colour": "red"},
        {"sepal_length": 6, "petal_width": None, "colour": "blue"},
    ]


@pytest.mark.parametrize(
    "content",
    ['[{"a": 1}, {"a": 2}]', '{"instances": [{"a": 1}, {"a": 2}]}'],
)
def test_read_instances_from_json(tmp_path: Path, content: str) -> None:
    path = tmp_path / "rows.json"
    path.write_text(content)
    assert fmt.read_instances(path) == [{"a": 1}, {"a": 2}]


def test_read_instances_from_stdin_and_single_objects() -> None:
    assert fmt.read_instances("-", '{"a": 1}') == [{"a": 1}]
    with pytest.raises(ValueError, match="no rows"):
        fmt.read_instances("empty.csv", "a,b\n")


def test_prediction_rows_zip_inputs_and_outputs() -> None:
    rows = fmt.prediction_rows([{"a": 1}, [2, 3]], {"predictions": ["setosa", "virginica"]})
    assert rows == [{"#": 0, "a": 1, "prediction": "setosa"}, {"#": 1, "x0": 2, "x1": 3, "prediction": "virginica"}]
