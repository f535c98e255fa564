"""Crash-safe file helpers, the one owner of the rule: write a temp file in the same folder,
fsync it, rename it over the target, then fsync the folder (so the rename itself survives a
power loss); and sha256 of a file, streamed."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_handle(handle: BinaryIO) -> None:
    """Flush Python's buffer and the OS's for a file open for writing."""
    handle.flush()
    os.fsync(handle.fileno())


def fsync_file(path: Path) -> None:
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    """Make renames and new entries in ``path`` durable (a no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories
    finally:
        os.close(fd)


def replace_durably(tmp: Path, path: Path) -> None:
    """Rename a written (and fsynced) temp file over ``path``, then fsync the folder."""
    tmp.replace(path)
    fsync_dir(path.parent)


def rename_durably(source: Path, target: Path) -> None:
    """Rename (atomic on one filesystem) and make it durable in both folders."""
    source.rename(target)
    fsync_dir(target.parent)
    if source.parent != target.parent:
        fsync_dir(source.parent)


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a crash leaves either the old file or the new one."""
    write_with(path, lambda handle: handle.write(data))


def write_with(
    path: Path, write: Callable[[BinaryIO], object], check: Callable[[Path], object] | None = None
) -> None:
    """Like :func:`write_durably`, with ``write`` filling the temp file and an optional
    ``check`` of the finished temp file before it replaces ``path``."""
    tmp = temp_path(path)
    try:
        with tmp.open("wb") as handle:
            write(handle)
            fsync_handle(handle)
        if check is not None:
            check(tmp)
        replace_durably(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def temp_path(path: Path) -> Path:
    """A hidden, unique name beside ``path`` (same filesystem, so the rename is atomic)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
