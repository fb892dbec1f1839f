"""The training runtime's S3 client: the one in :mod:`yardarm.s3`, re-exported for existing imports."""

from __future__ import annotations

from yardarm.s3 import CONNECT_TIMEOUT, READ_TIMEOUT, S3Settings, make_client, merged, settings_from_env

__all__ = ["CONNECT_TIMEOUT", "READ_TIMEOUT", "S3Settings", "make_client", "merged", "settings_from_env"]
