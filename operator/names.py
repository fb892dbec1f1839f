"""Deterministic names and labels of everything the operator creates.

A child's name is a pure function of its owner, so a reconcile that runs twice, or after a
restart, finds the child it made before instead of making another one. Labels let watches on
children map an event back to its owner, and let the Monitor find a ModelDeployment's pods.
Names stay within 63 characters (a Job's name becomes a label value; a Service's name is a
DNS-1035 label): long owner names are cut and suffixed with a short hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from yardarm.api.common import GROUP
from yardarm.api.modeldeployment import SERVING_SUFFIX

#: Field manager and ``app.kubernetes.io/managed-by`` value of everything the operator writes.
MANAGER = "yardarm-operator"
PART_OF = "yardarm"

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
#: The owner of a child, by kind: the value is the owner's name.
LABEL_DATASET = f"{GROUP}/dataset"
LABEL_TRAININGRUN = f"{GROUP}/trainingrun"
LABEL_MODELDEPLOYMENT = f"{GROUP}/modeldeployment"
#: The ModelDeployment revision a serving pod runs (an increasing integer, as a string).
LABEL_REVISION = f"{GROUP}/revision"
#: The model digest a serving pod runs, without ``sha256:`` and cut to a label's 63 characters.
LABEL_DIGEST = f"{GROUP}/digest"

COMPONENT_PROFILE = "profile"
COMPONENT_TRAIN = "train"
COMPONENT_SERVING = "serving"

#: Selector of every object the operator manages (used by the child watches).
MANAGED_SELECTOR = {LABEL_MANAGED_BY: MANAGER}

_MAX_NAME = 63


def short_hash(value: Any, length: int = 8) -> str:
    """A short, stable hex hash of a JSON-serializable value."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(data).hexdigest()[:length]


def child_name(owner: str, suffix: str, limit: int = _MAX_NAME) -> str:
    """``<owner>-<suffix>``, cut to ``limit`` characters with a hash so distinct owners stay distinct."""
    name = f"{owner}-{suffix}"
    if len(name) <= limit:
        return name
    digest = short_hash(owner, 6)
    room = limit - len(suffix) - len(digest) - 2
    return f"{owner[:room].rstrip('-.')}-{digest}-{suffix}"


def profile_job_name(dataset: str, spec: Mapping[str, Any]) -> str:
    """The profiling Job of one Dataset spec: a changed spec gets a new Job, the same spec the same one."""
    return child_name(dataset, f"profile-{short_hash(spec)}")


def training_job_name(training_run: str) -> str:
    """The one training Job of a TrainingRun (its spec is immutable)."""
    return child_name(training_run, "train")


def serving_name(model_deployment: str) -> str:
    """Name of the Deployment, Service, HPA and PDB that serve a ModelDeployment."""
    return child_name(model_deployment, SERVING_SUFFIX)


def base_labels(component: str, instance: str) -> dict[str, str]:
    """Labels every child carries: managed-by (the watch filter), part-of, component, instance."""
    return {
        LABEL_MANAGED_BY: MANAGER,
        LABEL_PART_OF: PART_OF,
        LABEL_NAME: f"yardarm-{component}",
        LABEL_COMPONENT: component,
        LABEL_INSTANCE: instance[:_MAX_NAME].rstrip("-."),
    }


def profile_labels(dataset: str) -> dict[str, str]:
    """Labels of a profiling Job and its pods."""
    return {**base_labels(COMPONENT_PROFILE, dataset), LABEL_DATASET: _label_value(dataset)}


def training_labels(training_run: str) -> dict[str, str]:
    """Labels of a training Job and its pods."""
    return {**base_labels(COMPONENT_TRAIN, training_run), LABEL_TRAININGRUN: _label_value(training_run)}


def serving_selector(model_deployment: str) -> dict[str, str]:
    """The label selector of a ModelDeployment's serving pods (stable across revisions)."""
    return {LABEL_COMPONENT: COMPONENT_SERVING, LABEL_MODELDEPLOYMENT: _label_value(model_deployment)}


def serving_labels(model_deployment: str, revision: int | None = None, digest: str | None = None) -> dict[str, str]:
    """Labels of serving children; pods also carry the revision and digest they run."""
    labels = {**base_labels(COMPONENT_SERVING, model_deployment), **serving_selector(model_deployment)}
    if revision is not None:
        labels[LABEL_REVISION] = str(revision)
    if digest is not None:
        labels[LABEL_DIGEST] = digest.removeprefix("sha256:")[:_MAX_NAME]
    return labels


def selector_string(labels: Mapping[str, str]) -> str:
    """A label selector in the ``k=v,k2=v2`` form the API's ``labelSelector`` takes."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _label_value(name: str) -> str:
    """An object name as a label value: names are up to 253 characters, label values up to 63."""
    if len(name) <= _MAX_NAME:
        return name
    return f"{name[:54].rstrip('-.')}-{short_hash(name)}"
