"""The embedded backend: blobs as files under one local folder (the data folder), written
with :mod:`indexer.fileio`'s temp → fsync → rename rule."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from indexer.blobs.base import BlobInfo, BlobNotFoundError, check_key, check_prefix
from indexer.fileio import CHUNK, fsync_dir, write_with

log = logging.getLogger(__name__)


class FolderBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"folder {self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        self._write(self._path(key), lambda handle: handle.write(data))

    def put_file(self, key: str, source: Path) -> None:
        def copy(handle: BinaryIO) -> None:
            with source.open("rb") as original:
                shutil.copyfileobj(original, handle, CHUNK)

        self._write(self._path(key), copy)

    def _write(self, path: Path, fill: Callable[[BinaryIO], object]) -> None:
        """Write durably; once more if a concurrent delete pruned the folder meanwhile."""
        for attempt in (1, 2):
            self._make_parents(path)
            try:
                write_with(path, fill)
                return
            except FileNotFoundError:
                if attempt == 2:
                    raise

    def _make_parents(self, path: Path) -> None:
        """Create the key's folders and make each new entry durable in its parent."""
        missing = [p for p in path.parents if p != self.root and not p.exists()]
        missing = [p for p in missing if self.root in p.parents]
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in reversed(missing):
            fsync_dir(folder.parent)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobNotFoundError(f"No blob {key}.") from exc

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobNotFoundError(f"No blob {key}.") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        folder = self.root / check_prefix(prefix)[:-1]
        removed = sum(1 for _ in self.list(prefix))
        shutil.rmtree(folder, ignore_errors=True)
        if folder.parent.exists():
            fsync_dir(folder.parent)
            self._prune(folder.parent)
        return removed

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        folder = self.root / check_prefix(prefix)[:-1]
        if not folder.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            here = Path(dirpath)
            for name in sorted(filenames):
                if name.startswith(".") and name.endswith(".tmp"):
                    continue  # a write in progress (or one a crash interrupted)
                path = here / name
                with contextlib.suppress(FileNotFoundError):
                    stat = path.stat()
                    yield BlobInfo(
                        path.relative_to(self.root).as_posix(),
                        stat.st_size,
                        datetime.fromtimestamp(stat.st_mtime, UTC),
                    )

    def _prune(self, folder: Path) -> None:
        """Remove empty folders up to (not including) the root."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent
