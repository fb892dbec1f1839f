"""TrainingRun reconcile: wait for the Dataset, run one training Job, record what it produced.

A TrainingRun is a record: once ``Succeeded`` or ``Failed`` it is never touched again (its spec
is immutable, and its Job may already be gone after ``ttlSecondsAfterFinished``). Before that,
the Job has a fixed name, so creating it is idempotent across retries and restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from yardarm.api.conditions import State
from yardarm.jobresult import TrainResult
from yardarm.operator import kube, names
from yardarm.operator.context import Context
from yardarm.operator.jobs import JobOutcome, job_outcome, training_job
from yardarm.operator.podspec import claim_of
from yardarm.operator.statuses import changes, generation_of, invalid_spec, summary, timestamp

Body = dict[str, Any]
KIND = "TrainingRun"
TERMINAL = ("Succeeded", "Failed")
RUNNING_REQUEUE = 5.0
WAITING_REQUEUE = 30.0


def dataset_gate(ds: Mapping[str, Any] | None, ref: str) -> tuple[State, str, str] | None:
    """Why training cannot start yet (state, reason, message), or ``None`` when the Dataset is Ready."""
    if ds is None:
        return State.RECONCILING, "WaitingForDataset", f"Waiting for Dataset {ref} to exist."
    status = ds.get("status") or {}
    phase = status.get("phase")
    if phase == "Ready" and status.get("observedGeneration") == generation_of(ds) and status.get("digest"):
        return None
    if phase == "Failed":
        return State.STALLED, "DatasetFailed", f"Dataset {ref} failed: {status.get('message') or 'see its status'}"
    return (
        State.RECONCILING,
        "WaitingForDataset",
        f"Waiting for Dataset {ref} to be Ready (phase {phase or 'Pending'}).",
    )


def waiting_status(tr: Mapping[str, Any], gate: tuple[State, str, str], now: datetime) -> Body:
    """Status while the Dataset is not Ready."""
    gen = generation_of(tr)
    state, reason, message = gate
    return {
        "observedGeneration": gen,
        "phase": "Waiting",
        "message": message if state is State.STALLED else None,
        "conditions": summary(tr.get("status"), state, reason, message, generation=gen, now=now),
    }


def invalid_status(tr: Mapping[str, Any], message: str, now: datetime) -> Body:
    """A spec the API server admitted but no Job can run: Failed for good (the spec is immutable)."""
    gen = generation_of(tr)
    text = f"The spec cannot be run: {message}."
    return {
        "observedGeneration": gen,
        "phase": "Failed",
        "completionTime": timestamp(now),
        "reason": "InvalidSpec",
        "message": text,
        "conditions": summary(tr.get("status"), State.STALLED, "InvalidSpec", text, generation=gen, now=now),
    }


def training_status(tr: Mapping[str, Any], job_name: str, outcome: JobOutcome, now: datetime) -> Body:
    """The TrainingRun's status from its Job's outcome."""
    old = tr.get("status") or {}
    gen = generation_of(tr)
    status: Body = {"observedGeneration": gen, "jobName": job_name}
    if outcome.start_time:
        status["startTime"] = outcome.start_time
    result = outcome.result if isinstance(outcome.result, TrainResult) else None
    if result is not None:
        if result.metrics is not None:
            status["metrics"] = result.metrics
        if result.headline:
            status["headline"] = result.headline
        if result.dataset_digest:
            status["datasetDigest"] = result.dataset_digest
        if result.warnings:
            status["warnings"] = result.warnings
    if outcome.state == "Succeeded" and result is not None and result.model is not None:
        message = f"Trained: {result.headline or 'no headline metric'}; model {result.model.digest[:19]}."
        status.update(
            phase="Succeeded",
            model=result.model.to_wire(),
            completionTime=outcome.completion_time or timestamp(now),
            reason=None,
            message=None,
        )
        status["conditions"] = summary(old, State.READY, "Succeeded", message, generation=gen, now=now)
    elif outcome.state in ("Succeeded", "Failed"):
        reason = outcome.reason if outcome.state == "Failed" else "ResultMissing"
        message = outcome.message or "Training failed."
        status.update(
            phase="Failed", completionTime=outcome.completion_time or timestamp(now), reason=reason, message=message
        )
        status["conditions"] = summary(old, State.STALLED, reason, message, generation=gen, now=now)
    else:
        phase = "Running" if outcome.state == "Running" else "Pending"
        status["phase"] = phase
        if outcome.stuck:
            status.update(reason=outcome.reason, message=outcome.message)
            status["conditions"] = summary(old, State.STALLED, outcome.reason, outcome.message, generation=gen, now=now)
        else:
            status.update(reason=None, message=None)
            text = f"Training in Job {job_name}." if phase == "Running" else f"Job {job_name} is starting."
            status["conditions"] = summary(
                old,
                State.RECONCILING,
                "Training" if phase == "Running" else "JobPending",
                text,
                generation=gen,
                now=now,
            )
    return status


async def reconcile(ctx: Context, namespace: str, name: str) -> float | None:
    """Bring one TrainingRun forward; seconds until the next look."""
    tr = await kube.call(kube.get, KIND, namespace, name)
    if tr is None:
        return None
    old = tr.get("status") or {}
    if old.get("phase") in TERMINAL:
        return None
    now = ctx.clock()
    spec = tr.get("spec") or {}
    job_name = names.training_job_name(name)
    job = await kube.call(kube.get, "Job", namespace, job_name)
    pinned: Body = {}
    invalid = invalid_spec(tr) if job is None else None
    if invalid is not None:
        await _write(ctx, tr, invalid_status(tr, invalid, now))
        return None
    if job is None:
        ref = (spec.get("datasetRef") or {}).get("name", "")
        ctx.depend((KIND, namespace, name), ("Dataset", namespace, ref))
        ds = await kube.call(kube.get, "Dataset", namespace, ref)
        gate = dataset_gate(ds, ref)
        if gate is not None:
            await _write(ctx, tr, waiting_status(tr, gate, now))
            return WAITING_REQUEUE
        assert ds is not None
        output = (spec.get("output") or {}).get("uri") or ctx.config.output_uri
        if not output:
            message = "No output store: set spec.output.uri, or YARDARM_ARTIFACTS_CLAIM on the operator."
            gate = (State.STALLED, "NoArtifactStore", message)
            await _write(ctx, tr, waiting_status(tr, gate, now))
            return WAITING_REQUEUE
        digest = (ds.get("status") or {}).get("digest")
        source_claim = claim_of(((ds.get("spec") or {}).get("source") or {}).get("uri"))
        desired = training_job(
            tr, ds, output_uri=output, claim=claim_of(output) or source_claim, dataset_digest=digest, config=ctx.config
        )
        try:
            job = await kube.call(kube.create, desired)
            await kube.call(
                kube.emit_event, tr, type_="Normal", reason="JobCreated", message=f"Training Job {job_name} created."
            )
        except kube.ConflictError:  # created before a restart: the same Job, not a second one
            job = await kube.call(kube.get, "Job", namespace, job_name)
        pinned = {"datasetDigest": digest}
        pods: list[Body] = []
    else:
        pods = await kube.call(kube.list_objects, "Pod", namespace, labels={"batch.kubernetes.io/job-name": job_name})
    status = {**pinned, **training_status(tr, job_name, job_outcome(job, pods), now)}
    await _write(ctx, tr, status)
    return None if status.get("phase") in TERMINAL else RUNNING_REQUEUE


async def _write(ctx: Context, tr: Body, status: Body) -> None:
    old = tr.get("status") or {}
    patch = changes(old, status)
    if not patch:
        return
    meta = tr["metadata"]
    await kube.call(kube.patch_status, KIND, meta["namespace"], meta["name"], patch)
    ctx.notify(KIND, meta["namespace"], meta["name"])
    phase, reason = status.get("phase"), status.get("reason")
    if phase == old.get("phase") and reason == old.get("reason"):
        return
    if phase == "Succeeded":
        message = next(c["message"] for c in status["conditions"] if c["type"] == "Ready")
        await kube.call(kube.emit_event, tr, type_="Normal", reason="Succeeded", message=message)
    elif phase == "Failed" or reason:
        await kube.call(
            kube.emit_event, tr, type_="Warning", reason=str(reason or "Failed"), message=str(status.get("message"))
        )
    elif phase == "Waiting" and status.get("message"):
        stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
        await kube.call(kube.emit_event, tr, type_="Warning", reason=stalled["reason"], message=stalled["message"])
