"""ModelDeployment reconcile: resolve the model, decide the revision, serve it, report truthfully.

Shape: fetch the ModelDeployment, its TrainingRun (if any) and its Deployment → resolve the
model (:func:`resolve_model`) → read the rollout (:func:`observe_rollout`) → decide the
revision (:func:`yardarm.operator.rollback.decide`) → **write status** (the decision is now
recorded) → apply Deployment, Service, HPA and PDB → emit Events and count rollbacks.

``Ready`` is true only when the Deployment's controller has seen the latest template and every
desired pod of the target revision is updated and available, with no old pods left — so a
crash-looping model is never Ready. A rollback leaves the resource ``Stalled`` (phase
``RolledBack``): a good model serves, but not the one ``spec.model`` asks for, and a person must
change ``spec.model`` to move on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from yardarm.api.conditions import State
from yardarm.api.modeldeployment import Revision
from yardarm.operator import kube, names, serving_children, storagecheck
from yardarm.operator.context import Context
from yardarm.operator.metrics import ROLLBACKS
from yardarm.operator.podfailure import describe, pod_failure
from yardarm.operator.podspec import claim_of
from yardarm.operator.rollback import (
    Decision,
    MonitorVerdict,
    Policy,
    Resolved,
    Rollout,
    RolloutState,
    decide,
    short,
)
from yardarm.operator.statuses import ExtraCondition, changes, condition, generation_of, invalid_spec, summary

Body = dict[str, Any]
KIND = "ModelDeployment"
log = logging.getLogger("yardarm.operator.modeldeployment")
#: Seconds between looks at a rollout in progress (pods failing to start are not watched).
PROGRESS_REQUEUE = 3.0


@dataclass(frozen=True)
class Unresolved:
    """Why ``spec.model`` names no servable model right now."""

    state: State
    reason: str
    message: str


def resolve_model(model: Mapping[str, Any], training_run: Mapping[str, Any] | None) -> Resolved | Unresolved:
    """The bundle ``spec.model`` points at, or why there is none yet."""
    if model.get("uri"):
        return Resolved(digest=str(model["digest"]), uri=str(model["uri"]))
    ref = (model.get("trainingRunRef") or {}).get("name", "")
    if training_run is None:
        return Unresolved(State.STALLED, "TrainingRunNotFound", f"TrainingRun {ref} does not exist.")
    status = training_run.get("status") or {}
    phase = status.get("phase")
    if phase == "Failed":
        why = status.get("message") or "see its status"
        return Unresolved(
            State.STALLED, "TrainingRunFailed", f"TrainingRun {ref} failed ({status.get('reason') or 'Failed'}): {why}"
        )
    if phase == "Succeeded":
        info = status.get("model") or {}
        if info.get("uri") and info.get("digest"):
            return Resolved(digest=str(info["digest"]), uri=str(info["uri"]), training_run=ref)
        return Unresolved(State.STALLED, "NoModel", f"TrainingRun {ref} succeeded but reports no model.")
    return Unresolved(
        State.RECONCILING,
        "WaitingForTrainingRun",
        f"Waiting for TrainingRun {ref} to succeed (phase {phase or 'Pending'}).",
    )


def _deploy_condition(deploy: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in (deploy.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None)


_REPLICASET_IN_MESSAGE = re.compile(r'ReplicaSet "([^"]+)"')


def timed_out(deploy: Mapping[str, Any] | None) -> bool:
    """Whether the Deployment reports ProgressDeadlineExceeded (then its ReplicaSets are worth a look)."""
    progressing = _deploy_condition(deploy or {}, "Progressing")
    return bool(progressing and progressing.get("reason") == "ProgressDeadlineExceeded")


def observe_rollout(deploy: Mapping[str, Any] | None, replica_sets: Sequence[Mapping[str, Any]] = ()) -> Rollout:
    """What the Deployment says about the revision its template runs.

    A ProgressDeadlineExceeded condition outlives the rollout it is about: right after a
    rollback it still names the failed ReplicaSet. So the failure is pinned to the revision of
    the ReplicaSet the condition's message names, when ``replica_sets`` are given.
    """
    if deploy is None:
        return Rollout(None, RolloutState.UNKNOWN, "No Deployment yet.")
    labels = ((deploy.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    try:
        revision: int | None = int(labels[names.LABEL_REVISION])
    except (KeyError, ValueError):
        revision = None
    status = deploy.get("status") or {}
    if (status.get("observedGeneration") or 0) < (generation_of(deploy) or 0):
        return Rollout(revision, RolloutState.UNKNOWN, "The Deployment controller has not seen the latest template.")
    progressing = _deploy_condition(deploy, "Progressing")
    if progressing and progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
        message = str(progressing.get("message") or "")
        failed_revision = revision
        named = _REPLICASET_IN_MESSAGE.search(message)
        failing_set = named.group(1) if named else None
        for rs in replica_sets if named else ():
            if rs["metadata"]["name"] == failing_set:
                labels_rs = ((rs.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
                with contextlib.suppress(KeyError, ValueError):
                    failed_revision = int(labels_rs[names.LABEL_REVISION])
        if failed_revision == revision:
            return Rollout(revision, RolloutState.FAILED, message)
    want = (deploy.get("spec") or {}).get("replicas")
    want = 1 if want is None else int(want)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    total = int(status.get("replicas") or 0)
    if updated >= want and available >= want and total <= updated:
        return Rollout(revision, RolloutState.AVAILABLE, f"{available}/{want} pods available.")
    return Rollout(
        revision,
        RolloutState.PROGRESSING,
        f"{available}/{want} pods available, {updated} updated, {total - updated} old.",
    )


def verdicts_of(monitors: Sequence[Mapping[str, Any]], target: str) -> list[MonitorVerdict]:
    """The verdicts of the Monitors (whole objects) that target ``target``."""
    out = []
    for mon in monitors:
        spec = mon.get("spec") or {}
        if (spec.get("targetRef") or {}).get("name") != target:
            continue
        verdict = monitor_verdict(mon)
        if verdict is not None:
            out.append(verdict)
    return out


def monitor_verdict(mon: Mapping[str, Any]) -> MonitorVerdict | None:
    """One Monitor's verdict (``None`` when it has none yet)."""
    verdict = (mon.get("status") or {}).get("verdict")
    if not verdict:
        return None
    return MonitorVerdict(
        monitor=str(mon["metadata"]["name"]),
        action=(mon.get("spec") or {}).get("action", "rollback"),
        degraded=bool(verdict.get("degraded")),
        digest=verdict.get("digest"),
        reason=verdict.get("reason"),
    )


