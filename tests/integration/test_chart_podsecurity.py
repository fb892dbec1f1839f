"""Pods rendered by the chart are admitted by the real API server's PodSecurity at ``restricted``.

PodSecurity enforces on Pods only (for Deployments it merely warns), so each rendered pod template
is turned into a Pod and created with ``--dry-run=server`` in a namespace labelled
``pod-security.kubernetes.io/enforce=restricted``: the full admission chain runs, nothing is
stored. The Deployments themselves must apply without a PodSecurity warning, and a pod that breaks
the profile must be refused (so the test cannot pass with enforcement off).
"""

from __future__ import annotations

import copy
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clusters import LocalCluster

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
}


def _load_chartcheck() -> Any:
    spec = importlib.util.spec_from_file_location("chartcheck", REPO / "hack" / "tools" / "chartcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


chart = _load_chartcheck()

VARIANTS: dict[str, dict[str, Any] | None] = {
    "default": None,
    "non-default": {
        "operator": {"replicas": 2, "priorityClassName": ""},
        "image": {"repository": "registry.example/yardarm/operator", "tag": "0.1.0"},
        "pdb": {"enabled": True},
        "networkPolicy": {"enabled": True},
    },
}


@pytest.fixture(scope="module")
def restricted_ns(control_plane: LocalCluster) -> Iterator[str]:
    if chart.helm() is None:
        pytest.fail("helm missing: run hack/build-binaries.sh helm")
    name = control_plane.create_namespace("psa", labels=RESTRICTED)
    yield name
    control_plane.delete_namespace(name)


def _in(namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["namespace"] = namespace
    return obj


def _pods(objects: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    pods = []
    for obj in objects:
        if obj["kind"] == "Pod":
            pods.append(_in(namespace, obj))
        elif obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            template = obj["spec"]["template"]
            pods.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{obj['metadata']['name']}-psa",
                        "namespace": namespace,
                        "labels": template["metadata"].get("labels", {}),
                    },
                    "spec": template["spec"],
                }
            )
    return pods


def _create_dry_run(cluster: LocalCluster, obj: dict[str, Any]) -> Any:
    return cluster.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(obj), check=False)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_rendered_pods_are_admitted_at_restricted(
    control_plane: LocalCluster, restricted_ns: str, variant: str
) -> None:
    objects = chart.render(VARIANTS[variant], namespace=restricted_ns)
    for account in (o for o in objects if o["kind"] == "ServiceAccount"):
        control_plane.apply(_in(restricted_ns, account))
    pods = _pods(objects, restricted_ns)
    assert len(pods) >= 2, "expected the operator and the helm test pod"
    for pod in pods:
        res = _create_dry_run(control_plane, pod)
        assert res.returncode == 0, f"{pod['metadata']['name']} refused:\n{res.stderr}"
        assert "PodSecurity" not in res.stderr, res.stderr
        admitted = json.loads(res.stdout)
        assert admitted["spec"]["securityContext"]["runAsUser"] == 65532


def test_the_operator_deployment_applies_without_a_podsecurity_warning(
    control_plane: LocalCluster, restricted_ns: str
) -> None:
    for obj in chart.render(namespace=restricted_ns):
        if obj["kind"] == "Deployment":
            res = control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(obj), check=False)
            assert res.returncode == 0, res.stderr
            assert "would violate PodSecurity" not in res.stderr, res.stderr


def test_a_pod_that_breaks_restricted_is_refused(control_plane: LocalCluster, restricted_ns: str) -> None:
    (pod, *_) = _pods(chart.render(namespace=restricted_ns), restricted_ns)
    bad = copy.deepcopy(pod)
    bad["spec"].pop("securityContext")
    bad["spec"]["containers"][0]["securityContext"] = {"allowPrivilegeEscalation": True}
    res = _create_dry_run(control_plane, bad)
    assert res.returncode != 0
    assert "violates PodSecurity" in res.stderr


def test_pods_the_operator_builds_are_admitted_at_restricted(control_plane: LocalCluster, restricted_ns: str) -> None:
    """The training Job and serving Deployment the operator makes, configured as the chart does."""
    import yaml

    from yardarm.api.modeldeployment import Revision
    from yardarm.operator import jobs, serving_children
    from yardarm.operator.config import Config

    def example(name: str) -> dict[str, Any]:
        obj = yaml.safe_load((REPO / "examples" / "iris" / name).read_text())
        obj["metadata"].update(namespace=restricted_ns, uid="00000000-0000-0000-0000-000000000001")
        return obj

    config = Config(artifacts_claim="yardarm-artifacts", job_service_account=None)
    dataset, run, mdep = example("dataset.yaml"), example("trainingrun.yaml"), example("modeldeployment.yaml")
    revision = Revision(
        revision=1,
        model_digest="sha256:" + "a" * 64,
        model_uri="pvc://yardarm-artifacts/models/sha256-a",
        training_run="iris-logreg-1",
        deployed_at="2026-11-30T12:00:00Z",
        outcome="Progressing",
    )
    out, claim = "pvc://yardarm-artifacts/yardarm", "yardarm-artifacts"
    built = [
        jobs.profile_job(dataset, output_uri=out, claim=claim, config=config),
        jobs.training_job(
            run, dataset, output_uri=out, claim=claim, dataset_digest="sha256:" + "b" * 64, config=config
        ),
        serving_children.deployment(mdep, revision, config),
    ]  # fmt: skip
    for pod in _pods(built, restricted_ns):
        pod["metadata"]["labels"] = {}
        res = _create_dry_run(control_plane, pod)
        assert res.returncode == 0, f"{pod['metadata']['name']} refused:\n{res.stderr}"
        assert "PodSecurity" not in res.stderr, res.stderr
