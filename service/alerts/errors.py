"""Errors of triage and review: an alert or face that cannot be changed that way."""

from __future__ import annotations

from indexer.errors import ErrorCategory, TwinwatchError


class TriageNotAllowedError(TwinwatchError):
    """The triage action does not apply to the alert's current status."""

    code = "triage_not_allowed"
    category = ErrorCategory.CONFLICT


class ReviewNotAllowedError(TwinwatchError):
    """Only an open or acknowledged alert about a face (band match or possible) can be
    reviewed as "same person" / "not the same person"."""

    code = "review_not_allowed"
    category = ErrorCategory.CONFLICT


class UndoNotAllowedError(TwinwatchError):
    """Only the alert's newest change can be taken back, by whoever made it, soon after."""

    code = "undo_not_allowed"
    category = ErrorCategory.CONFLICT
