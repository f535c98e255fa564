"""The portfolio images' files: one folder per talent in the blob store, erased with her
(the same erasure and reconciliation as the reference photos). Beside each original, its
ORB features (:mod:`indexer.copies.sidecar`), written at registration and read when the
copy index is built; erased with the talent's folder like the original."""

from __future__ import annotations

import logging
from datetime import datetime

from indexer.blobs import BlobStore
from indexer.blobs.layout import PORTFOLIO
from indexer.copies import sidecar
from indexer.copies.features import Features
from indexer.photos import PhotoStore, ReconcileReport
from indexer.settings import IndexerSettings

log = logging.getLogger(__name__)


class PortfolioStore(PhotoStore):
    """Portfolio originals under ``portfolio/<talent_id>/<sha256>.<ext>``, their features
    under ``portfolio/<talent_id>/<sha256>.orb``."""

    def save_features(self, stored_path: str, features: tuple[Features, Features]) -> None:
        """Keep an original's features (original, mirrored) beside it."""
        self.blobs.put(self._key(sidecar.sidecar_path(stored_path)), sidecar.encode(*features))

    def read_features(self, stored_path: str) -> tuple[Features, Features] | None:
        """The original's kept features; None if there are none, of another features
        version, or unreadable (the caller extracts them from the original again)."""
        relative = sidecar.sidecar_path(stored_path)
        try:
            return sidecar.decode(self.blobs.get(self._key(relative)))
        except FileNotFoundError:
            return None
        except sidecar.SidecarError as exc:
            log.info("portfolio features %s not used: %s", relative, exc)
            return None
        except Exception as exc:  # a cache: any failure falls back to the original
            log.warning("portfolio features %s not read: %s", relative, exc)
            return None

    def refresh_features(self, stored_path: str, features: tuple[Features, Features]) -> None:
        """Best effort: rewrite the features of an original read again (never raises). If
        the original went meanwhile (its talent erased, the image removed), the sidecar goes
        too, so that nothing of an erased image outlives it."""
        try:
            self.save_features(stored_path, features)
            if not self.exists(stored_path):
                self.blobs.delete(self._key(sidecar.sidecar_path(stored_path)))
        except Exception as exc:  # best effort: the original stays the source of truth
            log.warning("portfolio features of %s not kept: %s", stored_path, exc)

    def remove(self, relative: str) -> None:
        """Remove the original and its features."""
        self.blobs.delete(self._key(sidecar.sidecar_path(relative)))
        super().remove(relative)

    def reconcile(
        self, *, talent_ids: set[int], stored_paths: set[str], now: datetime | None = None
    ) -> ReconcileReport:
        """As :meth:`PhotoStore.reconcile`; an original's features are kept while a row
        names the original, and go like an orphan (after the grace period) once none does."""
        kept = stored_paths | {sidecar.sidecar_path(p) for p in stored_paths}
        return super().reconcile(talent_ids=talent_ids, stored_paths=kept, now=now)


def portfolio_store(settings: IndexerSettings, blobs: BlobStore) -> PortfolioStore:
    return PortfolioStore(blobs, PORTFOLIO, orphan_grace_s=settings.blob_orphan_grace_s)
