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
