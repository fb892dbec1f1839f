"""Dataset reconcile: one profiling Job per spec, and the profile in ``status``.

Shape: fetch → (create the Job if missing) → read the Job and its pods → build the status with
the pure :func:`dataset_status` → patch it if it changed → emit an Event on a phase change.
A Dataset whose current spec has been profiled (``Ready``) or failed is left alone until its
spec changes; a changed spec gets a new Job (its name hashes the spec).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from yardarm.api.conditions import State
from yardarm.jobresult import ProfileResult
from yardarm.operator import kube, names
from yardarm.operator.context import Context
from yardarm.operator.jobs import JobOutcome, job_outcome, profile_job
from yardarm.operator.podspec import claim_of
from yardarm.operator.statuses import changes, generation_of, invalid_spec, summary

Body = dict[str, Any]
KIND = "Dataset"
#: Poll interval while a Job runs (pods' waiting states are not watched).
RUNNING_REQUEUE = 5.0
TERMINAL = ("Ready", "Failed")


def dataset_status(ds: Mapping[str, Any], job_name: str, outcome: JobOutcome, now: datetime) -> Body:
    """The Dataset's new status from its profiling Job's outcome."""
    old = ds.get("status") or {}
    gen = generation_of(ds)
    status: Body = {"observedGeneration": gen, "jobName": job_name}
    result = outcome.result if isinstance(outcome.result, ProfileResult) else None
    if outcome.state == "Succeeded" and result is not None:
        status.update(
            phase="Ready",
            digest=result.digest,
            rows=result.rows,
            columns=result.columns,
            features=[f.to_wire() for f in result.features] if result.features is not None else None,
            profileUri=result.profile_uri,
            profiledAt=outcome.completion_time,
            message=None,
            warnings=result.warnings,
        )
        message = f"{result.rows} rows, {result.columns} columns, digest {(result.digest or '')[:19]}."
        status["conditions"] = summary(old, State.READY, "Profiled", message, generation=gen, now=now)
    elif outcome.state == "Failed":
        status.update(phase="Failed", message=outcome.message)
        status["conditions"] = summary(old, State.STALLED, outcome.reason, outcome.message, generation=gen, now=now)
    elif outcome.stuck:
        status.update(phase="Profiling", message=outcome.message)
        status["conditions"] = summary(old, State.STALLED, outcome.reason, outcome.message, generation=gen, now=now)
    else:
        status.update(phase="Profiling", message=None)
        status["conditions"] = summary(
            old, State.RECONCILING, "Profiling", f"Profiling in Job {job_name}.", generation=gen, now=now
        )
    return status


def _stalled(ds: Mapping[str, Any], reason: str, message: str, now: datetime) -> Body:
    gen = generation_of(ds)
    return {
        "observedGeneration": gen,
        "phase": "Failed",
        "message": message,
        "conditions": summary(ds.get("status"), State.STALLED, reason, message, generation=gen, now=now),
    }


async def reconcile(ctx: Context, namespace: str, name: str) -> float | None:
    """Bring one Dataset's profiling Job and status up to date; seconds until the next look."""
    ds = await kube.call(kube.get, KIND, namespace, name)
    if ds is None:
        return None
    spec = ds.get("spec") or {}
    job_name = names.profile_job_name(name, spec)
    old = ds.get("status") or {}
    if (
        old.get("observedGeneration") == generation_of(ds)
        and old.get("jobName") == job_name
        and old.get("phase") in TERMINAL
    ):
        return None
    now = ctx.clock()
    invalid = invalid_spec(ds)
    if invalid is not None:
        return await _write(ctx, ds, _stalled(ds, "InvalidSpec", f"The spec cannot be run: {invalid}.", now))
    output = (spec.get("output") or {}).get("uri") or ctx.config.output_uri
    if not output:
        message = (
            "No artifact store: set spec.output.uri, or YARDARM_ARTIFACTS_CLAIM or YARDARM_DEFAULT_OUTPUT_URI "
            "on the operator."
        )
        return await _write(ctx, ds, _stalled(ds, "NoArtifactStore", message, now))
    claim = claim_of(output)
    source_claim = claim_of((spec.get("source") or {}).get("uri"))
    if source_claim and claim and source_claim != claim:
        message = f"The source is on claim {source_claim!r} but the artifact store is on {claim!r}: use one claim."
        return await _write(ctx, ds, _stalled(ds, "ClaimMismatch", message, now))
    job = await kube.call(kube.get, "Job", namespace, job_name)
    if job is None:
        desired = profile_job(ds, output_uri=output, claim=claim or source_claim, config=ctx.config)
        try:
            job = await kube.call(kube.create, desired)
        except kube.ConflictError:
            job = await kube.call(kube.get, "Job", namespace, job_name)
        pods: list[Body] = []
    else:
        pods = await kube.call(kube.list_objects, "Pod", namespace, labels={"batch.kubernetes.io/job-name": job_name})
    outcome = job_outcome(job, pods)
    return await _write(ctx, ds, dataset_status(ds, job_name, outcome, now))


async def _write(ctx: Context, ds: Body, status: Body) -> float | None:
    old = ds.get("status") or {}
    patch = changes(old, status)
    meta = ds["metadata"]
    if patch:
        await kube.call(kube.patch_status, KIND, meta["namespace"], meta["name"], patch)
        ctx.notify(KIND, meta["namespace"], meta["name"])
        if status.get("phase") != old.get("phase") or _reason(status) != _reason(old):
            await _event(ds, status)
    return None if status.get("phase") in TERMINAL else RUNNING_REQUEUE


def _reason(status: Mapping[str, Any]) -> str | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            reason: str | None = cond.get("reason")
            return reason
    return None


async def _event(ds: Body, status: Mapping[str, Any]) -> None:
    phase = status.get("phase")
    reason = _reason(status) or str(phase)
    if phase == "Ready":
        message = next(c["message"] for c in status["conditions"] if c["type"] == "Ready")
        await kube.call(kube.emit_event, ds, type_="Normal", reason="Profiled", message=message)
    elif phase == "Failed" or status.get("message"):
        await kube.call(kube.emit_event, ds, type_="Warning", reason=reason, message=str(status.get("message") or ""))
    else:
        await kube.call(
            kube.emit_event, ds, type_="Normal", reason="Profiling", message=f"Job {status.get('jobName')}."
        )
