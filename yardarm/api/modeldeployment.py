"""The ModelDeployment kind: a model served by ONNX Runtime pods, with a revision history.

``spec`` says which model the team wants; ``status`` says what runs and why. When a Monitor's
verdict or a failed rollout rolls a model back, only ``status`` changes: Git keeps saying what
the team asked for, and the rolled-back digest is not deployed again until ``spec.model`` changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from yardarm.api.common import (
    DIGEST_LENGTH,
    DIGEST_PATTERN,
    DNS1035_PATTERN,
    ApiModel,
    LocalObjectReference,
    ResourceRequirements,
    StringRule,
    cel,
    validations,
)
from yardarm.api.conditions import Condition
from yardarm.api.dataset import S3Options
from yardarm.api.uris import BundleURI

#: The Deployment, Service, HPA and PDB of a ModelDeployment are named ``<name>-serving``.
SERVING_SUFFIX = "serving"
#: Longest ModelDeployment name whose ``<name>-serving`` still fits a Service name (63).
NAME_MAX_LENGTH = 63 - len(SERVING_SUFFIX) - 1
_SERVICE_NAME = StringRule(
    DNS1035_PATTERN,
    "a ModelDeployment name must also be a valid Service name: lowercase letters, digits and '-', "
    "starting with a letter (no dots)",
)
#: Rules on the whole object (``metadata.name`` is only visible from the root). The length bound
#: is the root schema's ``metadata.name`` maxLength (see :mod:`yardarm.api.crd`): the API server
#: answers "Too long: ... 55" before any CEL rule runs.
MODELDEPLOYMENT_NAME_RULES = (
    cel(
        _SERVICE_NAME.cel()["rule"].replace("self.", "self.metadata.name."),
        _SERVICE_NAME.message,
    ),
)
_TOO_LONG = (
    f"a ModelDeployment name is at most {NAME_MAX_LENGTH} characters, so its Service <name>-{SERVING_SUFFIX} fits in 63"
)

DeploymentPhase = Literal["Pending", "Progressing", "Ready", "RolledBack", "Failed"]
RevisionOutcome = Literal["Progressing", "Serving", "Superseded", "RolledBack", "Failed"]


class ModelSource(ApiModel):
    """The model to serve: a TrainingRun's bundle, or a bundle given by URI and digest."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.trainingRunRef) != has(self.uri)",
                "set exactly one of model.trainingRunRef or model.uri",
            ),
            cel("!has(self.uri) || has(self.digest)", "model.uri needs model.digest, so the bytes are pinned"),
            cel("!has(self.digest) || has(self.uri)", "model.digest goes with model.uri"),
        )
    }

    training_run_ref: LocalObjectReference | None = Field(
        default=None, description="A Succeeded TrainingRun in the same namespace whose bundle is served."
    )
    uri: BundleURI | None = Field(
        default=None,
        description=(
            "A bundle directory in the store, e.g. pvc://models/bundles/sha256-<hex> or s3://bucket/bundles/x; "
            "no '..' segments."
        ),
    )
    digest: str | None = Field(
        default=None,
        description="sha256 of the bundle's bundle.json, as sha256:<hex>.",
        pattern=DIGEST_PATTERN,
        max_length=DIGEST_LENGTH,
    )
    s3: S3Options | None = Field(
        default=None,
        description=(
            "Connection settings of an s3:// bundle (model.uri or the TrainingRun's), "
            "else the TrainingRun's spec.output.s3, else the operator's."
        ),
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelSource:
        if (self.training_run_ref is None) == (self.uri is None):
            raise ValueError("set exactly one of model.trainingRunRef or model.uri")
        if (self.uri is None) != (self.digest is None):
            raise ValueError("model.uri needs model.digest, so the bytes are pinned; model.digest goes with model.uri")
        return self


class AutoscalingSpec(ApiModel):
    """A HorizontalPodAutoscaler on CPU utilization."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("self.maxReplicas >= self.minReplicas", "autoscaling.maxReplicas must be at least minReplicas"),
        )
    }

    min_replicas: int = Field(default=1, description="Fewest serving pods.", ge=1, le=100)
    max_replicas: int = Field(description="Most serving pods.", ge=1, le=100)
    target_cpu_utilization_percentage: int = Field(
        default=70,
        alias="targetCPUUtilizationPercentage",
        description="Average CPU use, in percent of requests, that the autoscaler aims for.",
        ge=10,
        le=100,
    )

    @model_validator(mode="after")
    def _ordered(self) -> AutoscalingSpec:
        if self.max_replicas < self.min_replicas:
            raise ValueError("autoscaling.maxReplicas must be at least minReplicas")
        return self


#: Container and Service port of the gRPC Open Inference Protocol service, when enabled: the
#: KServe model server's and MLServer's default gRPC port, so KServe clients' settings carry over.
GRPC_PORT = 8081


class GrpcSpec(ApiModel):
    """The gRPC Open Inference Protocol service (``inference.GRPCInferenceService``)."""

    enabled: bool = Field(
        default=False,
        description=(
            f"Also serve the Open Inference Protocol over gRPC, on port {GRPC_PORT} of the pods and of the "
            "Service (port name grpc, appProtocol kubernetes.io/h2c). Changing it rolls the pods."
        ),
    )


class ServingSpec(ApiModel):
    """Knobs of the inference server."""

    threads: int | None = Field(
        default=None,
        description="ONNX Runtime intra-op threads; from the pod's CPU limit when unset.",
        ge=1,
        le=64,
    )
    max_request_bytes: int = Field(
        default=4194304, description="Larger request bodies are refused with 413.", ge=1024, le=268435456
    )
    feedback_capacity: int = Field(
        default=100000,
        description=(
            "Scored feedback rows each serving pod remembers to refuse repeats (409). Feedback ids carry "
            "the prediction, so any replica scores feedback; this bounds only repeat detection."
        ),
        ge=0,
        le=10000000,
    )
    grpc: GrpcSpec = Field(
        default=GrpcSpec(), description="gRPC next to REST; off unless enabled (REST on port 80 is always served)."
    )


class RollbackPolicy(ApiModel):
    """When the operator goes back to the last good revision by itself."""

    on_degraded: bool = Field(default=True, description="Roll back when a Monitor reports the serving model Degraded.")
    on_failed_rollout: bool = Field(
        default=True,
        description="Roll back when a new revision is not available within progressDeadlineSeconds.",
    )


class ModelDeploymentSpec(ApiModel):
    """Which model to serve, and how."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("!(has(self.replicas) && has(self.autoscaling))", "set replicas or autoscaling, not both"),
        )
    }

    model: ModelSource = Field(description="The model bundle to serve.")
    replicas: int | None = Field(
        default=None,
        description="Serving pods when autoscaling is unset (1 when neither is set).",
        ge=0,
        le=100,
    )
    autoscaling: AutoscalingSpec | None = Field(
        default=None,
        description="Scale on CPU instead of a fixed count; needs a CPU request when resources are set.",
    )
    resources: ResourceRequirements | None = Field(default=None, description="CPU and memory of each serving pod.")
    serving: ServingSpec = Field(default=ServingSpec(), description="Inference server settings.")
    progress_deadline_seconds: int = Field(
        default=600,
        description="A new revision not available after this is a failed rollout.",
        ge=30,
        le=86400,
    )
    revision_history_limit: int = Field(default=10, description="Revisions kept in status.history.", ge=1, le=100)
    rollback: RollbackPolicy = Field(default=RollbackPolicy(), description="Automatic rollback policy.")

    @model_validator(mode="after")
    def _consistent(self) -> ModelDeploymentSpec:
        # The CPU quantity has no type CEL can see (it may be a number or a string), so this one
        # is the operator's: it reports the ModelDeployment Stalled (InvalidSpec) at once.
        if self.replicas is not None and self.autoscaling is not None:
            raise ValueError("set replicas or autoscaling, not both")
        if self.autoscaling is not None and self.resources is not None and not self.resources.has_cpu():
            raise ValueError("autoscaling scales on CPU use relative to the CPU request: set resources.requests.cpu")
        return self


