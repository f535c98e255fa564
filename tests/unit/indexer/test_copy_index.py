"""The portfolio descriptor index on real photos: a removed image is never a candidate
again, and an index grown past the flat size into a binary IVF still finds a copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.copies import index as copy_index
from indexer.copies.detector import portfolio_features, query_features
from indexer.copies.index import DescriptorIndex, IndexedImage
from indexer.imaging import open_photo
from tests.support import copies as edits

pytestmark = pytest.mark.shared_faces


def photos(shared_faces: Path, count: int) -> list[bytes]:
    files = sorted((shared_faces / "lfw").glob("A*/*.jpg"))[:count]
    return [f.read_bytes() for f in files]


def indexed(data: list[bytes]) -> DescriptorIndex:
    index = DescriptorIndex()
    items = []
    for image_id, raw in enumerate(data, start=1):
        original, flipped = portfolio_features(open_photo(raw))
        for mirrored, features in ((False, original), (True, flipped)):
            items.append(
                (
                    IndexedImage(
                        image_id,
                        1,
                        mirrored,
                        features.points,
                        features.width,
                        features.height,
                        None,
                    ),
                    features,
                )
            )
    index.add_many(items)
    return index


def best(index: DescriptorIndex, raw: bytes) -> int | None:
    found = index.candidates(query_features(open_photo(raw)), limit=3, min_votes=10)
    return found[0].image.image_id if found else None


def test_removed_image_is_never_a_candidate_again(shared_faces: Path) -> None:
    data = photos(shared_faces, 20)
    index = indexed(data)
    copy = edits.jpeg(edits.rescale(edits.decode(data[4]), 2.0), 60)
    assert best(index, copy) == 5
    index.remove_image(5)
    assert best(index, copy) != 5
    assert index.images == 19


def test_index_grown_into_a_binary_ivf_still_finds_copies(
    shared_faces: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copy_index, "IVF_FROM", 5_000)
    monkeypatch.setattr(copy_index, "LIST_SIZE", 8)
    data = photos(shared_faces, 60)
    index = indexed(data[:30])
    index.add_many([])
    for image_id, raw in enumerate(data[30:], start=31):
        original, _ = portfolio_features(open_photo(raw))
        index.add(
            IndexedImage(
                image_id, 1, False, original.points, original.width, original.height, None
            ),
            original,
        )
    assert index._ivf  # grown past the flat size, rebuilt as it doubled
    for image_id in (3, 17, 45, 58):
        copy = edits.jpeg(edits.recolour(edits.decode(data[image_id - 1])), 70)
        assert best(index, copy) == image_id
