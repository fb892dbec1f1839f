#!/usr/bin/env python3
"""The whole Yardarm lifecycle on a local single-node cluster, with progress: ``make demo``.

Steps: install what is missing (``hack/install-deps.sh``), bring up the node cluster
(``hack/cluster.py``), build and import the images offline (``hack/images.py``, which reuses images
whose sources did not change), install the Helm chart, apply ``examples/iris``, then walk the story:
Dataset Ready → TrainingRun Succeeded → ModelDeployment Ready → predictions through the Service
→ a second model rolled out → shifted traffic → Monitor Degraded → automatic rollback → summary.

Everything runs in one namespace (``yardarm-demo``, PodSecurity ``restricted``): the operator,
the artifact store and the models. The store is the chart's embedded S3 server
(``objectStore.embedded``, versitygw) by default, so the demo takes the production path: Jobs
upload bundles, serving pods fetch and verify them. ``--storage pvc`` (or
``YARDARM_DEMO_STORAGE=pvc``) uses a hostPath PersistentVolume pre-bound to the chart's claim
instead (the local cluster has no dynamic provisioner). Each run starts from a fresh namespace.
``--keep`` leaves the cluster and the release running; a second run reuses every cache.

The functions here are also the e2e tests' building blocks (``tests/e2e`` imports this file).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
HACK = REPO / "hack"
CACHE = Path(os.environ.get("YARDARM_CACHE", "/var/cache/yardarm"))
K8S_VERSION = os.environ.get("YARDARM_K8S_VERSION", "v1.34.4")
STATE_ROOT = Path(os.environ.get("YARDARM_CLUSTER_STATE", "/var/lib/yardarm-cluster"))
NAMESPACE = "yardarm-demo"
RELEASE = "yardarm"
ARTIFACTS_ROOT = STATE_ROOT / "artifacts"
ARTIFACTS_CLAIM = "yardarm-artifacts"
NONROOT = 65532
IMAGES = {
    "operator": "docker.io/yardarm/operator:dev",
    "serving": "docker.io/yardarm/serving:dev",
    "objectstore": "docker.io/yardarm/objectstore:dev",
}
#: Where artifacts live: the chart's embedded S3 server (the production path), or a hostPath PVC.
STORAGE = os.environ.get("YARDARM_DEMO_STORAGE", "s3")

_T0 = time.monotonic()
TIMINGS: dict[str, float] = {}
T = TypeVar("T")


class DemoError(RuntimeError):
    """A step of the demo did not reach the state it waits for."""


def say(message: str) -> None:
    """One progress line with the elapsed time."""
    print(f"[{time.monotonic() - _T0:6.1f}s] {message}", flush=True)


def step(title: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a demo step: prints its title and records how long it took in ``TIMINGS``."""

    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        def run(*args: Any, **kwargs: Any) -> T:
            print(f"\n==> {title}", flush=True)
            start = time.monotonic()
            result = fn(*args, **kwargs)
            TIMINGS[title] = time.monotonic() - start
            say(f"done: {title} ({TIMINGS[title]:.1f}s)")
            return result

        run.__doc__ = fn.__doc__
        run.__name__ = fn.__name__
        return run

    return wrap


