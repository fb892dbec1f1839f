"""ONNX export with skl2onnx, and the parity check that proves ONNX Runtime reproduces scikit-learn.

The exported graph takes one input per feature — ``FloatTensorType([None, 1])`` for numeric,
``StringTensorType([None, 1])`` for categorical — so each column keeps its own datatype, and
produces ``label`` plus, for classifiers, ``probabilities`` as a plain ``[N, classes]`` tensor
(``zipmap`` off). Regressors' single output is renamed to ``label`` (shape ``[N, 1]``).

Parity tolerance. Both sides take the same float32 feature values, but ONNX Runtime computes in
float32 where scikit-learn often works in float64 (and sums in another order), so outputs differ
by float32 rounding (~6e-8 relative per operation, accumulating over features and trees).
We allow ``PARITY_RTOL * max(1, max |reference|)``: 1e-4 absolute for probabilities (which lie in
[0, 1]) and 1e-4 relative to the prediction scale for regression and decision scores — two orders of
magnitude above the float32 noise of the allow-listed models, yet far below any error that would
change a decision. Labels must agree except on rows where scikit-learn's top two classes are
themselves within the tolerance (a true tie that float32 may break either way).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.pipeline import Pipeline

from yardarm.api.dataset import FeatureSpec
from yardarm.api.trainingrun import Task
from yardarm.bundle import InputFeature, ParityReport
from yardarm.training.pipeline import NumericImputer

#: The ai.onnx opset the model is written for: supported by every ONNX Runtime since 1.13.
TARGET_OPSET = 17
#: The ai.onnx.ml opset matching it.
TARGET_ML_OPSET = 3
PARITY_RTOL = 1e-4
LABEL = "label"
PROBABILITIES = "probabilities"
#: A column name skl2onnx keeps as an ONNX input name unchanged (it renames anything else).
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _patch_hist_gradient_boosting() -> None:
    """Work around two things skl2onnx 1.20 does with HistGradientBoosting trees.

    It passes a Python ``bool`` for leaf nodes' missing-value direction, which newer ``onnx``
    refuses in an int-list attribute, so every HistGradientBoosting model failed to convert: the
    wrapper casts it to int. And it writes their float64 split thresholds rounded to float32
    unadjusted (it adjusts every other tree's, whose scikit-learn inputs are float32): a threshold
    halfway between two neighbouring float32 values rounds onto the upper one, whose rows then
    went left in ONNX and right in scikit-learn (diabetes failed parity by 2.5). Our numeric
    inputs are float32 values (training/prepare.py), for which skl2onnx's own adjustment — the
    float32 ``w`` with ``x <= t`` exactly when ``x <= w`` — is exact, so the wrapper turns it on
    for every tree. Idempotent, and a no-op once skl2onnx calls ``add_node`` the same way itself.
    """
    from skl2onnx.common import tree_ensemble

    original = tree_ensemble.add_node
    if getattr(original, "_yardarm_patched", False):
        return

    def add_node(
        *args: object,
        nodes_missing_value_tracks_true: bool | int = 0,
        adjust_threshold_for_sklearn: object = False,
        **kwargs: object,
    ) -> object:
        # Thresholds adjusted for float32 inputs, as skl2onnx does for every other tree kind.
        return original(
            *args,
            nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true),
            adjust_threshold_for_sklearn=True,
            **kwargs,
        )

    add_node._yardarm_patched = True  # type: ignore[attr-defined]  # a marker on a function object
    tree_ensemble.add_node = add_node


_patch_hist_gradient_boosting()


def _register_numeric_imputer() -> None:
    """Convert :class:`NumericImputer` exactly as skl2onnx converts the SimpleImputer it specializes."""
    from skl2onnx import update_registered_converter
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
    from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes

    update_registered_converter(
        NumericImputer, "YardarmNumericImputer", calculate_sklearn_imputer_output_shapes, convert_sklearn_imputer
    )


_register_numeric_imputer()


@dataclass(frozen=True)
class ExportedModel:
    """The serialized model and what the manifest says about it."""

    model_bytes: bytes
    inputs: list[InputFeature]
    outputs: list[str]
    opset: int
    #: Open Inference Protocol datatype and shape of each output, e.g. {"label": ("INT64", [-1])}.
    output_types: dict[str, tuple[str, list[int]]]


def onnx_input_names(names: Sequence[str]) -> list[str]:
    """The ONNX graph input name for each column name, in order: unique plain identifiers.

    skl2onnx renames inputs that are not plain identifiers (``mean radius`` → ``mean_radius``) or
    that clash with an output (``label`` → ``label1``), so the graph's names cannot be the data's.
    We choose them ourselves: a plain name that is not an output name stays as it is (most data
    sets, and every bundle written before this mapping existed); anything else is reduced to
    ``[A-Za-z0-9_]``, prefixed when it would start with a digit, shortened, and numbered when it
    would repeat a name already taken. The mapping is recorded in ``bundle.json``
    (``InputFeature.onnx_name``); nobody outside the graph ever sees these names.
    """
    reserved = {LABEL, PROBABILITIES}
    kept = [n if _PLAIN_NAME.fullmatch(n) and n not in reserved else None for n in names]
    taken = reserved | {n for n in kept if n is not None}
    out = []
    for name, plain in zip(names, kept, strict=True):
        if plain is not None:
            out.append(plain)
            continue
        base = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")[:48] or "feature"
        base = base if base[0].isalpha() else f"f_{base}"
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            candidate = f"{base}_{number}"
        taken.add(candidate)
        out.append(candidate)
    return out


def input_features(features: Sequence[FeatureSpec]) -> list[InputFeature]:
    """The manifest's input schema: FP32 for numeric, BYTES (strings) for categorical, with ONNX names."""
    return [
        InputFeature(
            name=f.name,
            type=f.type,
            datatype="FP32" if f.type == "numeric" else "BYTES",
            onnx_name=onnx_name,
        )
        for f, onnx_name in zip(features, onnx_input_names([f.name for f in features]), strict=True)
    ]


def _canonical_opsets(model: onnx.ModelProto) -> None:
    """Sort ``opset_import`` by domain: skl2onnx collects the domains in a set, so their order (and
    the model's bytes) followed the process's hash seed whenever the graph used ``ai.onnx.ml``."""
    ordered = sorted(((o.domain, o.version) for o in model.opset_import), key=lambda item: item[0])
    del model.opset_import[:]
    for domain, version in ordered:
        model.opset_import.add(domain=domain, version=version)


def _rename_outputs(model: onnx.ModelProto, mapping: dict[str, str]) -> None:
    for node in model.graph.node:
        for i, name in enumerate(node.output):
            if name in mapping:
                node.output[i] = mapping[name]
        for i, name in enumerate(node.input):
            if name in mapping:
                node.input[i] = mapping[name]
    for output in model.graph.output:
        if output.name in mapping:
            output.name = mapping[output.name]


def _select_by_onnx_names(pipeline: Pipeline, mapping: Mapping[str, str]) -> Pipeline:
    """The fitted Pipeline with its ColumnTransformer selecting columns by ONNX input names.

    skl2onnx matches the ColumnTransformer's column lists against the graph's input names, and
    the graph's names are :func:`onnx_input_names`, not the data's. The copy shares every fitted
    transformer and the estimator (whose ``id`` keys the converter options); only the lists differ.
    """
    step, columns = pipeline.steps[0]
    renamed = copy.copy(columns)
    renamed.transformers_ = [
        (name, fitted, [mapping.get(c, c) if isinstance(c, str) else c for c in selected])
        if isinstance(selected, list)
        else (name, fitted, selected)
        for name, fitted, selected in columns.transformers_
    ]
    if hasattr(columns, "feature_names_in_"):
        renamed.feature_names_in_ = np.asarray([mapping.get(c, c) for c in columns.feature_names_in_], dtype=object)
    return Pipeline([(step, renamed), *pipeline.steps[1:]])


def export_onnx(pipeline: Pipeline, features: Sequence[FeatureSpec], task: Task) -> ExportedModel:
    """Convert a fitted Pipeline; outputs are ``label`` (+ ``probabilities`` for classifiers).

    The Pipeline selects columns by their data names; the graph takes them under
    :func:`onnx_input_names` (the ColumnTransformer's column lists are matched by position).
    """
    inputs = input_features(features)
    initial_types = [
        (i.onnx_input, FloatTensorType([None, 1]) if i.type == "numeric" else StringTensorType([None, 1]))
        for i in inputs
    ]
    estimator = pipeline.steps[-1][1]
    # Only probabilistic classifiers have a ZipMap to turn off. LinearSVC emits a plain score tensor,
    # but skl2onnx adds zipmap to any classifier in a Pipeline that has no options of its own: an empty
    # entry stops that.
    options: dict[int, dict[str, object]] | None = None
    if task == "classification":
        options = {id(estimator): {"zipmap": False} if hasattr(estimator, "predict_proba") else {}}
    model = to_onnx(
        _select_by_onnx_names(pipeline, {i.name: i.onnx_input for i in inputs}),
        initial_types=initial_types,
        target_opset={"": TARGET_OPSET, "ai.onnx.ml": TARGET_ML_OPSET},
        options=options,
    )
    names = [o.name for o in model.graph.output]
    if task == "classification":
        if len(names) != 2:
            raise RuntimeError(f"skl2onnx produced outputs {names}, expected label and probabilities")
        _rename_outputs(model, {names[0]: LABEL, names[1]: PROBABILITIES})
        outputs = [LABEL, PROBABILITIES]
    else:
        if len(names) != 1:
            raise RuntimeError(f"skl2onnx produced outputs {names}, expected one prediction")
        _rename_outputs(model, {names[0]: LABEL})
        outputs = [LABEL]
    _canonical_opsets(model)
    graph_inputs = [i.name for i in model.graph.input]
    if graph_inputs != [i.onnx_input for i in inputs]:
        raise RuntimeError(f"skl2onnx renamed the inputs to {graph_inputs}, expected {[i.onnx_input for i in inputs]}")
    onnx.checker.check_model(model)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return ExportedModel(model.SerializeToString(), inputs, outputs, int(opset), _output_types(model))


#: ONNX element types the exported outputs use, as Open Inference Protocol datatypes.
_DATATYPES = {
    onnx.TensorProto.FLOAT: "FP32",
    onnx.TensorProto.DOUBLE: "FP64",
    onnx.TensorProto.INT64: "INT64",
    onnx.TensorProto.STRING: "BYTES",
}


def _output_types(model: onnx.ModelProto) -> dict[str, tuple[str, list[int]]]:
    out = {}
    for output in model.graph.output:
        tensor = output.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        out[output.name] = (_DATATYPES.get(tensor.elem_type, "BYTES"), shape)
    return out


def onnx_feeds(x: pd.DataFrame, inputs: Sequence[InputFeature]) -> dict[str, np.ndarray]:
    """ORT inputs for a frame (columns by data name, feeds by ONNX name): float32 or strings."""
    return {
        i.onnx_input: (
            x[[i.name]].to_numpy(dtype=np.float32)
            if i.type == "numeric"
            else x[[i.name]].to_numpy(dtype=object).astype(str)
        )
        for i in inputs
    }


def session(model_bytes: bytes) -> ort.InferenceSession:
    """A single-threaded ORT session (the Job's CPU share is small and parity runs once)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])


def check_parity(
    model_bytes: bytes,
    inputs: Sequence[InputFeature],
    x: pd.DataFrame,
    reference_labels: np.ndarray,
    reference_values: np.ndarray,
    task: Task,
) -> ParityReport:
    """Compare ORT with scikit-learn on ``x``.

    ``reference_values`` are scikit-learn's probabilities (or decision scores) for classifiers and
    predictions for regressors; ``reference_labels`` its predicted labels (classifiers).
    """
    outputs = session(model_bytes).run(None, onnx_feeds(x, inputs))
    ref = np.asarray(reference_values, dtype=np.float64)
    if task == "classification":
        onnx_labels, onnx_values = np.ravel(outputs[0]), np.asarray(outputs[1], dtype=np.float64)
        if ref.ndim == 1 and onnx_values.ndim == 2:  # binary decision scores: sklearn gives one column
            onnx_values = onnx_values[:, -1]
    else:
        onnx_labels, onnx_values = None, np.ravel(outputs[0]).astype(np.float64)
        ref = np.ravel(ref)
    if onnx_values.shape != ref.shape:
        raise RuntimeError(f"ONNX output shape {onnx_values.shape} differs from scikit-learn's {ref.shape}")
    tolerance = PARITY_RTOL * max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
    max_abs_diff = float(np.max(np.abs(onnx_values - ref))) if ref.size else 0.0
    if onnx_labels is None:
        return ParityReport(max_abs_diff=max_abs_diff, tolerance=tolerance, passed=max_abs_diff <= tolerance)
    same = np.array([str(a) == str(b) for a, b in zip(onnx_labels, np.ravel(reference_labels), strict=True)])
    agreement = float(same.mean()) if same.size else 1.0
    if ref.ndim == 2 and ref.shape[1] >= 2:
        top2 = np.sort(ref, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
    else:
        margin = np.abs(ref)
    disagreements_explained = bool(np.all(margin[~same] <= tolerance))
    return ParityReport(
        max_abs_diff=max_abs_diff,
        label_agreement=agreement,
        tolerance=tolerance,
        passed=max_abs_diff <= tolerance and disagreements_explained,
    )
