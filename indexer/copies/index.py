"""The FAISS binary index of every portfolio descriptor (original and mirrored).

Each indexed image is a *slot* (one per portfolio image and orientation); a descriptor's id
is ``slot * MAX_POINTS + keypoint``. Small portfolios are searched exactly (a flat index);
above :data:`IVF_FROM` descriptors the index becomes a binary IVF whose coarse quantizer is
itself a small binary IVF (a flat quantizer over tens of thousands of centroids would
dominate the search), with centroids drawn from the descriptors.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from indexer.boxes import Box
from indexer.copies.features import DESCRIPTOR_BYTES, F32Array, Features, U8Array

BITS = DESCRIPTOR_BYTES * 8
MAX_POINTS = 4096  # keypoints per slot (the portfolio budget is far below)
IVF_FROM = 400_000  # descriptors: flat below, IVF from here on
LIST_SIZE = 256  # descriptors per inverted list, on average
MAX_LISTS = 65_536
# Inverted lists probed per query descriptor, and lists of the small IVF probed to find
# them. Measured with bench.copies (341 edits, 500 query keypoints from the face detector's
# view): at 10,000 portfolio images 2 / 2 found 322 (4.7 ms of FAISS CPU per scene photo),
# 3 / 2 found 324 (6.3 ms), 3 / 3 with 600 keypoints 323 (7.1 ms); the first build's 4 / 6
# with 700 keypoints took 10.6 ms at 3,000 images.
NPROBE = 3
QUANTIZER_NPROBE = 2
NEIGHBOURS = 2  # per query descriptor
MAX_HAMMING = 64  # of 256 bits: a descriptor match


@dataclass(frozen=True)
class IndexedImage:
    """One orientation of one portfolio image: its points in its own frame (the flipped
    frame when mirrored) and the talent's face box there, if it has one."""

    image_id: int
    talent_id: int
    mirrored: bool
    points: F32Array
    width: int
    height: int
    face_box: Box | None


@dataclass
class SearchTimings:
    """Thread CPU seconds of the FAISS search and of the vote over its neighbours."""

    search_s: float = 0.0
    vote_s: float = 0.0


@dataclass(frozen=True)
class Candidate:
    """A slot many query descriptors matched: pairs of (query point, slot point)."""

    image: IndexedImage
    query_points: F32Array
    image_points: F32Array
    distances: npt.NDArray[np.int32]  # Hamming distance of each pair

    @property
    def votes(self) -> int:
        return len(self.distances)


@dataclass(frozen=True)
class Neighbours:
    """Each query descriptor's :data:`NEIGHBOURS` nearest indexed descriptors: their ids
    (``slot * MAX_POINTS + keypoint``, -1 for none) and Hamming distances, one row each."""

    distances: npt.NDArray[np.int32]
    labels: npt.NDArray[np.int64]

    @staticmethod
    def joined(first: Neighbours, second: Neighbours) -> Neighbours:
        """One row per query descriptor of two searches, ``first``'s rows first."""
        return Neighbours(
            np.concatenate([first.distances, second.distances]),
            np.concatenate([first.labels, second.labels]),
        )


@dataclass(frozen=True)
class IndexSnapshot:
    """What a :class:`DescriptorIndex` is made of (to keep it on disk and restore it)."""

    faiss_index: faiss.IndexBinary  # an IndexBinaryIDMap over a flat index, or a binary IVF
    slots: dict[int, IndexedImage]
    next_slot: int
    built_at: int
    ivf: bool