def sh(
    *cmd: str | Path, input: str | None = None, check: bool = True, quiet: bool = False, timeout: float = 3600
) -> str:
    """Run a command; its output streams unless ``quiet``; raise :class:`DemoError` with its stderr."""
    args = [str(c) for c in cmd]
    if quiet or input is not None:
        proc = subprocess.run(args, input=input, text=True, capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise DemoError(f"command failed ({proc.returncode}): {' '.join(args)}\n{proc.stderr}{proc.stdout}")
        return proc.stdout
    proc = subprocess.run(args, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise DemoError(f"command failed ({proc.returncode}): {' '.join(args)}")
    return ""


def tool(name: str) -> str:
    """A binary built into the cache (kubectl, helm) or, failing that, one on PATH."""
    for candidate in (CACHE / "bin" / K8S_VERSION / name, CACHE / "bin" / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise DemoError(f"{name} not found: run `make deps` first")
    return found


class Cluster:
    """kubectl and API-server access to the node cluster, bound to one namespace."""

    def __init__(self, kubeconfig: Path, namespace: str = NAMESPACE, release: str = RELEASE) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        #: Helm release name; distinct per namespace, since the chart's ClusterRole is named after it.
        self.release = release
        self.kubectl_bin = tool("kubectl")
        self.server = json.loads(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]

    def ssl_context(self) -> ssl.SSLContext:
        """TLS as the kubeconfig's user, read afresh (``cluster.py down --purge`` makes new certificates)."""
        config = json.loads(self.kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        context = ssl.create_default_context(cafile=cluster["certificate-authority"])
        context.load_cert_chain(user["client-certificate"], user["client-key"])
        return context

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        """Run kubectl (quietly) and return its stdout."""
        return sh(self.kubectl_bin, f"--kubeconfig={self.kubeconfig}", *args, input=input, check=check, quiet=True)

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """One object of this namespace as a dict."""
        return json.loads(self.kubectl("get", kind, name, "-n", self.namespace, "-o", "json"))

    def status(self, kind: str, name: str) -> dict[str, Any]:
        """An object's status (``{}`` while it has none)."""
        return self.get(kind, name).get("status") or {}

    def apply(self, manifest: Path | dict[str, Any]) -> None:
        """``kubectl apply`` a file (path) or an object (dict) into this namespace."""
        if isinstance(manifest, Path):
            say(f"kubectl apply -f {manifest.relative_to(REPO) if manifest.is_relative_to(REPO) else manifest}")
            self.kubectl("apply", "-n", self.namespace, "-f", str(manifest))
        else:
            self.kubectl("apply", "-n", self.namespace, "-f", "-", input=json.dumps(manifest))

    def wait(self, what: str, predicate: Callable[[], T | None], timeout: float, every: float = 3.0) -> T:
        """Poll until ``predicate`` returns something truthy; on timeout show the namespace and raise."""
        deadline = time.monotonic() + timeout
        say(f"   waiting for {what}…")
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(every)
        overview = self.kubectl("get", "yardarm,jobs,pods", "-n", self.namespace, check=False)
        raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}\n{overview}")

    def proxy(self, service: str, path: str, body: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        """GET (or POST JSON to) a Service through the API server's service proxy (no port-forward)."""
        url = f"{self.server}/api/v1/namespaces/{self.namespace}/services/{service}:http/proxy/{path.lstrip('/')}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self.ssl_context(), timeout=timeout) as response:
            return json.loads(response.read())


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    """The condition of one type in a status (``{}`` when absent)."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), {})


def short(digest: str | None) -> str:
    """``sha256:0123456789ab`` for display."""
    return (digest or "-")[:19]


# --------------------------------------------------------------------------- machine and cluster


@step("Install system packages and build the Kubernetes binaries (cached)")
def install_deps() -> None:
    """``hack/install-deps.sh``: Debian packages, Kubernetes, etcd and helm builds (idempotent)."""
    sh("bash", HACK / "install-deps.sh")


@step("Start the local single-node cluster")
def cluster_up(namespace: str = NAMESPACE) -> Cluster:
    """``hack/cluster.py up --mode node`` (reuses a running cluster)."""
    sh(sys.executable, HACK / "cluster.py", "up", "--mode", "node", quiet=False)
    kubeconfig = sh(sys.executable, HACK / "cluster.py", "kubeconfig", "--mode", "node", quiet=True).strip()
    cluster = Cluster(Path(kubeconfig), namespace)
    say(cluster.kubectl("get", "nodes", "-o", "wide").strip())
    return cluster


def containerd_images() -> set[str]:
    """Image names in containerd's ``k8s.io`` namespace."""
    out = sh("ctr", "-n", "k8s.io", "images", "ls", "-q", quiet=True, check=False)
    return set(out.split())


@step("Build the operator and serving images offline and import them into containerd")
def build_images(force: bool = False) -> None:
    """``hack/images.py build all``: it reuses a tar whose sources did not change and imports what containerd lacks.

    ``YARDARM_USE_IMAGES=present`` skips the build when both images are in containerd (whatever
    sources they were built from): handy while others edit the tree and each edit means a rebuild.
    """
    if os.environ.get("YARDARM_USE_IMAGES") == "present" and not force and set(IMAGES.values()) <= containerd_images():
        say("   YARDARM_USE_IMAGES=present: using the images already in containerd")
        return
    sh(sys.executable, HACK / "images.py", "build", "all", *(["--force"] if force else []))


# --------------------------------------------------------------------------- the release


def reset_namespace(cluster: Cluster, timeout: float = 180) -> None:
    """Delete the namespace (and the release and volume in it) left by an earlier run."""
    ns = cluster.namespace
    if not cluster.kubectl("get", "namespace", ns, "--ignore-not-found", "-o", "name").strip():
        return
    say(f"   removing namespace {ns} left by an earlier run")
    sh(
        tool("helm"),
        "uninstall",
        cluster.release,
        "-n",
        ns,
        f"--kubeconfig={cluster.kubeconfig}",
        "--wait",
        check=False,
    )
    cluster.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found")
    cluster.wait(
        f"namespace {ns} to be deleted",
        lambda: not cluster.kubectl("get", "namespace", ns, "--ignore-not-found", "-o", "name").strip(),
        timeout=timeout,
        every=2,
    )


def artifacts_volume(cluster: Cluster) -> Path:
    """A hostPath PersistentVolume, pre-bound to the chart's claim in this namespace, on an empty directory."""
    ns = cluster.namespace
    path = ARTIFACTS_ROOT / ns
    pv_name = f"{ns}-artifacts"
    cluster.kubectl("delete", "pv", pv_name, "--ignore-not-found", "--wait=true")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.chown(path, NONROOT, NONROOT)
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": pv_name, "labels": {"yardarm.dev/demo": ns}},
        "spec": {
            "capacity": {"storage": "5Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": str(path), "type": "Directory"},
            "claimRef": {"namespace": ns, "name": ARTIFACTS_CLAIM},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pv))
    return path


def storage_values(storage: str) -> dict[str, str]:
    """Chart values of the artifact store: the embedded S3 server, or the pre-bound claim."""
    if storage == "s3":
        return {"objectStore.embedded.enabled": "true", "objectStore.embedded.image.pullPolicy": "Never"}
    return {
        "artifacts.type": "pvc",
        "artifacts.pvc.create": "true",
        "artifacts.pvc.claimName": ARTIFACTS_CLAIM,
        "artifacts.pvc.size": "5Gi",
    }


def helm_values(cluster: Cluster, extra: dict[str, str] | None = None, storage: str = STORAGE) -> list[str]:
    """``--set`` flags of the chart (charts/yardarm/values.yaml) for a one-namespace install."""
    values = {
        "watchNamespaces": f"{{{cluster.namespace}}}",
        **storage_values(storage),
        # Images are imported into containerd: never pull.
        "image.pullPolicy": "Never",
        "servingImage.pullPolicy": "Never",
        "trainingImage.pullPolicy": "Never",
        # Two cores: a fast resync helps the demo's waits, fewer workers keep the operator light.
        "operator.resyncSeconds": "15",
        "operator.workers": "4",
        "operator.logFormat": "text",
        "tests.enabled": "false",
        **(extra or {}),
    }
    flags: list[str] = []
    for key, value in values.items():
        flags += ["--set", f"{key}={value}"]
    return flags


@step("Install the Helm chart (CRDs, operator, RBAC, artifact store)")
def install_chart(cluster: Cluster, extra_values: dict[str, str] | None = None, storage: str = STORAGE) -> None:
    """A fresh restricted namespace, the artifact store (S3 server or PV), then ``helm upgrade --install --wait``."""
    ns = cluster.namespace
    reset_namespace(cluster)
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": ns,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/warn": "restricted",
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(namespace))
    # Helm installs crds/ only when they are missing and never upgrades them: apply them here, so
    # a cluster that ran an older chart gets the current schema (else new status fields are pruned).
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "charts" / "yardarm" / "crds"))
    if storage == "pvc":
        path = artifacts_volume(cluster)
        say(f"   artifacts: hostPath {path} → PersistentVolume {ns}-artifacts → claim {ARTIFACTS_CLAIM}")
    else:
        say(f"   artifacts: the embedded S3 server ({cluster.release}-objectstore, versitygw) in {ns}")
    sh(
        tool("helm"),
        "upgrade",
        "--install",
        cluster.release,
        REPO / "charts" / "yardarm",
        f"--kubeconfig={cluster.kubeconfig}",
        "--namespace",
        ns,
        *helm_values(cluster, extra_values, storage),
        "--skip-crds",
        "--wait",
        "--timeout",
        "5m",
        quiet=True,
    )
    say(cluster.kubectl("get", "pods,pvc", "-n", ns).strip())


