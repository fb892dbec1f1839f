"""The Dataset kind: where training data lives, how to read and split it, and what profiling found.

Each CEL rule has a pydantic twin raising the same message, so Jobs refuse what the API server does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, model_validator

from yardarm.api.common import (
    SEED_MAX,
    ApiModel,
    ObjectName,
    SecretKeyReference,
    StringRule,
    cel,
    string_checks,
    validations,
)
from yardarm.api.conditions import Condition
from yardarm.api.uris import BUILTIN_DATASETS, SourceURI, StorePrefixURI

__all__ = ["BUILTIN_DATASETS", "DataSource", "Dataset", "DatasetSpec", "DatasetStatus", "FeatureSpec"]

#: Feature names together stay below this many characters, so a Dataset spec always fits in the
#: one environment variable that carries it into a Job (Linux refuses one of 128 KiB or more).
FEATURE_NAMES_MAX_CHARS = 65536

FeatureType = Literal["numeric", "categorical"]
DatasetPhase = Literal["Pending", "Profiling", "Ready", "Failed"]


#: A ConfigMap data key, as the API server checks it (a volume item with another key is refused).
ConfigMapKey = Annotated[
    str,
    *string_checks(
        StringRule(r"^[-._a-zA-Z0-9]+$", "must be a ConfigMap key: letters, digits, '-', '_' and '.'"),
        StringRule(r"^\.\.?$", "must not be '.' or '..'", refuse=True),
        max_length=253,
    ),
]


class ConfigMapKeyReference(ApiModel):
    """One key of a ConfigMap in the same namespace."""

    name: ObjectName = Field(description="Name of the ConfigMap in the same namespace.", min_length=1)
    key: ConfigMapKey = Field(default="ca.crt", description="Key holding the data.", min_length=1)


class S3Options(ApiModel):
    """Connection settings for an ``s3://`` source or store."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!(has(self.credentialsSecretRef) && has(self.defaultCredentialChain) && self.defaultCredentialChain)",
                "set s3.credentialsSecretRef or s3.defaultCredentialChain, not both",
            ),
        )
    }

    endpoint: str | None = Field(
        default=None,
        description="S3 endpoint URL, e.g. https://minio.example:9000; AWS when unset.",
        max_length=512,
    )
    region: str | None = Field(default=None, description="Bucket region, when the endpoint needs one.", max_length=64)
    credentials_secret_ref: SecretKeyReference | None = Field(
        default=None,
        description="Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY keys; anonymous when unset.",
    )
    insecure: bool = Field(default=False, description="Use plain HTTP to the endpoint (test setups only).")
    default_credential_chain: bool | None = Field(
        default=None,
        description=(
            "Use the SDK's default credential chain (IRSA / workload identity on the pod's ServiceAccount, "
            "container or instance roles) instead of a Secret."
        ),
    )
    ca_bundle_ref: ConfigMapKeyReference | None = Field(
        default=None, description="ConfigMap key holding the PEM CA bundle of a private HTTPS endpoint."
    )
    addressing: Literal["auto", "path", "virtual"] | None = Field(
        default=None,
        description="path (host/bucket/key), virtual (bucket.host/key) or auto (virtual on AWS, path elsewhere).",
    )

    @model_validator(mode="after")
    def _one_credential_source(self) -> S3Options:
        if self.credentials_secret_ref is not None and self.default_credential_chain:
            raise ValueError("set s3.credentialsSecretRef or s3.defaultCredentialChain, not both")
        return self


class StoreOutput(ApiModel):
    """Where artifacts are written, when not in the operator's default store."""

    uri: StorePrefixURI | None = Field(
        default=None,
        description="Store prefix such as pvc://claim/models or s3://bucket/models; the operator's default when unset.",
    )
    s3: S3Options | None = Field(
        default=None, description="Connection settings of an s3:// store; the operator's when unset."
    )


