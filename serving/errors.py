"""The one exception type a request can fail with: an HTTP status and one clear sentence."""

from __future__ import annotations


class RequestError(Exception):
    """A client mistake (4xx) or an unavailable model (503), answered as ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