# --------------------------------------------------------------------------- the lifecycle


@step("Register and profile the iris Dataset")
def dataset(cluster: Cluster, name: str = "iris") -> dict[str, Any]:
    """Apply ``examples/iris/dataset.yaml`` and wait for the profiling Job to make it Ready."""
    cluster.apply(REPO / "examples" / "iris" / "dataset.yaml")
    status = cluster.wait(
        f"Dataset {name} Ready",
        lambda: (s := cluster.status("dataset", name)) and condition(s, "Ready").get("status") == "True" and s,
        timeout=420,
    )
    say(f"   rows={status.get('rows')} columns={status.get('columns')} digest={short(status.get('digest'))}…")
    return status


def finished_run(cluster: Cluster, name: str, timeout: float = 600) -> dict[str, Any]:
    """Wait until a TrainingRun is Succeeded or Failed; return its status."""
    return cluster.wait(
        f"TrainingRun {name} to finish",
        lambda: (s := cluster.status("trainingrun", name)).get("phase") in ("Succeeded", "Failed") and s,
        timeout=timeout,
    )


def train(cluster: Cluster, path: Path, name: str) -> dict[str, Any]:
    """Apply a TrainingRun and wait for it to succeed."""
    cluster.apply(path)
    status = finished_run(cluster, name)
    if status.get("phase") != "Succeeded":
        raise DemoError(f"TrainingRun {name} failed: {status.get('reason')}: {status.get('message')}")
    model = status.get("model") or {}
    say(f"   {status.get('headline')}  model={short(model.get('digest'))}…  parity={model.get('parity')}")
    return status


