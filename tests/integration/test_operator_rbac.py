"""The operator works with only the RBAC rules of ``operator/rbac.py`` (a ServiceAccount's token)."""

# ruff: noqa: F811 - fixtures imported from the harness are redefined as test parameters

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_operator_harness import (  # noqa: F401 - fixtures
    A,
    B,
    Operator,
    cluster,
    create,
    finish_pod,
    namespace,
    release_monitors,
    status,
    wait_for,
    wait_job_pod,
)
from tests.integration.test_operator_serving import (
    monitor,
    rollout_to,
    serve,
    template_revision,
    uri_model,
    write_verdict,
)
from tests.integration.test_operator_training import DATASET_SPEC, profile_dataset, tr_spec, train_message
from yardarm.operator import kube, names, rbac


def service_account_kubeconfig(cluster: Any, namespace: str, path: Path) -> Path:
    """A kubeconfig for ServiceAccount ``yardarm-operator`` bound to the operator's Role."""
    account = {"name": "yardarm-operator", "namespace": namespace}
    cluster.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": account})
    cluster.apply(rbac.role("yardarm-operator", cluster=False, namespace=namespace))
    cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "yardarm-operator", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "yardarm-operator"},
            "subjects": [{"kind": "ServiceAccount", "name": "yardarm-operator", "namespace": namespace}],
        }
    )
    token = cluster.kubectl("create", "token", "yardarm-operator", "-n", namespace, "--duration=1h").stdout.strip()
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": admin["clusters"][0]["name"], "user": "operator"}}],
        "current-context": "operator",
    }
    path.write_text(yaml.safe_dump(config))
    # Wait until the authorizer sees the binding.
    wait_for(
        "the RoleBinding to take effect",
        lambda: "yes"
        in cluster.kubectl(
            "auth", "can-i", "create", "jobs.batch", "-n", namespace,
            f"--as=system:serviceaccount:{namespace}:yardarm-operator", check=False,
        ).stdout,
        timeout=30,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def operator(cluster: Any, namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    where = tmp_path_factory.mktemp("rbac")
    config = service_account_kubeconfig(cluster, namespace, where / "kubeconfig")
    op = Operator(config, namespace, where).start()
    yield op
    release_monitors(namespace)
    op.stop()
    print(f"--- operator log ---\n{op.log_tail(40)}")


def test_the_whole_lifecycle_needs_no_more_than_the_rbac_rules(operator: Operator, namespace: str) -> None:
    create("Dataset", namespace, "rbac-data", DATASET_SPEC)
    profile_dataset(namespace, "rbac-data")
    create("TrainingRun", namespace, "rbac-tr", tr_spec("rbac-data"))
    job_name = names.training_job_name("rbac-tr")
    wait_for("job", lambda: kube.get("Job", namespace, job_name))
    finish_pod(namespace, wait_job_pod(namespace, job_name), exit_code=0, message=train_message())
    wait_for("Succeeded", lambda: status("TrainingRun", namespace, "rbac-tr").get("phase") == "Succeeded")

    serve(namespace, "rbac-md", uri_model(A), replicas=2)
    kube.patch("ModelDeployment", namespace, "rbac-md", {"spec": {"replicas": None, "autoscaling": {"maxReplicas": 3}}})
    wait_for("the HPA", lambda: kube.get("HorizontalPodAutoscaler", namespace, names.serving_name("rbac-md")))
    rollout_to(namespace, "rbac-md", uri_model(B), 2)
    monitor(namespace, "rbac-quality", "rbac-md")
    write_verdict(namespace, "rbac-quality", degraded=True, digest=B, revision=2, phase="Degraded")
    wait_for("the rollback", lambda: template_revision(namespace, "rbac-md") == "1", timeout=30)
    log = operator.log_path.read_text(errors="replace")
    assert "Forbidden" not in log and " 403" not in log, operator.log_tail()
