"""Operator benchmark against the real local control plane (etcd + kube-apiserver + controller-manager).

Measures, with the real ``yardarm-operator`` as a subprocess:

1. **Reconcile latency**: a ModelDeployment is created → its Deployment exists (p50/p99 over
   ``--latency-samples`` creations, one at a time, timed by a watch on Deployments).
2. **Cold start**: ``--count`` ModelDeployments exist before the operator starts → all of them
   ``Ready`` (Deployment and Service applied, the Deployment controller's status read back,
   status written twice). Replicas are 0 so that no pods are needed.
3. **RSS** of the operator process after the cold start (VmRSS and peak VmHWM).

Usage::

    sudo .venv/bin/python bench/operator/bench_reconcile.py [--count 1000] [--latency-samples 100]

The control plane is started with ``hack/cluster.py up --mode control-plane`` when not running.
Prints a Markdown table (for docs/operator.md) and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
A = "sha256:" + "a" * 64


def sh(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), text=True, capture_output=True, check=True, **kwargs)


def kubeconfig() -> str:
    status = json.loads(
        subprocess.run(
            [sys.executable, str(REPO / "hack/cluster.py"), "status", "--mode", "control-plane", "--json"],
            text=True,
            capture_output=True,
        ).stdout
        or "{}"
    )
    if not status.get("running"):
        subprocess.run([sys.executable, str(REPO / "hack/cluster.py"), "up", "--mode", "control-plane"], check=True)
        return kubeconfig()
    return str(status["kubeconfig"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OperatorProcess:
    def __init__(self, config: str, namespace: str, workers: int, log: Path) -> None:
        self.health = free_port()
        self.metrics = free_port()
        self.cmd = [
            sys.executable,
            "-m",
            "yardarm.operator.main",
            "--namespace",
            namespace,
            "--workers",
            str(workers),
            "--metrics-port",
            str(self.metrics),
            "--health-port",
            str(self.health),
            "--resync-seconds",
            "600",
        ]
        self.env = {**os.environ, "KUBECONFIG": config, "YARDARM_ARTIFACTS_CLAIM": "artifacts"}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        started = time.perf_counter()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd="/")
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.health}/healthz", timeout=1):
                    return time.perf_counter() - started
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit(f"operator exited; see {self.log}") from None
                time.sleep(0.05)

    def rss_kib(self) -> tuple[int, int]:
        assert self.proc is not None
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])

    def reconciles(self) -> tuple[int, float]:
        """Reconciles so far (all kinds and results) and their mean duration in seconds."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=5) as res:
            text = res.read().decode()

        def total(prefix: str) -> float:
            return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))

        count = total("yardarm_reconcile_duration_seconds_count{")
        return int(count), total("yardarm_reconcile_duration_seconds_sum{") / max(count, 1)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the operator process so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def md_body(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.yardarm.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"model": {"uri": f"pvc://artifacts/bundles/{A.replace(':', '-')}", "digest": A}, "replicas": 0},
    }


