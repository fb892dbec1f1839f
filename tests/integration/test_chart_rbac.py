"""``helm install`` into the real API server, then ask its authorizer what the operator may do.

Both RBAC modes are installed for real (no kubelet runs, so the operator pod stays Pending, which
is all this needs) and probed with ``kubectl auth can-i --as=<operator ServiceAccount>``: the
operator can do its job, and nothing more — no Secrets, no other namespaces when namespaced.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clusters import LocalCluster

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _load_chartcheck() -> Any:
    spec = importlib.util.spec_from_file_location("chartcheck", REPO / "hack" / "tools" / "chartcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


chart = _load_chartcheck()


class Release:
    """One installed release and the namespaces it was given."""

    def __init__(self, cluster: LocalCluster, values: list[str], watched: int) -> None:
        self.cluster = cluster
        self.name = f"ya-{uuid.uuid4().hex[:6]}"
        self.namespace = cluster.create_namespace("rel")
        self.watched = [cluster.create_namespace("w") for _ in range(watched)]
        self.other = cluster.create_namespace("other")
        sets = [*values, "--set", f"fullnameOverride={self.name}"]
        for i, ns in enumerate(self.watched):
            sets += ["--set", f"watchNamespaces[{i}]={ns}"]
        chart.run_helm(
            "install", self.name, str(chart.CHART), "--namespace", self.namespace,
            "--kubeconfig", str(cluster.kubeconfig), "--skip-crds", *sets,
        )  # fmt: skip
        self.account = f"system:serviceaccount:{self.namespace}:{self.name}-operator"
        # The RBAC authorizer learns of new bindings through an informer: wait until it has.
        canary = self.watched[0] if self.watched else self.other
        cluster.wait_for("the operator's RBAC", lambda: self.can("list", "datasets.mlops.yardarm.dev", canary), 60)

    def can(self, verb: str, resource: str, namespace: str | None) -> bool:
        scope = ["-n", namespace] if namespace else []
        resource, _, subresource = resource.partition("/")  # kubectl reads TYPE/NAME, not a subresource
        if subresource:
            scope.append(f"--subresource={subresource}")
        res = self.cluster.kubectl("auth", "can-i", verb, resource, *scope, f"--as={self.account}", check=False)
        return res.stdout.strip() == "yes"

    def uninstall(self) -> None:
        chart.run_helm(
            "uninstall", self.name, "-n", self.namespace, "--kubeconfig", str(self.cluster.kubeconfig), check=False
        )
        for ns in [self.namespace, *self.watched, self.other]:
            self.cluster.delete_namespace(ns)


@pytest.fixture(scope="module")
def cluster_wide(yardarm_crds: LocalCluster) -> Iterator[Release]:
    if chart.helm() is None:
        pytest.fail("helm missing: run hack/build-binaries.sh helm")
    release = Release(yardarm_crds, [], watched=0)
    yield release
    release.uninstall()


@pytest.fixture(scope="module")
def namespaced(yardarm_crds: LocalCluster) -> Iterator[Release]:
    if chart.helm() is None:
        pytest.fail("helm missing: run hack/build-binaries.sh helm")
    release = Release(yardarm_crds, [], watched=2)
    yield release
    release.uninstall()


#: What the operator must be able to do wherever it works.
NEEDED = [
    ("watch", "datasets.mlops.yardarm.dev"),
    ("list", "modeldeployments.mlops.yardarm.dev"),
    ("patch", "monitors.mlops.yardarm.dev/status"),
    ("patch", "trainingruns.mlops.yardarm.dev/status"),
    ("create", "jobs.batch"),
    ("watch", "jobs.batch"),
    ("list", "pods"),
    ("patch", "deployments.apps"),
    ("patch", "services"),
    ("create", "horizontalpodautoscalers.autoscaling"),
    ("create", "events"),
]
#: What it must never be able to do.
FORBIDDEN = [
    ("get", "secrets"),
    ("list", "secrets"),
    ("create", "pods"),
    ("update", "datasets.mlops.yardarm.dev"),
    ("create", "roles.rbac.authorization.k8s.io"),
    ("create", "pods/exec"),
    ("patch", "trainingruns.mlops.yardarm.dev"),
    ("delete", "persistentvolumeclaims"),
]


def test_cluster_wide_operator_can_do_its_job_in_any_namespace(cluster_wide: Release) -> None:
    for verb, resource in NEEDED:
        assert cluster_wide.can(verb, resource, cluster_wide.other), (verb, resource)


def test_cluster_wide_operator_cannot_read_secrets_or_escalate(cluster_wide: Release) -> None:
    for verb, resource in FORBIDDEN:
        assert not cluster_wide.can(verb, resource, cluster_wide.other), (verb, resource)
    assert not cluster_wide.can("delete", "namespaces", None)
    assert not cluster_wide.can("create", "clusterrolebindings", None)


def test_namespaced_operator_works_only_in_its_namespaces(namespaced: Release) -> None:
    for ns in namespaced.watched:
        for verb, resource in NEEDED:
            assert namespaced.can(verb, resource, ns), (verb, resource, ns)
        for verb, resource in FORBIDDEN:
            assert not namespaced.can(verb, resource, ns), (verb, resource, ns)
    for verb, resource in NEEDED:
        assert not namespaced.can(verb, resource, namespaced.other), (verb, resource)


def test_namespaced_install_creates_workload_accounts_and_claims_in_each_namespace(
    control_plane: LocalCluster, namespaced: Release
) -> None:
    for ns in namespaced.watched:
        accounts = {o["metadata"]["name"] for o in control_plane.get_json("serviceaccounts", "-n", ns)["items"]}
        assert {f"{namespaced.name}-training", f"{namespaced.name}-serving"} <= accounts
        claims = control_plane.get_json("persistentvolumeclaims", "-n", ns)["items"]
        assert [c["metadata"]["name"] for c in claims] == ["yardarm-artifacts"]


def test_the_operator_deployment_exists_with_its_service_account(
    control_plane: LocalCluster, cluster_wide: Release
) -> None:
    deployment = control_plane.get_json("deployment", f"{cluster_wide.name}-operator", "-n", cluster_wide.namespace)
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == f"{cluster_wide.name}-operator"
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_peering_install_creates_kopfs_kinds_and_the_peering_object(yardarm_crds: LocalCluster) -> None:
    control_plane = yardarm_crds
    release = Release(
        control_plane, ["--set", "operator.peering=yardarm-ha", "--set", "operator.replicas=2"], watched=1
    )
    try:
        (ns,) = release.watched
        peering = control_plane.get_json("kopfpeerings.kopf.dev", "yardarm-ha", "-n", ns)
        assert peering["metadata"]["labels"]["app.kubernetes.io/part-of"] == "yardarm"
        assert release.can("patch", "kopfpeerings.kopf.dev", ns)
        assert not release.can("patch", "kopfpeerings.kopf.dev", release.other)
    finally:
        release.uninstall()
