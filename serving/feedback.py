"""A bounded memory of recent predictions, so ground truth sent later can be scored.

One entry per request (not per row): remembering a 256-row batch costs one dict insert. Feedback
ids are the request id for a 1-row request and ``<id>:<row>`` (row counted from 0) for the rows of a
multi-row request. The store holds at most ``capacity`` rows; the oldest requests are forgotten
first, and feedback for a forgotten id is a 404. Each row takes feedback once (a repeat is a 409),
so retries cannot inflate accuracy.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .errors import RequestError


class FeedbackStore:
    """Recent predictions by request id, bounded by total rows.

    Values are the prediction arrays themselves (class names or numbers): no per-request wrapper
    object, so a full store adds almost nothing for Python's cyclic garbage collector to scan.
    Rows that already got feedback are kept in a separate, small map.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self._entries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._scored: dict[str, set[int]] = {}
        self._rows = 0

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, request_id: str, predictions: np.ndarray) -> None:
        """Keep a request's predictions, forgetting the oldest requests beyond capacity."""
        if self.capacity == 0 or len(predictions) > self.capacity:
            return
        entries = self._entries
        old = entries.pop(request_id, None)
        if old is not None:
            self._rows -= len(old)
            self._scored.pop(request_id, None)
        entries[request_id] = predictions
        self._rows += len(predictions)
        while self._rows > self.capacity:
            evicted_id, evicted = entries.popitem(last=False)
            self._rows -= len(evicted)
            if self._scored:
                self._scored.pop(evicted_id, None)

    def take(self, feedback_id: str) -> object:
        """The prediction a feedback id refers to, marking that row as scored.

        Raises :class:`RequestError` 404 for an unknown or forgotten id, 400 for a multi-row request
        addressed without its row, 409 for a row that already got feedback.
        """
        key = feedback_id
        entry = self._entries.get(key)
        row = 0
        if entry is None:
            key, sep, suffix = feedback_id.rpartition(":")
            entry = self._entries.get(key) if sep else None
            if entry is None or not suffix.isdigit() or int(suffix) >= len(entry):
                raise RequestError(
                    404,
                    f"No recent prediction has id {feedback_id!r}; it is unknown or was evicted "
                    f"(the server remembers the last {self.capacity} rows).",
                )
            row = int(suffix)
        elif len(entry) > 1:
            raise RequestError(
                400,
                f"Request {feedback_id!r} had {len(entry)} rows; "
                f"send feedback per row as '{feedback_id}:<row>' (row from 0).",
            )
        scored = self._scored.setdefault(key, set())
        if row in scored:
            raise RequestError(409, f"Prediction {feedback_id!r} already received feedback.")
        scored.add(row)
        return entry[row]