def md_status(
    md: Mapping[str, Any],
    decision: Decision,
    resolution: Resolved | Unresolved,
    rollout: Rollout,
    *,
    url: str,
    now: datetime,
    unservable: str | None = None,
    storage_warning: str | None = None,
) -> Body:
    """The ModelDeployment's new status from the decision and the observed rollout.

    ``storage_warning`` (from :mod:`yardarm.operator.storagecheck`) sets the ``SingleNodeStorage``
    condition: the bundle's claim attaches to one node while several can run the pods.
    """
    old = md.get("status") or {}
    gen = generation_of(md)
    target = decision.target
    status: Body = {
        "observedGeneration": gen,
        "desiredDigest": decision.desired_digest,
        "history": [r.to_wire() for r in decision.history] or None,
        "deploymentName": names.serving_name(md["metadata"]["name"]),
        "labelSelector": names.selector_string(names.serving_selector(md["metadata"]["name"])),
        "url": url,
        "grpcAddress": serving_children.grpc_address(md),
    }
    serving = next((r for r in decision.history if r.outcome == "Serving"), None)
    if serving is not None:
        status.update(currentRevision=serving.revision, currentDigest=serving.model_digest)
    bad = next((r for r in reversed(decision.history) if r.model_digest == decision.desired_digest), None)
    rolled = target is not None and bad is not None and target.model_digest != decision.desired_digest
    if rolled and bad is not None:
        why = "Monitor" if bad.outcome == "RolledBack" else "RolloutFailed"
        extra: list[ExtraCondition] = [
            ("RolledBack", "True", why, f"Revision {bad.revision} ({short(bad.model_digest)}): {bad.reason}")
        ]
    else:
        extra = [("RolledBack", "False", "NotRolledBack", "")]
    if storage_warning:
        extra.append((storagecheck.CONDITION, "True", storagecheck.REASON, storage_warning))
    elif condition(old, storagecheck.CONDITION) is not None:
        extra.append((storagecheck.CONDITION, "False", "StorageReachable", ""))

    def finish(phase: str, state: State, reason: str, message: str) -> Body:
        status["phase"] = phase
        status["message"] = message
        status["conditions"] = summary(old, state, reason, message, generation=gen, now=now, extra=extra)
        return status

    if unservable:
        return finish("Failed", State.STALLED, "UnservableModel", unservable)
    if isinstance(resolution, Unresolved) and target is None:
        return finish("Pending", resolution.state, resolution.reason, resolution.message)
    if isinstance(resolution, Unresolved) and resolution.state is State.STALLED:
        return finish("Failed", State.STALLED, resolution.reason, resolution.message)
    if target is None:
        return finish("Pending", State.RECONCILING, "Pending", "Waiting for a model.")
    if decision.blocked:
        return finish("Failed", State.STALLED, "RollbackImpossible", decision.blocked)
    if target.outcome == "Failed":
        return finish("Failed", State.STALLED, "RolloutFailed", f"Revision {target.revision}: {target.reason}")
    ready = (
        target.outcome == "Serving" and rollout.revision == target.revision and rollout.state is RolloutState.AVAILABLE
    )
    if rolled:
        why = f"revision {bad.revision} ({short(bad.model_digest)}) {bad.outcome}: {bad.reason}" if bad else ""
        state_text = "serving" if ready else "rolling back to"
        message = (
            f"Rolled back: {state_text} revision {target.revision} ({short(target.model_digest)}); {why}. "
            "Change spec.model to deploy another model."
        )
        return finish("RolledBack", State.STALLED, "RolledBack", message)
    if ready:
        message = f"Revision {target.revision} ({short(target.model_digest)}) is serving: {rollout.message}"
        return finish("Ready", State.READY, "Serving", message)
    if rollout.state is RolloutState.FAILED and target.outcome == "Serving":
        return finish("Failed", State.STALLED, rollout.reason, rollout.message)
    message = f"Rolling out revision {target.revision} ({short(target.model_digest)}): {rollout.message}"
    return finish("Progressing", State.RECONCILING, "Progressing", message)