@step("Train the first model (logistic regression) in a Job")
def first_training(cluster: Cluster) -> dict[str, Any]:
    """``examples/iris/trainingrun.yaml``."""
    return train(cluster, REPO / "examples" / "iris" / "trainingrun.yaml", "iris-logreg-1")


def is_rolled_back_to(status: dict[str, Any], digest: str) -> bool:
    """The operator rolled back and the pods of the earlier revision (``digest``) serve again.

    After a rollback the ModelDeployment is ``RolledBack`` (Stalled: spec.model asks for a model
    that is refused), not Ready; its message says ``serving`` once the old revision is available.
    """
    return (
        status.get("phase") == "RolledBack"
        and condition(status, "RolledBack").get("status") == "True"
        and status.get("currentDigest") == digest
        and str(status.get("message", "")).startswith("Rolled back: serving")
    )


def rolled_back(cluster: Cluster, name: str, digest: str, timeout: float = 300) -> dict[str, Any]:
    """Wait until a ModelDeployment rolled back to ``digest`` and serves it; return its status."""
    return cluster.wait(
        f"ModelDeployment {name} to roll back to {short(digest)}…",
        lambda: (s := cluster.status("modeldeployment", name)) and is_rolled_back_to(s, digest) and s,
        timeout=timeout,
    )


def serving(cluster: Cluster, name: str, digest: str, timeout: float = 600) -> dict[str, Any]:
    """Wait until a ModelDeployment is Ready and serves ``digest``; return its status."""

    def ready() -> dict[str, Any] | None:
        status = cluster.status("modeldeployment", name)
        ok = status.get("currentDigest") == digest and condition(status, "Ready").get("status") == "True"
        return status if ok else None

    return cluster.wait(f"ModelDeployment {name} to serve {short(digest)}…", ready, timeout=timeout)


