"""``yardarm-operator``: every Kopf registration in one place, and the process entry point.

Each handler is a guard plus one call: watch events only enqueue keys on the
:class:`~yardarm.operator.controller.Controller`, whose workers run the reconcile of each kind
(``dataset.py``, ``trainingrun.py``, ``modeldeployment.py``). Only raw event handlers
(``@kopf.on.event``) are used for the operator's own kinds, so Kopf keeps no per-object state:
no finalizers, no diff-base or progress annotations on users' objects, and every restart
re-lists and re-reconciles everything from scratch (level-based).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import kopf
from prometheus_client import start_http_server

from yardarm.api.common import GROUP, VERSION
from yardarm.operator import config as config_mod
from yardarm.operator import kube, monitoring, names
from yardarm.operator.controller import Controller

log = logging.getLogger("yardarm.operator")

#: Registry of this operator's handlers (not Kopf's global one, so tests can build several).
registry = kopf.OperatorRegistry()
_controller: Controller | None = None
_config: config_mod.Config = config_mod.from_env()


class NoDiffBaseStorage(kopf.DiffBaseStorage):
    """Stores nothing: raw event handlers need no diff base, and user objects stay unannotated."""

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def controller() -> Controller:
    """The running controller (created at startup)."""
    if _controller is None:
        raise RuntimeError("the operator has not started")
    return _controller


@kopf.on.startup(registry=registry)
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Kopf settings, once: nothing of Kopf's state lands on users' objects."""
    global _controller
    # Raw event handlers and the Monitor daemon need neither a diff base nor handler progress;
    # should a future handler need progress, it goes to status (never an annotation), and the
    # diff base is never stored at all (kopf#1087: it outgrows the annotation limit).
    settings.persistence.diffbase_storage = NoDiffBaseStorage()
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf")
    settings.posting.level = logging.WARNING  # Kopf's own Events only for problems
    settings.scanning.disabled = True  # no CRD/namespace scanning: less RBAC, explicit namespaces
    settings.batching.batch_window = 0.02  # the work queue already collapses bursts
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.error_backoffs = [1, 2, 5, 10]
    if not kube.configured():
        kube.configure(os.environ.get("KUBECONFIG"))
    _controller = Controller(_config)
    _controller.start()
    log.info("yardarm-operator started", extra={"config": str(_config)})


@kopf.on.login(registry=registry)
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """Kopf's own connection: the same credentials as the ``kubernetes`` client (in-cluster or $KUBECONFIG)."""
    return kopf.login_via_client(**kwargs)


@kopf.on.cleanup(registry=registry)
async def cleanup(**_: Any) -> None:
    if _controller is not None:
        await _controller.stop()


@kopf.on.probe(id="queue", registry=registry)
async def queue_depth(**_: Any) -> int:
    """Liveness detail: objects waiting to be reconciled."""
    return len(controller().queue)


def _type(event: kopf.RawEvent) -> str | None:
    return event.get("type")


@kopf.on.event(GROUP, VERSION, "datasets", registry=registry)
async def dataset_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    controller().owner_changed("Dataset", body, _type(event))


@kopf.on.event(GROUP, VERSION, "trainingruns", registry=registry)
async def trainingrun_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    controller().owner_changed("TrainingRun", body, _type(event))


@kopf.on.event(GROUP, VERSION, "modeldeployments", registry=registry)
async def modeldeployment_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    controller().owner_changed("ModelDeployment", body, _type(event))


@kopf.on.event(GROUP, VERSION, "monitors", registry=registry)
async def monitor_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    controller().monitor_changed(body, _type(event))


def _monitor_status_written(monitor: Any, status: Any) -> None:
    """The Monitor evaluation wrote a status: act on the verdict now, not on the watch echo."""
    if _controller is not None:
        _controller.monitor_changed({**monitor, "status": status}, "MODIFIED")


