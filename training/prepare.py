"""Validating a parsed frame against a DatasetSpec: target, declared feature types, missing values.

Every check here guards against a mistake a user can fix, so each failure names the column and
says what was found. The output is a frame whose numeric columns are float32 (NaN when missing;
see FEATURE_DTYPE) and whose categorical columns hold strings, ``""`` standing for a missing
value — the same encoding the ONNX model takes at serving time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from yardarm.api.dataset import DatasetSpec, FeatureSpec
from yardarm.training.errors import BadInputError

#: How a missing categorical value is encoded for the pipeline and for ONNX clients.
MISSING_CATEGORY = ""


@dataclass(frozen=True)
class PreparedData:
    """Validated features (in model input order) and the target, rows aligned."""

    features: list[FeatureSpec]
    x: pd.DataFrame
    y: pd.Series
    #: Rows dropped for a missing target (always) or missing features (``missingValues: drop``).
    dropped_rows: int
    #: Missing feature values per column before any drop (for the profile).
    missing: dict[str, int]
    #: Things about the data a person should know that do not stop the run (see mixed_type_warnings).
    warnings: list[str] = field(default_factory=list)


def _names(columns: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def infer_features(frame: pd.DataFrame, target: str) -> list[FeatureSpec]:
    """All columns but the target, numeric when pandas parsed them as numbers (not booleans).

    The names come from the data, not from a manifest, so the CRD's length bounds on declared
    feature names (which keep CEL costs bounded) do not apply: any name the file holds is kept.
    """
    out = []
    for column in frame.columns:
        if column == target:
            continue
        dtype = frame[column].dtype
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        out.append(FeatureSpec.model_construct(name=str(column), type="numeric" if numeric else "categorical"))
    return out


def mixed_type_warnings(frame: pd.DataFrame, features: list[FeatureSpec]) -> list[str]:
    """Warn about inferred categorical columns whose values are mostly numbers.

    One stray string (``"seven"``, ``"n/a"``) makes pandas read a whole column as text, so the
    column is typed categorical from a minority of its values and the model one-hot encodes
    thousands of distinct numbers — quietly, and badly. It is not an error (a ZIP code column is
    numbers that are categories), so it is a warning with what to do about it.
    """
    out = []
    for f in features:
        if f.type != "categorical":
            continue
        column = frame[f.name]
        present = column.notna().to_numpy()
        numbers = pd.to_numeric(column, errors="coerce").notna().to_numpy() & present
        others = present & ~numbers
        if numbers.sum() > others.sum() > 0:
            row = int(np.flatnonzero(others)[0])
            out.append(
                f"Column {f.name!r} was typed categorical from {int(others.sum())} of its {int(present.sum())} values: "
                f"the rest are numbers (first non-number {column.iloc[row]!r} at data row {row + 1}); declare it "
                "numeric in features to have such values refused, or categorical to keep this."
            )
    return out


#: Numeric features are held as float32: the ONNX model takes FP32 inputs, so float32 is exactly
#: what the served model sees (training on the same rounded values, parity compares like with like),
#: at half the memory of float64.
FEATURE_DTYPE = "float32"


def _numeric_column(column: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.astype(FEATURE_DTYPE)
    converted = pd.to_numeric(column, errors="coerce").astype("float64")
    bad = column.notna().to_numpy() & converted.isna().to_numpy()
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise BadInputError(
            f"Column {name!r} is declared numeric but holds the non-numeric value "
            f"{column.iloc[position]!r} (data row {position + 1}, {int(bad.sum())} such rows).",
            reason="NonNumericValue",
        )
    if np.isinf(converted.to_numpy()).any():
        raise BadInputError(f"Column {name!r} holds an infinite value.", reason="InvalidValue")
    with np.errstate(over="ignore"):
        narrowed = converted.astype(FEATURE_DTYPE)
    if np.isinf(narrowed.to_numpy()).any():
        raise BadInputError(
            f"Column {name!r} holds a value beyond ±3.4e38, the range of the model's float32 inputs.",
            reason="InvalidValue",
        )
    return narrowed


def _categorical_column(column: pd.Series) -> pd.Series:
    values = [MISSING_CATEGORY if pd.isna(v) else str(v) for v in column.to_numpy(dtype=object)]
    return pd.Series(np.array(values, dtype=object), index=column.index, name=column.name, dtype=object)


def is_missing(x: pd.DataFrame, features: list[FeatureSpec]) -> pd.DataFrame:
    """A boolean frame: where a feature value is missing under the encoding above."""
    return pd.DataFrame(
        {f.name: (x[f.name].isna() if f.type == "numeric" else x[f.name] == MISSING_CATEGORY) for f in features},
        index=x.index,
    )


def prepare(frame: pd.DataFrame, spec: DatasetSpec) -> PreparedData:
    """Check ``frame`` against ``spec`` and return typed features and target, or raise :class:`BadInputError`."""
    if frame.shape[0] == 0:
        raise BadInputError(f"The data at {spec.source.uri} has no rows.", reason="EmptyData")
    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    if len(set(columns)) != len(columns):
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        raise BadInputError(f"The data has duplicated column names: {_names(duplicated)}.", reason="DuplicateColumn")
    if spec.target not in columns:
        raise BadInputError(
            f"The target column {spec.target!r} is not in the data; its columns are {_names(columns)}.",
            reason="MissingTargetColumn",
        )
    features = spec.features or infer_features(frame, spec.target)
    warnings = [] if spec.features else mixed_type_warnings(frame, features)
    absent = [f.name for f in features if f.name not in columns]
    if absent:
        raise BadInputError(
            f"The declared feature columns {_names(absent)} are not in the data; its columns are {_names(columns)}.",
            reason="MissingFeatureColumn",
        )
    if not features:
        raise BadInputError("The data has no feature columns besides the target.", reason="NoFeatures")
    x = pd.DataFrame(
        {
            f.name: _numeric_column(frame[f.name], f.name)
            if f.type == "numeric"
            else _categorical_column(frame[f.name])
            for f in features
        },
        index=frame.index,
    )
    y = frame[spec.target]
    missing_mask = is_missing(x, features)
    missing = {name: int(count) for name, count in missing_mask.sum().items()}
    keep = y.notna().to_numpy().copy()
    if spec.missing_values == "error" and any(missing.values()):
        worst = [name for name, count in missing.items() if count]
        raise BadInputError(
            f"Feature columns {_names(worst)} have missing values ({sum(missing.values())} in all) and "
            "missingValues is 'error'; fill them or set missingValues to impute or drop.",
            reason="MissingValues",
        )
    if spec.missing_values == "drop":
        keep &= ~missing_mask.any(axis=1).to_numpy()
    x, y = x.loc[keep].reset_index(drop=True), y.loc[keep].reset_index(drop=True)
    empty = [f.name for f in features if missing_mask.loc[keep, f.name].all()]
    if empty and x.shape[0] > 0:
        raise BadInputError(
            f"Feature columns {_names(empty)} have no values at all; remove them from features.",
            reason="EmptyFeature",
        )
    if x.shape[0] == 0:
        raise BadInputError(
            "No rows are left after dropping rows with a missing target or missing features.", reason="EmptyData"
        )
    return PreparedData(
        features=list(features), x=x, y=y, dropped_rows=int((~keep).sum()), missing=missing, warnings=warnings
    )