class Revision(ApiModel):
    """One model that was, or is, deployed: the audit trail."""

    revision: int = Field(description="Increasing revision number.")
    model_digest: str = Field(description="Digest of the bundle.")
    model_uri: str = Field(description="Where the bundle is stored.")
    training_run: str | None = Field(default=None, description="The TrainingRun that produced it, if any.")
    deployed_at: datetime = Field(description="When this revision was first rolled out.")
    served_at: datetime | None = Field(
        default=None, description="When this revision first became available; unset if it never served."
    )
    outcome: RevisionOutcome = Field(description="Progressing, Serving, Superseded, RolledBack or Failed.")
    reason: str | None = Field(default=None, description="Why the outcome is what it is, in one sentence.")


class ModelDeploymentStatus(ApiModel):
    """What runs, and why."""

    phase: DeploymentPhase | None = Field(
        default=None, description="Pending, Progressing, Ready, RolledBack or Failed."
    )
    observed_generation: int | None = Field(default=None, description="The generation this status describes.")
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready, Reconciling, Stalled and RolledBack, in the metav1.Condition shape.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    current_revision: int | None = Field(default=None, description="The revision the pods serve.")
    current_digest: str | None = Field(default=None, description="Digest of the bundle the pods serve.")
    desired_digest: str | None = Field(default=None, description="Digest that spec.model resolves to.")
    history: list[Revision] | None = Field(default=None, description="Revisions, newest last.")
    replicas: int | None = Field(default=None, description="Serving pods that exist.")
    ready_replicas: int | None = Field(default=None, description="Serving pods that are ready.")
    url: str | None = Field(default=None, description="In-cluster URL of the inference endpoint.")
    grpc_address: str | None = Field(
        default=None,
        description="In-cluster host:port of the gRPC inference service, when spec.serving.grpc.enabled.",
    )
    deployment_name: str | None = Field(default=None, description="Name of the Deployment that runs the pods.")
    label_selector: str | None = Field(
        default=None, description="Label selector of the serving pods (for kubectl scale and autoscalers)."
    )
    message: str | None = Field(default=None, description="What is happening, in one sentence.")


class ModelDeployment(ApiModel):
    """A model served over HTTP by ONNX Runtime pods."""

    api_version: Literal["mlops.yardarm.dev/v1alpha1"] = Field(
        default="mlops.yardarm.dev/v1alpha1", description="API version."
    )
    kind: Literal["ModelDeployment"] = Field(default="ModelDeployment", description="Kind.")
    metadata: dict[str, object] = Field(default_factory=dict, description="Standard object metadata.")
    spec: ModelDeploymentSpec = Field(description="Which model to serve.")
    status: ModelDeploymentStatus | None = Field(default=None, description="What runs.")

    @model_validator(mode="after")
    def _service_name(self) -> ModelDeployment:
        name = self.metadata.get("name")
        if isinstance(name, str):
            if not _SERVICE_NAME.holds(name):
                raise ValueError(_SERVICE_NAME.message)
            if len(name) > NAME_MAX_LENGTH:
                raise ValueError(_TOO_LONG)
        return self
