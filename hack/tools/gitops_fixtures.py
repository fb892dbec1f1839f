#!/usr/bin/env python3
"""Write ``tests/fixtures/gitops/``: every phase of every Yardarm kind, as the operator stores it.

The GitOps health checks (kstatus for Flux, the Lua script for Argo CD) are tested on these
objects (``tests/component/test_gitops_health.py``), so they must be what a cluster holds, not
what a test author imagines. Each object starts as the ``examples/iris`` manifest as applied
(namespace ``ml``, ``metadata.generation``) and gets its ``status`` from the operator's own pure
functions, fed the way the reconcilers feed them: a Job and its pods through ``job_outcome``, a
Deployment through ``observe_rollout``, revisions through ``rollback.decide``, Monitor windows
through ``judge``. Each status is stored with merge-patch semantics on top of the previous one,
as the reconcilers patch it, so condition transition times carry over as they do in a cluster.

Phases the operator never writes are left out on purpose (see ``NEVER_WRITTEN``): a Dataset's
``Pending`` is the phase of a Dataset that has no status yet (``dataset-new``).

    make generate          # or: python hack/tools/gitops_fixtures.py

``tests/unit/test_gitops_fixtures.py`` fails when the files drift from what this writes.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from yardarm.api.modeldeployment import Revision
from yardarm.api.monitor import CheckStatus, MonitorSpec, MonitorStatus
from yardarm.api.trainingrun import ModelInfo
from yardarm.jobresult import ExitCode, ProfileResult, TrainResult, encode_result
from yardarm.operator import names, serving_children
from yardarm.operator.dataset import dataset_status
from yardarm.operator.evaluate import Served, halted_status, judge, waiting_status
from yardarm.operator.jobs import job_outcome
from yardarm.operator.modeldeployment import md_status, monitor_verdict, observe_rollout, resolve_model
from yardarm.operator.rollback import Policy, Resolved, decide
from yardarm.operator.trainingrun import dataset_gate, training_status
from yardarm.operator.trainingrun import waiting_status as training_waiting_status

Body = dict[str, Any]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "iris"
OUT = REPO / "tests" / "fixtures" / "gitops"
NAMESPACE = "ml"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DIGEST_DATA = "sha256:" + "d" * 64
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64

#: Phases of the API types that the operator never writes, and why.
NEVER_WRITTEN = {
    ("Dataset", "Pending"): "a Dataset without status is Pending; the operator's first write is Profiling",
}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stamp(minutes: float) -> str:
    return at(minutes).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- objects as applied and as stored ---------------------------------------------------------------


def applied(file: str, generation: int = 1) -> Body:
    """The example manifest as the API server returns it after ``kubectl apply``."""
    obj: Body = yaml.safe_load((EXAMPLE / file).read_text())
    obj["metadata"].update(
        namespace=NAMESPACE,
        generation=generation,
        uid=_uid(file),
        creationTimestamp=stamp(0),
    )
    return obj


def _uid(file: str) -> str:
    digits = "".join(str(ord(c) % 10) for c in file)[:12].ljust(12, "0")
    return f"00000000-0000-4000-8000-{digits}"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: how the API server applies the reconcilers' status patches (``None`` deletes)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def stored(obj: Mapping[str, Any], status: Mapping[str, Any]) -> Body:
    """``obj`` after the operator's status patch."""
    new = copy.deepcopy(dict(obj))
    new["status"] = merge_patch(obj.get("status") or {}, status)
    return new


def bumped(obj: Mapping[str, Any], edit: Callable[[Body], None]) -> Body:
    """``obj`` after a change to its spec in Git: the generation moves, the status stays."""
    new = copy.deepcopy(dict(obj))
    edit(new["spec"])
    new["metadata"]["generation"] += 1
    return new


# -- Jobs and pods as the Job controller and kubelet report them -------------------------------------


def job(name: str, *, active: bool = False, complete: bool = False, failed: str | None = None, end: float = 0) -> Body:
    conditions = []
    if complete:
        conditions.append({"type": "Complete", "status": "True", "lastTransitionTime": stamp(end)})
    if failed:
        conditions.append(
            {
                "type": "Failed",
                "status": "True",
                "reason": failed,
                "message": "Job has reached the specified backoff limit",
                "lastTransitionTime": stamp(end),
            }
        )
    status: Body = {"startTime": stamp(1), "conditions": conditions or None}
    if active:
        status.update(active=1, ready=1)
    if complete:
        status.update(completionTime=stamp(end), succeeded=1)
    if failed:
        status["failed"] = 1
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "status": {k: v for k, v in status.items() if v is not None},
    }


