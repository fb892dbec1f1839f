"""What the API types admit is what the operator can run: bounds, URI rules, names, sizes.

The CRD side of each rule is proven against a real API server in
``tests/integration/test_api_admission.py``; here the pure parts: the pydantic twins, the
generated schema's shape, and the worst-case sizes the bounds allow.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from yardarm.api import Dataset, DatasetSpec, ModelDeployment, ModelDeploymentSpec, MonitorSpec, TrainingRunSpec
from yardarm.api.common import StringRule, parse_quantity
from yardarm.api.crd import KINDS, crd
from yardarm.api.dataset import FEATURE_NAMES_MAX_CHARS
from yardarm.api.modeldeployment import NAME_MAX_LENGTH
from yardarm.api.trainingrun import GRID_PARAMS_MAX, GRID_VALUES_MAX, PARAMS_MAX, SPEC_MAX_BYTES
from yardarm.operator import jobs, names
from yardarm.operator.config import Config
from yardarm.operator.statuses import invalid_spec

#: Linux refuses an environment string ("NAME=value") of 128 KiB or more (MAX_ARG_STRLEN).
ENV_STRING_MAX = 128 * 1024
SHA = "sha256:" + "0" * 64

TR = {"datasetRef": {"name": "iris"}, "task": "classification", "estimator": {"kind": "LogisticRegression"}}
MON = {"targetRef": {"name": "m"}, "checks": [{"name": "p99", "type": "latency", "threshold": 0.1}]}


def _schema(kind: str) -> dict[str, Any]:
    info = next(i for i in KINDS if i.kind == kind)
    return crd(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _refused(model: Any, data: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(data)
    assert words in str(refused.value), str(refused.value)


# --------------------------------------------------------------------------- URIs


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("pvc://data/../../etc/passwd", "must not contain '..' segments"),
        ("pvc://data/a/..", "must not contain '..' segments"),
        ("/data/../x.csv", "must not contain '..' segments"),
        ("pvc:///iris.csv", "starts with the name of a PersistentVolumeClaim"),
        ("pvc://Data/iris.csv", "starts with the name of a PersistentVolumeClaim"),
        ("pvc://data", "names a path inside the claim"),
        ("pvc://data/", "names a path inside the claim"),
        ("s3://x/iris.csv", "starts with a bucket name"),
        ("s3://bucket", "names a key in the bucket"),
        ("file://iris.csv", "names an absolute path"),
        ("https:///iris.csv", "names a host and a path"),
        ("builtin://titanic", "builtin:// data sets are iris, wine, breast_cancer, diabetes and digits"),
        ("ftp://host/iris.csv", "must start with builtin://"),
    ],
)
def test_a_bad_source_uri_is_refused_with_a_sentence(uri: str, words: str) -> None:
    _refused(DatasetSpec, {"source": {"uri": uri}, "target": "y"}, words)


@pytest.mark.parametrize(
    "uri",
    ["builtin://iris", "pvc://data/iris.csv", "pvc://my.claim/a..b/x", "s3://bucket/k", "https://h/x", "/data/x.csv"],
)
def test_good_source_uris_are_accepted(uri: str) -> None:
    assert DatasetSpec.model_validate({"source": {"uri": uri}, "target": "y"}).source.uri == uri


def test_model_and_output_uris_follow_the_same_rules() -> None:
    md = {"model": {"uri": "pvc://models/../x", "digest": SHA}}
    _refused(ModelDeploymentSpec, md, "must not contain '..' segments")
    _refused(ModelDeploymentSpec, {"model": {"uri": "pvc://models", "digest": SHA}}, "names a path inside the claim")
    _refused(ModelDeploymentSpec, {"model": {"uri": "http://m/x", "digest": SHA}}, "must start with pvc://")
    # s3:// bundles are servable; a store prefix may be the claim alone.
    ModelDeploymentSpec.model_validate({"model": {"uri": "s3://models/bundles/x", "digest": SHA}})
    TrainingRunSpec.model_validate({**TR, "output": {"uri": "pvc://models"}})
    _refused(TrainingRunSpec, {**TR, "output": {"uri": "pvc://models/../../x"}}, "must not contain '..' segments")


def test_string_rules_render_to_cel_with_the_regex_escaped_once() -> None:
    rule = StringRule(r"^a\.b$", "an a, a dot, a b")
    assert rule.cel() == {"rule": "self.matches('^a\\\\.b$')", "message": "an a, a dot, a b"}
    guarded = StringRule(r"x", "m", when="pvc://", refuse=True).cel()["rule"]
    assert guarded == "!self.startsWith('pvc://') || !self.matches('x')"
    assert rule.holds("a.b") and not rule.holds("axb")


def test_no_uri_or_name_refusal_prints_a_regular_expression() -> None:
    """Only a digest and a CPU quantity (a node CEL cannot see) keep an OpenAPI pattern."""
    for info in KINDS:
        for path, node in _nodes(_schema(info.kind)["properties"]["spec"], "spec"):
            if "pattern" in node:
                assert path.endswith((".digest", ".cpu")), f"{info.kind} {path}: refused with a regex"


def _nodes(node: dict[str, Any], path: str):  # type: ignore[no-untyped-def]
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


# --------------------------------------------------------------------------- bounds everywhere


#: Integers only the operator reads, as Python ints: no child object carries them.
OPERATOR_ONLY_INTEGERS = {"spec.minSamples"}


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_every_spec_value_has_a_bound(info: Any) -> None:
    """Strings, lists and maps have a size bound, integers a range: nothing in a spec is unbounded."""
    for path, node in _nodes(_schema(info.kind)["properties"]["spec"], "spec"):
        if path in OPERATOR_ONLY_INTEGERS:
            continue
        kind = node.get("type")
        if kind == "string" and "enum" not in node:
            assert "maxLength" in node, f"{path}: string without maxLength"
        elif kind == "array":
            assert "maxItems" in node, f"{path}: list without maxItems"
        elif kind == "object" and "additionalProperties" in node:
            assert "maxProperties" in node, f"{path}: map without maxProperties"
        elif kind == "integer":
            assert "minimum" in node and "maximum" in node, f"{path}: integer without a range"
            assert node["maximum"] <= 2**32 - 1, path
        elif kind is None and node.get("x-kubernetes-preserve-unknown-fields"):
            assert {"maxLength", "maxItems", "maxProperties"} <= node.keys(), f"{path}: unbounded JSON value"


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_kubectl_explain_shows_defaults_and_bounds(info: Any) -> None:
    for path, node in _nodes(_schema(info.kind)["properties"]["spec"], "spec"):
        description = node.get("description", "")
        if "default" in node and node["default"] != {}:
            assert f"default {json.dumps(node['default'])}" in description, path
        if node.get("type") == "integer" and "maximum" in node:
            assert f"<= {node['maximum']}" in description, path


def test_largest_dataset_spec_fits_in_one_environment_variable() -> None:
    per_name = 256
    count = FEATURE_NAMES_MAX_CHARS // per_name
    features = [{"name": f"{i:04d}".ljust(per_name, "x"), "type": "categorical"} for i in range(count)]
    spec = {
        "source": {"uri": "https://h/" + "p" * 2030, "s3": {"endpoint": "e" * 512, "region": "r" * 64}},
        "target": "t" * 256,
        "features": features,
    }
    spec["source"].pop("s3")  # s3 settings go with s3:// only; measured apart below
    wire = DatasetSpec.model_validate(spec).to_wire()
    env = json.dumps(jobs._slim({"apiVersion": "v", "kind": "Dataset", "metadata": {"name": "n" * 253}, "spec": wire}))
    assert len(env) + len("YARDARM_DATASET=") + 512 + 64 < ENV_STRING_MAX
    too_many = [*features, {"name": "y" * 256}]
    _refused(DatasetSpec, {**spec, "features": too_many}, "feature names together are too long")


def test_largest_trainingrun_spec_fits_and_a_larger_one_is_refused() -> None:
    item = "v" * 64
    params = {f"p{i:02d}".ljust(64, "_"): [item] * 16 for i in range(PARAMS_MAX)}
    grid = {f"g{i}": [item] * GRID_VALUES_MAX for i in range(GRID_PARAMS_MAX)}
    spec = {
        **TR,
        "estimator": {"kind": "LogisticRegression", "params": params},
        "search": {"grid": grid},
        "qualityGates": [{"metric": "accuracy", "min": 0.5}] * 16,
        "output": {"uri": "pvc://models/" + "o" * 2030},
    }
    wire = TrainingRunSpec.model_validate(spec).to_wire()
    size = len(json.dumps(wire, separators=(",", ":")))
    assert size <= SPEC_MAX_BYTES < ENV_STRING_MAX - 4096
    # What the schema cannot bound (parameter names) the types refuse, and the operator reports.
    _refused(TrainingRunSpec, {**TR, "estimator": {"kind": "Ridge", "params": {"x" * 70_000: 1}}}, "parameter name")
    _refused(TrainingRunSpec, {**TR, "estimator": {"kind": "Ridge", "params": {"p": "x" * 200_000}}}, "at most 256")


def test_a_training_job_carries_specs_below_the_linux_limit() -> None:
    spec = TrainingRunSpec.model_validate(
        {**TR, "estimator": {"kind": "LogisticRegression", "params": {f"p{i}": ["v" * 64] * 16 for i in range(32)}}}
    )
    tr = {
        "apiVersion": "mlops.yardarm.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "r", "namespace": "ns", "uid": "u"},
        "spec": spec.to_wire(),
    }
    ds = {"apiVersion": "mlops.yardarm.dev/v1alpha1", "kind": "Dataset", "metadata": {"name": "d"}, "spec": {}}
    job = jobs.training_job(tr, ds, output_uri="pvc://m/x", claim="m", dataset_digest=None, config=Config())
    for env in job["spec"]["template"]["spec"]["containers"][0]["env"]:
        assert len(env["name"]) + 1 + len(env.get("value", "")) < ENV_STRING_MAX


# --------------------------------------------------------------------------- values that make checks meaningless


@pytest.mark.parametrize(
    ("gate", "words"),
    [
        ({"metric": "accuracy", "min": 1.5}, "accuracy is between 0 and 1"),
        ({"metric": "rocAuc", "min": -0.1}, "rocAuc is between 0 and 1"),
        ({"metric": "logLoss", "max": -1}, "logLoss is at least 0"),
        ({"metric": "accuracy", "max": 0.9}, "higher-is-better: gate them with min"),
    ],
)
def test_a_gate_outside_its_metric_range_is_refused(gate: dict[str, Any], words: str) -> None:
    _refused(TrainingRunSpec, {**TR, "qualityGates": [gate]}, words)


def test_regression_gates_have_their_own_ranges() -> None:
    regression = {**TR, "task": "regression", "estimator": {"kind": "Ridge"}}
    _refused(TrainingRunSpec, {**regression, "qualityGates": [{"metric": "r2", "min": 1.2}]}, "r2 is at most 1")
    TrainingRunSpec.model_validate({**regression, "qualityGates": [{"metric": "r2", "min": -3}]})


def test_a_zero_latency_threshold_is_refused() -> None:
    checks = [{"name": "p99", "type": "latency", "threshold": 0}]
    _refused(MonitorSpec, {**MON, "checks": checks}, "a latency threshold is a number of seconds above 0")


def test_empty_feature_lists_are_refused_in_every_kind() -> None:
    _refused(DatasetSpec, {"source": {"uri": "builtin://iris"}, "target": "target", "features": []}, "at least 1")
    checks = [{"name": "d", "type": "featureDrift", "threshold": 0.2, "features": []}]
    _refused(MonitorSpec, {**MON, "checks": checks}, "at least 1")


def test_a_scalar_where_a_grid_is_expected_is_refused() -> None:
    _refused(TrainingRunSpec, {**TR, "search": {"grid": {"C": 1.0}}}, "search.grid.C")
    _refused(TrainingRunSpec, {**TR, "search": {"grid": {"C": []}}}, "a list of 1 to 16")
    grid = _schema("TrainingRun")["properties"]["spec"]["properties"]["search"]["properties"]["grid"]
    assert grid["additionalProperties"]["type"] == "array"
    assert grid["additionalProperties"]["minItems"] == 1


def test_seed_and_ttl_stay_within_what_their_consumers_take() -> None:
    _refused(DatasetSpec, {"source": {"uri": "builtin://iris"}, "target": "t", "split": {"seed": 2**32}}, "seed")
    _refused(TrainingRunSpec, {**TR, "job": {"ttlSecondsAfterFinished": 2**31}}, "ttlSecondsAfterFinished")


@pytest.mark.parametrize("value", ["1x", "5 minutes", "999999999h", "1h30"])
def test_a_bad_duration_is_refused_with_a_sentence(value: str) -> None:
    _refused(MonitorSpec, {**MON, "window": value}, "must be a duration such as 30s, 5m or 1h30m")


def test_duration_rules_guard_every_duration_call() -> None:
    rules = _schema("Monitor")["properties"]["spec"]["x-kubernetes-validations"]
    for rule in rules:
        if "duration(" in rule["rule"]:
            assert rule["rule"].startswith("!self."), rule


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("2iris", "must also be a valid Service name"),
        ("iris.v2", "must also be a valid Service name"),
        ("a" * (NAME_MAX_LENGTH + 1), f"at most {NAME_MAX_LENGTH} characters"),
    ],
)
def test_modeldeployment_names_must_make_valid_service_names(name: str, words: str) -> None:
    md = {"metadata": {"name": name}, "spec": {"model": {"trainingRunRef": {"name": "r"}}}}
    _refused(ModelDeployment, md, words)


def test_the_longest_modeldeployment_name_names_its_children_exactly() -> None:
    name = "m" * NAME_MAX_LENGTH
    assert names.serving_name(name) == f"{name}-serving"
    assert len(names.serving_name(name)) == 63
    assert _schema("ModelDeployment")["properties"]["metadata"]["properties"]["name"]["maxLength"] == NAME_MAX_LENGTH


# --------------------------------------------------------------------------- resources


@pytest.mark.parametrize(("value", "amount"), [(0.5, "0.5"), ("500m", "0.500"), (2, "2"), ("1Gi", "1073741824")])
def test_quantities_are_read_as_pods_read_them(value: Any, amount: str) -> None:
    assert str(parse_quantity(value)) == amount


def test_cpu_as_a_number_is_accepted() -> None:
    spec = ModelDeploymentSpec.model_validate(
        {"model": {"trainingRunRef": {"name": "r"}}, "resources": {"requests": {"cpu": 0.5}}}
    )
    assert spec.to_wire()["resources"]["requests"]["cpu"] == 0.5


@pytest.mark.parametrize(
    ("resources", "words"),
    [
        ({"requests": {"cpu": True}}, "is not a quantity"),
        ({"requests": {"memory": "lots"}}, "is not a quantity"),
        ({"requests": {"cpu": -1}}, "is negative"),
        ({"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}, "must be at most resources.limits.cpu"),
        ({"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}, "must be at most resources.limits.memory"),
    ],
)
def test_resources_a_pod_would_refuse_are_refused(resources: dict[str, Any], words: str) -> None:
    _refused(ModelDeploymentSpec, {"model": {"trainingRunRef": {"name": "r"}}, "resources": resources}, words)


def test_autoscaling_needs_a_cpu_request_when_resources_are_set() -> None:
    base = {"model": {"trainingRunRef": {"name": "r"}}, "autoscaling": {"maxReplicas": 3}}
    _refused(ModelDeploymentSpec, {**base, "resources": {"requests": {"memory": "1Gi"}}}, "set resources.requests.cpu")
    ModelDeploymentSpec.model_validate(base)  # the default resources request CPU
    ModelDeploymentSpec.model_validate({**base, "resources": {"requests": {"cpu": "250m"}}})


# --------------------------------------------------------------------------- the operator's backstop


def test_invalid_spec_names_the_field_in_one_sentence() -> None:
    md = {
        "apiVersion": "mlops.yardarm.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "m"},
        "spec": {"model": {"trainingRunRef": {"name": "r"}}, "resources": {"requests": {"cpu": True}}},
    }
    message = invalid_spec(md)
    assert message is not None and "\n" not in message
    assert message.startswith("spec.resources.requests.cpu")
    md["spec"]["resources"]["requests"]["cpu"] = "1"
    assert invalid_spec(md) is None
    ds = {"kind": "Dataset", "metadata": {"name": "d"}, "spec": {"source": {"uri": "builtin://iris"}, "target": "t"}}
    assert invalid_spec(ds) is None
    assert Dataset.model_validate({"spec": ds["spec"]})


# --------------------------------------------------------------------------- kubectl


def test_modeldeployment_scales_with_kubectl_scale() -> None:
    version = crd(next(i for i in KINDS if i.kind == "ModelDeployment"))["spec"]["versions"][0]
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.labelSelector",
    }
    assert "labelSelector" in _schema("ModelDeployment")["properties"]["status"]["properties"]


def test_modeldeployment_columns_show_what_the_spec_wants_before_the_operator_runs() -> None:
    version = crd(next(i for i in KINDS if i.kind == "ModelDeployment"))["spec"]["versions"][0]
    paths = {c["jsonPath"] for c in version["additionalPrinterColumns"] if not c.get("priority")}
    assert {".spec.model.trainingRunRef.name", ".spec.replicas"} <= paths


def test_no_short_name_belongs_to_a_builtin_kind() -> None:
    builtin = {"ds", "deploy", "po", "svc", "rs", "sts", "cm", "ns", "no", "pv", "pvc", "sa", "ep", "ev", "hpa", "pdb"}
    builtin |= {"cj", "csr", "ing", "limits", "netpol", "pc", "psp", "quota", "rc", "crd", "crds", "ds", "mdep"} - {
        "mdep"
    }
    for info in KINDS:
        assert not set(info.short_names) & builtin, info.kind


def test_an_invalid_spec_stalls_each_kind_with_a_reason_and_no_child() -> None:
    from datetime import UTC, datetime

    from yardarm.operator import modeldeployment, trainingrun

    now = datetime(2026, 1, 1, tzinfo=UTC)
    md = {"kind": "ModelDeployment", "metadata": {"name": "m", "generation": 2}, "spec": {}}
    status = modeldeployment.invalid_status(md, "spec.resources.requests.cpu: True is not a quantity", now)
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    assert (status["phase"], stalled["status"], stalled["reason"]) == ("Failed", "True", "InvalidSpec")
    assert stalled["message"] == "The spec cannot be served: spec.resources.requests.cpu: True is not a quantity."
    assert "history" not in status, "an invalid spec records no revision"
    tr = {"kind": "TrainingRun", "metadata": {"name": "t", "generation": 1}, "spec": {}}
    status = trainingrun.invalid_status(tr, "spec.estimator.params: 'a b' is not a parameter name", now)
    assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
