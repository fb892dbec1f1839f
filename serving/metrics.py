"""Prometheus metrics of the server, including the drift counters the Monitor reads.

Request counters and latency histograms use prometheus-client's own types. Drift counting (every
input value and every prediction into the bundle's reference bins) would cost tens of microseconds
per 1-row request if done value by value, so requests only *append* their already-converted arrays
to a pending list; the bins are computed vectorized with numpy in one go when the list reaches
:data:`FLUSH_ROWS` rows or when Prometheus scrapes, which keeps the counters exact at every scrape.

Bin labels are indices (``bin="0"`` … ``bin="n"``) in the bundle's order; the
``yardarm_feature_bin_reference_ratio`` / ``yardarm_prediction_bin_reference_ratio`` gauges map each
index to its edges or category and carry the reference proportion as value. All label values come
from the bundle or from small fixed sets, so cardinality is bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from yardarm.bundle import OTHER, CategoricalBins, FeatureProfile, NumericBins

from .model import Batch, Model, Prediction

FLUSH_ROWS = 256
#: Rows binned per vectorized step (bounds the rows x features x edges comparison array).
CHUNK_ROWS = 4096
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.0075, 0.01,
    0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


def _edge(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    if value == float("-inf"):
        return "-Inf"
    return repr(float(value))


class _NumericCounter:
    """Counts values into ``(-inf, e0], (e0, e1], …, (e_last, +inf)`` (NumericBins semantics)."""

    def __init__(self, bins: NumericBins) -> None:
        self.edges = np.asarray(bins.edges, dtype=np.float64)
        self.counts = np.zeros(len(bins.edges) + 1, dtype=np.int64)
        self.missing = 0
        self.reference = bins.proportions

    def add(self, values: np.ndarray) -> None:
        nan = np.isnan(values)
        if nan.any():
            self.missing += int(nan.sum())
            values = values[~nan]
        # side="left": index i such that e_{i-1} < v <= e_i, i.e. right-closed bins.
        self.counts += np.bincount(np.searchsorted(self.edges, values, side="left"), minlength=len(self.counts))

    def describe(self) -> Iterator[tuple[str, str, str, float]]:
        lowers = [float("-inf"), *self.edges.tolist()]
        uppers = [*self.edges.tolist(), float("inf")]
        for i, (lo, hi) in enumerate(zip(lowers, uppers, strict=True)):
            ref = self.reference[i] if i < len(self.reference) else 0.0
            yield str(i), _edge(lo), _edge(hi), ref


class _CategoricalCounter:
    """Counts strings into the reference categories; anything else goes to :data:`OTHER`."""

    def __init__(self, bins: CategoricalBins) -> None:
        self.categories = list(bins.categories)
        if OTHER not in self.categories:
            self.categories.append(OTHER)
        self.other = self.categories.index(OTHER)
        self.index = {c: i for i, c in enumerate(self.categories) if c != OTHER}
        self.counts = np.zeros(len(self.categories), dtype=np.int64)
        self.missing = 0
        self.reference = bins.proportions

    def add(self, values: np.ndarray) -> None:
        lookup, other = self.index.get, self.other
        idx = [lookup(v, other) for v in values.tolist()]
        self.counts += np.bincount(np.asarray(idx, dtype=np.int64), minlength=len(self.counts))

    def describe(self) -> Iterator[tuple[str, str, str, float]]:
        for i, category in enumerate(self.categories):
            ref = self.reference[i] if i < len(self.reference) else 0.0
            yield str(i), "", category, ref


def _counter(bins: NumericBins | CategoricalBins) -> _NumericCounter | _CategoricalCounter:
    return _NumericCounter(bins) if isinstance(bins, NumericBins) else _CategoricalCounter(bins)


class DriftCounters(Collector):
    """Per-feature and per-prediction bin counters, batched off the request path."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.labels = [model.name, model.revision]
        profiles = {p.name: p for p in model.manifest.profile.features}
        self.numeric: list[tuple[int, str, _NumericCounter]] = []
        self.categorical: list[tuple[int, str, _CategoricalCounter]] = []
        for j, feature in enumerate(model.numeric):
            profile = profiles.get(feature.name)
            if profile is not None and isinstance(profile.bins, NumericBins):
                self.numeric.append((j, feature.name, _NumericCounter(profile.bins)))
        for j, feature in enumerate(model.categorical):
            profile = profiles.get(feature.name)
            if profile is not None and isinstance(profile.bins, CategoricalBins):
                self.categorical.append((j, feature.name, _CategoricalCounter(profile.bins)))
        self.prediction = self._prediction_counter(model.manifest.profile.predictions)
        # Values each reference was counted from: the Monitor's two-sample tests need them.
        self.reference_rows = {name: p.rows for name, p in profiles.items() if p.rows is not None}
        predictions = model.manifest.profile.predictions
        self.prediction_rows = predictions.rows if predictions is not None else None
        self._vectorize_numeric()
        # Class position -> prediction bin, so predictions are counted from integer positions.
        self._class_to_bin: np.ndarray | None = None
        if isinstance(self.prediction, _CategoricalCounter) and model.class_labels:
            counter = self.prediction
            bins = [counter.index.get(c, counter.other) for c in model.class_labels]
            self._class_to_bin = np.asarray([*bins, counter.other], dtype=np.intp)
        self._pending: list[tuple[Batch, Prediction]] = []
        self._pending_rows = 0
        self.rows = 0

    def _prediction_counter(self, profile: FeatureProfile | None) -> _NumericCounter | _CategoricalCounter | None:
        if profile is not None:
            return _counter(profile.bins)
        if self.model.class_labels:
            share = 1.0 / len(self.model.class_labels)
            labels = [*self.model.class_labels, OTHER]
            proportions = [share] * (len(labels) - 1) + [0.0]
            return _CategoricalCounter(CategoricalBins(categories=labels, proportions=proportions))
        return None

    def _vectorize_numeric(self) -> None:
        """One padded edge matrix and one counts array for all numeric features.

        Each feature's counter keeps a *view* into the shared counts, so a flush bins every
        feature with one broadcast comparison and one ``bincount`` instead of a loop.
        """
        counters = [c for _, _, c in self.numeric]
        self._columns = np.asarray([j for j, _, _ in self.numeric], dtype=np.intp)
        width = max((len(c.edges) for c in counters), default=0)
        self._edges = np.full((len(counters), width), np.inf)
        sizes = [len(c.counts) for c in counters]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp) if sizes else np.zeros(0)
        self._numeric_counts = np.zeros(sum(sizes), dtype=np.int64)
        if width > 255:
            raise ValueError("at most 255 edges per numeric feature")
        for i, counter in enumerate(counters):
            self._edges[i, : len(counter.edges)] = counter.edges
            start = int(self._offsets[i])
            counter.counts = self._numeric_counts[start : start + sizes[i]]
        self._edge_columns = [np.ascontiguousarray(self._edges[:, k]) for k in range(width)]

    def _add_numeric(self, matrix: np.ndarray) -> None:
        values = matrix[:, self._columns]
        nan = np.isnan(values)
        if nan.any():
            for i, (_, _, counter) in enumerate(self.numeric):
                counter.missing += int(nan[:, i].sum())
        for start in range(0, len(values), CHUNK_ROWS):
            chunk = values[start : start + CHUNK_ROWS]
            # Number of edges strictly below the value = index of its right-closed bin; one pass
            # per edge column over the whole chunk (a 3-D comparison + sum is several times slower).
            below = np.zeros(chunk.shape, dtype=np.uint8)
            above = np.empty(chunk.shape, dtype=bool)
            for edge in self._edge_columns:
                np.greater(chunk, edge, out=above)
                below += above
            index = below.astype(np.intp) + self._offsets
            keep = ~nan[start : start + CHUNK_ROWS]
            flat = index[keep] if not keep.all() else index.ravel()
            self._numeric_counts += np.bincount(flat, minlength=len(self._numeric_counts))

    def add(self, batch: Batch, prediction: Prediction) -> None:
        """Queue a served batch for counting: an append, flushed every :data:`FLUSH_ROWS` rows."""
        self._pending.append((batch, prediction))
        self._pending_rows += batch.rows
        if self._pending_rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Count every pending batch into the bins, vectorized over all of them at once."""
        pending, self._pending, self._pending_rows = self._pending, [], 0
        if not pending:
            return
        self.rows += sum(b.rows for b, _ in pending)
        if self.numeric:
            matrix = pending[0][0].numeric if len(pending) == 1 else np.concatenate([b.numeric for b, _ in pending])
            self._add_numeric(matrix)
        for j, _, counter in self.categorical:
            counter.add(np.concatenate([b.categorical[j] for b, _ in pending]))
        if self.prediction is not None:
            if isinstance(self.prediction, _CategoricalCounter):
                self._add_classes([p for _, p in pending])
            else:
                # Exactly one of values and labels is set (see Prediction), so none is dropped here.
                values = [v for _, p in pending if (v := p.values if p.values is not None else p.labels) is not None]
                self.prediction.add(np.concatenate(values).astype(np.float64))

    def _add_classes(self, predictions: list[Prediction]) -> None:
        counter = self.prediction
        assert isinstance(counter, _CategoricalCounter)
        if self._class_to_bin is not None and all(p.class_index is not None for p in predictions):
            index = np.concatenate([p.class_index for p in predictions])
            counter.counts += np.bincount(self._class_to_bin[index], minlength=len(counter.counts))
            return
        labels = [p.labels for p in predictions if p.labels is not None]
        if labels:
            counter.add(np.concatenate(labels))

    def collect(self) -> Iterator[Metric]:
        self.flush()
        names = ["model", "revision"]
        bins = CounterMetricFamily(
            "yardarm_feature_bin", "Input values counted into the reference bins.", labels=[*names, "feature", "bin"]
        )
        missing = CounterMetricFamily(
            "yardarm_feature_missing", "Input values that were missing (NaN/null).", labels=[*names, "feature"]
        )
        reference = GaugeMetricFamily(
            "yardarm_feature_bin_reference_ratio",
            "Reference proportion of each feature bin, with its edges (numeric) or category.",
            labels=[*names, "feature", "bin", "lower", "upper", "category"],
        )
        features: list[tuple[int, str, _NumericCounter | _CategoricalCounter]] = [*self.numeric, *self.categorical]
        for _, name, counter in features:
            for (index, *_rest), count in zip(counter.describe(), counter.counts.tolist(), strict=True):
                bins.add_metric([*self.labels, name, index], count)
            missing.add_metric([*self.labels, name], counter.missing)
            for index, lower_or_blank, upper_or_category, ref in counter.describe():
                if isinstance(counter, _NumericCounter):
                    reference.add_metric([*self.labels, name, index, lower_or_blank, upper_or_category, ""], ref)
                else:
                    reference.add_metric([*self.labels, name, index, "", "", upper_or_category], ref)
        yield bins
        yield missing
        yield reference
        reference_rows = GaugeMetricFamily(
            "yardarm_feature_reference_rows",
            "Values the reference proportions were counted from.",
            labels=[*names, "feature"],
        )
        for _, name, _ in features:
            if name in self.reference_rows:
                reference_rows.add_metric([*self.labels, name], self.reference_rows[name])
        yield reference_rows
        rows = CounterMetricFamily("yardarm_inference_rows", "Rows predicted (drift sample size).", labels=names)
        rows.add_metric(self.labels, self.rows)
        yield rows
        if self.prediction is not None:
            pred = CounterMetricFamily(
                "yardarm_prediction_bin", "Predictions counted into the reference bins.", labels=[*names, "bin"]
            )
            pred_ref = GaugeMetricFamily(
                "yardarm_prediction_bin_reference_ratio",
                "Reference proportion of each prediction bin, with its edges (regression) or class label.",
                labels=[*names, "bin", "lower", "upper", "category"],
            )
            numeric = isinstance(self.prediction, _NumericCounter)
            for (index, first, second, ref), count in zip(
                self.prediction.describe(), self.prediction.counts.tolist(), strict=True
            ):
                pred.add_metric([*self.labels, index], count)
                labels = [index, first, second, ""] if numeric else [index, "", "", second]
                pred_ref.add_metric([*self.labels, *labels], ref)
            yield pred
            yield pred_ref
            if self.prediction_rows is not None:
                pred_rows = GaugeMetricFamily(
                    "yardarm_prediction_reference_rows",
                    "Predictions the reference proportions were counted from.",
                    labels=names,
                )
                pred_rows.add_metric(self.labels, self.prediction_rows)
                yield pred_rows


class ServingMetrics:
    """Every metric of one server, in its own registry (so tests can build several apps)."""

    def __init__(self, model_name: str, revision: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self.labels = (model_name, revision)
        names = ["model", "revision"]
        self.requests = Counter(
            "yardarm_requests",
            "HTTP requests by endpoint and status code.",
            [*names, "endpoint", "code"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "yardarm_request_duration_seconds",
            "Time from request arrival to response sent, by endpoint.",
            [*names, "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inference_seconds = Histogram(
            "yardarm_inference_duration_seconds",
            "Time inside ONNX Runtime per request.",
            names,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "yardarm_requests_in_flight", "Inference requests being served.", names, registry=self.registry
        ).labels(*self.labels)
        self.ready = Gauge(
            "yardarm_model_ready", "1 once the model is loaded and warmed up.", names, registry=self.registry
        ).labels(*self.labels)
        self.info = Gauge(
            "yardarm_model_info",
            "Always 1; labels identify the served bundle.",
            [*names, "digest", "model_sha256", "task", "threads"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "yardarm_feedback",
            "Ground-truth feedback matched to a prediction, by outcome (correct, incorrect, scored).",
            [*names, "outcome"],
            registry=self.registry,
        )
        self.squared_error = Summary(
            "yardarm_feedback_squared_error",
            "Squared error of regression predictions that received feedback (sum and count).",
            names,
            registry=self.registry,
        ).labels(*self.labels)
        self.log_dropped = Counter(
            "yardarm_access_log_dropped",
            "Access-log records dropped because the writer fell behind.",
            names,
            registry=self.registry,
        ).labels(*self.labels)
        self.connections_open = Gauge(
            "yardarm_connections_open", "Open HTTP connections.", names, registry=self.registry
        ).labels(*self.labels)
        self.connections_closed = Counter(
            "yardarm_connections_closed",
            "Connections the server closed to protect itself, by reason (header_timeout, body_timeout, "
            "header_too_large, over_limit, invalid_http).",
            [*names, "reason"],
            registry=self.registry,
        )
        self.inference_observe = self.inference_seconds.labels(*self.labels).observe
        self._request_children: dict[tuple[str, int], tuple[Callable[[], None], Callable[[float], None]]] = {}
        self._latency_children: dict[str, Callable[[float], None]] = {}
        self.drift: DriftCounters | None = None

    def attach_model(self, model: Model) -> DriftCounters:
        """Register the drift counters and model info once the model is loaded."""
        self.info.labels(*self.labels, model.digest, model.manifest.model_sha256, model.task, str(model.threads)).set(1)
        self.drift = DriftCounters(model)
        self.registry.register(self.drift)
        return self.drift

    def request_done(self, endpoint: str, code: int, seconds: float) -> None:
        """Count one request and observe its latency (children cached: no label lookups per request)."""
        key = (endpoint, code)
        child = self._request_children.get(key)
        if child is None:
            child = (
                self.requests.labels(*self.labels, endpoint, str(code)).inc,
                self._latency(endpoint),
            )
            self._request_children[key] = child
        inc, observe = child
        inc()
        observe(seconds)

    def _latency(self, endpoint: str) -> Callable[[float], None]:
        observe = self._latency_children.get(endpoint)
        if observe is None:
            observe = self.request_seconds.labels(*self.labels, endpoint).observe
            self._latency_children[endpoint] = observe
        return observe
