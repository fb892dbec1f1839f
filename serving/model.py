"""The loaded model: one ONNX Runtime session and everything derived from the bundle, built once.

Everything a request needs that does not depend on the request (feature order, ONNX input names
and dtypes, output datatypes, class-label lookup, metadata JSON) is computed here at load time so
the request path only converts arrays and calls ``InferenceSession.run``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import onnxruntime as ort

from yardarm.bundle import BundleManifest, served_outputs

#: ONNX tensor type → (numpy dtype, Open Inference Protocol datatype).
ONNX_TYPES: dict[str, tuple[type[np.generic], str]] = {
    "tensor(float)": (np.float32, "FP32"),
    "tensor(double)": (np.float64, "FP64"),
    "tensor(int64)": (np.int64, "INT64"),
    "tensor(int32)": (np.int32, "INT32"),
    "tensor(string)": (np.object_, "BYTES"),
}


class TensorMetadata(TypedDict):
    """One input or output in the V2 model-metadata body."""

    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(TypedDict):
    """The V2 model-metadata body (``GET /v2/models/<name>``), also the gRPC ModelMetadata answer."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    parameters: dict[str, object]


#: Row counts whose IO bindings are kept (LRU); a binding holds one small buffer per dtype group.
BOUND_SIZES = 16


class ModelLoadError(Exception):
    """The bundle cannot be served (digest mismatch, schema disagreeing with the ONNX graph)."""


@dataclass(frozen=True, slots=True)
class Feature:
    """One input feature, as the bundle declares it and the ONNX graph takes it."""

    name: str  # the data's column name: what clients send and metrics report
    position: int  # place in the bundle's feature order
    categorical: bool
    datatype: str  # the bundle's Open Inference Protocol datatype
    onnx_dtype: type[np.generic]
    onnx_name: str  # the ONNX graph input (bundle.json maps the two)


@dataclass(slots=True)
class Batch:
    """A validated request: numeric features as one matrix, categorical ones as string columns.

    ``numeric`` is float64 ``(rows, n_numeric)`` in the order of :attr:`Model.numeric`; it is what
    both the ONNX feeds and the drift bins are computed from, so the request is converted once.
    """

    rows: int
    numeric: np.ndarray
    categorical: list[np.ndarray]


@dataclass(slots=True)
class Prediction:
    """ONNX Runtime's outputs for a batch plus the per-row prediction in a uniform form.

    ``labels`` holds class names (classifiers, object array) and ``values`` predicted numbers
    (regressors); exactly one is set. ``class_index`` is each row's position in the bundle's
    ``class_labels`` (what the drift counters count, without touching strings).
    """

    outputs: dict[str, np.ndarray]
    labels: np.ndarray | None
    values: np.ndarray | None
    class_index: np.ndarray | None = None