def pod(job_name: str, *, result: ProfileResult | TrainResult | None = None, waiting: str | None = None) -> Body:
    state: Body
    if waiting:
        state = {"waiting": {"reason": waiting, "message": f'Back-off pulling image "yardarm-train:0.1.0": {waiting}'}}
    elif result is not None:
        state = {
            "terminated": {
                "exitCode": result.exit_code,
                "reason": "Completed" if result.ok else "Error",
                "message": encode_result(result).decode(),
            }
        }
    else:
        state = {"running": {"startedAt": stamp(1)}}
    return {
        "metadata": {"name": f"{job_name}-x7k2p", "namespace": NAMESPACE, "creationTimestamp": stamp(1)},
        "status": {"containerStatuses": [{"name": "main", "state": state}]},
    }


# -- Dataset ------------------------------------------------------------------------------------------


def datasets() -> dict[str, Body]:
    ds = applied("dataset.yaml")
    name = names.profile_job_name("iris", ds["spec"])
    profile = ProfileResult(
        ok=True,
        exit_code=ExitCode.OK,
        reason="Profiled",
        message="Profiled 150 rows.",
        digest=DIGEST_DATA,
        rows=150,
        columns=5,
        profile_uri="pvc://yardarm-artifacts/yardarm/datasets/iris/profile.json",
    )
    unreachable = ProfileResult(
        ok=False,
        exit_code=ExitCode.UNREACHABLE,
        reason="SourceUnreachable",
        message="s3://data/iris.csv: NoSuchKey: the object does not exist.",
    )
    profiling = stored(ds, dataset_status(ds, name, job_outcome(job(name, active=True), [pod(name)]), at(1)))
    ready = stored(
        profiling,
        dataset_status(
            profiling, name, job_outcome(job(name, complete=True, end=2), [pod(name, result=profile)]), at(2)
        ),
    )
    stuck_outcome = job_outcome(job(name, active=True), [pod(name, waiting="ImagePullBackOff")])
    failed_outcome = job_outcome(job(name, failed="BackoffLimitExceeded", end=2), [pod(name, result=unreachable)])
    return {
        "dataset-new": ds,
        "dataset-profiling": profiling,
        "dataset-profiling-stuck": stored(ds, dataset_status(ds, name, stuck_outcome, at(1))),
        "dataset-ready": ready,
        "dataset-failed": stored(profiling, dataset_status(profiling, name, failed_outcome, at(2))),
        "dataset-spec-changed": bumped(ready, lambda spec: spec["split"].update(seed=8)),
    }


# -- TrainingRun ---------------------------------------------------------------------------------------


def training_runs(ds: Mapping[str, Body]) -> dict[str, Body]:
    tr = applied("trainingrun.yaml")
    name = names.training_job_name(tr["metadata"]["name"])
    ref = tr["spec"]["datasetRef"]["name"]
    trained = TrainResult(
        ok=True,
        exit_code=ExitCode.OK,
        reason="Trained",
        message="Trained LogisticRegression.",
        dataset_digest=DIGEST_DATA,
        metrics={"accuracy": 0.974, "f1_macro": 0.973},
        headline="accuracy=0.974",
        model=ModelInfo(uri="pvc://yardarm-artifacts/yardarm/bundles/sha256-aaaaaaaaaaaa", digest=DIGEST_A, opset=17),
    )
    gate_missed = TrainResult(
        ok=False,
        exit_code=ExitCode.QUALITY_GATE,
        reason="QualityGateMissed",
        message="accuracy 0.81 is below the gate 0.9.",
        dataset_digest=DIGEST_DATA,
        metrics={"accuracy": 0.81},
        headline="accuracy=0.81",
    )
    gate = dataset_gate(ds["dataset-profiling"], ref)
    stalled_gate = dataset_gate(ds["dataset-failed"], ref)
    assert gate is not None and stalled_gate is not None
    waiting = stored(tr, training_waiting_status(tr, gate, at(1)))
    pending = stored(waiting, training_status(waiting, name, job_outcome(job(name), []), at(3)))
    running = stored(pending, training_status(pending, name, job_outcome(job(name, active=True), [pod(name)]), at(4)))
    done = job_outcome(job(name, complete=True, end=6), [pod(name, result=trained)])
    failed = job_outcome(job(name, failed="BackoffLimitExceeded", end=6), [pod(name, result=gate_missed)])
    return {
        "trainingrun-new": tr,
        "trainingrun-waiting": waiting,
        "trainingrun-waiting-dataset-failed": stored(tr, training_waiting_status(tr, stalled_gate, at(3))),
        "trainingrun-pending": pending,
        "trainingrun-running": running,
        "trainingrun-succeeded": stored(running, training_status(running, name, done, at(6))),
        "trainingrun-failed": stored(running, training_status(running, name, failed, at(6))),
    }


