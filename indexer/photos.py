"""Files kept per talent in one area of the blob store (reference photos; the service's
alert evidence and consent documents), with crash-safe erasure on every backend.

Layout: ``<area>/<talent_id>/<name>``; the database stores ``<talent_id>/<name>``. Erasure
deletes the talent's rows first and her blobs after the commit (an object store has no
atomic rename to move them aside): a crash in between leaves blobs of a talent the database
no longer has, and :meth:`PhotoStore.reconcile` (run at start-up by every process) deletes
every blob of a talent that is gone, and any other blob no row names once it is older than
the grace period (a younger one may belong to a row another process is about to commit).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from indexer.blobs import BlobStore, open_blob_store
from indexer.blobs.layout import PHOTOS
from indexer.settings import IndexerSettings

log = logging.getLogger(__name__)

LEGACY_ERASING = ".erasing"  # where earlier releases moved a talent's folder during erasure


@dataclass(frozen=True)
class ReconcileReport:
    restored: int  # always 0 now: nothing is moved aside (kept for callers that log it)
    erased: int  # blobs of talents the database no longer has
    orphans_removed: int  # blobs of existing talents that no row names


@dataclass(frozen=True)
class PendingErasure:
    """A talent whose blobs go once the erasure's transaction has committed."""

    talent_id: int


class PhotoStore:
    def __init__(
        self, blobs: BlobStore, area: str = PHOTOS, *, orphan_grace_s: float = 3600.0
    ) -> None:
        self.blobs = blobs
        self.area = area
        self.orphan_grace = timedelta(seconds=orphan_grace_s)

    def _key(self, relative: str) -> str:
        return f"{self.area}/{relative}"

    def save(self, *, talent_id: int, name: str, data: bytes) -> str:
        """Store the photo durably; returns its path relative to the area (the row's value)."""
        relative = f"{talent_id}/{name}"
        self.blobs.put(self._key(relative), data)
        return relative

    def read(self, relative: str) -> bytes:
        """The bytes; :class:`indexer.blobs.BlobNotFoundError` (a FileNotFoundError) if gone."""
        return self.blobs.get(self._key(relative))

    def exists(self, relative: str) -> bool:
        return self.blobs.exists(self._key(relative))

    def remove(self, relative: str) -> None:
        self.blobs.delete(self._key(relative))

    def talent_keys(self, talent_id: int) -> list[str]:
        return [info.key for info in self.blobs.list(f"{self.area}/{talent_id}/")]

    def begin_erase(self, talent_id: int) -> PendingErasure:
        """Nothing is touched before the commit; the blobs go in :meth:`finish_erase`."""
        return PendingErasure(talent_id)

    def undo_erase(self, pending: PendingErasure | None, talent_id: int) -> None:
        """The transaction failed: the blobs were never touched, so nothing to undo."""

    def finish_erase(self, pending: PendingErasure | None) -> int:
        """After the commit: delete every blob of the talent in this area."""
        if pending is None:
            return 0
        return self.blobs.delete_prefix(f"{self.area}/{pending.talent_id}/")

    def reconcile(
        self, *, talent_ids: set[int], stored_paths: set[str], now: datetime | None = None
    ) -> ReconcileReport:
        """Make the store match the database after a crash (see the module's docstring)."""
        cutoff = (now or datetime.now(UTC)) - self.orphan_grace
        erased = orphans = 0
        for info in self.blobs.list(f"{self.area}/"):
            relative = info.key[len(self.area) + 1 :]
            owner = relative.split("/", 1)[0]
            if owner == LEGACY_ERASING:
                erased += self._settle_legacy_erasure(info.key, talent_ids)
            elif not owner.isdigit():
                log.warning("blob %s is not in a talent's folder; left alone", info.key)
            elif int(owner) not in talent_ids:
                self.blobs.delete(info.key)
                erased += 1
            elif relative not in stored_paths and info.modified <= cutoff:
                self.blobs.delete(info.key)
                orphans += 1
        if erased or orphans:
            log.warning(
                "%s reconciled: %d blobs of erased talents and %d orphans removed",
                self.area,
                erased,
                orphans,
            )
        return ReconcileReport(0, erased, orphans)

    def _settle_legacy_erasure(self, key: str, talent_ids: set[int]) -> int:
        """Earlier releases moved a talent's folder to ``.erasing/<talent>.<tag>/`` before the
        commit: put a blob back if the talent still exists (the erasure never committed),
        else delete it. Returns 1 if it was deleted as erased."""
        parts = key.split("/", 3)  # <area>/.erasing/<talent>.<tag>/<name>
        if len(parts) != 4:
            log.warning("blob %s is not in a moved talent folder; left alone", key)
            return 0
        moved, name = parts[2], parts[3]
        talent = moved.split(".", 1)[0]
        if talent.isdigit() and int(talent) in talent_ids:
            target = self._key(f"{talent}/{name}")
            if not self.blobs.exists(target):
                self.blobs.put(target, self.blobs.get(key))
            self.blobs.delete(key)
            return 0
        self.blobs.delete(key)
        return 1


def reference_photos(settings: IndexerSettings, blobs: BlobStore | None = None) -> PhotoStore:
    """The kept reference photos, in the settings' blob store (or the one given)."""
    return PhotoStore(
        blobs or open_blob_store(settings), PHOTOS, orphan_grace_s=settings.blob_orphan_grace_s
    )
