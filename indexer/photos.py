"""Photos kept per talent on disk (reference photos; the service's alert evidence), with
crash-safe erasure.

Layout: ``<root>/<talent_id>/<name>``. Erasing a talent first renames its folder into
``<root>/.erasing/`` (atomic), then the database rows go, then the folder is deleted.
:meth:`PhotoStore.reconcile` (run at start-up) finishes or undoes whatever a crash
interrupted, so the disk always ends up matching the database.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from indexer.fileio import rename_durably, write_durably

log = logging.getLogger(__name__)

ERASING = ".erasing"


@dataclass(frozen=True)
class ReconcileReport:
    restored: int
    erased: int
    orphans_removed: int


class PhotoStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, *, talent_id: int, name: str, data: bytes) -> str:
        """Write the photo atomically; returns its path relative to the store root."""
        folder = self.root / str(talent_id)
        folder.mkdir(parents=True, exist_ok=True)
        relative = f"{talent_id}/{name}"
        write_durably(self.root / relative, data)
        return relative

    def read(self, relative: str) -> bytes:
        return (self.root / relative).read_bytes()

    def remove(self, relative: str) -> None:
        (self.root / relative).unlink(missing_ok=True)

    def begin_erase(self, talent_id: int) -> Path | None:
        """Move the talent's folder aside; returns where it went (None if it had none)."""
        folder = self.root / str(talent_id)
        if not folder.exists():
            return None
        trash = self.root / ERASING
        trash.mkdir(parents=True, exist_ok=True)
        target = trash / f"{talent_id}.{uuid.uuid4().hex[:8]}"
        rename_durably(folder, target)
        return target

    def undo_erase(self, moved: Path | None, talent_id: int) -> None:
        if moved is not None and moved.exists():
            rename_durably(moved, self.root / str(talent_id))

    @staticmethod
    def finish_erase(moved: Path | None) -> None:
        if moved is not None:
            shutil.rmtree(moved, ignore_errors=True)

    def reconcile(self, *, talent_ids: set[int], stored_paths: set[str]) -> ReconcileReport:
        """Make the disk match the database after a crash."""
        restored = erased = orphans = 0
        trash = self.root / ERASING
        if trash.is_dir():
            for moved in sorted(trash.iterdir()):
                talent_id = int(moved.name.split(".")[0])
                if talent_id in talent_ids and not (self.root / str(talent_id)).exists():
                    rename_durably(moved, self.root / str(talent_id))
                    restored += 1
                else:
                    shutil.rmtree(moved, ignore_errors=True)
                    erased += 1
        if self.root.is_dir():
            for folder in self.root.iterdir():
                if folder.name == ERASING or not folder.is_dir():
                    continue
                for path in folder.iterdir():
                    if f"{folder.name}/{path.name}" not in stored_paths:
                        path.unlink(missing_ok=True)
                        orphans += 1
                if not any(folder.iterdir()):
                    folder.rmdir()
        if restored or erased or orphans:
            log.warning(
                "photo store reconciled: %d restored, %d erased, %d orphans removed",
                restored,
                erased,
                orphans,
            )
        return ReconcileReport(restored, erased, orphans)