def invalid_status(md: Mapping[str, Any], message: str, now: datetime) -> Body:
    """Status of a ModelDeployment whose spec the API server admitted but no serving child can be built from."""
    gen = generation_of(md)
    text = f"The spec cannot be served: {message}."
    return {
        "observedGeneration": gen,
        "phase": "Failed",
        "message": text,
        "labelSelector": names.selector_string(names.serving_selector(md["metadata"]["name"])),
        "conditions": summary(md.get("status"), State.STALLED, "InvalidSpec", text, generation=gen, now=now),
    }


async def reconcile(ctx: Context, namespace: str, name: str) -> float | None:
    """Bring one ModelDeployment's serving children and status up to date."""
    # The Deployment as last seen on the watch, else read together with the object (one round trip).
    deploy = ctx.deployment(namespace, names.serving_name(name))
    if deploy is not None:
        md = await kube.call(kube.get, KIND, namespace, name)
    else:
        md, deploy = await asyncio.gather(
            kube.call(kube.get, KIND, namespace, name),
            kube.call(kube.get, "Deployment", namespace, names.serving_name(name)),
        )
    if md is None:
        return None
    invalid = invalid_spec(md)
    if invalid is not None:
        # Nothing is built or recorded for a spec no child can be made of; what serves keeps serving.
        status = invalid_status(md, invalid, ctx.clock())
        old = md.get("status") or {}
        patch = changes(old, status)
        if patch:
            await kube.call(kube.patch_status, KIND, namespace, name, patch)
        await _transition_events(md, old, status)
        return None
    spec = md.get("spec") or {}
    model = spec.get("model") or {}
    training_run = None
    ref = (model.get("trainingRunRef") or {}).get("name")
    if ref:
        ctx.depend((KIND, namespace, name), ("TrainingRun", namespace, ref))
        training_run = await kube.call(kube.get, "TrainingRun", namespace, ref)
    resolution = resolve_model(model, training_run)
    replica_sets = (
        await kube.call(kube.list_objects, "ReplicaSet", namespace, labels=names.serving_selector(name))
        if timed_out(deploy)
        else []
    )
    rollout = observe_rollout(deploy, replica_sets)
    old = md.get("status") or {}
    history = [Revision.model_validate(r) for r in old.get("history") or []]
    if rollout_to_check(rollout, history):
        rollout = await _pods_verdict(namespace, name, rollout)
    policy_spec = spec.get("rollback") or {}
    now = ctx.clock()
    verdicts = ctx.verdicts_for(namespace, name)
    policy = Policy(
        on_degraded=bool(policy_spec.get("onDegraded", True)),
        on_failed_rollout=bool(policy_spec.get("onFailedRollout", True)),
    )
    decision = decide(
        history=history,
        desired_before=old.get("desiredDigest"),
        resolved=resolution if isinstance(resolution, Resolved) else None,
        rollout=rollout,
        verdicts=verdicts,
        policy=policy,
        history_limit=int(spec.get("revisionHistoryLimit", 10)),
        now=now,
    )
    desired_deploy = None
    unservable = None
    if decision.target is not None:
        try:
            desired_deploy = serving_children.deployment(
                md, decision.target, ctx.config, store_options(model, training_run)
            )
        except serving_children.UnservableModel as exc:
            unservable = str(exc)
    claim = claim_of(decision.target.model_uri) if decision.target is not None else None
    # Nodes are cluster-scoped: only the cluster-wide install may list them (operator/rbac.py).
    storage_warning = await storagecheck.check(namespace, claim) if claim and ctx.config.all_namespaces else None
    status = md_status(
        md,
        decision,
        resolution,
        rollout,
        url=serving_children.url(md),
        now=now,
        unservable=unservable,
        storage_warning=storage_warning,
    )
    deploy_status = (deploy or {}).get("status") or {}
    status["replicas"] = int(deploy_status.get("replicas") or 0)
    status["readyReplicas"] = int(deploy_status.get("readyReplicas") or 0)
    patch = changes(old, status)
    write = kube.call(kube.patch_status, KIND, namespace, name, patch) if patch else None
    if decision.rollback is not None or desired_deploy is None:
        # A rollback is recorded before it is acted on: a restart in between repeats the same
        # apply and never loses the decision (nor takes a different one).
        if write is not None:
            await write
        if desired_deploy is not None:
            await _apply_children(md, desired_deploy)
    else:
        # Anything else is a pure function of spec + status, so the writes may race each other:
        # whichever lands, the next reconcile computes the same result.
        await asyncio.gather(*(c for c in (write, _apply_children(md, desired_deploy)) if c is not None))
    await asyncio.gather(
        *(kube.call(kube.emit_event, md, type_=e.type, reason=e.reason, message=e.message) for e in decision.events)
    )
    if decision.rollback is not None:
        ROLLBACKS.labels(trigger=decision.rollback.trigger).inc()
        meta = md.get("metadata") or {}
        log.info(
            "ModelDeployment %s/%s: rolled back from revision %s to %s (%s): %s",
            meta.get("namespace"),
            meta.get("name"),
            decision.rollback.from_revision,
            decision.rollback.to_revision,
            decision.rollback.trigger,
            decision.rollback.reason,
        )
    await _announce_degraded(ctx, md, decision, verdicts, rollback_on_degraded=policy.on_degraded)
    await _transition_events(md, old, status)
    # Rollout progress arrives as Deployment events and verdicts as Monitor events. Pods that
    # cannot start change no Deployment field, so a rollout in progress is looked at again soon.
    if decision.target is not None and decision.target.outcome == "Progressing":
        return min(PROGRESS_REQUEUE, ctx.config.resync_seconds)
    return ctx.config.resync_seconds