# -- ModelDeployment -----------------------------------------------------------------------------------


def deployment(md: Mapping[str, Any], revision: int, *, available: bool, deadline_exceeded: bool = False) -> Body:
    """The serving Deployment as the Deployment controller reports it (one replica)."""
    name = names.serving_name(md["metadata"]["name"])
    status: Body = {"observedGeneration": revision, "replicas": 1, "updatedReplicas": 1}
    if available:
        status.update(readyReplicas=1, availableReplicas=1)
    if deadline_exceeded:
        status["conditions"] = [
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{name}-7d9f8c6b5" has timed out progressing.',
            }
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "generation": revision},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {names.LABEL_REVISION: str(revision)}}}},
        "status": status,
    }


def md_step(
    md: Body,
    training_run: Mapping[str, Any] | None,
    deploy: Mapping[str, Any] | None,
    minutes: float,
    monitors: Sequence[Mapping[str, Any]] = (),
) -> Body:
    """One ModelDeployment reconcile, as ``modeldeployment.reconcile`` decides it."""
    resolution = resolve_model(md["spec"]["model"], training_run)
    rollout = observe_rollout(deploy)
    old = md.get("status") or {}
    verdicts = [v for v in (monitor_verdict(m) for m in monitors) if v is not None]
    decision = decide(
        history=[Revision.model_validate(r) for r in old.get("history") or []],
        desired_before=old.get("desiredDigest"),
        resolved=resolution if isinstance(resolution, Resolved) else None,
        rollout=rollout,
        verdicts=verdicts,
        policy=Policy(),
        history_limit=10,
        now=at(minutes),
    )
    status = md_status(md, decision, resolution, rollout, url=serving_children.url(md), now=at(minutes))
    deploy_status = (deploy or {}).get("status") or {}
    status["replicas"] = int(deploy_status.get("replicas") or 0)
    status["readyReplicas"] = int(deploy_status.get("readyReplicas") or 0)
    return stored(md, status)


def model_deployments(tr: Mapping[str, Body], monitors: Mapping[str, Body]) -> dict[str, Body]:
    md = applied("modeldeployment.yaml")
    running, succeeded = tr["trainingrun-running"], tr["trainingrun-succeeded"]
    # A second TrainingRun (iris-logreg-2) whose model is bundle B.
    succeeded_b = copy.deepcopy(succeeded)
    succeeded_b["metadata"]["name"] = "iris-logreg-2"
    succeeded_b["status"]["model"].update(uri="pvc://yardarm-artifacts/yardarm/bundles/sha256-bbbbbbbbbbbb")
    succeeded_b["status"]["model"]["digest"] = DIGEST_B
    pending = md_step(md, running, None, 3)
    progressing = md_step(pending, succeeded, None, 7)
    ready = md_step(progressing, succeeded, deployment(md, 1, available=True), 8)
    # Git points spec.model at iris-logreg-2: revision 2 rolls out and serves.
    changed = bumped(ready, lambda spec: spec["model"]["trainingRunRef"].update(name="iris-logreg-2"))
    rolling_b = md_step(changed, succeeded_b, deployment(md, 1, available=True), 20)
    serving_b = md_step(rolling_b, succeeded_b, deployment(md, 2, available=True), 21)
    # The Monitor latches Degraded on revision 2: the operator rolls back to revision 1.
    degraded = copy.deepcopy(monitors["monitor-degraded"])
    degraded["status"]["verdict"].update(revision=2, digest=DIGEST_B)
    rolling_back = md_step(serving_b, succeeded_b, deployment(md, 2, available=True), 40, [degraded])
    rolled_back = md_step(rolling_back, succeeded_b, deployment(md, 1, available=True), 41, [degraded])
    # A first model whose pods never become available: nothing earlier to roll back to.
    failed = md_step(progressing, succeeded, deployment(md, 1, available=False, deadline_exceeded=True), 13)
    return {
        "modeldeployment-new": md,
        "modeldeployment-pending": pending,
        "modeldeployment-pending-no-trainingrun": md_step(md, None, None, 1),
        "modeldeployment-progressing": progressing,
        "modeldeployment-ready": ready,
        "modeldeployment-spec-changed": changed,
        "modeldeployment-ready-revision-2": serving_b,
        "modeldeployment-rolledback": rolled_back,
        "modeldeployment-failed": failed,
    }


