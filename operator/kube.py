"""The one module that talks to the Kubernetes API: get, list, apply, patch status, events.

Everything else in the operator builds plain dicts and hands them here. Calls are synchronous
(the official ``kubernetes`` client) and cheap to reason about; async code runs them in a bounded
thread pool through :func:`call`, so the Kopf event loop never blocks. Bodies go over the wire as
JSON and come back as plain dicts — the generated model classes are skipped because they are slow
and drop unknown fields.

Writes use server-side apply with the field manager ``yardarm-operator``: applying the same
desired object twice is a no-op, and fields that other managers own (the HPA's replica count,
defaults) are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from yardarm.api.common import GROUP, VERSION
from yardarm.operator.names import MANAGER, selector_string, serving_selector

Body = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the REST API."""

    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The REST path of the collection, or of one object (and its subresource)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


#: The kinds the operator (and the Monitor evaluation) reads or writes.
KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind("Dataset", GROUP, VERSION, "datasets"),
        Kind("TrainingRun", GROUP, VERSION, "trainingruns"),
        Kind("ModelDeployment", GROUP, VERSION, "modeldeployments"),
        Kind("Monitor", GROUP, VERSION, "monitors"),
        Kind("Pod", "", "v1", "pods"),
        Kind("Service", "", "v1", "services"),
        Kind("Event", "", "v1", "events"),
        Kind("ConfigMap", "", "v1", "configmaps"),
        Kind("Namespace", "", "v1", "namespaces", namespaced=False),
        Kind("Node", "", "v1", "nodes", namespaced=False),
        Kind("PersistentVolumeClaim", "", "v1", "persistentvolumeclaims"),
        Kind("Job", "batch", "v1", "jobs"),
        Kind("Deployment", "apps", "v1", "deployments"),
        Kind("ReplicaSet", "apps", "v1", "replicasets"),
        Kind("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers"),
        Kind("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets"),
        Kind("CustomResourceDefinition", "apiextensions.k8s.io", "v1", "customresourcedefinitions", False),
    )
}


class KubeError(Exception):
    """An API call failed; ``status`` is the HTTP status (0 when no answer came)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def transient(self) -> bool:
        """Worth retrying: conflicts, throttling, server errors, no answer."""
        return self.status in (0, 409, 429) or self.status >= 500


class NotFoundError(KubeError):
    """404: the object (or its kind) does not exist."""


class ConflictError(KubeError):
    """409: already exists, or a write raced another one."""


_lock = threading.Lock()
_client: k8s_client.ApiClient | None = None
_executor: ThreadPoolExecutor | None = None


def configure(kubeconfig: str | None = None, *, context: str | None = None, pool_size: int = 16) -> None:
    """Load credentials: the given kubeconfig, else in-cluster, else the default kubeconfig."""
    global _client, _executor
    configuration = k8s_client.Configuration()
    if kubeconfig:
        k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    else:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException:
            k8s_config.load_kube_config(context=context, client_configuration=configuration)
    configuration.connection_pool_maxsize = pool_size
    with _lock:
        _client = k8s_client.ApiClient(configuration)
        _executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="kube")


def configured() -> bool:
    """Whether :func:`configure` has run."""
    return _client is not None


def api_client() -> k8s_client.ApiClient:
    """The shared client (configured on first use from the environment's defaults)."""
    if _client is None:
        configure()
    assert _client is not None
    return _client


def _error(status: int, reason: str, body: bytes | str | None) -> KubeError:
    message = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        status_body = json.loads(message)
        reason = status_body.get("reason") or reason
        message = status_body.get("message") or message
    cls = {404: NotFoundError, 409: ConflictError}.get(status, KubeError)
    return cls(status, reason, message)


def request(
    method: str,
    path: str,
    *,
    body: Any = None,
    query: Iterable[tuple[str, str]] = (),
    content_type: str = "application/json",
    timeout: float = 30.0,
) -> Body | None:
    """One REST call; the JSON answer as plain data (``None`` when empty). Raises :class:`KubeError`."""
    api = api_client()
    headers = {"Accept": "application/json", "Content-Type": content_type}
    method_, url, headers_, body_, post = api.param_serialize(
        method, path, query_params=list(query) or None, header_params=headers, body=body, auth_settings=["BearerToken"]
    )
    try:
        response = api.call_api(
            method_, url, header_params=headers_, body=body_, post_params=post, _request_timeout=timeout
        )
        data = response.read()
    except ApiException as exc:
        raise _error(exc.status or 0, exc.reason or "", exc.body) from None
    except OSError as exc:  # connection refused, reset, TLS errors: no answer at all
        raise KubeError(0, "Unreachable", str(exc)) from None
    if response.status >= 400:
        raise _error(response.status, response.reason or "", data)
    # The I/O boundary: every REST answer is a JSON object (an object, a list or a Status).
    return cast(Body, json.loads(data)) if data else None


def _stored(answer: Body | None) -> Body:
    """The object a write answers with: the API server always sends the stored object back."""
    assert answer is not None, "the API server answered a write with no object"
    return answer


def kind_of(kind: str) -> Kind:
    """The :class:`Kind` for a kind name such as ``Deployment``."""
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"kind {kind!r} is not known to yardarm.operator.kube") from None


