"""Profiling and training Jobs: the pure builders, and what a finished (or stuck) Job means.

A Job reports back through its container's termination message (see :mod:`yardarm.jobresult`),
so the operator needs only to read pods, never to give them API access. When there is no
message (the container was killed, the image never pulled, the deadline passed), the reason is
taken from the pod's container state and the Job's conditions, in that order of precedence,
so a person sees ``OOMKilled`` rather than a bare ``BackoffLimitExceeded``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from yardarm.jobresult import TERMINATION_LOG, ExitCode, ProfileResult, TrainResult, decode_result
from yardarm.operator import names
from yardarm.operator.config import Config
from yardarm.operator.podspec import (
    StoreAccess,
    artifacts_volume,
    container_security_context,
    owner_reference,
    pod_security_context,
    resources,
    store_access,
    tmp_volume,
)

Body = dict[str, Any]
JobState = Literal["Pending", "Running", "Succeeded", "Failed"]

#: Environment variables that carry the owner objects (as JSON) into the Job's container.
ENV_DATASET = "YARDARM_DATASET"
ENV_TRAININGRUN = "YARDARM_TRAININGRUN"

PROFILE_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
TRAIN_RESOURCES = {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}
PROFILE_DEADLINE_SECONDS = 1800
PROFILE_TTL_SECONDS = 86400

#: Waiting reasons that mean the container will not start without a person's help.
STUCK_WAITING_REASONS = (
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "ErrImageNeverPull",
)


def _slim(obj: Mapping[str, Any]) -> Body:
    """What the Job needs of an owner object: apiVersion, kind, name, namespace and spec."""
    meta = obj.get("metadata") or {}
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")},
        "spec": obj.get("spec") or {},
    }


def source_credentials(dataset: Mapping[str, Any] | None) -> Body:
    """The credentials and CA part of a Dataset's ``source.s3`` (the runtime reads its endpoint from the spec)."""
    source_s3 = (((dataset or {}).get("spec") or {}).get("source") or {}).get("s3") or {}
    return {
        k: source_s3[k] for k in ("credentialsSecretRef", "defaultCredentialChain", "caBundleRef") if source_s3.get(k)
    }


def output_s3(owner: Mapping[str, Any]) -> Body | None:
    """The ``spec.output.s3`` options of a Dataset or TrainingRun."""
    return ((owner.get("spec") or {}).get("output") or {}).get("s3")


def _job(
    *,
    owner: Mapping[str, Any],
    name: str,
    labels: Mapping[str, str],
    args: Sequence[str],
    env: Sequence[Body],
    store: StoreAccess,
    container_resources: Body,
    claim: str | None,
    backoff_limit: int,
    active_deadline_seconds: int,
    ttl_seconds: int,
    config: Config,
) -> Body:
    tmp, tmp_mount = tmp_volume()
    volumes, mounts = [tmp, *store.volumes], [tmp_mount, *store.mounts]
    if claim:
        volume, mount = artifacts_volume(claim, read_only=False)
        volumes.append(volume)
        mounts.append(mount)
    pod_spec: Body = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "containers": [
            {
                "name": "main",
                "image": config.training_image,
                "imagePullPolicy": config.image_pull_policy,
                "command": ["yardarm-train"],
                "args": list(args),
                "env": [*env, *store.env],
                "resources": container_resources,
                "securityContext": container_security_context(),
                "volumeMounts": mounts,
                "terminationMessagePath": TERMINATION_LOG,
                "terminationMessagePolicy": "File",
            }
        ],
        "volumes": volumes,
    }
    if config.job_service_account:
        pod_spec["serviceAccountName"] = config.job_service_account
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": owner["metadata"]["namespace"],
            "labels": dict(labels),
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "backoffLimit": backoff_limit,
            "podFailurePolicy": pod_failure_policy(),
            "activeDeadlineSeconds": active_deadline_seconds,
            "ttlSecondsAfterFinished": ttl_seconds,
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def pod_failure_policy() -> Body:
    """Fail at once on exit codes the user must fix; do not count evictions against backoffLimit."""
    user_caused = sorted(int(code) for code in ExitCode if code.user_caused)
    return {
        "rules": [
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": user_caused}},
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]
    }


def profile_job(dataset: Mapping[str, Any], *, output_uri: str, claim: str | None, config: Config) -> Body:
    """The Job that runs ``yardarm-train profile`` for the Dataset's current spec."""
    name = names.profile_job_name(dataset["metadata"]["name"], dataset.get("spec") or {})
    return _job(
        owner=dataset,
        name=name,
        labels=names.profile_labels(dataset["metadata"]["name"]),
        args=["profile", "--spec-env", ENV_DATASET, "--output", output_uri],
        env=[{"name": ENV_DATASET, "value": json.dumps(_slim(dataset), sort_keys=True)}],
        store=store_access(config, output_s3(dataset), source_credentials(dataset)),
        container_resources=resources(None, PROFILE_RESOURCES),
        claim=claim,
        backoff_limit=1,
        active_deadline_seconds=PROFILE_DEADLINE_SECONDS,
        ttl_seconds=PROFILE_TTL_SECONDS,
        config=config,
    )


