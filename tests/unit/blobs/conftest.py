from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from indexer.blobs import BlobStore, FolderBlobStore
from tests.support.seaweed import S3Install


@dataclass(frozen=True)
class Backend:
    """A blob store and a way to see everything it holds that does not go through it: the
    folder's files, or the bucket listed by a separate S3 client."""

    store: BlobStore
    everything: Callable[[], list[str]]


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture(params=["folder", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each test runs on both backends: a local folder and a real S3 server (SeaweedFS)."""
    if request.param == "folder":
        root = tmp_path / "blobs"
        return Backend(FolderBlobStore(root), lambda: _files(root))
    install: S3Install = request.getfixturevalue("s3_install")
    return Backend(install.store(), install.objects)


@pytest.fixture
def blobs(backend: Backend) -> BlobStore:
    return backend.store
