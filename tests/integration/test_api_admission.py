"""Accepted means it works: the real API server against the CRDs, the API types and the builders.

* every refusal case of the e2e set is refused here too, with its message (control plane only,
  so the set runs in every CI run, not only with a node);
* ``kubectl scale``, the ``dset`` short name and the spec columns work on the real server;
* the property: objects generated from the API types' schema (hypothesis, >= 1,000 per run) are
  either refused by the API server, or accepted, and then either the operator's own check of the
  spec (the pydantic types) names what is wrong in one sentence (the object is reported Stalled),
  or every child object the builders make for it passes a server-side dry run.

Generation walks the CRD schema, which is generated from the pydantic types, and draws each value
near the rules: enum members, bounds and one past them, URIs and names from pools of good and
hostile values, quantities as numbers and strings, parameters of every JSON shape.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.clusters import LocalCluster
from tests.e2e.test_failures import INVALID, VALID, VALID_VARIANTS, _manifest
from yardarm.api import API_VERSION, RESOURCES
from yardarm.api.crd import KINDS, crd
from yardarm.api.modeldeployment import Revision
from yardarm.operator import kube, serving_children
from yardarm.operator.config import Config
from yardarm.operator.jobs import profile_job, training_job
from yardarm.operator.podspec import claim_of
from yardarm.operator.statuses import invalid_spec

#: Objects per kind and run: four kinds, so at least 1,000 in all.
EXAMPLES_PER_KIND = 250
SHA = "sha256:" + "ab" * 32

Body = dict[str, Any]


@pytest.fixture(scope="module")
def server(yardarm_crds: LocalCluster) -> Iterator[str]:
    """The control plane with the CRDs, the operator's client pointed at it, and a namespace."""
    kube.configure(str(yardarm_crds.kubeconfig))
    namespace = yardarm_crds.create_namespace("admission")
    yield namespace
    yardarm_crds.delete_namespace(namespace)


def _dry_run(obj: Body) -> Body:
    """A server-side dry-run create; the object as the server would store it (defaults filled)."""
    kind = kube.kind_of(obj["kind"])
    path = kind.path(obj["metadata"].get("namespace"))
    return kube.request("POST", path, body=obj, query=[("dryRun", "All"), ("fieldManager", "admission-test")])


def _refusal(obj: Body) -> str | None:
    """The server's refusal message, or ``None`` when it admits the object."""
    try:
        _dry_run(obj)
    except kube.KubeError as exc:
        refused = exc
    else:
        return None
    assert refused.status in (400, 422), f"unexpected answer {refused.status}: {refused.message}"
    return refused.message


# --------------------------------------------------------------------------- the refusal set, on the control plane


@pytest.mark.parametrize(("kind", "change", "words"), INVALID, ids=[f"{k}-{w[:40]}" for k, _, w in INVALID])
def test_each_refusal_case_is_refused_with_its_message(server: str, kind: str, change: Body, words: str) -> None:
    manifest = _manifest(kind, "invalid", change)
    manifest["metadata"]["namespace"] = server
    message = _refusal(manifest)
    assert message is not None, f"admitted: {json.dumps(manifest)[:300]}"
    assert words in message
    assert "conversion" not in message and "error evaluating rule" not in message, message


def test_valid_manifests_and_pod_style_quantities_are_admitted(server: str) -> None:
    for kind, change in [*((k, {}) for k in VALID), *VALID_VARIANTS]:
        manifest = _manifest(kind, "valid", change)
        manifest["metadata"]["namespace"] = server
        assert _refusal(manifest) is None, (kind, change)


# --------------------------------------------------------------------------- kubectl


