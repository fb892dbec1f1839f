"""The Yardarm API (group ``mlops.yardarm.dev``, version ``v1alpha1``): the one source of truth.

The operator, the training runtime and the server import these types; the CRDs in ``crds/`` are
generated from them (:mod:`yardarm.api.crd`).
"""

from yardarm.api.common import API_VERSION, GROUP, VERSION, ApiModel, LocalObjectReference, parse_duration
from yardarm.api.conditions import Condition, State, set_condition, summarize
from yardarm.api.dataset import Dataset, DatasetSpec, DatasetStatus
from yardarm.api.modeldeployment import ModelDeployment, ModelDeploymentSpec, ModelDeploymentStatus, Revision
from yardarm.api.monitor import Monitor, MonitorSpec, MonitorStatus
from yardarm.api.trainingrun import TrainingRun, TrainingRunSpec, TrainingRunStatus

#: Kind name → the root model that validates a whole object of that kind.
RESOURCES: dict[str, type[ApiModel]] = {
    "Dataset": Dataset,
    "TrainingRun": TrainingRun,
    "ModelDeployment": ModelDeployment,
    "Monitor": Monitor,
}

__all__ = [
    "API_VERSION",
    "GROUP",
    "RESOURCES",
    "VERSION",
    "ApiModel",
    "Condition",
    "Dataset",
    "DatasetSpec",
    "DatasetStatus",
    "LocalObjectReference",
    "ModelDeployment",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
    "Monitor",
    "MonitorSpec",
    "MonitorStatus",
    "Revision",
    "State",
    "TrainingRun",
    "TrainingRunSpec",
    "TrainingRunStatus",
    "parse_duration",
    "set_condition",
    "summarize",
]