#: The Monitor evaluation (a colleague's module) registers its per-Monitor daemon here.
evaluator = monitoring.register(registry, monitoring.MonitorEvaluator(on_status=_monitor_status_written))


@kopf.on.event("batch", "v1", "jobs", labels=names.MANAGED_SELECTOR, registry=registry)
async def job_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    controller().child_changed(body, _type(event))


@kopf.on.event("apps", "v1", "deployments", labels=names.MANAGED_SELECTOR, registry=registry)
async def deployment_event(event: kopf.RawEvent, **_: Any) -> None:
    controller().child_changed(event["object"], _type(event))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="yardarm-operator", description=__doc__.splitlines()[0])
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n", "--namespace", action="append", dest="namespaces", help="watch this namespace (repeatable)"
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")
    parser.add_argument("--peering", help="Kopf peering object for HA (KopfPeering/ClusterKopfPeering)")
    parser.add_argument("--priority", type=int, default=0, help="peering priority (highest one runs)")
    parser.add_argument("--metrics-port", type=int, help="Prometheus metrics port (0 disables; default 9090)")
    parser.add_argument("--health-port", type=int, help="liveness endpoint port (0 disables; default 8081)")
    parser.add_argument("--workers", type=int, help="reconciles at the same time (default 16)")
    parser.add_argument("--resync-seconds", type=float, help="seconds between full re-reconciles (default 60)")
    parser.add_argument("--training-image", help="image of profiling and training Jobs")
    parser.add_argument("--serving-image", help="image of serving pods")
    parser.add_argument("--artifacts-claim", help="PVC of the artifact store, mounted at /artifacts")
    parser.add_argument("--log-format", choices=("json", "text"), help="log format (default json)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace, env: dict[str, str] | None = None) -> config_mod.Config:
    """Config from the environment, overridden by flags."""
    base = config_mod.from_env(env)
    return base.with_overrides(
        namespaces=tuple(args.namespaces) if args.namespaces else None,
        all_namespaces=True if args.all_namespaces else None,
        peering=args.peering,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
        workers=args.workers,
        resync_seconds=args.resync_seconds,
        training_image=args.training_image,
        serving_image=args.serving_image,
        artifacts_claim=args.artifacts_claim,
        log_format=args.log_format,
    )


def run(config: config_mod.Config, *, kubeconfig: str | None = None, verbose: bool = False) -> int:
    """Run the operator until a signal stops it."""
    global _config
    _config = config
    if not config.namespaces and not config.all_namespaces:
        print("yardarm-operator: give --namespace NAME (repeatable) or --all-namespaces", file=sys.stderr)
        return 2
    log_format = kopf.LogFormat.JSON if config.log_format == "json" else kopf.LogFormat.FULL
    kopf.configure(verbose=verbose, log_format=log_format)
    if not verbose:
        # Kopf logs every raw-event handler call at INFO; the queue's own logs say what matters.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if kubeconfig:
        os.environ["KUBECONFIG"] = kubeconfig  # for Kopf's login handler too
    kube.configure(kubeconfig or os.environ.get("KUBECONFIG"), pool_size=max(16, 2 * config.workers))
    if config.metrics_port:
        from yardarm.operator.metrics import REGISTRY

        start_http_server(config.metrics_port, registry=REGISTRY)
    liveness = f"http://0.0.0.0:{config.health_port}/healthz" if config.health_port else None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            kopf.operator(
                registry=registry,
                clusterwide=config.all_namespaces,
                namespaces=list(config.namespaces),
                standalone=config.peering is None,
                peering_name=config.peering,
                priority=int(config.extra.get("priority", 0)),
                # kopf types this as its peering.Identity (a NewType of str) but does not export it.
                identity=config.pod_name if config.peering else None,  # type: ignore[arg-type]
                liveness_endpoint=liveness,
            )
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = build_config(args)
    if args.priority:
        config = config.with_overrides(extra={"priority": args.priority})
    return run(config, kubeconfig=args.kubeconfig, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
