"""``yardarm status``, ``history``, ``explain`` and ``rollback`` against the real API server.

The test creates the four kinds from the iris example in a fresh namespace and writes their
status itself (through the status subresource, as the operator would), so the CLI's view is
checked without waiting for training. The CRDs are (re)applied from ``crds/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from clusters import LocalCluster

from yardarm.cli import main
from yardarm.training.errors import QualityGateError

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
T0 = "2026-11-30T10:00:00Z"


@pytest.fixture(scope="module")
def ns(control_plane: LocalCluster) -> Iterator[str]:
    for crd in sorted((REPO / "crds").glob("*.yaml")):
        control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd))
    for crd in ("datasets", "trainingruns", "modeldeployments", "monitors"):
        control_plane.kubectl("wait", "--for=condition=Established", f"crd/{crd}.mlops.yardarm.dev", "--timeout=60s")
    name = control_plane.create_namespace("cli")
    for path in sorted((REPO / "examples" / "iris").glob("*.yaml")):
        control_plane.kubectl("apply", "-n", name, "-f", str(path))
    # A second TrainingRun without a deployment, and a Monitor whose target does not exist.
    second = yaml.safe_load((REPO / "examples" / "iris" / "trainingrun.yaml").read_text())
    second["metadata"]["name"] = "iris-logreg-2"
    control_plane.apply(second, "-n", name)
    orphan = yaml.safe_load((REPO / "examples" / "iris" / "monitor.yaml").read_text())
    orphan["metadata"]["name"] = "orphan"
    orphan["spec"]["targetRef"]["name"] = "gone"
    control_plane.apply(orphan, "-n", name)
    _write_status(control_plane, name)
    yield name
    control_plane.delete_namespace(name)


def _cond(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": T0}


def _patch_status(cluster: LocalCluster, ns: str, kind: str, name: str, status: dict[str, Any]) -> None:
    generation = cluster.get_json(kind, name, "-n", ns)["metadata"]["generation"]
    status = {"observedGeneration": generation, **status}
    cluster.kubectl(
        "patch", kind, name, "-n", ns, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status})
    )


def _write_status(cluster: LocalCluster, ns: str) -> None:
    _patch_status(
        cluster,
        ns,
        "dataset",
        "iris",
        {"phase": "Ready", "digest": D1, "rows": 150, "columns": 5, "conditions": [_cond("Ready", "True", "Profiled")]},
    )
    _patch_status(
        cluster,
        ns,
        "trainingrun",
        "iris-logreg-1",
        {
            "phase": "Succeeded",
            "headline": "accuracy=0.974",
            "metrics": {"accuracy": 0.974},
            "model": {"uri": "pvc://yardarm-artifacts/models/sha256-1", "digest": D1},
            "conditions": [_cond("Ready", "True", "Succeeded")],
        },
    )
    _patch_status(
        cluster,
        ns,
        "trainingrun",
        "iris-logreg-2",
        {
            "phase": "Failed",
            "reason": QualityGateError.default_reason,
            "conditions": [_cond("Ready", "False", "Failed")],
        },
    )
    _patch_status(
        cluster,
        ns,
        "modeldeployment",
        "iris",
        {
            "phase": "RolledBack",
            "currentRevision": 1,
            "currentDigest": D1,
            "desiredDigest": D2,
            "replicas": 1,
            "readyReplicas": 1,
            "deploymentName": "iris-serving",
            "history": [
                {
                    "revision": 1,
                    "modelDigest": D1,
                    "modelUri": "pvc://yardarm-artifacts/models/sha256-1",
                    "trainingRun": "iris-logreg-1",
                    "deployedAt": T0,
                    "outcome": "Serving",
                    "reason": "Restored after revision 2 degraded.",
                },
                {
                    "revision": 2,
                    "modelDigest": D2,
                    "modelUri": "pvc://yardarm-artifacts/models/sha256-2",
                    "trainingRun": "iris-logreg-2",
                    "deployedAt": "2026-11-30T11:00:00Z",
                    "outcome": "RolledBack",
                    "reason": "Monitor iris: input-drift psi 0.41 > 0.25.",
                },
            ],
            "conditions": [
                _cond("Ready", "True", "Serving"),
                _cond("RolledBack", "True", "MonitorDegraded", "rolled back from revision 2"),
            ],
        },
    )
    _patch_status(
        cluster,
        ns,
        "monitor",
        "iris",
        {
            "phase": "Degraded",
            "lastEvaluationTime": "2026-11-30T11:05:00Z",
            "samples": 420,
            "consecutiveFailures": 2,
            "checks": [
                {"name": "p99-latency", "type": "latency", "result": "Pass", "value": 0.012, "threshold": 0.25,
                 "samples": 420},
                {"name": "input-drift", "type": "featureDrift", "result": "Fail", "value": 0.41, "threshold": 0.25,
                 "samples": 420, "message": "petal_width drifted"},
            ],
            "verdict": {"degraded": True, "revision": 2, "digest": D2, "since": "2026-11-30T11:04:00Z",
                        "reason": "input-drift failed twice"},
            "lastAction": {"type": "rollback", "time": "2026-11-30T11:05:00Z", "digest": D2},
            "conditions": [_cond("Ready", "True", "Evaluated")],
        },
    )  # fmt: skip


def run_cli(capsys: pytest.CaptureFixture[str], cluster: LocalCluster, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--kubeconfig", str(cluster.kubeconfig)])
    out, err = capsys.readouterr()
    return code, out, err


def test_status_json_shows_the_lineage_of_every_object(
    capsys: pytest.CaptureFixture[str], control_plane: LocalCluster, ns: str
) -> None:
    code, out, err = run_cli(capsys, control_plane, "status", "-n", ns, "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["namespace"] == ns
    paths = [
        tuple(
            (row[k]["name"], row[k]["phase"]) if row[k] else None
            for k in ("dataset", "trainingRun", "modelDeployment", "monitor")
        )
        for row in doc["rows"]
    ]
    assert (("iris", "Ready"), ("iris-logreg-1", "Succeeded"), ("iris", "RolledBack"), ("iris", "Degraded")) in paths
    assert (("iris", "Ready"), ("iris-logreg-2", "Failed"), None, None) in paths
    assert (None, None, ("gone", "Missing"), ("orphan", "Pending")) in paths


def test_status_table_reads_as_one_table(
    capsys: pytest.CaptureFixture[str], control_plane: LocalCluster, ns: str
) -> None:
    code, out, _ = run_cli(capsys, control_plane, "status", "-n", ns)
    assert code == 0
    for text in ("Dataset", "TrainingRun", "ModelDeployment", "Monitor", "iris-logreg-1", "accuracy=0.974"):
        assert text in out
    assert "failing: input-drift" in out


def test_history_lists_revisions_newest_first_with_reasons(
    capsys: pytest.CaptureFixture[str], control_plane: LocalCluster, ns: str
) -> None:
    code, out, err = run_cli(capsys, control_plane, "history", "iris", "-n", ns, "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert [(r["revision"], r["outcome"], r["current"]) for r in doc["history"]] == [
        (2, "RolledBack", False),
        (1, "Serving", True),
    ]
    assert doc["history"][0]["reason"] == "Monitor iris: input-drift psi 0.41 > 0.25."
    code, out, _ = run_cli(capsys, control_plane, "history", "iris", "-n", ns)
    assert code == 0
    assert "sha256:222222222222" in out
    assert "*1" in out
    assert "not what runs" in out


def test_explain_puts_the_verdict_in_words(
    capsys: pytest.CaptureFixture[str], control_plane: LocalCluster, ns: str
) -> None:
    code, out, err = run_cli(capsys, control_plane, "explain", "iris", "-n", ns)
    assert code == 0, err
    assert "watches ModelDeployment iris" in out
    assert "input drift (psi) 0.41 > 0.25" in out
    assert "petal_width drifted" in out
    assert "Verdict: revision 2" in out
    assert "Last action: rollback" in out


def test_rollback_prints_a_patch_the_api_server_accepts(
    capsys: pytest.CaptureFixture[str], control_plane: LocalCluster, ns: str
) -> None:
    code, out, err = run_cli(capsys, control_plane, "rollback", "iris", "-n", ns, "--to-revision", "1", "-o", "json")
    assert code == 0, err
    patch = json.loads(out)
    assert patch["spec"]["model"]["digest"] == D1
    res = control_plane.kubectl(
        "patch", "modeldeployment", "iris", "-n", ns, "--type=merge", "--dry-run=server", "-o", "json",
        "-p", json.dumps(patch),
    )  # fmt: skip
    model = json.loads(res.stdout)["spec"]["model"]
    assert model == {"uri": "pvc://yardarm-artifacts/models/sha256-1", "digest": D1}


def test_a_missing_object_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], control_plane: LocalCluster, ns: str
) -> None:
    code, _, err = run_cli(capsys, control_plane, "history", "nope", "-n", ns)
    assert code == 1
    assert err.strip() == f'error: ModelDeployment "nope" not found in namespace {ns}'


def test_predict_goes_through_the_api_servers_service_proxy(
    capsys: pytest.CaptureFixture[str], control_plane: LocalCluster, ns: str, tmp_path: Path
) -> None:
    # No kubelet runs here, so the Service has no endpoints: the proxy's own 503 proves the request
    # reached /api/v1/namespaces/NS/services/cli-probe:http/proxy/... with working credentials.
    control_plane.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            # Not iris-serving: an operator under test elsewhere may own that name in this namespace.
            "metadata": {"name": "cli-probe", "namespace": ns},
            "spec": {"selector": {"app": "none"}, "ports": [{"name": "http", "port": 8080}]},
        }
    )
    rows = tmp_path / "rows.csv"
    rows.write_text("sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm\n5.1,3.5,1.4,0.2\n")

    # Under load the API server's proxy has been seen to answer 404 for a Service created a moment
    # earlier; wait until the proxy itself sees it, then assert on what the CLI reports.
    def proxied() -> tuple[int, str] | None:
        result = run_cli(capsys, control_plane, "predict", "iris", str(rows), "-n", ns, "--service", "cli-probe")
        return None if "404" in result[2] else (result[0], result[2])

    code, err = control_plane.wait_for("the service proxy to see cli-probe", proxied, timeout=30)
    assert code == 1
    assert "cli-probe answered 503" in err
    assert "no endpoints available" in err
