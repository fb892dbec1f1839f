"""Shared test configuration: markers come from the directory a test lives in."""

from __future__ import annotations

from pathlib import Path

import pytest

# Cluster fixtures (control_plane, node_cluster) live in tests/clusters.py; tests/skips.py makes
# any skipped test fail the run unless YARDARM_ALLOW_SKIPS=1.
pytest_plugins = ["clusters", "skips"]

REPO = Path(__file__).resolve().parent.parent
_LAYERS = ("unit", "component", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its layer (tests/<layer>/...), so `-m unit` and friends select by folder."""
    for item in items:
        parts = Path(str(item.path)).relative_to(REPO / "tests").parts
        if parts and parts[0] in _LAYERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository checkout the tests run from."""
    return REPO


@pytest.fixture(scope="session")
def yardarm_crds(control_plane):  # type: ignore[no-untyped-def]
    """The control plane with Yardarm's CRDs from ``crds/`` applied and Established.

    A control plane started for the test session is empty: every test that creates Yardarm
    objects, or asks the authorizer about them, depends on this fixture.
    """
    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    control_plane.kubectl(
        "wait", "--for=condition=Established", "crd", "-l", "app.kubernetes.io/part-of=yardarm", "--timeout=60s"
    )
    return control_plane
