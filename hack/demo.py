#!/usr/bin/env python3
"""The whole Yardarm lifecycle on a local single-node cluster, with progress: ``make demo``.

Steps: bring up the node cluster (``hack/cluster.py``), build and import the images offline
(``hack/images.py``), install the Helm chart, apply ``examples/iris``, then walk the story:
Dataset Ready → TrainingRun Succeeded → ModelDeployment Ready → predictions through the Service
→ a second model rolled out → shifted traffic → Monitor Degraded → automatic rollback → summary.

Everything runs in one namespace (``yardarm-demo``): the operator, the artifact volume (a
hostPath PersistentVolume, since the local cluster has no dynamic provisioner) and the models.
``--keep`` leaves the cluster and the release running; a second run reuses every cache.
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
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HACK = REPO / "hack"
CACHE = Path(os.environ.get("YARDARM_CACHE", "/var/cache/yardarm"))
K8S_VERSION = os.environ.get("YARDARM_K8S_VERSION", "v1.34.4")
NAMESPACE = "yardarm-demo"
ARTIFACTS_DIR = Path("/var/lib/yardarm-cluster/node-artifacts")
ARTIFACTS_CLAIM = "yardarm-artifacts"

_T0 = time.monotonic()
_TIMINGS: dict[str, float] = {}


def say(message: str) -> None:
    """One progress line with the elapsed time."""
    print(f"[{time.monotonic() - _T0:6.1f}s] {message}", flush=True)


def step(title: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a demo step: prints its title and records how long it took."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            print(f"\n==> {title}", flush=True)
            start = time.monotonic()
            result = fn(*args, **kwargs)
            _TIMINGS[title] = time.monotonic() - start
            say(f"done: {title} ({_TIMINGS[title]:.1f}s)")
            return result

        return run

    return wrap


def sh(*cmd: str | Path, input: str | None = None, check: bool = True, quiet: bool = False) -> str:
    """Run a command; its output streams unless ``quiet``; fail loudly with its stderr."""
    args = [str(c) for c in cmd]
    if quiet or input is not None:
        proc = subprocess.run(args, input=input, text=True, capture_output=True)
        if check and proc.returncode != 0:
            sys.exit(f"command failed ({proc.returncode}): {' '.join(args)}\n{proc.stderr}{proc.stdout}")
        return proc.stdout
    proc = subprocess.run(args, text=True)
    if check and proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(args)}")
    return ""


def tool(name: str) -> str:
    """A binary built into the cache (kubectl, helm) or, failing that, one on PATH."""
    for candidate in (CACHE / "bin" / K8S_VERSION / name, CACHE / "bin" / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        sys.exit(f"{name} not found: run `make deps` first")
    return found


class Cluster:
    """kubectl and API-server access for the node cluster."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.kubectl_bin = tool("kubectl")
        config = json.loads(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        self.server = cluster["server"]
        self.ssl = ssl.create_default_context(cafile=cluster["certificate-authority"])
        self.ssl.load_cert_chain(user["client-certificate"], user["client-key"])

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return sh(self.kubectl_bin, f"--kubeconfig={self.kubeconfig}", *args, input=input, check=check, quiet=True)

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", kind, name, "-n", NAMESPACE, "-o", "json"))

    def wait(self, what: str, predicate: Callable[[], Any], timeout: float, every: float = 3.0) -> Any:
        """Poll until ``predicate`` returns something truthy, printing what it sees."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if value != last:
                say(f"   waiting for {what}…")
            last = value
            time.sleep(every)
        self.kubectl("get", "yardarm", "-n", NAMESPACE, check=False)
        sys.exit(f"timed out after {timeout:.0f}s waiting for {what}")

    def proxy_post(self, service: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to a Service through the API server's service proxy (no port-forward)."""
        url = f"{self.server}/api/v1/namespaces/{NAMESPACE}/services/{service}:http/proxy/{path.lstrip('/')}"
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, context=self.ssl, timeout=30) as response:
            return json.loads(response.read())


