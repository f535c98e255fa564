"""Errors of takedown notices: not allowed, incomplete (PDF unavailable: service.core.errors)."""

from __future__ import annotations

from indexer.errors import ErrorCategory, TwinwatchError


# --- takedown notices (service/takedowns) ---------------------------------------------------
class TakedownNotAllowedError(TwinwatchError):
    """The notice's status does not allow this step (e.g. editing a final notice)."""

    code = "takedown_not_allowed"
    category = ErrorCategory.CONFLICT


class TakedownIncompleteError(TwinwatchError):
    """A notice lacks an element its kind requires (a statement, the signature, contact)."""

    code = "takedown_incomplete"
    category = ErrorCategory.INVALID
