"""Errors of talents' portfolios (stable codes)."""

from __future__ import annotations

from indexer.errors import ConflictError, NotFoundError


class PortfolioImageNotFoundError(NotFoundError):
    code = "portfolio_image_not_found"


class PortfolioFullError(ConflictError):
    """The talent already has the most portfolio images one talent may have."""

    code = "portfolio_full"