@step("Serve it: ModelDeployment → Deployment + Service")
def deploy(cluster: Cluster, run: dict[str, Any]) -> dict[str, Any]:
    """Apply ``examples/iris/modeldeployment.yaml`` and wait until it serves the first model."""
    cluster.apply(REPO / "examples" / "iris" / "modeldeployment.yaml")
    status = serving(cluster, "iris", run["model"]["digest"])
    say(f"   revision={status.get('currentRevision')} url={status.get('url')}")
    return status


#: One iris flower of each class (setosa, versicolor, virginica) and the label a good model gives.
NORMAL_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3], [5.0, 3.4, 1.5, 0.2]]
EXPECTED_CLASSES = ["setosa", "versicolor", "virginica", "setosa"]
#: The same flowers with petals far longer and wider than any in the training data.
SHIFTED_ROWS = [[r[0], r[1], r[2] + 3.0, r[3] + 2.0] for r in NORMAL_ROWS]


def service_of(cluster: Cluster, name: str = "iris") -> str:
    """The Service that serves a ModelDeployment (``status.deploymentName``, the same name)."""
    return cluster.status("modeldeployment", name).get("deploymentName") or f"{name}-serving"


def labels_of(reply: dict[str, Any]) -> list[Any]:
    """Predicted labels from a V1 ``:predict`` reply."""
    return [p["label"] if isinstance(p, dict) and "label" in p else p for p in reply["predictions"]]


def predict_rows(cluster: Cluster, rows: list[list[float]], name: str = "iris") -> dict[str, Any]:
    """POST rows to ``/v1/models/<name>:predict`` through the Service."""
    return cluster.proxy(service_of(cluster, name), f"/v1/models/{name}:predict", {"instances": rows})


@step("Real predictions through the Service")
def predict(cluster: Cluster) -> list[Any]:
    """A few known flowers through the API server's service proxy; returns the predicted labels."""
    reply = predict_rows(cluster, NORMAL_ROWS)
    say(f"   POST /v1/models/iris:predict {NORMAL_ROWS}")
    say(f"   → {json.dumps(reply)[:300]}")
    return labels_of(reply)


@step("Watch it with a Monitor, train a second model and roll it out")
def second_model(cluster: Cluster) -> dict[str, Any]:
    """Apply the strict drift Monitor, train ``iris-forest-2`` and point the ModelDeployment at it."""
    cluster.apply(REPO / "examples" / "drift" / "monitor.yaml")
    run = train(cluster, REPO / "examples" / "drift" / "trainingrun-v2.yaml", "iris-forest-2")
    patch = {"spec": {"model": {"trainingRunRef": {"name": "iris-forest-2"}}}}
    say("kubectl patch modeldeployment iris  (what a Git commit would change)")
    cluster.kubectl(
        "patch", "modeldeployment", "iris", "-n", cluster.namespace, "--type=merge", "-p", json.dumps(patch)
    )
    status = serving(cluster, "iris", run["model"]["digest"])
    say(f"   revision={status.get('currentRevision')} now serves {short(run['model']['digest'])}…")
    return run


def send(cluster: Cluster, rows: list[list[float]], batches: int) -> int:
    """Send ``batches`` requests of ``rows``; returns the rows sent (errors during a rollout are retried later)."""
    sent = 0
    for _ in range(batches):
        try:
            predict_rows(cluster, rows)
            sent += len(rows)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            say(f"   request failed ({error}); going on")
            time.sleep(1)
    return sent