class DescriptorIndex:
    """Not thread-safe for writes; the detector serialises them."""

    def __init__(self) -> None:
        self.slots: dict[int, IndexedImage] = {}
        self._by_image: dict[int, list[int]] = defaultdict(list)
        self._next_slot = 0
        self._keep: list[object] = []  # FAISS objects the index refers to
        self._index: faiss.IndexBinary = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(BITS))
        self._ivf = False
        self._built_at = 0  # descriptors when the IVF was last built

    @classmethod
    def restored(cls, snapshot: IndexSnapshot) -> DescriptorIndex:
        """The index a :meth:`snapshot` was taken of (its search settings are this code's)."""
        restored = cls()
        restored._index = snapshot.faiss_index
        restored._ivf = snapshot.ivf
        restored._built_at = snapshot.built_at
        restored._next_slot = snapshot.next_slot
        for slot in sorted(snapshot.slots):
            restored.slots[slot] = snapshot.slots[slot]
            restored._by_image[snapshot.slots[slot].image_id].append(slot)
        if snapshot.ivf:
            ivf: Any = snapshot.faiss_index
            ivf.nprobe = NPROBE
            quantizer: Any = faiss.downcast_IndexBinary(ivf.quantizer)
            quantizer.nprobe = QUANTIZER_NPROBE
        return restored

    def snapshot(self) -> IndexSnapshot:
        """The index's parts as they are now (shared, not copied: hold writes meanwhile)."""
        return IndexSnapshot(
            self._index, dict(self.slots), self._next_slot, self._built_at, self._ivf
        )

    @property
    def descriptors(self) -> int:
        return int(self._index.ntotal)

    @property
    def images(self) -> int:
        return len(self._by_image)

    def image_ids(self) -> set[int]:
        return set(self._by_image)

    def add(self, image: IndexedImage, features: Features) -> None:
        self.add_many([(image, features)])

    def add_many(self, items: list[tuple[IndexedImage, Features]]) -> None:
        """Add images; the IVF is (re)built from everything held when the index reaches
        :data:`IVF_FROM` descriptors and again each time it has doubled since (its lists
        stay near :data:`LIST_SIZE` long)."""
        codes, ids = [], []
        for image, features in items:
            if features.count == 0:
                continue
            slot = self._next_slot
            self._next_slot += 1
            count = min(features.count, MAX_POINTS)
            codes.append(features.descriptors[:count])
            ids.append(np.arange(count, dtype=np.int64) + slot * MAX_POINTS)
            self.slots[slot] = image
            self._by_image[image.image_id].append(slot)
        if not codes:
            return
        new = (np.concatenate(codes), np.concatenate(ids))
        del codes, ids
        total = self.descriptors + len(new[0])
        if total >= IVF_FROM and total >= 2 * self._built_at:
            parts = [self._contents(), new]
            del new
            # the old index goes before the new one is filled (writes are serialised, so no
            # search holds it): a rebuild then holds one copy of the descriptors beside the
            # index it fills, not three (bench.copy_index_memory: peak ~4x the index before)
            self._index = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(BITS))
            self._build_ivf(parts)
        else:
            self._index.add_with_ids(*new)

    def remove_image(self, image_id: int) -> None:
        for slot in self._by_image.pop(image_id, []):
            self.slots.pop(slot, None)
            selector = faiss.IDSelectorRange(slot * MAX_POINTS, (slot + 1) * MAX_POINTS)
            self._index.remove_ids(selector)

    def candidates(
        self,
        query: Features,
        *,
        limit: int,
        min_votes: int,
        timings: SearchTimings | None = None,
    ) -> list[Candidate]:
        """The ``limit`` slots with the most matched descriptors (at least ``min_votes``)."""
        found = self.neighbours(query.descriptors, timings=timings)
        return self.vote(query.points, found, limit=limit, min_votes=min_votes, timings=timings)

    def neighbours(
        self, descriptors: U8Array, *, timings: SearchTimings | None = None
    ) -> Neighbours:
        """FAISS's nearest indexed descriptors of each query descriptor."""
        if len(descriptors) == 0 or self.descriptors == 0:
            empty = np.zeros((len(descriptors), NEIGHBOURS))
            return Neighbours(empty.astype(np.int32), np.full(empty.shape, -1, np.int64))
        started = time.thread_time()
        distances, labels = self._index.search(descriptors, NEIGHBOURS)
        if timings is not None:
            timings.search_s += time.thread_time() - started
        return Neighbours(distances, labels)

    def vote(
        self,
        query_points: F32Array,
        neighbours: Neighbours,
        *,
        limit: int,
        min_votes: int,
        timings: SearchTimings | None = None,
    ) -> list[Candidate]:
        """Each query descriptor votes once per slot (its closest neighbour there); the
        ``limit`` slots with the most votes win (at least ``min_votes``)."""
        started = time.thread_time()
        found = self._vote(query_points, neighbours, limit=limit, min_votes=min_votes)
        if timings is not None:
            timings.vote_s += time.thread_time() - started
        return found

    def _vote(
        self, query_points: F32Array, neighbours: Neighbours, *, limit: int, min_votes: int
    ) -> list[Candidate]:
        distances, labels = neighbours.distances, neighbours.labels
        keep = (labels >= 0) & (distances <= MAX_HAMMING)
        rows = np.broadcast_to(np.arange(labels.shape[0], dtype=np.int64)[:, None], labels.shape)[
            keep
        ]
        kept_labels = labels[keep]
        dist = distances[keep].astype(np.int32)
        slots, points = np.divmod(kept_labels, MAX_POINTS)
        order = np.lexsort((dist, rows, slots))  # by slot, then row, closest first
        slots, rows, points, dist = slots[order], rows[order], points[order], dist[order]
        first = np.ones(len(slots), dtype=bool)
        first[1:] = (slots[1:] != slots[:-1]) | (rows[1:] != rows[:-1])
        slots, rows, points, dist = slots[first], rows[first], points[first], dist[first]
        unique, starts, votes = np.unique(slots, return_index=True, return_counts=True)
        found = []
        for position in np.argsort(-votes, kind="stable")[:limit]:
            slot = int(unique[position])
            if votes[position] < min_votes or slot not in self.slots:
                break
            image = self.slots[slot]
            span = slice(int(starts[position]), int(starts[position] + votes[position]))
            found.append(
                Candidate(image, query_points[rows[span]], image.points[points[span]], dist[span])
            )
        return found

    def memory_bytes(self) -> int:
        """Descriptors, ids and list overhead in FAISS, plus the points kept per slot."""
        codes = self.descriptors * (DESCRIPTOR_BYTES + 8)
        points = sum(image.points.nbytes for image in self.slots.values())
        index: Any = self._index
        lists = int(index.nlist) * (DESCRIPTOR_BYTES * 2 + 64) if self._ivf else 0
        return codes + points + lists

    def _build_ivf(self, parts: list[tuple[U8Array, npt.NDArray[np.int64]]]) -> None:
        """A binary IVF over these (codes, ids) parts, centroids drawn from all of them; each
        part is released once it is added."""
        total = sum(len(codes) for codes, _ in parts)
        rng = np.random.default_rng(0)
        nlist = _pow2_at_most(max(1024, total // LIST_SIZE), MAX_LISTS)
        centroids = _rows_of(parts, rng.choice(total, size=nlist, replace=False))
        outer, inner = _small_ivf(centroids, rng)
        ivf = faiss.IndexBinaryIVF(outer, BITS, nlist)
        ivf.is_trained = True
        ivf.nprobe = NPROBE
        while parts:
            codes, ids = parts.pop(0)
            ivf.add_with_ids(codes, ids)
            del codes, ids
        self._keep = [outer, inner]
        self._index = ivf
        self._ivf = True
        self._built_at = total

    def _contents(self) -> tuple[U8Array, npt.NDArray[np.int64]]:
        """Every code and id the index holds (to rebuild it)."""
        index: Any = self._index
        if not self._ivf:
            flat: Any = faiss.downcast_IndexBinary(index.index)
            codes = faiss.vector_to_array(flat.xb).reshape(-1, DESCRIPTOR_BYTES)
            ids = faiss.vector_to_array(index.id_map).astype(np.int64)
            return np.ascontiguousarray(codes, dtype=np.uint8), ids
        lists = index.invlists
        all_codes, all_ids = [], []
        for number in range(index.nlist):
            size = lists.list_size(number)
            if size == 0:
                continue
            codes_ptr = lists.get_codes(number)
            ids_ptr = lists.get_ids(number)
            all_codes.append(
                faiss.rev_swig_ptr(codes_ptr, size * DESCRIPTOR_BYTES)
                .copy()
                .reshape(-1, DESCRIPTOR_BYTES)
            )
            all_ids.append(faiss.rev_swig_ptr(ids_ptr, size).copy().astype(np.int64))
            lists.release_codes(number, codes_ptr)
            lists.release_ids(number, ids_ptr)
        if not all_codes:
            return np.zeros((0, DESCRIPTOR_BYTES), np.uint8), np.zeros(0, np.int64)
        return np.concatenate(all_codes), np.concatenate(all_ids)


def _small_ivf(
    centroids: U8Array, rng: np.random.Generator
) -> tuple[faiss.IndexBinary, faiss.IndexBinary]:
    """A binary IVF holding the coarse centroids, searched as the coarse quantizer."""
    inner_lists = _pow2_at_most(max(16, int(np.sqrt(len(centroids)))), 1024)
    inner = faiss.IndexBinaryFlat(BITS)
    inner.add(centroids[rng.choice(len(centroids), size=inner_lists, replace=False)])
    quantizer = faiss.IndexBinaryIVF(inner, BITS, inner_lists)
    quantizer.is_trained = True
    quantizer.nprobe = QUANTIZER_NPROBE
    quantizer.add(centroids)
    return quantizer, inner


def _rows_of(parts: list[tuple[U8Array, npt.NDArray[np.int64]]], rows: npt.NDArray[Any]) -> U8Array:
    """The codes at these row numbers of the parts taken end to end."""
    starts = np.cumsum([0] + [len(codes) for codes, _ in parts])
    part = np.searchsorted(starts, rows, side="right") - 1
    picked = np.empty((len(rows), DESCRIPTOR_BYTES), dtype=np.uint8)
    for number, (codes, _) in enumerate(parts):
        here = part == number
        picked[here] = codes[rows[here] - starts[number]]
    return picked


def _pow2_at_most(value: int, cap: int) -> int:
    return int(min(cap, 1 << (max(1, value).bit_length() - 1)))
