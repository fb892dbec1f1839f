"""The CLI's door to the Kubernetes API: list and read Yardarm objects, POST through a service proxy.

Only this module imports the ``kubernetes`` package, and only when a command needs the cluster, so
``yardarm crds`` and ``yardarm version`` work with the core dependencies alone. Everything comes
back as plain dicts, as the API returned them, for the pure functions of :mod:`yardarm.cli_format`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from yardarm.api.common import GROUP, VERSION

#: Plural resource names of the four kinds, in lineage order.
PLURALS = {
    "Dataset": "datasets",
    "TrainingRun": "trainingruns",
    "ModelDeployment": "modeldeployments",
    "Monitor": "monitors",
}


class ClientError(Exception):
    """A failed API call, with the HTTP status (0 when there was no answer) and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _transport_errors() -> tuple[type[BaseException], ...]:
    """No answer at all: connection refused, TLS failure, timeout (urllib3 wraps them in MaxRetryError)."""
    try:
        from urllib3.exceptions import HTTPError
    except ImportError:  # pragma: no cover - urllib3 comes with kubernetes
        return (OSError,)
    return (HTTPError, OSError)


def _kubernetes() -> Any:
    try:
        import kubernetes
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ClientError(0, "this command needs the kubernetes package: pip install 'yardarm[cli]'") from exc
    return kubernetes


def _reason(exc: Any) -> str:
    """The ``message`` of a Kubernetes Status body, else the exception's reason."""
    body = getattr(exc, "body", None)
    if body:
        try:
            return str(json.loads(body).get("message") or body)
        except (ValueError, AttributeError):
            return str(body)[:500]
    return str(getattr(exc, "reason", exc))


@dataclass
class Client:
    """A connection to one cluster (the kubeconfig's current context unless told otherwise)."""

    api_client: Any

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> Client:
        """Load a kubeconfig (or the in-cluster service account) and return a client."""
        k8s = _kubernetes()
        configuration = k8s.client.Configuration()
        try:
            k8s.config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
        except Exception as exc:
            if kubeconfig or context:
                raise ClientError(0, f"cannot load kubeconfig: {exc}") from exc
            try:
                k8s.config.load_incluster_config(client_configuration=configuration)
            except Exception:
                raise ClientError(0, f"cannot load kubeconfig: {exc}") from exc
        return cls(k8s.client.ApiClient(configuration))

    @staticmethod
    def current_namespace(kubeconfig: str | None = None, context: str | None = None) -> str:
        """The namespace of the kubeconfig's context, ``default`` when it names none."""
        k8s = _kubernetes()
        try:
            _, active = k8s.config.list_kube_config_contexts(config_file=kubeconfig)
            if context:
                contexts, _ = k8s.config.list_kube_config_contexts(config_file=kubeconfig)
                active = next((c for c in contexts if c["name"] == context), active)
            return str((active or {}).get("context", {}).get("namespace") or "default")
        except Exception:
            return "default"

    def _unreachable(self, exc: BaseException) -> ClientError:
        reason = getattr(exc, "reason", None) or exc
        return ClientError(0, f"cannot reach the API server at {self.api_client.configuration.host}: {reason}")

    def _custom(self) -> Any:
        return _kubernetes().client.CustomObjectsApi(self.api_client)

    def list(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        """All objects of one Yardarm kind in ``namespace`` (``None``: every namespace), sorted."""
        k8s = _kubernetes()
        where = namespace or "the cluster"
        try:
            if namespace is None:
                result = self._custom().list_cluster_custom_object(GROUP, VERSION, PLURALS[kind])
            else:
                result = self._custom().list_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind])
        except k8s.client.exceptions.ApiException as exc:
            raise ClientError(exc.status, f"cannot list {PLURALS[kind]} in {where}: {_reason(exc)}") from exc
        except _transport_errors() as exc:
            raise self._unreachable(exc) from exc
        return sorted(
            result.get("items", []), key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
        )

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        """One Yardarm object; :class:`ClientError` with status 404 when it does not exist."""
        k8s = _kubernetes()
        try:
            return dict(self._custom().get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name))
        except k8s.client.exceptions.ApiException as exc:
            if exc.status == 404:
                raise ClientError(404, f'{kind} "{name}" not found in namespace {namespace}') from exc
            raise ClientError(exc.status, f"cannot read {kind} {namespace}/{name}: {_reason(exc)}") from exc
        except _transport_errors() as exc:
            raise self._unreachable(exc) from exc

    def service_proxy_post(
        self, namespace: str, service: str, port: str, path: str, body: Any, timeout: float = 60
    ) -> tuple[int, Any]:
        """POST JSON to ``path`` of a Service through the API server's proxy; return (status, JSON body).

        The request goes ``/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH``: no port-forward,
        and RBAC on ``services/proxy`` decides who may call the model.
        """
        k8s = _kubernetes()
        configuration = self.api_client.configuration
        url = (
            f"{configuration.host}/api/v1/namespaces/{quote(namespace)}/services/"
            f"{quote(service)}:{quote(port)}/proxy/{path.lstrip('/')}"
        )
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        token = configuration.get_api_key_with_prefix("authorization") or configuration.get_api_key_with_prefix(
            "BearerToken"
        )
        if token:
            headers["Authorization"] = token
        try:
            response = self.api_client.rest_client.request(
                "POST", url, headers=headers, body=body, _request_timeout=timeout
            )
        except k8s.client.exceptions.ApiException as exc:
            return int(exc.status or 0), _json_or_text(exc.body)
        except _transport_errors() as exc:
            raise self._unreachable(exc) from exc
        if getattr(response, "data", None) is None and hasattr(response, "read"):
            response.read()
        return int(response.status), _json_or_text(response.data)


def _json_or_text(data: Any) -> Any:
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data