def get(kind: str, namespace: str | None, name: str) -> Body | None:
    """The object, or ``None`` when it does not exist."""
    try:
        return request("GET", kind_of(kind).path(namespace, name))
    except NotFoundError:
        return None


def list_objects(
    kind: str,
    namespace: str | None = None,
    *,
    labels: Mapping[str, str] | str | None = None,
    cached: bool = False,
) -> list[Body]:
    """Objects of a kind in a namespace (all namespaces when ``None``), optionally by label selector.

    ``cached`` reads the API server's watch cache (``resourceVersion=0``): cheaper for large
    lists, possibly a moment behind.
    """
    query: list[tuple[str, str]] = [("resourceVersion", "0")] if cached else []
    if labels:
        query.append(("labelSelector", labels if isinstance(labels, str) else selector_string(labels)))
    answer = request("GET", kind_of(kind).path(namespace), query=query) or {}
    items: list[Body] = answer.get("items") or []
    for item in items:  # lists leave out apiVersion/kind on their items
        item.setdefault("apiVersion", kind_of(kind).api_version)
        item.setdefault("kind", kind)
    return items


def apply(obj: Body, *, force: bool = True) -> Body:
    """Server-side apply of a whole desired object as ``yardarm-operator``; the stored object back."""
    kind = kind_of(obj["kind"])
    meta = obj["metadata"]
    query = [("fieldManager", MANAGER)]
    if force:
        query.append(("force", "true"))
    return _stored(
        request(
            "PATCH",
            kind.path(meta.get("namespace"), meta["name"]),
            body=obj,
            query=query,
            content_type="application/apply-patch+yaml",
        )
    )


def create(obj: Body) -> Body:
    """Create an object; :class:`ConflictError` when it already exists."""
    kind = kind_of(obj["kind"])
    return _stored(
        request("POST", kind.path(obj["metadata"].get("namespace")), body=obj, query=[("fieldManager", MANAGER)])
    )


def patch(kind: str, namespace: str | None, name: str, body: Body) -> Body:
    """A JSON merge patch of an object (``None`` values delete keys)."""
    return _stored(
        request(
            "PATCH",
            kind_of(kind).path(namespace, name),
            body=body,
            query=[("fieldManager", MANAGER)],
            content_type="application/merge-patch+json",
        )
    )


def patch_status(kind: str, namespace: str | None, name: str, status: Body) -> Body:
    """Merge-patch the status subresource: only ``status`` changes, never ``spec``."""
    return _stored(
        request(
            "PATCH",
            kind_of(kind).path(namespace, name, "status"),
            body={"status": status},
            query=[("fieldManager", MANAGER)],
            content_type="application/merge-patch+json",
        )
    )


def delete(kind: str, namespace: str | None, name: str, *, propagation: str = "Background") -> bool:
    """Delete an object; ``False`` when it was already gone."""
    try:
        request(
            "DELETE",
            kind_of(kind).path(namespace, name),
            body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation},
        )
    except NotFoundError:
        return False
    return True


def emit_event(owner: Mapping[str, Any], *, type_: str, reason: str, message: str, now: datetime | None = None) -> None:
    """Record a core/v1 Event on ``owner`` (``kubectl describe`` shows it). Best effort: never raises."""
    meta = owner.get("metadata") or {}
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta.get('name', 'yardarm')}.", "namespace": meta.get("namespace")},
        "involvedObject": {
            "apiVersion": owner.get("apiVersion"),
            "kind": owner.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": MANAGER},
        "reportingComponent": MANAGER,
        "reportingInstance": MANAGER,
        "firstTimestamp": when,
        "lastTimestamp": when,
        "count": 1,
    }
    with contextlib.suppress(KubeError):
        create(event)


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    """A running, not-terminating pod whose Ready condition is True."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def serving_pods(namespace: str, model_deployment: str, *, ready_only: bool = True) -> list[Body]:
    """The serving pods of a ModelDeployment (ready ones only, by default).

    Each pod carries the labels of :func:`yardarm.operator.names.serving_labels`, including the
    revision and digest it runs, and ``status.podIP`` for scraping.
    """
    pods = list_objects("Pod", namespace, labels=serving_selector(model_deployment))
    return [p for p in pods if pod_is_ready(p)] if ready_only else pods


def executor() -> ThreadPoolExecutor:
    """The thread pool that runs API calls for async code."""
    if _executor is None:
        api_client()
    assert _executor is not None
    return _executor


async def call(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a blocking function of this module (or any) in the API thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor(), functools.partial(fn, *args, **kwargs))