def status_of(cluster: Cluster, kind: str, name: str) -> dict[str, Any]:
    return cluster.get(kind, name).get("status") or {}


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), {})


@step("Install system packages and build the Kubernetes binaries (cached)")
def install_deps() -> None:
    sh("bash", HACK / "install-deps.sh")


@step("Start the local single-node cluster")
def cluster_up() -> Cluster:
    sh(sys.executable, HACK / "cluster.py", "up", "--mode", "node")
    kubeconfig = sh(sys.executable, HACK / "cluster.py", "kubeconfig", "--mode", "node", quiet=True).strip()
    cluster = Cluster(Path(kubeconfig))
    say(cluster.kubectl("get", "nodes", "-o", "wide").strip())
    return cluster


@step("Build the operator and serving images offline and import them into containerd")
def build_images() -> None:
    sh(sys.executable, HACK / "images.py", "build", "all")


@step("Install the Helm chart (CRDs, operator, RBAC, artifact volume)")
def install_chart(cluster: Cluster) -> None:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    os.chown(ARTIFACTS_DIR, 65532, 65532)
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    cluster.kubectl("label", "namespace", NAMESPACE, "--overwrite", "pod-security.kubernetes.io/enforce=restricted")
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"{NAMESPACE}-artifacts"},
        "spec": {
            "capacity": {"storage": "5Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": str(ARTIFACTS_DIR), "type": "Directory"},
            "claimRef": {"namespace": NAMESPACE, "name": ARTIFACTS_CLAIM},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pv))
    sh(
        tool("helm"),
        "upgrade",
        "--install",
        "yardarm",
        REPO / "charts" / "yardarm",
        f"--kubeconfig={cluster.kubeconfig}",
        "--namespace",
        NAMESPACE,
        "--set",
        f"watchNamespaces={{{NAMESPACE}}}",
        "--set",
        f"artifacts.claimName={ARTIFACTS_CLAIM}",
        "--set",
        "artifacts.create=true",
        "--set",
        'artifacts.storageClassName=""',
        "--wait",
        "--timeout",
        "5m",
    )
    say(cluster.kubectl("get", "pods", "-n", NAMESPACE).strip())


def apply(cluster: Cluster, path: Path) -> None:
    say(f"kubectl apply -f {path.relative_to(REPO)}")
    cluster.kubectl("apply", "-n", NAMESPACE, "-f", str(path))


@step("Register and profile the iris Dataset")
def dataset(cluster: Cluster) -> dict[str, Any]:
    apply(cluster, REPO / "examples" / "iris" / "dataset.yaml")
    cluster.kubectl("wait", "-n", NAMESPACE, "--for=condition=Ready", "dataset/iris", "--timeout=300s")
    status = status_of(cluster, "dataset", "iris")
    say(f"   rows={status.get('rows')} columns={status.get('columns')} digest={status.get('digest')}")
    return status


def train(cluster: Cluster, path: Path, name: str) -> dict[str, Any]:
    apply(cluster, path)
    cluster.wait(
        f"TrainingRun {name} to finish",
        lambda: status_of(cluster, "trainingrun", name).get("phase") in ("Succeeded", "Failed"),
        timeout=600,
    )
    status = status_of(cluster, "trainingrun", name)
    if status.get("phase") != "Succeeded":
        sys.exit(f"TrainingRun {name} failed: {status.get('message')}")
    model = status.get("model") or {}
    say(f"   {status.get('headline')}  model={model.get('digest')}  parity={model.get('parity')}")
    return status


@step("Train the first model (logistic regression) in a Job")
def first_training(cluster: Cluster) -> dict[str, Any]:
    return train(cluster, REPO / "examples" / "iris" / "trainingrun.yaml", "iris-logreg-1")


def serving_revision(cluster: Cluster, digest: str) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        status = status_of(cluster, "modeldeployment", "iris")
        serving = status.get("currentDigest") == digest and condition(status, "Ready").get("status") == "True"
        return status if serving else None

    return cluster.wait(f"ModelDeployment iris to serve {digest[:19]}…", ready, timeout=600)


