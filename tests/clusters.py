"""pytest plugin: session fixtures for Yardarm's local Kubernetes clusters.

Register with ``pytest_plugins = ["tests.clusters"]`` in ``tests/conftest.py``.

* ``control_plane`` -- etcd + kube-apiserver + kube-controller-manager
  (``hack/cluster.py --mode control-plane``), for ``integration`` tests.
* ``node_cluster`` -- the same plus scheduler, kubelet/containerd, CNI and
  kube-proxy (``--mode node``), for ``e2e`` tests.

Each fixture reuses a cluster that is already running (and then never tears it
down); a cluster it had to start is stopped at the end of the session unless
``YARDARM_KEEP_CLUSTER=1``.  Both yield a :class:`LocalCluster` with the admin
``kubeconfig`` path and a ``kubectl(*args)`` helper.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
CLUSTER_PY = REPO / "hack" / "cluster.py"
K8S_VERSION = os.environ.get("YARDARM_K8S_VERSION", "v1.34.4")
CACHE = Path(os.environ.get("YARDARM_CACHE", "/var/cache/yardarm"))


def _kubectl_binary() -> str:
    built = CACHE / "bin" / K8S_VERSION / "kubectl"
    return str(built) if built.exists() else "kubectl"


@dataclass
class LocalCluster:
    """A running local cluster, as seen by the tests."""

    mode: str
    kubeconfig: Path
    started_here: bool

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; raise with stderr if ``check`` and it fails."""
        cmd = [_kubectl_binary(), f"--kubeconfig={self.kubeconfig}", *args]
        res = subprocess.run(cmd, input=input, text=True, capture_output=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stderr}{res.stdout}")
        return res

    def apply(self, manifest: dict[str, Any] | str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``kubectl apply -f -`` of a dict (sent as JSON) or a YAML/JSON string."""
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        return self.kubectl("apply", "-f", "-", *args, input=text, check=check)

    def get_json(self, *args: str) -> Any:
        """``kubectl get ... -o json`` parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def wait_for(self, what: str, predicate: Any, timeout: float = 120, interval: float = 0.5) -> Any:
        """Poll ``predicate()`` until it returns a truthy value; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")

    def create_namespace(self, prefix: str = "t", labels: dict[str, str] | None = None) -> str:
        """Create a uniquely named namespace (optionally labelled) and return its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})
        return name

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace without waiting for its finalization."""
        self.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def _status(mode: str) -> dict[str, Any]:
    res = subprocess.run(
        [sys.executable, str(CLUSTER_PY), "status", "--mode", mode, "--json"],
        text=True,
        capture_output=True,
        timeout=60,
    )
    try:
        return json.loads(res.stdout)
    except json.JSONDecodeError:
        return {"running": False, "kubeconfig": ""}


def _cluster(mode: str) -> Iterator[LocalCluster]:
    if os.geteuid() != 0:
        pytest.skip("the local Kubernetes needs root (hack/cluster.py)")
    status = _status(mode)
    started = False
    if not status.get("running"):
        # Progress goes to the terminal (pytest -s) or the captured log of the first test.
        res = subprocess.run(
            [sys.executable, str(CLUSTER_PY), "up", "--mode", mode],
            text=True,
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            timeout=3600,
        )
        if res.returncode != 0:
            pytest.fail(f"`hack/cluster.py up --mode {mode}` failed (exit {res.returncode})", pytrace=False)
        started = True
        status = _status(mode)
    cluster = LocalCluster(mode=mode, kubeconfig=Path(status["kubeconfig"]), started_here=started)
    try:
        yield cluster
    finally:
        if started and os.environ.get("YARDARM_KEEP_CLUSTER") != "1":
            subprocess.run(
                [sys.executable, str(CLUSTER_PY), "down", "--mode", mode],
                stdout=subprocess.DEVNULL,
                stderr=sys.stderr,
                timeout=600,
                check=False,
            )


@pytest.fixture(scope="session")
def control_plane() -> Iterator[LocalCluster]:
    """etcd + kube-apiserver + kube-controller-manager (started or reused)."""
    yield from _cluster("control-plane")


@pytest.fixture(scope="session")
def node_cluster() -> Iterator[LocalCluster]:
    """A single-node cluster with kubelet, containerd, CNI and kube-proxy (started or reused)."""
    yield from _cluster("node")
