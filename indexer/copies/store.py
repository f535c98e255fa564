"""The portfolio images' files: one folder per talent, erased with her (the same crash-safe
begin / undo / finish erase as the reference photos)."""

from __future__ import annotations

from indexer.photos import PhotoStore


class PortfolioStore(PhotoStore):
    """Portfolio originals under ``<data_dir>/portfolio/<talent_id>/<sha256>.<ext>``."""
