"""Why a new revision's pods cannot start, in the pods' own words. Pure.

A Deployment reports a rollout that can never finish only after ``progressDeadlineSeconds``
(600 s by default), and meanwhile counts the old, healthy pods as available. The pods of the new
revision know much sooner: an init container that failed to fetch the bundle, a server that
exited (digest mismatch, invalid ONNX), a crash loop, an image that cannot be pulled. The
reconciler reads those pods while the revision is progressing and fails the rollout at once
with the container's termination message, so status and the Warning Event say what a person
must fix, and the previous revision, still running under ``maxUnavailable: 0``, keeps serving.

A container that exited zero, or one still starting, is not a failure: only non-zero exits,
crash loops and the waiting reasons in :data:`STUCK_WAITING_REASONS` are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from yardarm.operator.jobs import STUCK_WAITING_REASONS

#: Termination messages can be 4 KiB; a status message stays readable.
MESSAGE_LIMIT = 512


@dataclass(frozen=True)
class PodFailure:
    """A pod of the revision cannot start: a CamelCase reason and what the container said."""

    reason: str
    message: str
    pod: str
    container: str


def _exited(terminated: Mapping[str, Any] | None) -> bool:
    return bool(terminated) and int((terminated or {}).get("exitCode") or 0) != 0


def _words(terminated: Mapping[str, Any]) -> str:
    """The container's own message, else its exit code and the kubelet's reason."""
    message = str(terminated.get("message") or "").strip()
    if message:
        lines = [line for line in message.splitlines() if line.strip()]
        message = lines[-1] if lines else message  # FallbackToLogsOnError: the last log line says why
        return message[:MESSAGE_LIMIT]
    return f"exit code {terminated.get('exitCode')} ({terminated.get('reason') or 'Error'})"


def _container_failure(status: Mapping[str, Any], *, init: bool) -> tuple[str, str] | None:
    """(reason, message) when this container status shows it cannot start or keeps dying."""
    state = status.get("state") or {}
    waiting = state.get("waiting") or {}
    terminated = state.get("terminated")
    last = (status.get("lastState") or {}).get("terminated")
    waiting_reason = str(waiting.get("reason") or "")
    if waiting_reason in STUCK_WAITING_REASONS:
        return waiting_reason, str(waiting.get("message") or waiting_reason)[:MESSAGE_LIMIT]
    exited = terminated if _exited(terminated) else last if _exited(last) else None
    if exited is None:
        return None
    if waiting_reason == "CrashLoopBackOff":
        reason = "FetchFailed" if init else "CrashLoopBackOff"
    elif exited.get("reason") == "OOMKilled":
        reason = "OOMKilled"
    else:
        reason = "FetchFailed" if init else "ContainerExited"
    return reason, _words(exited)


def pod_failure(pods: Sequence[Mapping[str, Any]]) -> PodFailure | None:
    """The first failure among ``pods`` (newest pod first; init containers before the server)."""
    ordered = sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True)
    for pod in ordered:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        if meta.get("deletionTimestamp"):
            continue  # a pod on its way out says nothing about the revision
        for key, init in (("initContainerStatuses", True), ("containerStatuses", False)):
            for container in status.get(key) or []:
                found = _container_failure(container, init=init)
                if found is not None:
                    reason, message = found
                    return PodFailure(reason, message, str(meta.get("name") or ""), str(container.get("name") or ""))
    return None


def describe(failure: PodFailure) -> str:
    """One line for status and Events: the pod's own reason first, where it came from after."""
    return f"{failure.message} (container {failure.container} of pod {failure.pod}: {failure.reason})"