def test_kubectl_scale_short_name_and_columns(yardarm_crds: LocalCluster, server: str) -> None:
    md = _manifest("ModelDeployment", "scaled", {"replicas": 1})
    yardarm_crds.apply({**md, "metadata": {"name": "scaled", "namespace": server}})
    yardarm_crds.kubectl("scale", "modeldeployment", "scaled", "-n", server, "--replicas=3")
    assert yardarm_crds.get_json("mdep", "scaled", "-n", server)["spec"]["replicas"] == 3
    # Past the bound the answer says why.
    refused = yardarm_crds.kubectl("scale", "mdep", "scaled", "-n", server, "--replicas=500", check=False)
    assert refused.returncode != 0 and "spec.replicas" in refused.stderr, refused.stderr
    table = yardarm_crds.kubectl("get", "mdep", "scaled", "-n", server).stdout
    header, row = table.splitlines()[:2]
    assert header.split()[:3] == ["NAME", "RUN", "WANTED"], header
    assert row.split()[1:3] == [VALID["ModelDeployment"]["model"]["trainingRunRef"]["name"], "3"], row
    ds = _manifest("Dataset", "listed", {})
    yardarm_crds.apply({**ds, "metadata": {"name": "listed", "namespace": server}})
    assert "listed" in yardarm_crds.kubectl("get", "dset", "-n", server).stdout
    explained = yardarm_crds.kubectl("explain", "modeldeployment.spec.replicas").stdout
    assert "<= 100" in " ".join(explained.split()), explained  # kubectl wraps at its terminal width


# --------------------------------------------------------------------------- generation

#: Pools of strings by field name: good values beside hostile ones, so that generated objects
#: both pass the rules (and reach the builders) and probe their edges.
POOLS: dict[str, list[str]] = {
    "uri": [
        "builtin://iris",
        "builtin://digits",
        "builtin://titanic",
        "pvc://data/iris.csv",
        "pvc://models/bundles/sha256-ab",
        "pvc://models",
        "pvc://data/../etc/passwd",
        "pvc:///iris.csv",
        "pvc://Data/x",
        "pvc://a.b-c/x/y..z",
        "pvc://" + "c" * 253 + "/x",
        "pvc://" + "c" * 254 + "/x",
        "s3://bucket/iris.csv",
        "s3://models/bundles/x",
        "s3://b/x",
        "s3://bucket",
        "file:///data/iris.csv",
        "file://rel.csv",
        "https://example.com/iris.csv",
        "https:///x",
        "http://example.com/x",
        "/data/iris.csv",
        "/data/../x",
        "ftp://h/x",
        "",
    ],
    "prometheusUrl": ["http://prometheus:9090", "https://p.example", "prometheus:9090", "http://"],
    "name": ["iris", "a", "iris-v2", "iris.v2", "2iris", "Iris", "-x", "x-", "a" * 63, "b" * 253, "p99", ""],
    "digest": [SHA, "sha256:" + "0" * 63, "md5:abc", "sha256:" + "G" * 64],
    "target": ["target", "y", "species", "t" * 256],
    "endpoint": ["https://minio:9000", "http://10.0.0.1:9000"],
    "region": ["eu-west-1", "us-east-1"],
    "interval": ["30s", "5s", "1s", "1m", "1m30s", "0s", "250ms", "1x", "999999999h", "99999h"],
    "window": ["5m", "1m", "30s", "1h", "10s", "1.5h", "5 minutes", "99999h99999h"],
}
CPU = ["500m", "1", "0.5", "2", "100m", "abc", "-1", "1e3", "1Ki", ""]
BYTES = ["256Mi", "1Gi", "2Gi", "512M", "1e9", "lots", "-1Gi", "1.5Gi", "0"]


def _string(name: str, node: Body) -> st.SearchStrategy[Any]:
    if "enum" in node:
        return st.sampled_from([*node["enum"], "NotAMember"] if len(node["enum"]) > 1 else node["enum"])
    pool = POOLS.get(name)
    longest = min(node.get("maxLength", 64), 300)
    text = st.text(st.sampled_from("abcxyz019-_./:"), min_size=0, max_size=longest + 2)
    if pool:
        return st.one_of(st.sampled_from(pool), text) if name == "name" else st.sampled_from(pool)
    return st.one_of(st.sampled_from(["a", "value", "x" * longest]), text)


