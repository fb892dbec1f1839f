"""The CRDs are generated from the API types, structural, described, and up to date on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from yardarm.api.crd import API_REFERENCE, CRD_DIRS, KINDS, crd, render_api_reference, render_crds


def _walk(node: dict[str, Any], path: str = "$", *, fields_only: bool = False):
    """Every schema node below ``node``; with ``fields_only``, just the named fields."""
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}", fields_only=fields_only)
    children = []
    if "items" in node:
        children.append((node["items"], f"{path}[]"))
    if isinstance(node.get("additionalProperties"), dict):
        children.append((node["additionalProperties"], f"{path}{{}}"))
    for child, child_path in children:
        walked = _walk(child, child_path, fields_only=fields_only)
        if fields_only:
            next(walked)  # an item or map value is described by its field
        yield from walked


def _schema(kind: str) -> dict[str, Any]:
    info = next(i for i in KINDS if i.kind == kind)
    return crd(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize("directory", CRD_DIRS)
def test_crds_on_disk_match_the_types(repo_root: Path, directory: str) -> None:
    rendered = render_crds()
    on_disk = {p.name: p.read_text() for p in (repo_root / directory).glob("*.yaml")}
    assert on_disk == rendered, f"{directory}/ is stale: run `make generate`"


def test_api_reference_on_disk_matches_the_types(repo_root: Path) -> None:
    assert (repo_root / API_REFERENCE).read_text() == render_api_reference(), (
        f"{API_REFERENCE} is stale: run `make generate`"
    )


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_every_node_is_structural(info) -> None:
    for path, node in _walk(_schema(info.kind)):
        assert "$ref" not in node and "anyOf" not in node and "allOf" not in node, path
        assert (
            "type" in node or node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
        ), f"{path} has no type"
        assert node.get("additionalProperties") is not False, path


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_every_spec_and_status_field_has_a_description(info) -> None:
    schema = _schema(info.kind)
    for part in ("spec", "status"):
        for path, node in _walk(schema["properties"][part], part, fields_only=True):
            assert node.get("description"), f"{info.kind} {path} has no description (kubectl explain shows it)"


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_crd_names_columns_and_subresources(info) -> None:
    doc = crd(info)
    names = doc["spec"]["names"]
    assert names["categories"] == ["yardarm"]
    assert names["shortNames"] == list(info.short_names)
    version = doc["spec"]["versions"][0]
    assert version["subresources"]["status"] == {}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert "Phase" in columns and columns[-1] == "Age"


def test_short_names_are_the_documented_ones() -> None:
    assert {i.kind: i.short_names for i in KINDS} == {
        "Dataset": ("dset",),
        "TrainingRun": ("tr",),
        "ModelDeployment": ("mdep",),
        "Monitor": ("mon",),
    }


def test_trainingrun_spec_is_immutable_by_cel() -> None:
    rules = _schema("TrainingRun")["properties"]["spec"]["x-kubernetes-validations"]
    assert {"rule": "self == oldSelf", "message": rules[0]["message"]} in rules
    assert "immutable" in rules[0]["message"]


def test_model_source_requires_exactly_one_of_run_or_uri() -> None:
    model = _schema("ModelDeployment")["properties"]["spec"]["properties"]["model"]
    rules = {r["rule"] for r in model["x-kubernetes-validations"]}
    assert "has(self.trainingRunRef) != has(self.uri)" in rules


def test_nested_object_defaults_are_empty_so_the_server_fills_them() -> None:
    spec = _schema("TrainingRun")["properties"]["spec"]["properties"]
    assert spec["preprocessing"]["default"] == {}
    assert spec["preprocessing"]["properties"]["numericImputer"]["default"] == "median"


def test_conditions_are_a_list_map_keyed_by_type() -> None:
    for info in KINDS:
        conditions = _schema(info.kind)["properties"]["status"]["properties"]["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]
        assert conditions["items"]["properties"]["lastTransitionTime"]["format"] == "date-time"


def test_rendered_yaml_has_no_aliases() -> None:
    for text in render_crds().values():
        assert "&id" not in text and "*id" not in text
        yaml.safe_load(text)
