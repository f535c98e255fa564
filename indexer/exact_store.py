"""Exact float32 vectors by id in a memory-mapped file, beside an approximate (PQ) index.

A PQ index keeps ~16 bytes per vector in RAM; the exact vectors (512 bytes each at 128-d,
5.1 GB at 10M) stay on disk here and are read only for the few candidates a search
re-ranks, for the read-back that checks an index against the database, and for the
checksum of rows being removed. Rows are appended; a removed row is zeroed (erasure) and
its id set to -1. The row → id map lives in RAM (8 bytes per row) and is saved beside the
file; the data file is changed in place, so the manifest's checksum (checked on load)
is what proves it whole.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt

from indexer.fileio import fsync_file, write_durably

log = logging.getLogger(__name__)

IdArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
ERASED = -1


class ExactStore:
    """Append-only rows of float32 vectors; lookups by id through a sorted id → row map."""

    def __init__(self, path: Path, dim: int, row_ids: IdArray) -> None:
        self.path = path
        self.dim = dim
        self.row_ids = np.ascontiguousarray(row_ids, dtype=np.int64)
        self._rows: np.memmap | None = None
        self._remap()

    @classmethod
    def create(cls, path: Path, dim: int) -> ExactStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        return cls(path, dim, np.zeros(0, np.int64))

    @classmethod
    def open(cls, path: Path, ids_path: Path, dim: int) -> ExactStore:
        row_ids = np.load(ids_path, allow_pickle=False)
        if path.stat().st_size < len(row_ids) * dim * 4:
            raise ValueError(f"{path.name} is shorter than its id map")
        return cls(path, dim, row_ids)

    # --- lookups -----------------------------------------------------------------------------
    def _remap(self) -> None:
        live = np.flatnonzero(self.row_ids != ERASED)
        order = np.argsort(self.row_ids[live], kind="stable")
        self._sorted_ids = self.row_ids[live][order]
        self._sorted_rows = live[order]
        rows = len(self.row_ids)
        self._rows = (
            np.memmap(self.path, dtype="<f4", mode="r+", shape=(rows, self.dim)) if rows else None
        )

    @property
    def count(self) -> int:
        return len(self._sorted_ids)

    def rows_of(self, ids: IdArray) -> npt.NDArray[np.intp]:
        """Row of each id; raises KeyError if any id is not stored."""
        positions = np.searchsorted(self._sorted_ids, ids)
        positions = np.minimum(positions, max(len(self._sorted_ids) - 1, 0))
        if len(ids) and (not len(self._sorted_ids) or (self._sorted_ids[positions] != ids).any()):
            raise KeyError("ids not in the exact store")
        rows: npt.NDArray[np.intp] = self._sorted_rows[positions]
        return rows

    def fetch(self, ids: IdArray) -> FloatArray:
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        assert self._rows is not None
        return np.asarray(self._rows[self.rows_of(ids)], dtype=np.float32)

    def contents(self) -> tuple[IdArray, FloatArray]:
        """Every live (id, vector), in id order."""
        return self._sorted_ids.copy(), self.fetch(self._sorted_ids)

    # --- changes -----------------------------------------------------------------------------
    def append(self, ids: IdArray, vectors: FloatArray) -> None:
        if not len(ids):
            return
        data = np.ascontiguousarray(vectors, dtype="<f4").reshape(-1, self.dim)
        self._rows = None  # drop the old mapping before the file grows
        with self.path.open("r+b") as handle:
            handle.seek(len(self.row_ids) * self.dim * 4)
            handle.write(data.tobytes())
        self.row_ids = np.concatenate([self.row_ids, np.asarray(ids, np.int64)])
        self._remap()

    def erase(self, ids: IdArray) -> None:
        """Zero the rows of these ids (those stored) and forget them."""
        stored = ids[np.isin(ids, self._sorted_ids)]
        if not len(stored):
            return
        rows = self.rows_of(stored)
        assert self._rows is not None
        self._rows[rows] = 0.0
        self._rows.flush()
        self.row_ids[rows] = ERASED
        self._remap()

    def save_ids(self, ids_path: Path) -> None:
        """Make the data durable, then write the row → id map atomically."""
        if self._rows is not None:
            self._rows.flush()
        fsync_file(self.path)
        buffer = io.BytesIO()
        np.save(buffer, self.row_ids, allow_pickle=False)
        write_durably(ids_path, buffer.getvalue())