def _number(node: Body) -> st.SearchStrategy[Any]:
    integer = node.get("type") == "integer"
    low, high = node.get("minimum"), node.get("maximum")
    edges = [v for v in (low, high) if v is not None]
    one_past = [v - 1 if integer else v - 0.5 for v in edges[:1]] + [v + 1 if integer else v + 0.5 for v in edges[1:]]
    lo = int(low) if low is not None else -(2**40)
    hi = int(high) if high is not None else 2**40
    inside = st.integers(lo, hi) if integer else st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    return st.one_of(st.sampled_from(edges + one_past + [0] if edges else [0, 1, -1]), inside)


def _json_value() -> st.SearchStrategy[Any]:
    scalar = st.one_of(
        st.integers(-5, 1000),
        st.floats(-10, 10, allow_nan=False),
        st.booleans(),
        st.none(),
        st.sampled_from(["auto", "balanced", "lbfgs", "x" * 70]),
        st.text(max_size=300),
    )
    return st.one_of(scalar, st.lists(scalar, max_size=20), st.dictionaries(st.sampled_from("ab01"), scalar))


def _quantity(name: str) -> st.SearchStrategy[Any]:
    pool = CPU if name == "cpu" else BYTES
    numbers = st.one_of(st.sampled_from([0.5, 0.25, 1, 2, -1, True]), st.integers(0, 2**31))
    return st.one_of(st.sampled_from(pool), numbers)


def _from_schema(node: Body, name: str = "") -> st.SearchStrategy[Any]:
    """Values for one structural schema node."""
    if name in ("cpu", "memory", "ephemeral-storage"):
        return _quantity(name)
    if node.get("x-kubernetes-preserve-unknown-fields") and "type" not in node:
        return _json_value()
    kind = node.get("type")
    if kind == "string":
        return _string(name, node)
    if kind in ("integer", "number"):
        return _number(node)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        low = node.get("minItems", 0)
        high = min(node.get("maxItems", 4), 4)
        items = _from_schema(node["items"], name[:-1] if name.endswith("s") else name)
        if "x-kubernetes-list-map-keys" in node:
            key = node["x-kubernetes-list-map-keys"][0]
            return st.lists(items, min_size=max(0, low - 1), max_size=high, unique_by=lambda v: str(v.get(key)))
        return st.lists(items, min_size=max(0, low - 1), max_size=high)
    if kind == "object" and "properties" in node:
        required = set(node.get("required", []))
        fields = {k: _from_schema(v, k) for k, v in node["properties"].items()}
        return st.fixed_dictionaries(
            {k: v for k, v in fields.items() if k in required},
            optional={k: v for k, v in fields.items() if k not in required},
        )
    if kind == "object":
        values = node.get("additionalProperties") or {"x-kubernetes-preserve-unknown-fields": True}
        keys = st.sampled_from(["C", "max_depth", "n_estimators", "alpha", "class_weight", "x" * 65])
        return st.dictionaries(keys, _from_schema(values, "value"), min_size=1, max_size=4)
    return _json_value()