@step("Serve it: ModelDeployment → Deployment + Service")
def deploy(cluster: Cluster, run: dict[str, Any]) -> dict[str, Any]:
    apply(cluster, REPO / "examples" / "iris" / "modeldeployment.yaml")
    status = serving_revision(cluster, run["model"]["digest"])
    say(f"   revision={status.get('currentRevision')} url={status.get('url')}")
    return status


NORMAL_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3], [5.8, 2.7, 5.1, 1.9]]


@step("Real predictions through the Service")
def predict(cluster: Cluster) -> None:
    reply = cluster.proxy_post("iris", "/v1/models/iris:predict", {"instances": NORMAL_ROWS})
    say(f"   POST /v1/models/iris:predict {NORMAL_ROWS} → {json.dumps(reply)[:200]}")


@step("Watch it with a Monitor, train a second model and roll it out")
def second_model(cluster: Cluster) -> dict[str, Any]:
    apply(cluster, REPO / "examples" / "drift" / "monitor.yaml")
    run = train(cluster, REPO / "examples" / "drift" / "trainingrun-v2.yaml", "iris-forest-2")
    patch = {"spec": {"model": {"trainingRunRef": {"name": "iris-forest-2"}}}}
    say("kubectl patch modeldeployment iris  (what a Git commit would change)")
    cluster.kubectl("patch", "modeldeployment", "iris", "-n", NAMESPACE, "--type=merge", "-p", json.dumps(patch))
    status = serving_revision(cluster, run["model"]["digest"])
    say(f"   revision={status.get('currentRevision')} now serves {run['model']['digest']}")
    return run


@step("Send shifted traffic until the Monitor reports drift and the operator rolls back")
def drift_and_rollback(cluster: Cluster, good_digest: str) -> dict[str, Any]:
    shifted = [[r[0], r[1], r[2] + 3.0, r[3] + 2.0] for r in NORMAL_ROWS]
    deadline = time.monotonic() + 600
    sent = 0
    while time.monotonic() < deadline:
        for _ in range(10):
            cluster.proxy_post("iris", "/v1/models/iris:predict", {"instances": shifted})
            sent += len(shifted)
        monitor = status_of(cluster, "monitor", "iris-drift")
        deployment = status_of(cluster, "modeldeployment", "iris")
        say(
            f"   sent {sent} shifted rows; monitor {monitor.get('phase')} "
            f"failures={monitor.get('consecutiveFailures')}; serving {str(deployment.get('currentDigest'))[:19]}…"
        )
        rolled_back = condition(deployment, "RolledBack").get("status") == "True"
        if rolled_back and deployment.get("currentDigest") == good_digest:
            return deployment
        time.sleep(2)
    sys.exit("no rollback within 10 minutes")


def summary(cluster: Cluster, deployment: dict[str, Any]) -> None:
    print("\n==> Summary")
    for revision in deployment.get("history") or []:
        print(
            f"   revision {revision['revision']}: {revision['modelDigest'][:19]}… from {revision.get('trainingRun')} "
            f"→ {revision['outcome']}{' (' + revision['reason'] + ')' if revision.get('reason') else ''}"
        )
    print(cluster.kubectl("get", "yardarm", "-n", NAMESPACE))
    for title, seconds in _TIMINGS.items():
        print(f"   {seconds:7.1f}s  {title}")
    print(f"   {time.monotonic() - _T0:7.1f}s  total")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the cluster and the release running")
    args = parser.parse_args(argv)
    install_deps()
    cluster = cluster_up()
    try:
        build_images()
        install_chart(cluster)
        dataset(cluster)
        first = first_training(cluster)
        deploy(cluster, first)
        predict(cluster)
        second_model(cluster)
        deployment = drift_and_rollback(cluster, first["model"]["digest"])
        summary(cluster, deployment)
    finally:
        if not args.keep:
            print("\n==> Tearing down (use --keep to leave it running)")
            sh(sys.executable, HACK / "cluster.py", "down", "--mode", "node", check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
