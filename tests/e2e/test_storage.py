"""Serving from object storage on a real node: each fetch failure fails the rollout within seconds,
with its own sentence in status and a Warning Event, while the previous revision keeps serving.

Runs when the release uses the embedded S3 store (the demo's default; ``YARDARM_DEMO_STORAGE=pvc``
skips it). Each case deploys the logreg model, then points ``spec.model`` at something the fetch
init container cannot serve, with the default ``progressDeadlineSeconds`` (600 s): a rollback
within :data:`FAST` proves the pod's own reason was read, not the deadline.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e.conftest import demo, events

pytestmark = [
    pytest.mark.timeout(1800),
    pytest.mark.skipif(demo.STORAGE != "s3", reason="the release uses a PVC (YARDARM_DEMO_STORAGE=pvc)"),
]

API = "mlops.yardarm.dev/v1alpha1"
ZERO = "sha256:" + "0" * 64
#: Seconds from the bad spec to the rollback: the fetch's own failure, far below the 600 s deadline.
FAST = 120


def _cases(release: Any, good: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
    """Name → (spec.model, words the reason must contain)."""
    uri = good["uri"]
    store = f"{release.release}-objectstore.{release.namespace}.svc:7070"
    return {
        "missing": (
            {"uri": uri.rsplit("/", 1)[0] + "/sha256-" + "0" * 64, "digest": ZERO},
            "is not in the object store",
        ),
        "digest": ({"uri": uri, "digest": ZERO}, "not the pinned"),
        # The fetch fails before any byte is read, so the pinned digest is never checked. It differs
        # from the serving one on purpose: a new digest is a new revision, the unit of rollback.
        # (The same digest with other fetch settings is the same revision; see docs/operator.md.)
        "credentials": (
            {"uri": uri, "digest": ZERO, "s3": {"credentialsSecretRef": {"name": "wrong-s3-keys"}}},
            "refused the credentials",
        ),
        "unreachable": (
            {"uri": uri, "digest": ZERO, "s3": {"endpoint": "http://nowhere.invalid:7070", "insecure": True}},
            "Cannot reach the object store",
        ),
        "tls": ({"uri": uri, "digest": ZERO, "s3": {"endpoint": f"https://{store}"}}, "TLS with the object store"),
    }


#: Cases whose bad revision changes only the bundle (uri/digest): a rollback restores what served.
ROLLBACK_CASES = ["missing", "digest"]
#: Cases whose bad revision changes the fetch settings (spec.model.s3). The revision history does
#: not record settings yet (docs/operator.md, "known gap"), so a rollback would fetch with the new,
#: bad ones; these are checked on a fresh ModelDeployment whose first revision fails.
FIRST_REVISION_CASES = ["credentials", "unreachable", "tls"]


def _wrong_keys(release: Any) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "wrong-s3-keys"},
        "stringData": {"AWS_ACCESS_KEY_ID": "nobody", "AWS_SECRET_ACCESS_KEY": "wrong-wrong"},
    }
    release.apply(secret)


def _assert_failed_with(release: Any, name: str, status: dict[str, Any], words: str) -> None:
    failed = max(status["history"], key=lambda r: r["revision"])
    assert failed["outcome"] == "Failed" and words in failed["reason"], failed
    assert "progressDeadlineSeconds" not in failed["reason"]
    warnings = [e for e in events(release, "ModelDeployment", name) if e.get("type") == "Warning"]
    assert any(e["reason"] == "RolloutFailed" and words in e["message"] for e in warnings), warnings


@pytest.mark.parametrize("case", ROLLBACK_CASES)
def test_a_failed_fetch_fails_the_rollout_in_seconds_with_its_reason(
    release: Any, logreg_run: dict[str, Any], case: str
) -> None:
    good = logreg_run["model"]
    assert good["uri"].startswith("s3://"), good["uri"]
    name = f"fetch-{case}"
    release.apply(
        {
            "apiVersion": API,
            "kind": "ModelDeployment",
            "metadata": {"name": name},
            "spec": {"model": {"trainingRunRef": {"name": "iris-logreg-1"}}, "replicas": 1},
        }
    )
    try:
        demo.serving(release, name, good["digest"], timeout=300)
        model, words = _cases(release, good)[case]
        patch = {"spec": {"model": {"trainingRunRef": None, **model}}}
        started = time.monotonic()
        release.kubectl(
            "patch", "modeldeployment", name, "-n", release.namespace, "--type=merge", "-p", json.dumps(patch)
        )
        status = demo.rolled_back(release, name, good["digest"], timeout=FAST)
        assert time.monotonic() - started < FAST
        _assert_failed_with(release, name, status, words)
        reply = demo.predict_rows(release, demo.NORMAL_ROWS, name=name)  # revision 1 never stopped serving
        assert [str(x) for x in demo.labels_of(reply)] == [str(c) for c in demo.EXPECTED_CLASSES]
    finally:
        release.kubectl("delete", "modeldeployment", name, "-n", release.namespace, "--wait=false")


@pytest.mark.parametrize("case", FIRST_REVISION_CASES)
def test_a_fetch_that_cannot_connect_fails_in_seconds_with_its_reason(
    release: Any, logreg_run: dict[str, Any], case: str
) -> None:
    good = logreg_run["model"]
    _wrong_keys(release)
    name = f"fetch-{case}"
    model, words = _cases(release, good)[case]
    started = time.monotonic()
    release.apply(
        {
            "apiVersion": API,
            "kind": "ModelDeployment",
            "metadata": {"name": name},
            "spec": {"model": model, "replicas": 1},
        }
    )
    try:

        def failed() -> dict[str, Any] | None:
            status = release.status("modeldeployment", name)
            return status if status.get("phase") == "Failed" else None

        status = release.wait(f"ModelDeployment {name} to fail", failed, timeout=FAST, every=2)
        assert time.monotonic() - started < FAST
        _assert_failed_with(release, name, status, words)
        assert demo.condition(status, "Stalled").get("status") == "True", status
    finally:
        release.kubectl("delete", "modeldeployment", name, "-n", release.namespace, "--wait=false")
