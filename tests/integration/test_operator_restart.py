"""Restarts and failed rollouts: no duplicates, no lost decisions, automatic rollback on a deadline."""

# ruff: noqa: F811 - fixtures imported from the harness are redefined as test parameters

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_operator_harness import (  # noqa: F401 - fixtures
    A,
    B,
    Operator,
    cluster,
    cond,
    create,
    events_of,
    finish_pod,
    namespace,
    ready_all,
    release_monitors,
    status,
    wait_for,
    wait_job_pod,
)
from tests.integration.test_operator_serving import (
    md_phase,
    monitor,
    rollout_to,
    serve,
    set_model,
    template_revision,
    uri_model,
    write_verdict,
)
from tests.integration.test_operator_training import DATASET_SPEC, profile_dataset, tr_spec, train_message
from yardarm.operator import kube, names


@pytest.fixture
def operator(cluster: Any, namespace: str, tmp_path: Any) -> Iterator[Operator]:
    """An operator this test may kill and restart."""
    op = Operator(cluster.kubeconfig, namespace, tmp_path).start()
    yield op
    if op.proc is not None and op.proc.poll() is None:
        release_monitors(namespace)
    op.stop()
    print(f"--- operator log ---\n{op.log_tail(40)}")


def test_a_restart_mid_training_creates_no_second_job(operator: Operator, namespace: str) -> None:
    create("Dataset", namespace, "rs-data", DATASET_SPEC)
    profile_dataset(namespace, "rs-data")
    create("TrainingRun", namespace, "rs-tr", tr_spec("rs-data"))
    job_name = names.training_job_name("rs-tr")
    wait_for("job", lambda: kube.get("Job", namespace, job_name))
    operator.stop(kill=True)
    operator.start()
    finish_pod(namespace, wait_job_pod(namespace, job_name), exit_code=0, message=train_message())
    wait_for("Succeeded", lambda: status("TrainingRun", namespace, "rs-tr").get("phase") == "Succeeded")
    jobs = kube.list_objects("Job", namespace, labels={names.LABEL_TRAININGRUN: "rs-tr"})
    assert [j["metadata"]["name"] for j in jobs] == [job_name]
    profile_jobs = kube.list_objects("Job", namespace, labels={names.LABEL_DATASET: "rs-data"})
    assert len(profile_jobs) == 1


def test_a_verdict_written_while_the_operator_is_down_is_acted_on_once(operator: Operator, namespace: str) -> None:
    serve(namespace, "rs-md", uri_model(A))
    rollout_to(namespace, "rs-md", uri_model(B), 2)
    monitor(namespace, "rs-quality", "rs-md")
    with contextlib.suppress(AssertionError):
        wait_for("the Monitor's first evaluation", lambda: status("Monitor", namespace, "rs-quality").get("phase"))
    operator.stop(kill=True)
    write_verdict(namespace, "rs-quality", degraded=True, digest=B, revision=2, phase="Degraded")
    operator.start()
    wait_for("the rollback", lambda: template_revision(namespace, "rs-md") == "1", timeout=30)
    operator.stop()
    operator.start()  # a second restart must not act again
    ready_all(namespace, "rs-md", 1)
    wait_for("revision 1 serving", lambda: status("ModelDeployment", namespace, "rs-md").get("currentRevision") == 1)
    time.sleep(2)
    st = status("ModelDeployment", namespace, "rs-md")
    assert [(h["revision"], h["outcome"]) for h in st["history"]] == [(1, "Serving"), (2, "RolledBack")]
    rolled = [e for e in events_of(namespace, "rs-md") if e["reason"] == "RolledBack"]
    assert len(rolled) == 1
    deployments = kube.list_objects("Deployment", namespace, labels=names.serving_selector("rs-md"))
    assert len(deployments) == 1


def test_a_rollout_that_misses_its_deadline_rolls_back(operator: Operator, namespace: str) -> None:
    serve(namespace, "late", uri_model(A), progressDeadlineSeconds=30)
    set_model(namespace, "late", uri_model(B))
    wait_for("revision 2 in the template", lambda: template_revision(namespace, "late") == "2")
    # Its pods never become ready: the Deployment controller reports ProgressDeadlineExceeded.
    wait_for("the rollback to revision 1", lambda: template_revision(namespace, "late") == "1", timeout=120)
    st = status("ModelDeployment", namespace, "late")
    failed = next(h for h in st["history"] if h["revision"] == 2)
    assert failed["outcome"] == "Failed" and "progressDeadlineSeconds" in failed["reason"]
    assert cond("ModelDeployment", namespace, "late", "RolledBack")["reason"] == "RolloutFailed"
    reasons = [e["reason"] for e in events_of(namespace, "late")]
    assert "RolloutFailed" in reasons and "RolledBack" in reasons
    assert md_phase(namespace, "late") == "RolledBack"
