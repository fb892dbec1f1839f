"""Deterministic child names and labels."""

from __future__ import annotations

from yardarm.operator import names


def test_child_names_are_deterministic_and_fit_63_characters() -> None:
    long = "m" * 250
    assert names.serving_name("iris") == "iris-serving"
    assert names.serving_name(long) == names.serving_name(long)
    assert len(names.serving_name(long)) <= 63
    assert names.serving_name(long) != names.serving_name("m" * 249)
    assert names.training_job_name("run-1") == "run-1-train"


def test_profile_job_names_change_with_the_spec_only() -> None:
    spec = {"source": {"uri": "builtin://iris"}, "target": "target"}
    same = {"target": "target", "source": {"uri": "builtin://iris"}}
    assert names.profile_job_name("iris", spec) == names.profile_job_name("iris", same)
    assert names.profile_job_name("iris", spec) != names.profile_job_name("iris", {**spec, "target": "x"})


def test_serving_labels_include_the_selector_revision_and_digest() -> None:
    labels = names.serving_labels("iris", 3, "sha256:" + "f" * 64)
    assert names.serving_selector("iris").items() <= labels.items()
    assert labels[names.LABEL_REVISION] == "3"
    assert len(labels[names.LABEL_DIGEST]) <= 63
    assert labels[names.LABEL_MANAGED_BY] == "yardarm-operator"


def test_label_values_of_long_names_stay_valid() -> None:
    value = names.training_labels("t" * 200)[names.LABEL_TRAININGRUN]
    assert len(value) <= 63 and value[-1].isalnum()


def test_selector_strings_are_sorted() -> None:
    assert names.selector_string({"b": "2", "a": "1"}) == "a=1,b=2"