@step("Send shifted traffic until the Monitor reports drift and the operator rolls back")
def drift_and_rollback(
    cluster: Cluster, good_digest: str, monitor: str = "iris-drift", timeout: float = 600
) -> dict[str, Any]:
    """Shifted rows in a bounded loop until the Monitor judges the new model Degraded, then the rollback.

    Traffic stops at the verdict, so the revision rolled back to is not sent shifted rows itself
    (its Monitor would otherwise judge it by them, afresh). Returns the ModelDeployment's status
    once ``good_digest`` serves again.
    """
    deadline = time.monotonic() + timeout
    sent = 0
    while time.monotonic() < deadline:
        mon = cluster.status("monitor", monitor)
        deployment = cluster.status("modeldeployment", "iris")
        verdict = mon.get("verdict") or {}
        judged_bad = verdict.get("degraded") and verdict.get("digest") != good_digest
        if judged_bad or condition(deployment, "RolledBack").get("status") == "True":
            say(f"   Monitor {mon.get('phase')}: {verdict.get('reason')}; traffic stopped")
            status = rolled_back(cluster, "iris", good_digest, timeout=max(deadline - time.monotonic(), 1))
            say(f"   {status.get('message')}")
            return status
        sent += send(cluster, SHIFTED_ROWS, 10)
        say(
            f"   sent {sent} shifted rows; Monitor {mon.get('phase')} "
            f"failures={mon.get('consecutiveFailures')}; serving revision {deployment.get('currentRevision')} "
            f"{short(deployment.get('currentDigest'))}…"
        )
        time.sleep(2)
    raise DemoError(f"no Degraded verdict within {timeout:.0f}s")


def summary(cluster: Cluster, deployment: dict[str, Any], runs: dict[str, dict[str, Any]]) -> None:
    """Revisions, digests, metrics and timings."""
    print("\n==> Summary", flush=True)
    for revision in deployment.get("history") or []:
        reason = f"  ({revision['reason']})" if revision.get("reason") else ""
        print(
            f"   revision {revision['revision']}: {short(revision['modelDigest'])}… "
            f"from {revision.get('trainingRun')} → {revision['outcome']}{reason}"
        )
    print(f"   now serving revision {deployment.get('currentRevision')} ({short(deployment.get('currentDigest'))}…)")
    for name, run in runs.items():
        metrics = ", ".join(f"{k}={v:.3f}" for k, v in sorted((run.get("metrics") or {}).items()))
        print(f"   TrainingRun {name} → {short(run['model']['digest'])}…: {metrics}")
    print(cluster.kubectl("get", "yardarm", "-n", cluster.namespace), flush=True)
    for title, seconds in TIMINGS.items():
        print(f"   {seconds:7.1f}s  {title}")
    print(f"   {time.monotonic() - _T0:7.1f}s  total", flush=True)


def lifecycle(cluster: Cluster) -> dict[str, Any]:
    """Dataset → training → serving → predictions → second model → drift → rollback. Returns what happened."""
    ds = dataset(cluster)
    first = first_training(cluster)
    deploy(cluster, first)
    labels = predict(cluster)
    second = second_model(cluster)
    deployment = drift_and_rollback(cluster, first["model"]["digest"])
    return {"dataset": ds, "first": first, "second": second, "labels": labels, "deployment": deployment}


def main(argv: list[str] | None = None) -> int:
    """Run the demo end to end."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the cluster and the release running")
    parser.add_argument("--skip-deps", action="store_true", help="do not run hack/install-deps.sh")
    parser.add_argument("--rebuild-images", action="store_true", help="rebuild the images even if up to date")
    parser.add_argument(
        "--storage", choices=("s3", "pvc"), default=STORAGE, help="artifact store: embedded S3 server or a PVC"
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("the demo runs a local Kubernetes node and needs root", file=sys.stderr)
        return 2
    cluster: Cluster | None = None
    try:
        if not args.skip_deps:
            install_deps()
        cluster = cluster_up()
        build_images(force=args.rebuild_images)
        install_chart(cluster, storage=args.storage)
        result = lifecycle(cluster)
        summary(cluster, result["deployment"], {"iris-logreg-1": result["first"], "iris-forest-2": result["second"]})
    except DemoError as error:
        print(f"\nDEMO FAILED: {error}", file=sys.stderr, flush=True)
        if cluster is not None:
            logs = cluster.kubectl(
                "logs", "-n", cluster.namespace, f"deploy/{cluster.release}-operator", "--tail=40", check=False
            )
            print(f"--- operator log (last 40 lines)\n{logs}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            print("\n==> Tearing down (use --keep to leave it running)", flush=True)
            sh(sys.executable, HACK / "cluster.py", "down", "--mode", "node", check=False)
        else:
            print(
                f"\n==> Left running: kubectl --kubeconfig={cluster.kubeconfig if cluster else '?'} "
                f"get yardarm -n {NAMESPACE}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