class Model:
    """An ONNX Runtime session for one bundle, with the request-independent work done once."""

    def __init__(
        self,
        manifest: BundleManifest,
        model_bytes: bytes,
        *,
        digest: str,
        name: str,
        revision: str,
        threads: int,
    ) -> None:
        self.manifest = manifest
        self.digest = digest
        self.name = name
        self.revision = revision
        self.threads = threads
        self.task = manifest.task
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning workers burn the pod's CPU quota between requests; small tabular models gain
        # nothing from it, and the event loop needs that CPU.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        self._run = self.session.run
        onnx_inputs = {i.name: i for i in self.session.get_inputs()}
        self.features: list[Feature] = []
        for position, spec in enumerate(manifest.inputs):
            node = onnx_inputs.get(spec.onnx_input)
            if node is None:
                raise ModelLoadError(f"bundle input {spec.onnx_input!r} is not an input of the ONNX graph")
            if node.type not in ONNX_TYPES:
                raise ModelLoadError(f"ONNX input {spec.name!r} has unsupported type {node.type}")
            categorical = spec.type == "categorical"
            if categorical != (node.type == "tensor(string)"):
                raise ModelLoadError(f"feature {spec.name!r} is {spec.type} but the ONNX input is {node.type}")
            self.features.append(
                Feature(spec.name, position, categorical, spec.datatype, ONNX_TYPES[node.type][0], spec.onnx_input)
            )
        if len(onnx_inputs) != len(self.features):
            extra = sorted(set(onnx_inputs) - {f.onnx_name for f in self.features})
            raise ModelLoadError(f"ONNX inputs {extra} are not declared in the bundle")
        self.feature_names = [f.name for f in self.features]
        self.by_name = {f.name: f for f in self.features}
        #: The name advertised for the one-matrix input layout: any name that is not a feature's.
        self.matrix_input = "input"
        while self.matrix_input in self.by_name:
            self.matrix_input = "_" + self.matrix_input
        self.numeric = [f for f in self.features if not f.categorical]
        self.categorical = [f for f in self.features if f.categorical]
        #: Column of each numeric feature in Batch.numeric, by name.
        self.numeric_column = {f.name: i for i, f in enumerate(self.numeric)}
        self.categorical_column = {f.name: i for i, f in enumerate(self.categorical)}
        # Numeric features grouped by ONNX dtype, so a batch is cast once per group, not per feature.
        groups: dict[type[np.generic], list[int]] = {}
        for i, feature in enumerate(self.numeric):
            groups.setdefault(feature.onnx_dtype, []).append(i)
        self._groups = [
            (dtype, np.asarray(cols), [self.numeric[c].onnx_name for c in cols]) for dtype, cols in groups.items()
        ]
        self._all_one_group = len(self._groups) == 1 and len(self._groups[0][1]) == len(self.numeric)
        self._categorical_names = [f.onnx_name for f in self.categorical]
        self._bindings: OrderedDict[int, tuple[ort.IOBinding, list[np.ndarray]]] = OrderedDict()

        onnx_outputs = {o.name: o for o in self.session.get_outputs()}
        # ORT cannot bind string tensors (copying a bound string output back segfaults in ORT
        # 1.32), so only models with numeric inputs and outputs use pre-bound buffers: a
        # classifier trained on class names (iris' "setosa") runs unbound.
        self._bindable = not self.categorical and all(o.type != "tensor(string)" for o in onnx_outputs.values())
        self.output_names = [name for name in manifest.outputs if name in onnx_outputs] or list(onnx_outputs)
        graph = {
            n: (
                ONNX_TYPES.get(onnx_outputs[n].type, (None, "BYTES"))[1],
                [d if isinstance(d, int) else -1 for d in onnx_outputs[n].shape],
            )
            for n in self.output_names
        }
        # What training declared in the TrainingRun's status too: one function decides both.
        served = served_outputs(self.task, graph)
        self.output_datatypes = {n: datatype for n, (datatype, _) in served.items()}
        self.output_shapes = {n: shape for n, (_, shape) in served.items()}
        self.class_labels: list[str] | None = manifest.class_labels
        self.label_output = self.output_names[0]
        self.probabilities_output: str | None = None
        if self.task == "classification":
            if "label" in self.output_names:
                self.label_output = "label"
            candidates = [n for n in self.output_names if n != self.label_output]
            if "probabilities" in candidates:
                self.probabilities_output = "probabilities"
            elif candidates:
                self.probabilities_output = candidates[0]
        self._label_is_string = onnx_outputs[self.label_output].type == "tensor(string)"
        self._class_array = np.asarray(self.class_labels or [], dtype=object)
        #: For graphs that emit integer class values: class position by value, as one indexable array.
        self._index_by_value: np.ndarray | None = None
        self._sorted_values: np.ndarray | None = None
        self._sorted_positions: np.ndarray | None = None
        self._position = {name: i for i, name in enumerate(self.class_labels or [])}
        if self.task == "classification" and not self._label_is_string and self.class_labels:
            try:
                values = [int(c) for c in self.class_labels]
            except ValueError:
                values = list(range(len(self.class_labels)))  # names given, graph emits indices
            if min(values) >= 0 and max(values) <= 65_536:
                self._index_by_value = np.zeros(max(values) + 1, dtype=np.intp)
                self._index_by_value[values] = np.arange(len(values))
            else:  # e.g. classes -1 and 1: binary search in the sorted class values instead
                order = np.argsort(values, kind="stable")
                self._sorted_values = np.asarray(values, dtype=np.int64)[order]
                self._sorted_positions = order

    def feeds(self, batch: Batch) -> dict[str, np.ndarray]:
        """ONNX inputs for a batch: each feature a contiguous ``(rows, 1)`` array of its ONNX dtype."""
        rows = batch.rows
        feeds: dict[str, np.ndarray] = {}
        if self.numeric:
            numeric = batch.numeric
            for dtype, cols, names in self._groups:
                block = numeric.T if self._all_one_group else numeric[:, cols].T
                # Transposed copy: each feature's column becomes one contiguous row.
                with np.errstate(over="ignore", invalid="ignore"):
                    cast = np.ascontiguousarray(block, dtype=dtype)
                for j, name in enumerate(names):
                    feeds[name] = cast[j].reshape(rows, 1)
        for name, column in zip(self._categorical_names, batch.categorical, strict=True):
            feeds[name] = column.reshape(rows, 1)
        return feeds

    def _binding(self, rows: int) -> tuple[ort.IOBinding, list[np.ndarray]]:
        """An IO binding whose inputs are views of buffers we own, for batches of ``rows`` rows.

        ``InferenceSession.run`` validates and wraps every input on every call, which for one
        input per feature costs more than the model itself; a bound buffer is filled with one
        numpy assignment instead.
        """
        entry = self._bindings.get(rows)
        if entry is not None:
            self._bindings.move_to_end(rows)
            return entry
        binding = self.session.io_binding()
        buffers = []
        for dtype, cols, names in self._groups:
            buffer = np.zeros((len(cols), rows, 1), dtype=dtype)
            for j, name in enumerate(names):
                binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(buffer[j]))
            buffers.append(buffer)
        for name in self.output_names:
            binding.bind_output(name)
        entry = (binding, buffers)
        self._bindings[rows] = entry
        if len(self._bindings) > BOUND_SIZES:
            self._bindings.popitem(last=False)
        return entry

    def run(self, batch: Batch, *, reuse: bool = True) -> Prediction:
        """Run the session and put its answer in the uniform :class:`Prediction` form.

        ``reuse`` runs through the cached IO bindings, whose buffers are shared state: only the
        event-loop thread may pass it; runs in worker threads pass ``reuse=False``.
        """
        if reuse and self._bindable:
            binding, buffers = self._binding(batch.rows)
            numeric = batch.numeric
            for (dtype, cols, _), buffer in zip(self._groups, buffers, strict=True):
                block = numeric.T if self._all_one_group else numeric[:, cols].T
                if dtype is np.float32 or dtype is np.float64:
                    buffer[:, :, 0] = block
                else:
                    with np.errstate(invalid="ignore"):
                        buffer[:, :, 0] = block
            self.session.run_with_iobinding(binding)
            raw = binding.copy_outputs_to_cpu()
        else:
            raw = self._run(self.output_names, self.feeds(batch))
        outputs = dict(zip(self.output_names, raw, strict=True))
        if self.task == "classification":
            label = outputs[self.label_output].reshape(-1)
            if self._index_by_value is not None:
                index = self._index_by_value[label]
                label = self._class_array[index]
            elif self._sorted_values is not None and self._sorted_positions is not None:
                found = np.searchsorted(self._sorted_values, label).clip(0, len(self._sorted_values) - 1)
                index = self._sorted_positions[found]
                label = self._class_array[index]
            elif self._label_is_string:
                index = self._string_positions(label, outputs)
            else:
                index = None
                label = label.astype(str).astype(object)
            outputs[self.label_output] = label
            return Prediction(outputs, label, None, index)
        values = outputs[self.label_output].reshape(-1).astype(np.float64, copy=False)
        return Prediction(outputs, None, values)

    def _string_positions(self, label: np.ndarray, outputs: dict[str, np.ndarray]) -> np.ndarray | None:
        """Class positions of string labels: argmax of the probabilities, checked against the label.

        Probability columns follow ``class_labels`` (scikit-learn's ``classes_``), so the argmax is
        the label except at exact ties; those rows (and labels outside the bundle's classes) are
        looked up one by one. ``len(class_labels)`` marks a label the bundle does not list.
        """
        if not self._position:
            return None
        probabilities = outputs.get(self.probabilities_output) if self.probabilities_output else None
        if probabilities is not None and probabilities.ndim == 2 and probabilities.shape[1] == len(self._position):
            index: np.ndarray = probabilities.argmax(axis=1)  # numpy types argmax(axis=...) as Any
            wrong = self._class_array[index] != label
            if not wrong.any():
                return index
            rows = np.nonzero(wrong)[0]
        else:
            index = np.zeros(len(label), dtype=np.intp)
            rows = np.arange(len(label))
        unknown = len(self._position)
        for row in rows.tolist():
            index[row] = self._position.get(label[row], unknown)
        return index

    def example_batch(self, rows: int) -> Batch:
        """A batch of plausible values (reference bin edges, first category) for warm-up."""
        numeric = np.zeros((rows, len(self.numeric)), dtype=np.float64)
        profiles = {p.name: p for p in self.manifest.profile.features}
        for j, feature in enumerate(self.numeric):
            bins = profiles.get(feature.name)
            if bins is not None and bins.bins.kind == "numeric" and bins.bins.edges:
                numeric[:, j] = bins.bins.edges[len(bins.bins.edges) // 2]
        categorical = []
        for feature in self.categorical:
            bins = profiles.get(feature.name)
            value = bins.bins.categories[0] if bins is not None and bins.bins.kind == "categorical" else ""
            categorical.append(np.full(rows, value, dtype=object))
        return Batch(rows, numeric, categorical)

    def warm_up(self, rounds: int = 20) -> float:
        """Run the session a few times at small and batch sizes so the first requests are not slow."""
        start = time.perf_counter()
        for rows in (1, 8, 256):
            batch = self.example_batch(rows)
            for _ in range(rounds):
                self.run(batch)
        return time.perf_counter() - start

    def metadata(self) -> ModelMetadata:
        """The V2 model-metadata body (computed once; the app serializes it once).

        Generic V2 clients build their request from ``inputs`` alone, so it lists the layout such a
        client can send: for an all-numeric model the one ``[rows, n_features]`` matrix (features in
        ``parameters.features`` order), for a model with categorical features one input per feature
        (a numeric and a string column cannot share a tensor). The other layout, still accepted,
        is described in ``parameters``.
        """
        per_feature: list[TensorMetadata] = [
            {"name": f.name, "datatype": f.datatype, "shape": [-1, 1]} for f in self.features
        ]
        parameters: dict[str, object] = {
            "task": self.task,
            "digest": self.digest,
            "revision": self.revision,
            "features": self.feature_names,
        }
        if self.categorical:
            inputs = per_feature
            parameters["tensor_input"] = {
                "datatype": "BYTES",
                "shape": [-1, len(self.features)],
                "note": "or one 2-D input, features in order, numbers as JSON numbers",
            }
        else:
            datatypes = {f.datatype for f in self.features}
            datatype = datatypes.pop() if len(datatypes) == 1 else "FP64"
            inputs = [{"name": self.matrix_input, "datatype": datatype, "shape": [-1, len(self.features)]}]
            parameters["feature_inputs"] = per_feature
        outputs: list[TensorMetadata] = [
            {"name": n, "datatype": self.output_datatypes[n], "shape": self.output_shapes[n]} for n in self.output_names
        ]
        if self.class_labels is not None:
            parameters["class_labels"] = self.class_labels
        return {
            "name": self.name,
            "versions": [self.revision],
            "platform": "onnxruntime_onnx",
            "inputs": inputs,
            "outputs": outputs,
            "parameters": parameters,
        }
