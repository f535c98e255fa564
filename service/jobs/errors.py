"""Errors of batch jobs: an invalid manifest, an item that failed every attempt."""

from __future__ import annotations

from indexer.errors import ErrorCategory, TwinwatchError
from service.core.errors import InvalidRequestError


# --- batch jobs -----------------------------------------------------------------------------
class JobItemAttemptsExhaustedError(TwinwatchError):
    """A job item's worker died on it every time it was claimed: it is failed, not retried."""

    code = "job_item_attempts_exhausted"
    category = ErrorCategory.INTERNAL


class ManifestInvalidError(InvalidRequestError):
    """A batch's manifest (per-item context) is not the documented JSON, names an item the
    batch does not hold, or has a field out of bounds (``details.item`` names the entry)."""

    code = "manifest_invalid"
