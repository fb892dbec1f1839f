"""The local single-node cluster (hack/cluster.py --mode node) runs real pods.

kubelet + containerd + runc, CNI bridge networking, kube-proxy Services and the
offline-built ``yardarm/serving:dev`` image, under the restricted Pod Security
profile.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.clusters import CLUSTER_PY, LocalCluster
from tests.e2e.conftest import demo

IMAGE = "yardarm/serving:dev"
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}
POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}


def container(name: str, command: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": IMAGE,
        "imagePullPolicy": "Never",
        "command": command,
        "securityContext": CONTAINER_SECURITY,
        **extra,
    }


def pod(name: str, ns: str, command: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": POD_SECURITY,
            "containers": [container("main", command)],
            **spec,
        },
    }


def wait_phase(cluster: LocalCluster, name: str, ns: str, timeout: float = 180) -> dict[str, Any]:
    """Wait for a pod to finish; return it (fails with its events if it does not succeed)."""

    def done() -> dict[str, Any] | None:
        obj = cluster.get_json("pod", name, "-n", ns)
        return obj if obj["status"].get("phase") in ("Succeeded", "Failed") else None

    try:
        obj = cluster.wait_for(f"pod {ns}/{name} to finish", done, timeout=timeout)
    except AssertionError:
        events = cluster.kubectl("get", "events", "-n", ns, check=False).stdout
        raise AssertionError(f"pod {ns}/{name} did not finish; events:\n{events}") from None
    if obj["status"]["phase"] != "Succeeded":
        logs = cluster.kubectl("logs", name, "-n", ns, check=False)
        raise AssertionError(f"pod {ns}/{name} failed:\n{json.dumps(obj['status'], indent=1)}\n{logs.stdout}")
    return obj


@pytest.fixture(scope="module")
def cluster(node_cluster: LocalCluster) -> LocalCluster:
    # These tests may be the first e2e tests on a cold machine: build and import the images as the
    # chart fixture does (a no-op when they are current), rather than expect an earlier test to have.
    demo.build_images()
    images = subprocess.run(["ctr", "-n", "k8s.io", "images", "ls", "-q"], text=True, capture_output=True)
    assert f"docker.io/{IMAGE}" in images.stdout.split(), f"{IMAGE} is not in containerd after the image build"
    return node_cluster


@pytest.fixture
def ns(cluster: LocalCluster) -> Iterator[str]:
    name = cluster.create_namespace("e2e", RESTRICTED)
    cluster.wait_for(
        "the default ServiceAccount",
        lambda: cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
    )
    yield name
    cluster.delete_namespace(name)


def test_node_is_ready(node_cluster: LocalCluster) -> None:
    nodes = node_cluster.get_json("nodes")["items"]
    assert len(nodes) == 1
    conditions = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert nodes[0]["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.34.")


def test_serving_image_pod_runs_to_completion_as_nonroot(cluster: LocalCluster, ns: str) -> None:
    script = "import os, sys; print(os.getuid(), sys.version_info[:2]); import yardarm; print('yardarm ok')"
    cluster.apply(pod("hello", ns, ["python3", "-c", script]))
    wait_phase(cluster, "hello", ns)
    out = cluster.kubectl("logs", "hello", "-n", ns).stdout
    assert "65532 (3, 11)" in out
    assert "yardarm ok" in out


def test_images_carry_their_extras_only(cluster: LocalCluster, ns: str) -> None:
    serving = "import importlib.util as u; print([m for m in ('onnxruntime', 'uvicorn', 'sklearn') if u.find_spec(m)])"
    cluster.apply(pod("serving-deps", ns, ["python3", "-c", serving]))
    images = subprocess.run(["ctr", "-n", "k8s.io", "images", "ls", "-q"], text=True, capture_output=True)
    has_operator = "docker.io/yardarm/operator:dev" in images.stdout.split()
    if has_operator:
        operator = pod("operator-deps", ns, ["python3", "-c", "import kopf, kubernetes, sklearn, onnx, yardarm"])
        operator["spec"]["containers"][0]["image"] = "yardarm/operator:dev"
        cluster.apply(operator)
    wait_phase(cluster, "serving-deps", ns)
    assert cluster.kubectl("logs", "serving-deps", "-n", ns).stdout.strip() == "['onnxruntime', 'uvicorn']"
    if not has_operator:
        pytest.skip("yardarm/operator:dev not built (python hack/images.py build operator)")
    wait_phase(cluster, "operator-deps", ns, timeout=240)


def test_deployment_behind_a_service_answers_http_from_another_pod(cluster: LocalCluster, ns: str) -> None:
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "securityContext": POD_SECURITY,
                        "containers": [
                            container(
                                "web",
                                ["python3", "-m", "http.server", "8080", "--directory", "/etc"],
                                ports=[{"containerPort": 8080}],
                                readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                            )
                        ],
                    },
                },
            },
        }
    )
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
    )
    cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=180s", timeout=200)
    ip = cluster.get_json("service", "web", "-n", ns)["spec"]["clusterIP"]
    # kube-proxy programs the Service's endpoints asynchronously after the rollout is complete
    # (a refused connection until then), so the client retries for a bounded 30 s, as clients do.
    fetch = (
        "import os, time, urllib.request\n"
        "url = 'http://' + os.environ['WEB_SERVICE_HOST'] + '/os-release'\n"
        "deadline = time.monotonic() + 30\n"
        "while True:\n"
        "    try:\n"
        "        print(urllib.request.urlopen(url, timeout=10).read().decode()); break\n"
        "    except OSError:\n"
        "        if time.monotonic() > deadline: raise\n"
        "        time.sleep(1)\n"
    )
    cluster.apply(pod("client", ns, ["python3", "-c", fetch]))
    wait_phase(cluster, "client", ns)
    assert "bookworm" in cluster.kubectl("logs", "client", "-n", ns).stdout
    assert ip.startswith("10.96.")


def test_cluster_dns_resolves_services(cluster: LocalCluster, ns: str) -> None:
    status = json.loads(
        subprocess.run(
            [sys.executable, str(CLUSTER_PY), "status", "--mode", "node", "--json"], text=True, capture_output=True
        ).stdout
    )
    if "coredns" not in status["components"]:
        pytest.skip("no CoreDNS built (bash hack/build-binaries.sh coredns): the cluster has no DNS")
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "named", "namespace": ns},
            "spec": {"selector": {"app": "none"}, "ports": [{"port": 80}]},
        }
    )
    ip = cluster.get_json("service", "named", "-n", ns)["spec"]["clusterIP"]
    names = ["named", f"named.{ns}.svc.cluster.local", "kubernetes.default.svc"]
    script = f"import socket; print(*[socket.gethostbyname(n) for n in {names!r}])"
    cluster.apply(pod("dns", ns, ["python3", "-c", script]))
    wait_phase(cluster, "dns", ns)
    assert cluster.kubectl("logs", "dns", "-n", ns).stdout.split() == [ip, ip, "10.96.0.1"]


def test_pod_reaches_the_api_server_through_the_kubernetes_service(cluster: LocalCluster, ns: str) -> None:
    script = (
        "import json, os, ssl, urllib.request\n"
        "sa = '/var/run/secrets/kubernetes.io/serviceaccount/'\n"
        "ctx = ssl.create_default_context(cafile=sa + 'ca.crt')\n"
        "env = os.environ\n"
        "url = 'https://' + env['KUBERNETES_SERVICE_HOST'] + ':' + env['KUBERNETES_SERVICE_PORT']\n"
        "req = urllib.request.Request(url + '/version',"
        " headers={'Authorization': 'Bearer ' + open(sa + 'token').read()})\n"
        "print(json.load(urllib.request.urlopen(req, context=ctx, timeout=10))['gitVersion'])\n"
    )
    cluster.apply(pod("api", ns, ["python3", "-c", script]))
    wait_phase(cluster, "api", ns)
    assert cluster.kubectl("logs", "api", "-n", ns).stdout.strip().startswith("v1.34.")


def test_job_pod_runs_and_its_termination_message_is_readable(cluster: LocalCluster, ns: str) -> None:
    script = "open('/dev/termination-log', 'w').write('{\"accuracy\": 0.93}')"
    cluster.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "train", "namespace": ns},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "securityContext": POD_SECURITY,
                        "containers": [container("main", ["python3", "-c", script])],
                    }
                },
            },
        }
    )
    cluster.kubectl("wait", "--for=condition=Complete", "job/train", "-n", ns, "--timeout=180s", timeout=200)
    pods = cluster.get_json("pods", "-n", ns, "-l", "batch.kubernetes.io/job-name=train")["items"]
    terminated = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert json.loads(terminated["message"]) == {"accuracy": 0.93}