def _spec_strategy(kind: str) -> st.SearchStrategy[Body]:
    info = next(i for i in KINDS if i.kind == kind)
    spec_schema = crd(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    generated = _from_schema(spec_schema, "spec")

    # Mostly start from the valid spec and change one or two fields: deep values get reached.
    def near_valid(drawn: tuple[Body, list[int]]) -> Body:
        spec, picks = drawn
        merged = copy.deepcopy(VALID[kind])
        keys = sorted(spec)
        merged.update({keys[i % len(keys)]: spec[keys[i % len(keys)]] for i in picks} if keys else {})
        return merged

    near = st.tuples(generated, st.lists(st.integers(0, 31), min_size=1, max_size=2)).map(near_valid)
    return st.one_of(generated, near, near, near)


NAMES = st.sampled_from(["iris", "m", "iris-v2", "model-1", "iris.v2", "2iris", "m" * 55, "m" * 56, "a" * 100])


# --------------------------------------------------------------------------- the builders, as the operator calls them


def _children(obj: Body, namespace: str) -> list[Body]:
    """Every child object the operator's builders make for an admitted object."""
    config = Config(artifacts_claim="artifacts")
    kind = obj["kind"]
    if kind == "Dataset":
        output = config.output_uri
        assert output is not None
        # A source on another claim is reported Stalled (ClaimMismatch) before any Job is built.
        return [profile_job(obj, output_uri=output, claim=config.artifacts_claim, config=config)]
    if kind == "TrainingRun":
        dataset = {
            "apiVersion": API_VERSION,
            "kind": "Dataset",
            "metadata": {"name": obj["spec"]["datasetRef"]["name"], "namespace": namespace},
            "spec": {"source": {"uri": "builtin://iris"}, "target": "target"},
        }
        output = obj["spec"].get("output", {}).get("uri") or config.output_uri
        job = training_job(obj, dataset, output_uri=output, claim=claim_of(output), dataset_digest=SHA, config=config)
        return [job]
    if kind == "ModelDeployment":
        model = obj["spec"]["model"]
        uri = model.get("uri") or "pvc://artifacts/bundles/sha256-ab"
        revision = Revision.model_validate(
            {
                "revision": 1,
                "modelDigest": model.get("digest", SHA),
                "modelUri": uri,
                "deployedAt": "2026-01-01T00:00:00Z",
                "outcome": "Progressing",
            }
        )
        try:
            built = [serving_children.deployment(obj, revision, config)]
        except serving_children.UnservableModel:
            built = []  # reported as Stalled (UnservableModel) by the reconciler
        built.append(serving_children.service(obj))
        built += [c for c in (serving_children.hpa(obj), serving_children.pdb(obj)) if c is not None]
        return built
    return []


def _check_one(kind: str, namespace: str, name: str, spec: Body, seen: Counter[str]) -> None:
    obj = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    try:
        stored = _dry_run(obj)
    except kube.KubeError as exc:
        refused = exc
    else:
        refused = None
    if refused is not None:
        assert refused.status in (400, 422), f"{refused.status}: {refused.message}"
        assert "error evaluating rule" not in refused.message, refused.message
        assert "conversion" not in refused.message, refused.message
        seen["refused"] += 1
        return
    stored["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    problem = invalid_spec(stored)
    if problem is not None:
        # The operator stops here: Stalled (InvalidSpec) with this sentence and a Warning Event.
        assert "\n" not in problem and len(problem) < 1024, problem
        seen["stalled"] += 1
        return
    RESOURCES[kind].model_validate(stored)  # the types read what the server stores
    for child in _children(stored, namespace):
        try:
            _dry_run(child)
        except kube.KubeError as exc:
            pytest.fail(
                f"{kind} admitted and accepted by the types, but its {child['kind']} is refused: {exc.message}\n"
                f"spec: {json.dumps(spec)[:2000]}"
            )
    seen["built"] += 1


@pytest.mark.parametrize("kind", [i.kind for i in KINDS])
def test_admitted_objects_can_be_run_or_are_reported(server: str, kind: str) -> None:
    seen: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES_PER_KIND,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(spec=_spec_strategy(kind), name=NAMES)
    def one(spec: Body, name: str) -> None:
        _check_one(kind, server, name, spec, seen)

    one()
    total = sum(seen.values())
    print(f"{kind}: {dict(seen)}")
    assert total >= EXAMPLES_PER_KIND, seen
    # The generator must reach the builders, not only the refusals.
    assert seen["built"] >= EXAMPLES_PER_KIND // 10, seen
    assert seen["refused"] >= EXAMPLES_PER_KIND // 10, seen
