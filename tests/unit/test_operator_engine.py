"""The work queue, the shared context, config and the RBAC rules."""

from __future__ import annotations

import asyncio

from yardarm.operator import rbac
from yardarm.operator.config import from_env
from yardarm.operator.context import Context
from yardarm.operator.main import build_config, parse_args
from yardarm.operator.rollback import MonitorVerdict
from yardarm.operator.workqueue import WorkQueue


def test_a_key_is_never_reconciled_twice_at_once_and_bursts_collapse() -> None:
    async def scenario() -> list[str]:
        calls: list[str] = []
        running = asyncio.Event()
        release = asyncio.Event()

        async def handler(key: str) -> float | None:
            calls.append(key)
            running.set()
            await release.wait()
            return None

        queue: WorkQueue[str] = WorkQueue(handler, workers=4)
        queue.start()
        queue.add("a")
        await running.wait()
        for _ in range(5):
            queue.add("a")  # arrives while "a" runs: marks it dirty once
        release.set()
        await asyncio.sleep(0.05)
        await queue.stop()
        return calls

    assert asyncio.run(scenario()) == ["a", "a"]


def test_failures_are_retried_with_backoff_and_delays_are_honoured() -> None:
    async def scenario() -> list[str]:
        calls: list[str] = []

        async def handler(key: str) -> float | None:
            calls.append(key)
            if len(calls) == 1:
                raise RuntimeError("transient")
            return 0.05 if len(calls) == 2 else None

        queue: WorkQueue[str] = WorkQueue(handler, workers=1, base_delay=0.01)
        queue.start()
        queue.add("k")
        await asyncio.sleep(0.3)
        await queue.stop()
        return calls

    assert asyncio.run(scenario()) == ["k", "k", "k"]


def test_the_context_wakes_dependents_and_tracks_verdicts() -> None:
    woken: list[tuple[str, str, str]] = []
    ctx = Context(config=from_env({}), enqueue=lambda *key: woken.append(key))
    ctx.depend(("TrainingRun", "ns", "tr"), ("Dataset", "ns", "ds"))
    ctx.notify("Dataset", "ns", "ds")
    assert woken == [("TrainingRun", "ns", "tr")]
    verdict = MonitorVerdict("m", "rollback", True, "sha256:x")
    ctx.set_verdict("ns", "m", "md1", verdict)
    assert ctx.verdicts_for("ns", "md1") == [verdict]
    ctx.set_verdict("ns", "m", "md2", verdict)  # retargeted
    assert ctx.verdicts_for("ns", "md1") == [] and ctx.verdicts_for("ns", "md2") == [verdict]
    ctx.set_verdict("ns", "m", None, None)
    assert ctx.verdicts_for("ns", "md2") == []


def test_config_from_env_and_flags() -> None:
    env = {"YARDARM_ARTIFACTS_CLAIM": "store", "YARDARM_SERVING_IMAGE": "reg/serve:1", "YARDARM_NAMESPACES": "a,b"}
    config = from_env(env)
    assert config.output_uri == "pvc://store/yardarm"
    assert config.serving_image == "reg/serve:1" and config.namespaces == ("a", "b")
    flagged = build_config(parse_args(["--namespace", "x", "--namespace", "y", "--workers", "3"]), env)
    assert flagged.namespaces == ("x", "y") and flagged.workers == 3 and flagged.artifacts_claim == "store"
    assert build_config(parse_args(["--all-namespaces"]), {}).all_namespaces


def test_rbac_rules_cover_what_the_operator_writes() -> None:
    by_resource = {
        (g, r): set(rule["verbs"]) for rule in rbac.RULES for g in rule["apiGroups"] for r in rule["resources"]
    }
    assert {"create", "get", "list", "watch"} <= by_resource[("batch", "jobs")]
    assert {"patch", "get", "list", "watch"} <= by_resource[("apps", "deployments")]
    assert "patch" in by_resource[("mlops.yardarm.dev", "modeldeployments/status")]
    assert "update" not in by_resource[("mlops.yardarm.dev", "modeldeployments")]  # never writes spec
    assert "create" in by_resource[("", "events")]


def test_watched_deployments_stand_in_for_a_get_only_while_fresh() -> None:
    ctx = Context(config=from_env({}), deployment_ttl=60.0)
    body = {
        "metadata": {"name": "d", "namespace": "ns", "generation": 3, "managedFields": [{"big": "x" * 1000}]},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}}},
        "status": {"observedGeneration": 3, "availableReplicas": 2},
    }
    ctx.saw_deployment(body, deleted=False)
    cached = ctx.deployment("ns", "d")
    assert cached is not None and cached["status"]["availableReplicas"] == 2
    assert "managedFields" not in cached["metadata"] and "spec" not in cached["spec"]["template"]
    ctx.deployment_ttl = 0.0
    assert ctx.deployment("ns", "d") is None
    ctx.saw_deployment(body, deleted=True)
    assert ctx.deployments == {}


def _count_attempts(error: Exception, seconds: float) -> tuple[int, int]:
    """Run a Controller whose reconcile always raises ``error``; (attempts, failures in a row)."""
    from yardarm.operator.controller import Controller

    async def scenario() -> tuple[int, int]:
        attempts = 0

        async def failing(ctx: Context, namespace: str, name: str) -> float | None:
            nonlocal attempts
            attempts += 1
            raise error

        controller = Controller(from_env({}), reconcilers={"ModelDeployment": failing})
        controller.queue = WorkQueue(controller._run, workers=1, base_delay=0.01)
        controller.start()
        controller.enqueue("ModelDeployment", "ns", "md")
        await asyncio.sleep(seconds)
        failures = controller.queue.failures(("ModelDeployment", "ns", "md"))
        await controller.stop()
        return attempts, failures

    return asyncio.run(scenario())


def test_api_errors_back_off_exponentially_through_the_real_failure_path() -> None:
    from yardarm.operator.kube import KubeError

    # 0.01 s doubling: attempts at 0, .01, .03, .07, .15, .31, .63 (±20 % jitter) -> at most 7 in
    # 0.7 s; a retry that reset its failure count would come back every 0.01 s (~70 attempts).
    attempts, failures = _count_attempts(KubeError(500, "InternalError", "etcd unavailable"), 0.7)
    assert 4 <= attempts <= 8
    assert failures == attempts  # every attempt counted as a failure, none reset the backoff


def test_a_terminating_namespace_or_a_vanished_object_is_not_retried_hot() -> None:
    from yardarm.operator.kube import KubeError, NotFoundError

    refused = KubeError(
        403,
        "Forbidden",
        'deployments.apps "x" is forbidden: unable to create new content in namespace ns '
        "because it is being terminated",
    )
    assert _count_attempts(refused, 0.3) == (1, 0)
    assert _count_attempts(NotFoundError(404, "NotFound", 'modeldeployments "md" not found'), 0.3) == (1, 0)
