"""The portfolio images' files: one folder per talent in the blob store, erased with her
(the same erasure and reconciliation as the reference photos)."""

from __future__ import annotations

from indexer.blobs import BlobStore
from indexer.blobs.layout import PORTFOLIO
from indexer.photos import PhotoStore
from indexer.settings import IndexerSettings


class PortfolioStore(PhotoStore):
    """Portfolio originals under ``portfolio/<talent_id>/<sha256>.<ext>``."""


def portfolio_store(settings: IndexerSettings, blobs: BlobStore) -> PortfolioStore:
    return PortfolioStore(blobs, PORTFOLIO, orphan_grace_s=settings.blob_orphan_grace_s)