def training_job(
    training_run: Mapping[str, Any],
    dataset: Mapping[str, Any],
    *,
    output_uri: str,
    claim: str | None,
    dataset_digest: str | None,
    config: Config,
) -> Body:
    """The Job that runs ``yardarm-train train``, pinned to the Dataset digest seen now."""
    spec = training_run.get("spec") or {}
    job = spec.get("job") or {}
    args = ["train", "--spec-env", ENV_TRAININGRUN, "--dataset-env", ENV_DATASET, "--output", output_uri]
    if dataset_digest:
        args += ["--dataset-digest", dataset_digest]
    return _job(
        owner=training_run,
        name=names.training_job_name(training_run["metadata"]["name"]),
        labels=names.training_labels(training_run["metadata"]["name"]),
        args=args,
        env=[
            {"name": ENV_TRAININGRUN, "value": json.dumps(_slim(training_run), sort_keys=True)},
            {"name": ENV_DATASET, "value": json.dumps(_slim(dataset), sort_keys=True)},
        ],
        store=store_access(config, output_s3(training_run), source_credentials(dataset)),
        container_resources=resources(job.get("resources"), TRAIN_RESOURCES),
        claim=claim,
        backoff_limit=int(job.get("backoffLimit", 1)),
        active_deadline_seconds=int(job.get("activeDeadlineSeconds", 3600)),
        ttl_seconds=int(job.get("ttlSecondsAfterFinished", 86400)),
        config=config,
    )


@dataclass(frozen=True)
class JobOutcome:
    """What a Job and its pods say: the state, a CamelCase reason, a sentence, and the result."""

    state: JobState
    reason: str
    message: str
    result: ProfileResult | TrainResult | None = None
    start_time: str | None = None
    completion_time: str | None = None
    #: True when a container cannot start and needs a person (bad image, missing Secret).
    stuck: bool = False


def _condition(job: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    conditions: list[Mapping[str, Any]] = (job.get("status") or {}).get("conditions") or []
    for cond in conditions:
        if cond.get("type") == type_ and cond.get("status") == "True":
            return cond
    return None


def _pod_time(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("creationTimestamp") or "")


def _terminations(pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Terminated container states, newest pod first (current state before last state)."""
    out = []
    for pod in sorted(pods, key=_pod_time, reverse=True):
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            for which in ("state", "lastState"):
                terminated = (status.get(which) or {}).get("terminated")
                if terminated:
                    out.append(terminated)
    return out


def _waiting(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The waiting state of a container that cannot start, if any pod has one."""
    for pod in sorted(pods, key=_pod_time, reverse=True):
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting: Mapping[str, Any] | None = (status.get("state") or {}).get("waiting")
            if waiting and waiting.get("reason") in STUCK_WAITING_REASONS:
                return waiting
    return None


def _result(terminations: Sequence[Mapping[str, Any]]) -> ProfileResult | TrainResult | None:
    for terminated in terminations:
        message = terminated.get("message")
        if message:
            try:
                return decode_result(message)
            except (ValidationError, ValueError):
                continue
    return None


def _limit_of(job: Mapping[str, Any]) -> str | None:
    try:
        container = job["spec"]["template"]["spec"]["containers"][0]
        return str(container["resources"]["limits"]["memory"])
    except (KeyError, IndexError, TypeError):
        return None


def job_outcome(job: Mapping[str, Any] | None, pods: Sequence[Mapping[str, Any]]) -> JobOutcome:
    """Interpret a Job and its pods (``job`` ``None``: not created yet)."""
    if job is None:
        return JobOutcome("Pending", "JobPending", "The Job has not been created yet.")
    status = job.get("status") or {}
    start, end = status.get("startTime"), status.get("completionTime")
    terminations = _terminations(pods)
    result = _result(terminations)
    complete = _condition(job, "Complete")
    failed = _condition(job, "Failed")
    if complete is not None:
        if result is not None and result.ok:
            return JobOutcome("Succeeded", result.reason or "Succeeded", result.message, result, start, end)
        return JobOutcome(
            "Failed",
            "ResultMissing",
            "The Job completed but its container left no result in the termination message.",
            result,
            start,
            end,
        )
    if failed is not None:
        end = end or failed.get("lastTransitionTime")
        if result is not None and not result.ok:
            return JobOutcome("Failed", result.reason, result.message, result, start, end)
        oom = next((t for t in terminations if t.get("reason") == "OOMKilled"), None)
        if oom is not None:
            limit = _limit_of(job)
            where = f" (limit {limit})" if limit else ""
            return JobOutcome(
                "Failed", "OOMKilled", f"The container ran out of memory{where} and was killed.", result, start, end
            )
        waiting = _waiting(pods)
        job_reason = str(failed.get("reason") or "JobFailed")
        job_message = str(failed.get("message") or "The Job failed.")
        if waiting is not None:
            return JobOutcome(
                "Failed",
                str(waiting.get("reason")),
                f"{job_reason}: the container never started: {waiting.get('message') or waiting.get('reason')}",
                result,
                start,
                end,
            )
        crashed = next((t for t in terminations if t.get("exitCode")), None)
        if crashed is not None and job_reason == "BackoffLimitExceeded":
            detail = crashed.get("reason") or "Error"
            job_message = f"{job_message} Last container exit code {crashed.get('exitCode')} ({detail})."
        return JobOutcome("Failed", job_reason, job_message, result, start, end)
    waiting = _waiting(pods)
    if waiting is not None:
        return JobOutcome(
            "Running",
            str(waiting.get("reason")),
            f"The container cannot start: {waiting.get('message') or waiting.get('reason')}",
            None,
            start,
            None,
            stuck=True,
        )
    if status.get("active") or status.get("ready"):
        return JobOutcome("Running", "JobRunning", "The Job is running.", None, start, None)
    return JobOutcome("Pending", "JobPending", "The Job's pod is waiting to start.", None, start, None)


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp from the API, or ``None``."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
