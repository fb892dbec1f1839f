"""The chart's RBAC is exactly ``operator/rbac.py``: generated files, rendered Roles, least privilege."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from yardarm.operator import rbac

pytestmark = pytest.mark.component

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, REPO / "hack" / "tools" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


chart = _tool("chartcheck")


@pytest.fixture(scope="module")
def helm() -> None:
    if chart.helm() is None:
        if os.environ.get("CI"):
            pytest.fail("helm missing: run hack/build-binaries.sh helm")
        pytest.skip("helm missing (hack/build-binaries.sh helm)")


def roles(values: dict[str, Any] | None, kind: str) -> list[dict[str, Any]]:
    return [o for o in chart.render(values) if o["kind"] == kind]


def test_generated_rule_files_match_operator_rbac() -> None:
    for path, content in _tool("chart_rbac").rendered().items():
        assert path.read_text() == content, f"{path} is stale: run `make generate`"


def test_cluster_wide_mode_renders_the_operators_cluster_role(helm: None) -> None:
    (cluster_role,) = roles(None, "ClusterRole")
    assert cluster_role["rules"] == rbac.role("x", cluster=True)["rules"]
    assert roles(None, "Role") == []
    (binding,) = roles(None, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "yardarm-operator", "namespace": "yardarm-system"}
    ]


def test_namespaced_mode_renders_one_role_per_namespace_and_nothing_cluster_wide(helm: None) -> None:
    values = {"watchNamespaces": ["a", "b"]}
    found = roles(values, "Role")
    assert sorted(r["metadata"]["namespace"] for r in found) == ["a", "b"]
    assert all(r["rules"] == rbac.role("x", cluster=False, namespace="a")["rules"] for r in found)
    assert roles(values, "ClusterRole") == []
    assert roles(values, "ClusterRoleBinding") == []
    bindings = roles(values, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["a", "b"]
    assert all(b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "yardarm-operator"}
               for b in bindings)  # fmt: skip


def test_peering_adds_the_peering_rules(helm: None) -> None:
    (cluster_role,) = roles({"operator": {"peering": "yardarm"}}, "ClusterRole")
    assert cluster_role["rules"] == rbac.role("x", cluster=True, peering=True)["rules"]


def test_rbac_can_be_left_to_the_user(helm: None) -> None:
    kinds = {o["kind"] for o in chart.render({"rbac": {"create": False}})}
    assert kinds.isdisjoint({"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"})


def test_rules_are_least_privilege() -> None:
    rules = [*rbac.RULES, *rbac.CLUSTER_RULES, *rbac.PEERING_RULES]
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), rule
        assert not {"secrets", "pods/exec", "roles", "clusterroles", "rolebindings"} & set(rule["resources"]), rule
    own = [
        r for r in rbac.RULES if r["apiGroups"] == ["mlops.yardarm.dev"] and not r["resources"][0].endswith("/status")
    ]
    for rule in own:  # the operator never writes spec
        assert not {"update", "create", "delete"} & set(rule["verbs"]), rule