class DeploymentWatch:
    """Records when each Deployment first appears (a watch, so no polling load)."""

    def __init__(self, namespace: str) -> None:
        from kubernetes import watch

        from yardarm.operator import kube

        self.seen: dict[str, float] = {}
        self.cond = threading.Condition()
        self._stop = False
        self._watch = watch.Watch()
        api = kube.api_client()
        from kubernetes.client import AppsV1Api

        self._api = AppsV1Api(api)
        self.namespace = namespace
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        time.sleep(0.5)

    def _run(self) -> None:
        for event in self._watch.stream(
            self._api.list_namespaced_deployment, self.namespace, _request_timeout=600, timeout_seconds=600
        ):
            if event["type"] == "ADDED":
                with self.cond:
                    self.seen.setdefault(event["object"].metadata.name, time.perf_counter())
                    self.cond.notify_all()
            if self._stop:
                break

    def wait_for(self, name: str, timeout: float = 30.0) -> float:
        deadline = time.perf_counter() + timeout
        with self.cond:
            while name not in self.seen:
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise SystemExit(f"timed out waiting for Deployment {name}")
                self.cond.wait(left)
            return self.seen[name]

    def stop(self) -> None:
        self._stop = True
        self._watch.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="ModelDeployments in the cold start")
    parser.add_argument("--latency-samples", type=int, default=100)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--log", type=Path, default=Path("/tmp/yardarm-bench-operator.log"))
    args = parser.parse_args()

    from yardarm.operator import kube, names

    config = kubeconfig()
    kube.configure(config, pool_size=32)
    sh("kubectl", f"--kubeconfig={config}", "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    results: dict[str, Any] = {"count": args.count, "workers": args.workers}
    op = OperatorProcess(config, namespace, args.workers, args.log)
    watch = DeploymentWatch(namespace)
    try:
        # 1. Latency, one creation at a time.
        op.start()
        latencies = []
        for i in range(args.latency_samples):
            name = f"lat-{i}"
            started = time.perf_counter()
            kube.create(md_body(namespace, name))
            latencies.append(watch.wait_for(names.serving_name(name)) - started)
        results["latency_p50_ms"] = round(1000 * statistics.median(latencies), 1)
        results["latency_p99_ms"] = round(1000 * percentile(latencies, 0.99), 1)
        op.stop()

        # 2. Cold start: create everything with the operator down, then start it.
        for i in range(args.count):
            kube.create(md_body(namespace, f"cold-{i:04d}"))
        started = time.perf_counter()
        results["operator_startup_s"] = round(op.start(), 2)
        total = args.count + args.latency_samples
        reconciled_at = ready_at = None
        while ready_at is None:
            items = kube.list_objects("ModelDeployment", namespace, cached=True)
            statuses = [md.get("status") or {} for md in items]
            done = sum(1 for st in statuses if st.get("observedGeneration") == 1 and st.get("history"))
            ready = sum(1 for st in statuses if st.get("phase") == "Ready")
            if reconciled_at is None and done >= total:
                deployments = len(kube.list_objects("Deployment", namespace, cached=True))
                if deployments >= total:
                    reconciled_at = time.perf_counter() - started
                    results["operator_cpu_to_reconciled_s"] = round(op.cpu_seconds(), 1)
            if ready >= total:
                ready_at = time.perf_counter() - started
            elif time.perf_counter() - started > 900:
                raise SystemExit(f"only {ready}/{total} Ready after 900 s")
            time.sleep(2.0)  # a list of 1,000 objects is not free for the API server either
        results["cold_start_all_reconciled_s"] = round(reconciled_at or ready_at, 1)
        results["cold_start_all_ready_s"] = round(ready_at, 1)
        results["objects_ready"] = total
        results["operator_cpu_total_s"] = round(op.cpu_seconds(), 1)
        count, mean = op.reconciles()
        results["reconciles_total"] = count
        results["reconcile_mean_ms"] = round(1000 * mean, 1)
        results["load_average_1m"] = os.getloadavg()[0]
        rss, peak = op.rss_kib()
        results["rss_mib"] = round(rss / 1024, 1)
        results["peak_rss_mib"] = round(peak / 1024, 1)
    finally:
        watch.stop()
        op.stop()
        subprocess.run(
            ["kubectl", f"--kubeconfig={config}", "delete", "namespace", namespace, "--wait=false"],
            capture_output=True,
        )

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    rows = [
        (
            f"create → Deployment exists, p50 ({args.latency_samples} samples)",
            f"{results['latency_p50_ms']} ms",
            "< 200 ms",
        ),
        ("create → Deployment exists, p99", f"{results['latency_p99_ms']} ms", ""),
        (
            f"cold start, {results['objects_ready']} ModelDeployments → all reconciled (children + status)",
            f"{results['cold_start_all_reconciled_s']} s",
            "< 60 s",
        ),
        (
            "cold start → all Ready (needs the Deployment controller's status, at its default 20 QPS)",
            f"{results['cold_start_all_ready_s']} s",
            "",
        ),
        (
            "operator RSS after the cold start (peak)",
            f"{results['rss_mib']} MiB ({results['peak_rss_mib']} MiB)",
            "< 150 MB",
        ),
    ]
    print("\n| measure | result | target |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nmachine: {machine}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
