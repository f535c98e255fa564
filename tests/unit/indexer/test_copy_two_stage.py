"""The two-stage copy search (issue 22): a sample of the query's descriptors is searched
first; a scan it gives too few votes is no copy, a copy it verifies is done, and only the
rest search every descriptor. It must find every copy that one search of all descriptors
finds, on real photos, and call nothing a copy that one search does not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from indexer.blobs import FolderBlobStore
from indexer.copies import detector as copy_detector
from indexer.copies import features as copy_features
from indexer.copies.detector import CopyDetector, CopyTimings, portfolio_features
from indexer.copies.features import MIN_SIDE, QUERY_LIMITS, Features
from indexer.copies.index import Neighbours
from indexer.copies.store import PortfolioStore, portfolio_store
from indexer.db import Database
from indexer.imaging import open_photo
from indexer.settings import IndexerSettings
from tests.support import copies as edits
from tests.support.fakes import FakeAnalyser
from tests.unit.indexer.test_copy_sidecars import register


def test_joined_neighbours_and_features_keep_each_part_in_order() -> None:
    first = Neighbours(np.array([[0, 1], [2, 3]], np.int32), np.array([[10, 11], [12, 13]]))
    second = Neighbours(np.array([[4, 5]], np.int32), np.array([[14, 15]]))
    both = Neighbours.joined(first, second)
    assert both.labels.tolist() == [[10, 11], [12, 13], [14, 15]]
    assert both.distances[:, 0].tolist() == [0, 2, 4]
    a = Features(np.zeros((2, 2), np.float32), np.zeros((2, 32), np.uint8), 50, 40)
    b = Features(np.ones((1, 2), np.float32), np.ones((1, 32), np.uint8), 50, 40)
    joined = Features.joined(a, b)
    assert joined.count == 3 and joined.points[2].tolist() == [1.0, 1.0]
    assert (joined.width, joined.height) == (50, 40)


def test_a_sample_of_keypoints_has_the_descriptors_all_of_them_have() -> None:
    rng = np.random.default_rng(5)
    gray = cv2.GaussianBlur(rng.integers(0, 255, (300, 420), dtype=np.uint8), (3, 3), 0)
    keys = copy_features.keypoints(gray, limits=QUERY_LIMITS, full_size=(840, 600))
    every = keys.features()
    assert every.count == keys.count > 100
    sample = keys.features(range(0, keys.count, 3))
    for n in range(sample.count):  # the same keypoint, the same descriptor
        match = np.flatnonzero((every.points == sample.points[n]).all(axis=1))
        assert len(match) >= 1
        assert any(np.array_equal(every.descriptors[m], sample.descriptors[n]) for m in match)
    assert float(every.points[:, 0].max()) > 420  # in full-size pixels


@pytest.fixture
def store(settings: IndexerSettings) -> PortfolioStore:
    return portfolio_store(settings, FolderBlobStore(settings.data_dir))


EDITS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "recoloured, 1.5x": lambda bgr: edits.recolour(edits.rescale(bgr, 1.5)),
    "half its area": lambda bgr: edits.crop_area(
        bgr, 0.5, (0.5 * bgr.shape[1], 0.4 * bgr.shape[0])
    ),
    "a quarter of its area": lambda bgr: edits.crop_area(
        bgr, 0.25, (0.5 * bgr.shape[1], 0.4 * bgr.shape[0])
    ),
    "captioned": edits.caption,
    "scaled to 0.4x": lambda bgr: edits.rescale(bgr, 0.4),
    # 400 px or more: sampled by the coarse extraction, the rest searched alone
    "recoloured, 2x": lambda bgr: edits.recolour(edits.rescale(bgr, 2.0)),
    "3x, a third of its area": lambda bgr: edits.crop_area(
        edits.rescale(bgr, 3.0), 0.33, (1.5 * bgr.shape[1], 1.2 * bgr.shape[0])
    ),
    "2x, captioned": lambda bgr: edits.caption(edits.rescale(bgr, 2.0)),
}


@pytest.mark.shared_faces
def test_two_stages_find_every_copy_one_search_finds_and_nothing_more(
    db: Database, store: PortfolioStore, shared_faces: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    portfolio = [f.read_bytes() for f in sorted((shared_faces / "lfw").glob("B*/*.jpg"))[:30]]
    unrelated = [f.read_bytes() for f in sorted((shared_faces / "lfw").glob("C*/*.jpg"))[:40]]
    _talent, ids = register(db, store, portfolio)
    queries: list[tuple[int | None, bytes]] = [
        (ids[n], edits.jpeg(edit(edits.decode(portfolio[n])), 70))
        for n in range(0, 30, 3)
        for edit in EDITS.values()
    ] + [(None, raw) for raw in unrelated]

    def hits(detector: CopyDetector, timings: CopyTimings) -> list[set[int]]:
        return [
            {f.portfolio_image_id for f in detector.find(open_photo(raw), [], timings=timings)}
            for _, raw in queries
        ]

    two = CopyTimings()
    two_stage = hits(CopyDetector(db=db, store=store, analyser=FakeAnalyser()), two)
    # one search: the sample is every keypoint at the query's own sizes, and never gated
    monkeypatch.setattr(copy_detector, "COARSE_FROM", 10**6)
    monkeypatch.setattr(copy_detector, "SAMPLE_STRIDE", 1)
    monkeypatch.setattr(copy_detector, "SAMPLE_GATE", 0)
    one = CopyTimings()
    one_search = hits(CopyDetector(db=db, store=store, analyser=FakeAnalyser()), one)

    copies = [n for n, (target, _) in enumerate(queries) if target is not None]
    found_by_one = [n for n in copies if queries[n][0] in one_search[n]]
    assert len(found_by_one) >= 0.8 * len(copies)  # the edits are findable at all
    assert all(queries[n][0] in two_stage[n] for n in found_by_one)
    assert all(two_stage[n] <= one_search[n] | {queries[n][0]} for n in copies)
    assert all(not two_stage[n] for n in range(len(copies), len(queries)))
    # both paths taken: verified on the sample alone, and searched in full
    assert two.sample_verified >= len(copies) // 2
    assert two.gated + two.sample_verified < len(queries)
    assert one.gated == 0

    # a scan whose sample draws fewer votes than the gate is searched no further
    monkeypatch.undo()
    monkeypatch.setattr(copy_detector, "SAMPLE_GATE", 10_000)
    gated = CopyTimings()
    detector = CopyDetector(db=db, store=store, analyser=FakeAnalyser())
    assert detector.find(open_photo(queries[0][1]), [], timings=gated) == []
    assert gated.gated == 1 and gated.search_s > 0 and gated.verify_s == 0


@pytest.mark.shared_faces
@pytest.mark.parametrize(
    "size", [(1, 1), (2, 3), (16, 399), (399, 16), (30, 500), (500, 30), (31, 31), (3, 60)]
)
def test_tiny_and_thin_scans_are_searched_without_error(
    db: Database, store: PortfolioStore, shared_faces: Path, size: tuple[int, int]
) -> None:
    portfolio = [f.read_bytes() for f in sorted((shared_faces / "lfw").glob("B*/*.jpg"))[:3]]
    register(db, store, portfolio)
    detector = CopyDetector(db=db, store=store, analyser=FakeAnalyser())
    rng = np.random.default_rng(sum(size))
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    assert detector.find(open_photo(edits.jpeg(pixels)), []) == []
    original, flipped = portfolio_features(open_photo(edits.jpeg(pixels)))  # as registered
    assert original.count == flipped.count == 0 or min(size) >= MIN_SIDE