# -- Monitor -------------------------------------------------------------------------------------------


def monitors() -> dict[str, Body]:
    mon = applied("monitor.yaml")
    spec = MonitorSpec.model_validate(mon["spec"])
    served = Served(revision=1, digest=DIGEST_A)

    def checks(**results: str) -> list[CheckStatus]:
        detail = {
            "Pass": "within bounds",
            "Fail": "psi 0.81 > 0.5 (petal_length)",
            "Inconclusive": "42 of 100 samples",
        }
        out = []
        for check in spec.checks:
            result = results.get(check.name.replace("-", "_"), "Pass")
            out.append(
                CheckStatus(
                    name=check.name,
                    type=check.type,
                    result=result,  # type: ignore[arg-type]
                    value=0.81 if result == "Fail" else 0.01,
                    threshold=check.threshold,
                    samples=42 if result == "Inconclusive" else 180,
                    message=detail[result],
                )
            )
        return out

    def evaluation(previous: MonitorStatus | None, minutes: int, **results: str) -> MonitorStatus:
        return judge(
            spec,
            previous,
            checks(**results),
            served,
            samples=180,
            generation=1,
            now=at(minutes),
            window_start=at(minutes - 1),
            window_end=at(minutes),
        ).status

    def as_stored(status: MonitorStatus) -> Body:
        return stored(mon, status.to_wire())

    pending = waiting_status(
        None, "WaitingForModel", "ModelDeployment iris serves no model yet", generation=1, now=at(1)
    )
    no_target = halted_status(
        None, "TargetNotFound", "ModelDeployment iris does not exist in namespace ml", generation=1, now=at(1)
    )
    inconclusive = evaluation(pending, 10, input_drift="Inconclusive")
    healthy = evaluation(inconclusive, 11)
    failing = evaluation(healthy, 12, input_drift="Fail")
    degraded = evaluation(failing, 13, input_drift="Fail")
    return {
        "monitor-new": mon,
        "monitor-pending": as_stored(pending),
        "monitor-pending-no-target": as_stored(no_target),
        "monitor-inconclusive": as_stored(inconclusive),
        "monitor-healthy": as_stored(healthy),
        "monitor-failing": as_stored(failing),
        "monitor-degraded": as_stored(degraded),
        "monitor-spec-changed": bumped(as_stored(healthy), lambda spec: spec.update(failureThreshold=3)),
    }


# -- output ----------------------------------------------------------------------------------------------


def fixtures() -> dict[str, Body]:
    """Every recorded object by name (``<kind>-<case>``)."""
    ds = datasets()
    tr = training_runs(ds)
    mon = monitors()
    return {**ds, **tr, **model_deployments(tr, mon), **mon}


def rendered() -> dict[Path, str]:
    """Every fixture file and its expected content."""
    return {OUT / f"{name}.json": json.dumps(obj, indent=2) + "\n" for name, obj in fixtures().items()}


def main() -> int:
    files = rendered()
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        if old not in files:
            old.unlink()
            print(f"removed {old.relative_to(REPO)}")
    for path, content in files.items():
        path.write_text(content)
    print(f"wrote {len(files)} objects to {OUT.relative_to(REPO)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
