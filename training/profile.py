"""Profiling a Dataset: digest, per-feature summary and the reference profile, stored as JSON.

``profile.json`` lands under ``<output>/profiles/sha256-<hex>/`` — keyed by the data's digest, so
profiling unchanged data again rewrites the same file — and the Job's result carries the digest,
counts and summary for the Dataset's status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from yardarm.api.dataset import DatasetSpec, FeatureSpec, FeatureSummary
from yardarm.bundle import ReferenceProfile
from yardarm.store import PVC_MOUNT
from yardarm.training.artifacts import put_file
from yardarm.training.bins import reference_profile, shortest_decimal
from yardarm.training.prepare import MISSING_CATEGORY, PreparedData, prepare
from yardarm.training.sources import read_source
from yardarm.training.specs import coerce_spec

PROFILE_FILE = "profile.json"


def _optional(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def summarize(
    x: pd.DataFrame, features: Sequence[FeatureSpec], missing: Mapping[str, int] | None = None
) -> list[FeatureSummary]:
    """The per-feature summary a Dataset's status shows.

    ``missing`` overrides the missing counts — the counts before ``missingValues: drop`` removed
    rows, which is what a person wants to know about the data.
    """
    out = []
    for f in features:
        column = x[f.name]
        if f.type == "numeric":
            values = column.to_numpy()
            present = values[~np.isnan(values)]
            stats: tuple[float, ...] = (np.nan,) * 4
            if present.size:
                wide = present.astype(float)  # accumulated in float64, shown at the data's float32 precision
                raw = (wide.mean(), wide.std(ddof=1) if present.size > 1 else 0.0, present.min(), present.max())
                with np.errstate(over="ignore"):  # a std beyond float32's range shows as none
                    stats = tuple(shortest_decimal(np.float32(v)) for v in raw)
            out.append(
                FeatureSummary(
                    name=f.name,
                    type="numeric",
                    missing=int(values.size - present.size) if missing is None else int(missing[f.name]),
                    mean=_optional(stats[0]),
                    std=_optional(stats[1]),
                    min=_optional(stats[2]),
                    max=_optional(stats[3]),
                )
            )
        else:
            values_s = column.to_numpy(dtype=object)
            absent = int(sum(v == MISSING_CATEGORY for v in values_s)) if missing is None else int(missing[f.name])
            distinct = len({v for v in values_s if v != MISSING_CATEGORY})
            out.append(FeatureSummary(name=f.name, type="categorical", missing=absent, distinct=distinct))
    return out


class DatasetProfile(BaseModel):
    """The content of ``profile.json``: what profiling found, including the drift reference."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_uri: str
    digest: str
    target: str
    rows: int
    columns: int
    dropped_rows: int
    features: list[FeatureSummary]
    reference: ReferenceProfile
    created_at: datetime
    #: What a person should know about the data (e.g. a column typed from a minority of its values).
    warnings: list[str] = []


def build_profile(
    prepared: PreparedData, *, source_uri: str, digest: str, target: str, columns: int, now: datetime
) -> DatasetProfile:
    """A full profile of prepared data (pure: no I/O)."""
    return DatasetProfile(
        source_uri=source_uri,
        digest=digest,
        target=target,
        rows=int(prepared.x.shape[0]),
        columns=columns,
        dropped_rows=prepared.dropped_rows,
        features=summarize(prepared.x, prepared.features, prepared.missing),
        reference=reference_profile(prepared.x, prepared.features),
        created_at=now,
        warnings=prepared.warnings,
    )


def profile_bytes(profile: DatasetProfile) -> bytes:
    """Canonical JSON of a profile (sorted keys, camelCase feature summaries as in the API)."""
    data = profile.model_dump(mode="json")
    data["features"] = [s.to_wire() for s in profile.features]
    return json.dumps(data, sort_keys=True, indent=2, allow_nan=False).encode() + b"\n"


def profile_relpath(digest: str) -> str:
    """Where a profile lives below the output prefix: ``profiles/sha256-<hex>/profile.json``."""
    return f"profiles/{digest.replace(':', '-')}/{PROFILE_FILE}"


@dataclass(frozen=True)
class ProfileOutcome:
    """What :func:`run_profile` produced."""

    profile: DatasetProfile
    profile_uri: str

    @property
    def digest(self) -> str:
        return self.profile.digest


def run_profile(
    dataset: DatasetSpec | Mapping[str, Any],
    output: str,
    *,
    env: Mapping[str, str] | None = None,
    pvc_mount: str = PVC_MOUNT,
    now: datetime | None = None,
) -> ProfileOutcome:
    """Read, validate and profile a Dataset's source; store ``profile.json`` below ``output``.

    Raises a :class:`yardarm.training.errors.JobError` for anything the user can fix.
    """
    spec = coerce_spec(DatasetSpec, dataset, "Dataset")
    data = read_source(spec.source, env=env, pvc_mount=pvc_mount)
    prepared = prepare(data.frame, spec)
    profile = build_profile(
        prepared,
        source_uri=spec.source.uri,
        digest=data.digest,
        target=spec.target,
        columns=int(data.frame.shape[1]),
        now=now or datetime.now(UTC).replace(microsecond=0),
    )
    uri = put_file(output, profile_relpath(data.digest), profile_bytes(profile), env=env, pvc_mount=pvc_mount)
    return ProfileOutcome(profile=profile, profile_uri=uri)