class DataSource(ApiModel):
    """Where the data is and how it is encoded."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("!has(self.s3) || self.uri.startsWith('s3://')", "source.s3 applies only to s3:// URIs"),
        )
    }

    uri: SourceURI = Field(
        description=(
            "Location of the data: builtin://iris (a scikit-learn data set: iris, wine, breast_cancer, "
            "diabetes, digits), pvc://claim/path, s3://bucket/key, https://host/path or file:///path; "
            "no '..' segments."
        ),
    )
    format: Literal["csv", "parquet"] = Field(
        default="csv", description="File format of the data; ignored for builtin:// sources."
    )
    s3: S3Options | None = Field(default=None, description="Connection settings when the uri is s3://.")

    @model_validator(mode="after")
    def _s3_only(self) -> DataSource:
        if self.s3 is not None and not self.uri.startswith("s3://"):
            raise ValueError("source.s3 applies only to s3:// URIs")
        return self


class FeatureSpec(ApiModel):
    """A column used as a model input."""

    name: str = Field(description="Column name in the data.", min_length=1, max_length=256)
    type: FeatureType = Field(
        default="numeric", description="numeric (scaled, binned for drift) or categorical (one-hot encoded)."
    )


class SplitSpec(ApiModel):
    """How rows are divided into a training and a test part."""

    test_fraction: float = Field(default=0.2, description="Share of rows held out for evaluation.", ge=0.05, le=0.5)
    seed: int = Field(
        default=42, description="Random seed, so the same data always splits the same way.", ge=0, le=SEED_MAX
    )
    stratify: bool = Field(
        default=True, description="Keep class proportions equal in both parts (classification only)."
    )


class DatasetSpec(ApiModel):
    """What the data is: its source, its target column and its features."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.features) || self.features.all(f, f.name != self.target)",
                "the target column must not also be listed in features",
            ),
            cel(
                "!has(self.features) || size(self.features) > 0",
                "features must not be empty: leave features unset to use every column but the target",
            ),
            cel(
                f"!has(self.features) || self.features.map(f, size(f.name)).sum() <= {FEATURE_NAMES_MAX_CHARS}",
                f"feature names together are too long: at most {FEATURE_NAMES_MAX_CHARS} characters",
            ),
        )
    }

    source: DataSource = Field(description="Where the data lives and how it is encoded.")
    target: str = Field(
        description="Column the model learns to predict (for builtin:// sets, the column named 'target').",
        min_length=1,
        max_length=256,
    )
    features: list[FeatureSpec] | None = Field(
        default=None,
        description=(
            "Input columns and their types; all columns but the target, typed from the data, when unset. "
            "An empty list is refused."
        ),
        min_length=1,
        max_length=1000,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    missing_values: Literal["impute", "drop", "error"] = Field(
        default="impute",
        description=(
            "Rows with missing feature values: impute them in the training pipeline, drop the rows, or fail. "
            "Rows with a missing target are always dropped."
        ),
    )
    split: SplitSpec = Field(default=SplitSpec(), description="How rows are split into train and test.")
    output: StoreOutput | None = Field(
        default=None, description="Where the profile is written; the operator's default store when unset."
    )

    @model_validator(mode="after")
    def _features(self) -> DatasetSpec:
        listed = [f.name for f in self.features or []]
        if self.target in listed:
            raise ValueError("the target column must not also be listed in features")
        if len(set(listed)) != len(listed):
            raise ValueError("features lists a column twice")
        names = sum(len(name) for name in listed)
        if names > FEATURE_NAMES_MAX_CHARS:
            raise ValueError(f"feature names together are too long: at most {FEATURE_NAMES_MAX_CHARS} characters")
        return self


class FeatureSummary(ApiModel):
    """What profiling saw in one column."""

    name: str = Field(description="Column name.")
    type: FeatureType = Field(description="numeric or categorical.")
    missing: int = Field(default=0, description="Rows where the value is missing.")
    mean: float | None = Field(default=None, description="Mean of a numeric column.")
    std: float | None = Field(default=None, description="Standard deviation of a numeric column.")
    min: float | None = Field(default=None, description="Smallest value of a numeric column.")
    max: float | None = Field(default=None, description="Largest value of a numeric column.")
    distinct: int | None = Field(default=None, description="Number of distinct values of a categorical column.")


class DatasetStatus(ApiModel):
    """What the operator observed: the profile, its digest and the conditions."""

    phase: DatasetPhase | None = Field(default=None, description="Pending, Profiling, Ready or Failed.")
    observed_generation: int | None = Field(default=None, description="The generation this status describes.")
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready, Reconciling and Stalled, in the metav1.Condition shape.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    job_name: str | None = Field(default=None, description="Name of the profiling Job.")
    digest: str | None = Field(default=None, description="sha256 of the data content, as sha256:<hex>.")
    rows: int | None = Field(default=None, description="Number of rows (after dropping rows without a target).")
    columns: int | None = Field(default=None, description="Number of columns, target included.")
    features: list[FeatureSummary] | None = Field(default=None, description="Per-feature summary.")
    profile_uri: str | None = Field(default=None, description="Where the full profile (with drift bins) is stored.")
    profiled_at: datetime | None = Field(default=None, description="When profiling finished.")
    message: str | None = Field(default=None, description="Why profiling failed, in one sentence.")
    warnings: list[str] | None = Field(
        default=None,
        description="What profiling noticed without failing, e.g. a column typed categorical from a few stray values.",
        max_length=5,
    )


class Dataset(ApiModel):
    """A registered, profiled data set that TrainingRuns train on."""

    api_version: Literal["mlops.yardarm.dev/v1alpha1"] = Field(
        default="mlops.yardarm.dev/v1alpha1", description="API version."
    )
    kind: Literal["Dataset"] = Field(default="Dataset", description="Kind.")
    metadata: dict[str, object] = Field(default_factory=dict, description="Standard object metadata.")
    spec: DatasetSpec = Field(description="What the data is.")
    status: DatasetStatus | None = Field(default=None, description="What profiling found.")