def rollout_to_check(rollout: Rollout, history: Sequence[Revision]) -> bool:
    """Whether the pods decide this rollout: a revision still rolling out, never one that served.

    A serving revision's pod that crashes once is the Deployment's to restart, not a failed rollout.
    """
    if rollout.state is not RolloutState.PROGRESSING or rollout.revision is None:
        return False
    return any(r.revision == rollout.revision and r.outcome == "Progressing" for r in history)


async def _pods_verdict(namespace: str, name: str, rollout: Rollout) -> Rollout:
    """The rollout as the new revision's pods see it: failed at once when one cannot start."""
    selector = {**names.serving_selector(name), names.LABEL_REVISION: str(rollout.revision)}
    pods = await kube.call(kube.list_objects, "Pod", namespace, labels=selector)
    failure = pod_failure(pods)
    if failure is None:
        return rollout
    return Rollout(rollout.revision, RolloutState.FAILED, describe(failure), reason=failure.reason)


def store_options(model: Mapping[str, Any], training_run: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """S3 options of the bundle: ``spec.model.s3``, else the TrainingRun's ``spec.output.s3``."""
    if model.get("s3"):
        options: Mapping[str, Any] = model["s3"]
        return options
    if training_run is not None and model.get("trainingRunRef"):
        return ((training_run.get("spec") or {}).get("output") or {}).get("s3")
    return None


async def _announce_degraded(
    ctx: Context, md: Body, decision: Decision, verdicts: Sequence[MonitorVerdict], *, rollback_on_degraded: bool
) -> None:
    """A degraded verdict that causes no rollback (``action: alert``, or the policy is off) gets a Warning once."""
    target = decision.target
    if target is None or target.outcome != "Serving" or decision.rollback is not None:
        return
    meta = md["metadata"]
    for verdict in verdicts:
        if not verdict.degraded or verdict.digest != target.model_digest:
            continue
        if verdict.action == "rollback" and rollback_on_degraded:
            continue  # decide() rolled back, or found nowhere to go (RollbackImpossible)
        key = (meta["namespace"], meta["name"], verdict.monitor, target.model_digest)
        if key in ctx.announced:
            continue
        ctx.announced.add(key)
        why = "action is alert" if verdict.action == "alert" else "spec.rollback.onDegraded is false"
        message = (
            f"Monitor {verdict.monitor}: revision {target.revision} ({short(target.model_digest)}) is degraded: "
            f"{verdict.reason or 'see the Monitor'}; not rolling back ({why})."
        )
        await kube.call(kube.emit_event, md, type_="Warning", reason="ModelDegraded", message=message)


async def _transition_events(md: Body, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Warnings for Stalled reasons not already announced by a decision event, and for single-node storage."""
    storage_before, storage = condition(old, storagecheck.CONDITION), condition(new, storagecheck.CONDITION)
    newly = storage_before is None or storage_before.get("status") != "True"
    if storage is not None and storage.get("status") == "True" and newly:
        await kube.call(
            kube.emit_event, md, type_="Warning", reason=storagecheck.REASON, message=str(storage.get("message"))
        )
    before, after = condition(old, "Stalled"), condition(new, "Stalled")
    if after is None or after.get("status") != "True":
        return
    if before is not None and before.get("status") == "True" and before.get("reason") == after.get("reason"):
        return
    if after.get("reason") in ("RolledBack",):
        return
    await kube.call(
        kube.emit_event, md, type_="Warning", reason=str(after.get("reason")), message=str(after.get("message"))
    )


#: How long a remembered apply stays trusted before it is sent again (corrects edits by others).
APPLY_TTL = 600.0
#: Children applied, by (kind, namespace, name): content hash and expiry. ``None`` hash: known absent.
_applied: dict[tuple[str, str, str], tuple[str | None, float]] = {}


def _remembered(key: tuple[str, str, str], fingerprint: str | None) -> bool:
    entry = _applied.get(key)
    return entry is not None and entry[0] == fingerprint and entry[1] > time.monotonic()


async def _apply(obj: Body) -> None:
    meta = obj["metadata"]
    key = (obj["kind"], meta["namespace"], meta["name"])
    fingerprint = names.short_hash(obj, 16)
    if _remembered(key, fingerprint):
        return
    await kube.call(kube.apply, obj)
    _applied[key] = (fingerprint, time.monotonic() + APPLY_TTL)


async def _absent(kind: str, namespace: str, name: str) -> None:
    key = (kind, namespace, name)
    if _remembered(key, None):
        return
    await kube.call(kube.delete, kind, namespace, name)
    _applied[key] = (None, time.monotonic() + APPLY_TTL)


def forget(kind: str, namespace: str, name: str) -> None:
    """A child changed or vanished outside the operator: apply it again next time."""
    _applied.pop((kind, namespace, name), None)


async def _apply_children(md: Body, desired_deploy: Body) -> None:
    """Apply the Deployment and its companions (independent objects, so concurrently)."""
    namespace, name = md["metadata"]["namespace"], md["metadata"]["name"]
    child = names.serving_name(name)
    writes = [_apply(desired_deploy), _apply(serving_children.service(md))]
    for kind, desired in (
        ("HorizontalPodAutoscaler", serving_children.hpa(md)),
        ("PodDisruptionBudget", serving_children.pdb(md)),
    ):
        if desired is not None:
            writes.append(_apply(desired))
        elif (generation_of(md) or 1) > 1:
            # At generation 1 the spec never asked for one, so there is nothing to delete.
            writes.append(_absent(kind, namespace, child))
    await asyncio.gather(*writes)
