"""The ``yardarm`` cluster commands with a fake client: what they ask the API and what they print."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from yardarm import cli_cluster
from yardarm.cli import main
from yardarm.client import Client, ClientError

pytestmark = pytest.mark.unit

D1 = "sha256:" + "a" * 64


class FakeClient:
    """Answers from a dict of objects; records service-proxy calls."""

    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]], answer: tuple[int, Any] = (200, {})) -> None:
        self.objects = objects
        self.answer = answer
        self.posts: list[tuple[str, str, str, str, Any]] = []

    def list(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        return [o for (k, _), o in sorted(self.objects.items()) if k == kind]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        if (kind, name) not in self.objects:
            raise ClientError(404, f'{kind} "{name}" not found in namespace {namespace}')
        return self.objects[(kind, name)]

    def service_proxy_post(self, namespace: str, service: str, port: str, path: str, body: Any) -> tuple[int, Any]:
        self.posts.append((namespace, service, port, path, body))
        return self.answer


MDEP = {
    "kind": "ModelDeployment",
    "metadata": {"name": "iris", "namespace": "ml", "generation": 1},
    "spec": {"model": {"trainingRunRef": {"name": "iris-logreg-1"}}},
    "status": {
        "observedGeneration": 1,
        "phase": "Ready",
        "currentRevision": 1,
        "currentDigest": D1,
        "deploymentName": "iris-serving",
        "history": [
            {
                "revision": 1,
                "modelDigest": D1,
                "modelUri": "pvc://m/1",
                "trainingRun": "iris-logreg-1",
                "deployedAt": "2026-11-30T10:00:00Z",
                "outcome": "Serving",
            }
        ],
    },
}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient({("ModelDeployment", "iris"): MDEP})
    monkeypatch.setattr(Client, "connect", classmethod(lambda cls, kubeconfig=None, context=None: client))
    monkeypatch.setattr(Client, "current_namespace", staticmethod(lambda kubeconfig=None, context=None: "ml"))
    return client


def test_predict_posts_csv_rows_through_the_service_proxy(
    fake: FakeClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("sepal_length,sepal_width\n5.1,3.5\n6.2,2.9\n")
    fake.answer = (200, {"id": "r1", "predictions": ["setosa", "versicolor"]})
    assert main(["predict", "iris", str(rows)]) == 0
    assert fake.posts == [
        (
            "ml",
            "iris-serving",
            "http",
            "v1/models/iris:predict",
            {"instances": [{"sepal_length": 5.1, "sepal_width": 3.5}, {"sepal_length": 6.2, "sepal_width": 2.9}]},
        )
    ]
    out = capsys.readouterr().out
    assert "2 prediction(s) from ml/iris" in out
    assert "versicolor" in out


def test_predict_json_output_is_the_server_response(
    fake: FakeClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.json"
    rows.write_text('[{"x": 1}]')
    fake.answer = (200, {"id": "r2", "predictions": [0.5]})
    assert main(["predict", "iris", str(rows), "-o", "json", "--model-name", "m", "--service", "svc"]) == 0
    assert fake.posts[0][1:4] == ("svc", "http", "v1/models/m:predict")
    assert json.loads(capsys.readouterr().out) == {"id": "r2", "predictions": [0.5]}


def test_predict_reports_the_server_error(fake: FakeClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "rows.json"
    rows.write_text('[{"x": 1}]')
    fake.answer = (400, {"error": "instances[0] is missing feature(s) 'y'."})
    assert main(["predict", "iris", str(rows)]) == 1
    assert "answered 400: instances[0] is missing feature(s) 'y'." in capsys.readouterr().err


def test_a_missing_object_is_one_line_on_stderr(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "nope"]) == 1
    assert capsys.readouterr().err == 'error: Monitor "nope" not found in namespace ml\n'


def test_status_of_an_empty_namespace(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    fake.objects.clear()
    assert main(["status", "-n", "empty"]) == 0
    assert capsys.readouterr().out == "No Yardarm resources in namespace empty.\n"


def test_rollback_prints_yaml_for_git_and_a_kubectl_patch(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rollback", "iris", "--to-revision", "1"]) == 0
    out = capsys.readouterr().out
    assert "# In Git, set spec.model of ModelDeployment ml/iris to:" in out
    assert f"digest: {D1}" in out
    assert "kubectl -n ml patch modeldeployment iris --type merge -p" in out


def test_plain_tables_without_rich(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "rich.console", None)
    cli_cluster.print_table("T", ["a", "bb"], [["[green]x[/]", "yy"]])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "T"
    assert out[1] == "A  BB"
    assert out[2].startswith("x  yy")


def test_crds_and_version_do_not_import_kubernetes_or_rich() -> None:
    code = (
        "import sys; from yardarm.cli import main; main(['version']); "
        "print(sorted({'kubernetes', 'rich'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], text=True, capture_output=True, check=True).stdout
    assert out.splitlines()[-1] == "[]"


def test_status_of_all_namespaces_has_one_document_per_namespace(
    fake: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    other = {"kind": "Dataset", "metadata": {"name": "d", "namespace": "other"}, "spec": {}}
    fake.objects[("Dataset", "d")] = other
    assert main(["status", "-A", "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [n["namespace"] for n in doc["namespaces"]] == ["ml", "other"]
    assert doc["namespaces"][1]["rows"][0]["dataset"]["name"] == "d"


def test_an_unreachable_api_server_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9', insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u, namespace: ml}}]\n"
    )
    assert main(["history", "iris", "--kubeconfig", str(kubeconfig)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the API server at https://127.0.0.1:9")
    assert err.count("\n") == 1
