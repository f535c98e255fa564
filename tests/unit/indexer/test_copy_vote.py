"""Copy detection internals on synthetic data: the grid keypoint selection, the vote over
FAISS neighbours (one vote per query descriptor and slot, its closest neighbour there), and
the rule that inliers collapsed onto a spot of the scanned image are no copy."""

from __future__ import annotations

import cv2
import numpy as np

from indexer.copies import features as copy_features
from indexer.copies.features import Features
from indexer.copies.index import (
    MAX_POINTS,
    Candidate,
    DescriptorIndex,
    IndexedImage,
    Neighbours,
)
from indexer.copies.verify import VerifyRules, verify


def keypoints(points: list[tuple[float, float, float]]) -> list[cv2.KeyPoint]:
    return [cv2.KeyPoint(x, y, 7.0, -1, response) for x, y, response in points]


def test_grid_gives_every_cell_its_quota_then_the_strongest_of_the_rest() -> None:
    # 16 cells on a 400 x 400 image; budget 32 -> quota 2 per cell. One crowded cell (a
    # caption) holds the 40 strongest keypoints, every other cell one weak one.
    crowded = [(10.0 + n, 10.0, 100.0 + n) for n in range(40)]
    others = [
        (50.0 + 100 * cx + n, 50.0 + 100 * cy, 1.0 + n)
        for cx in range(4)
        for cy in range(4)
        if (cx, cy) != (0, 0)
        for n in range(1)
    ]
    chosen = copy_features._on_grid(keypoints(crowded + others), 400, 400, 32)
    assert len(chosen) == 32
    cells = {(int(kp.pt[0] // 100), int(kp.pt[1] // 100)) for kp in chosen}
    assert len(cells) == 16  # no cell left out
    in_crowded = [kp for kp in chosen if kp.pt[0] < 100 and kp.pt[1] < 100]
    # its quota of 2 plus the 15 places the others left, all from its strongest
    assert len(in_crowded) == 32 - 15
    assert min(kp.response for kp in in_crowded) == 139.0 - 16


def _image(slot_points: int) -> IndexedImage:
    points = np.stack([np.arange(slot_points), np.zeros(slot_points)], axis=1).astype(np.float32)
    return IndexedImage(1, 1, False, points, 100, 100, None)


def test_vote_counts_each_query_descriptor_once_per_slot_with_its_closest_match() -> None:
    index = DescriptorIndex()
    index.slots = {0: _image(10), 1: _image(10)}
    query = Features(
        np.arange(8, dtype=np.float32).reshape(4, 2),
        np.zeros((4, 32), np.uint8),
        100,
        100,
    )
    labels = np.array(
        [
            [0 * MAX_POINTS + 3, 0 * MAX_POINTS + 5],  # both in slot 0: the closer one counts
            [0 * MAX_POINTS + 4, 1 * MAX_POINTS + 2],
            [1 * MAX_POINTS + 7, -1],
            [0 * MAX_POINTS + 6, 1 * MAX_POINTS + 1],  # slot 1 too far (Hamming)
        ],
        dtype=np.int64,
    )
    distances = np.array([[20, 10], [5, 6], [7, 0], [9, 200]], dtype=np.int32)
    found = index.vote(query.points, Neighbours(distances, labels), limit=5, min_votes=2)
    assert [c.image for c in found] == [index.slots[0], index.slots[1]]  # most votes first
    first, second = found
    assert sorted(first.distances.tolist()) == [5, 9, 10]  # rows 0, 1, 3
    assert sorted(first.image_points[:, 0].tolist()) == [4.0, 5.0, 6.0]
    assert sorted(second.distances.tolist()) == [6, 7]
    only = index.vote(query.points, Neighbours(distances, labels), limit=5, min_votes=3)
    assert [c.image for c in only] == [index.slots[0]]


def test_inliers_collapsed_onto_a_spot_of_the_scan_are_no_copy() -> None:
    rng = np.random.default_rng(1)
    original = rng.uniform(0, 400, size=(40, 2)).astype(np.float32)
    image = IndexedImage(1, 1, False, original, 400, 400, None)
    rules = VerifyRules(min_inliers=12, min_density=0.0, sure_density=0.0)
    for scale, expected in ((0.5, True), (0.055, False)):  # 0.055: ~21 px of the scan
        scan = (original * scale + 10).astype(np.float32)
        candidate = Candidate(image, scan, original, np.full(40, 8, np.int32))
        placed = verify(candidate, query_points=scan, scan_size=(400, 400), rules=rules)
        assert (placed is not None) is expected, scale
