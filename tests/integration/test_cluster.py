"""The local control plane (hack/cluster.py --mode control-plane) behaves like a real one.

CRD schema + CEL validation, the status subresource, the Job and Deployment
controllers, garbage collection, RBAC, ServiceAccount tokens and PodSecurity
admission -- all against the real etcd + kube-apiserver + kube-controller-manager.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clusters import LocalCluster

REPO = Path(__file__).resolve().parent.parent.parent
GROUP = "clustertest.yardarm.dev"

TEST_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["minReplicas", "maxReplicas"],
                                "properties": {
                                    "minReplicas": {"type": "integer", "minimum": 0},
                                    "maxReplicas": {"type": "integer", "minimum": 1},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.minReplicas <= self.maxReplicas",
                                        "message": "minReplicas must not exceed maxReplicas",
                                    }
                                ],
                            },
                            "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                        },
                    }
                },
            }
        ],
    },
}


def widget(name: str, ns: str, lo: int, hi: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"minReplicas": lo, "maxReplicas": hi},
    }


@pytest.fixture(scope="module")
def widget_crd(control_plane: LocalCluster) -> Iterator[None]:
    control_plane.apply(TEST_CRD)
    control_plane.kubectl("wait", "--for=condition=Established", f"crd/widgets.{GROUP}", "--timeout=60s")
    yield
    control_plane.kubectl("delete", f"crd/widgets.{GROUP}", "--wait=false", check=False)


@pytest.fixture
def ns(control_plane: LocalCluster) -> Iterator[str]:
    name = control_plane.create_namespace("it")
    yield name
    control_plane.delete_namespace(name)


def test_server_version_is_the_built_one(control_plane: LocalCluster) -> None:
    version = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.34.")


@pytest.mark.usefixtures("widget_crd")
def test_custom_object_applies_and_status_is_a_subresource(control_plane: LocalCluster, ns: str) -> None:
    control_plane.apply(widget("ok", ns, 1, 3))
    obj = control_plane.get_json("widget", "ok", "-n", ns)
    assert obj["spec"] == {"minReplicas": 1, "maxReplicas": 3}
    generation = obj["metadata"]["generation"]
    control_plane.kubectl(
        "patch",
        "widget",
        "ok",
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"phase": "Ready"}}),
    )
    obj = control_plane.get_json("widget", "ok", "-n", ns)
    assert obj["status"] == {"phase": "Ready"}
    assert obj["metadata"]["generation"] == generation  # status writes do not bump generation
    # status is ignored on the main resource once the subresource is enabled
    control_plane.kubectl(
        "patch",
        "widget",
        "ok",
        "-n",
        ns,
        "--type=merge",
        "-p",
        json.dumps({"status": {"phase": "Hacked"}, "spec": {"maxReplicas": 4}}),
    )
    obj = control_plane.get_json("widget", "ok", "-n", ns)
    assert obj["status"] == {"phase": "Ready"}
    assert obj["metadata"]["generation"] == generation + 1


@pytest.mark.usefixtures("widget_crd")
def test_invalid_object_is_refused_with_the_cel_message(control_plane: LocalCluster, ns: str) -> None:
    res = control_plane.apply(widget("bad", ns, 5, 2), check=False)
    assert res.returncode != 0
    assert "minReplicas must not exceed maxReplicas" in res.stderr
    res = control_plane.apply(widget("neg", ns, -1, 2), check=False)
    assert res.returncode != 0
    assert "should be greater than or equal to 0" in res.stderr
    assert control_plane.kubectl("get", "widget", "bad", "-n", ns, check=False).returncode != 0


def test_project_crds_are_accepted_by_the_api_server(control_plane: LocalCluster) -> None:
    crds = sorted((REPO / "crds").glob("*.yaml"))
    if not crds:
        pytest.skip("no CRDs under crds/ yet")
    for crd in crds:
        control_plane.kubectl("apply", "--dry-run=server", "-f", str(crd))


def test_job_controller_creates_a_pod(control_plane: LocalCluster, ns: str) -> None:
    control_plane.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "train", "namespace": ns},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "yardarm/operator:dev", "command": ["true"]}],
                    }
                },
            },
        }
    )

    def pods() -> list[dict[str, Any]]:
        return control_plane.get_json("pods", "-n", ns, "-l", "batch.kubernetes.io/job-name=train")["items"]

    found = control_plane.wait_for("the Job controller to create a pod", pods, timeout=120)
    owner = found[0]["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Job", "train", True)
    assert found[0]["spec"].get("nodeName") is None  # control-plane mode: nothing schedules or runs it


def test_deployment_controller_creates_replicaset_and_pods(control_plane: LocalCluster, ns: str) -> None:
    control_plane.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "yardarm/serving:dev"}]},
                },
            },
        }
    )
    control_plane.wait_for(
        "2 pods of the Deployment",
        lambda: len(control_plane.get_json("pods", "-n", ns, "-l", "app=web")["items"]) == 2,
        timeout=120,
    )
    rs = control_plane.get_json("replicasets", "-n", ns, "-l", "app=web")["items"]
    assert len(rs) == 1
    assert rs[0]["metadata"]["ownerReferences"][0]["kind"] == "Deployment"


def test_garbage_collector_deletes_owned_children(control_plane: LocalCluster, ns: str) -> None:
    control_plane.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "parent", "namespace": ns},
            "data": {"a": "1"},
        }
    )
    uid = control_plane.get_json("configmap", "parent", "-n", ns)["metadata"]["uid"]
    for i in range(2):
        control_plane.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": f"child-{i}",
                    "namespace": ns,
                    "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": uid}],
                },
                "data": {"b": str(i)},
            }
        )
    control_plane.kubectl("delete", "configmap", "parent", "-n", ns)

    def children_gone() -> bool:
        names = [i["metadata"]["name"] for i in control_plane.get_json("configmaps", "-n", ns)["items"]]
        return not any(n.startswith("child-") for n in names)

    control_plane.wait_for("the garbage collector to delete the children", children_gone, timeout=120)


def token_kubeconfig(cluster: LocalCluster, token: str, path: Path) -> str:
    """A kubeconfig for the same server and CA that authenticates with a bearer token only."""
    cfg = json.loads(cluster.kubectl("config", "view", "--raw", "-o", "json").stdout)
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cfg["clusters"][0]["cluster"]}],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    return f"--kubeconfig={path}"


def test_serviceaccount_token_authenticates_and_rbac_applies(
    control_plane: LocalCluster, ns: str, tmp_path: Path
) -> None:
    control_plane.wait_for(
        "the namespace's default ServiceAccount",
        lambda: control_plane.kubectl("get", "sa", "default", "-n", ns, check=False).returncode == 0,
        timeout=60,
    )
    token = control_plane.kubectl("create", "token", "default", "-n", ns).stdout.strip()
    as_sa = token_kubeconfig(control_plane, token, tmp_path / "sa.kubeconfig")
    whoami = json.loads(control_plane.kubectl(as_sa, "auth", "whoami", "-o", "json").stdout)
    assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:default"
    res = control_plane.kubectl(as_sa, "auth", "can-i", "list", "pods", "-n", ns, check=False)
    assert res.stdout.strip() == "no"  # authenticated, but RBAC grants the default SA nothing
    control_plane.kubectl(
        "create", "rolebinding", "view", "-n", ns, "--clusterrole=view", f"--serviceaccount={ns}:default"
    )
    control_plane.wait_for(
        "RBAC to allow listing pods",
        lambda: (
            control_plane.kubectl(as_sa, "auth", "can-i", "list", "pods", "-n", ns, check=False).stdout.strip() == "yes"
        ),
        timeout=60,
    )


def test_pod_security_admission_enforces_restricted(control_plane: LocalCluster) -> None:
    ns = control_plane.create_namespace("psa", {"pod-security.kubernetes.io/enforce": "restricted"})
    try:
        res = control_plane.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "root", "namespace": ns},
                "spec": {
                    "containers": [
                        {"name": "c", "image": "yardarm/serving:dev", "securityContext": {"privileged": True}}
                    ]
                },
            },
            check=False,
        )
        assert res.returncode != 0
        assert 'violates PodSecurity "restricted' in res.stderr
        control_plane.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "ok", "namespace": ns},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "c",
                            "image": "yardarm/serving:dev",
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            }
        )
    finally:
        control_plane.delete_namespace(ns)
