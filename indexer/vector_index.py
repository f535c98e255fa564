"""FAISS vector index of one model pack's embeddings, and its atomic on-disk form.

The index is derived data: embeddings in the database are the source of truth, and
:func:`vectors_checksum` over (ids, vectors) lets anyone check that an index holds
exactly what the database holds. Files are written temp → fsync → rename, with a
manifest written last; a load checks the manifest against the file and the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
import numpy.typing as npt

from indexer.exact_store import ExactStore
from indexer.fileio import (
    fsync_file,
    rename_durably,
    replace_durably,
    sha256_file,
    write_durably,
)

log = logging.getLogger(__name__)

IdArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
IndexKind = Literal["flat", "ivf", "ivfpq"]
INDEX_KINDS: tuple[IndexKind, ...] = ("flat", "ivf", "ivfpq")
KMEANS_SEED = 1234
KMEANS_POINTS_PER_CELL = 64
ADD_CHUNK = 200_000  # vectors per add_with_ids call while building (bounds peak memory)


@dataclass(frozen=True)
class PqParams:
    """Shape of an ``ivfpq`` index: IVF cells, 4-bit PQ sub-quantizers, candidates re-ranked."""

    lists: int
    subquantizers: int
    rerank: int

    def factory(self) -> str:
        return f"IVF{self.lists},PQ{self.subquantizers}x4fs"

    def training_points(self) -> int:
        return self.lists * KMEANS_POINTS_PER_CELL


CHECKSUM_MODULUS = 1 << 128
EMPTY_CHECKSUM = f"{0:032x}"


def row_hashes(ids: IdArray, vectors: FloatArray) -> list[int]:
    """A 128-bit hash of each (id, vector) row: sha256 over id (int64 LE) + vector (float32 LE)."""
    id_bytes = np.ascontiguousarray(ids, dtype="<i8")
    vector_bytes = np.ascontiguousarray(vectors, dtype="<f4")
    return [
        int.from_bytes(hashlib.sha256(i.tobytes() + v.tobytes()).digest()[:16], "little")
        for i, v in zip(id_bytes, vector_bytes, strict=True)
    ]


def vectors_checksum(ids: IdArray, vectors: FloatArray) -> str:
    """Order-independent checksum of a set of (id, vector) rows (sum of row hashes mod 2^128).

    Being a sum, it is updated in O(changed rows) when vectors are added or removed.
    """
    return f"{sum(row_hashes(ids, vectors)) % CHECKSUM_MODULUS:032x}"


def updated_checksum(
    checksum: str,
    *,
    added: tuple[IdArray, FloatArray] | None = None,
    removed: tuple[IdArray, FloatArray] | None = None,
) -> str:
    value = int(checksum, 16)
    if added is not None:
        value += sum(row_hashes(*added))
    if removed is not None:
        value -= sum(row_hashes(*removed))
    return f"{value % CHECKSUM_MODULUS:032x}"


def ivf_list_count(count: int) -> int:
    """IVF cells: ~4*sqrt(n), at least 1, never more than n/39 (FAISS' training minimum)."""
    return max(1, min(int(4 * math.sqrt(count)), count // 39))


class VectorIndex:
    """Inner-product search over unit vectors keyed by embedding id.

    ``flat`` is exact (IndexIDMap2 over IndexFlatIP); ``ivf`` is IVF-Flat with a hash-table
    direct map, chosen because it supports removing ids in place (erasure) and exact
    reconstruction (verification), which HNSW in FAISS does not. ``ivfpq`` (large galleries)
    is IVF with 4-bit fast-scan PQ codes in RAM and the exact vectors in an
    :class:`ExactStore` on disk: a search takes ``rerank`` PQ candidates and orders them by
    their exact similarity; removal and read-back go through the store too.
    """

    def __init__(
        self,
        index: Any,
        kind: IndexKind,
        dim: int,
        nprobe: int,
        *,
        store: ExactStore | None = None,
        rerank: int = 0,
    ) -> None:
        self.index = index
        self.kind: IndexKind = kind
        self.dim = dim
        self.nprobe = nprobe
        self.store = store
        self.rerank = rerank
        if kind != "flat":
            faiss.extract_index_ivf(index).nprobe = nprobe
        if kind == "ivfpq" and store is None:
            raise ValueError("an ivfpq index needs its exact store")

    @classmethod
    def build(
        cls,
        ids: IdArray,
        vectors: FloatArray,
        *,
        dim: int,
        approximate_min: int,
        nprobe: int,
        kind: IndexKind | None = None,
    ) -> VectorIndex:
        """A ``flat`` or ``ivf`` index (``kind``, or by ``approximate_min`` when not given)."""
        kind = kind or ("ivf" if len(ids) >= approximate_min else "flat")
        if kind == "ivfpq":
            raise ValueError("ivfpq indexes are built with build_pq")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if kind == "flat":
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        else:
            index = _trained_ivf(vectors, dim)
        vector_index = cls(index, kind, dim, nprobe)
        vector_index.add(ids, vectors)
        return vector_index

    @classmethod
    def build_pq(
        cls,
        sample: FloatArray,
        chunks: Iterable[tuple[IdArray, FloatArray]],
        *,
        dim: int,
        params: PqParams,
        nprobe: int,
        store_path: Path,
    ) -> VectorIndex:
        """Train IVF + PQ on ``sample`` (a random subset), then add ``chunks`` one at a time,
        so a 10M gallery never needs all its float32 vectors in memory at once."""
        index = faiss.index_factory(dim, params.factory(), faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.seed = KMEANS_SEED
        ivf.cp.max_points_per_centroid = KMEANS_POINTS_PER_CELL
        index.train(np.ascontiguousarray(sample, dtype=np.float32).reshape(-1, dim))
        store = ExactStore.create(store_path, dim)
        vector_index = cls(index, "ivfpq", dim, nprobe, store=store, rerank=params.rerank)
        for ids, vectors in chunks:
            for start in range(0, len(ids), ADD_CHUNK):
                end = start + ADD_CHUNK
                vector_index.add(ids[start:end], vectors[start:end])
        return vector_index

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: IdArray, vectors: FloatArray) -> None:
        if len(ids):
            vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
            ids = np.ascontiguousarray(ids, dtype=np.int64)
            self.index.add_with_ids(vectors, ids)
            if self.store is not None:
                self.store.append(ids, vectors)

    def remove(self, ids: IdArray) -> int:
        if not len(ids):
            return 0
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        removed = int(self.index.remove_ids(ids))
        if self.store is not None:
            self.store.erase(ids)
        return removed

    def ids(self) -> IdArray:
        """Every id the index holds, sorted."""
        if self.store is not None:
            return self.store.contents()[0]
        if self.kind == "flat":
            return np.sort(faiss.vector_to_array(self.index.id_map).astype(np.int64))
        invlists: Any = faiss.extract_index_ivf(self.index).invlists
        parts = [np.zeros(0, np.int64)]
        for cell in range(invlists.nlist):
            size = invlists.list_size(cell)
            if size:
                parts.append(faiss.rev_swig_ptr(invlists.get_ids(cell), size).astype(np.int64))
        return np.sort(np.concatenate(parts))

    def vectors_of(self, ids: IdArray) -> FloatArray:
        """The stored vectors of these ids (all must be in the index)."""
        if self.store is not None:
            return self.store.fetch(ids)
        rows = [self.index.reconstruct(int(i)) for i in ids]
        return np.asarray(rows, np.float32).reshape(-1, self.dim)

    def search(self, queries: FloatArray, k: int) -> tuple[FloatArray, IdArray]:
        k = max(1, min(k, self.count))
        if self.count == 0:
            n = len(queries)
            return np.full((n, 1), -np.inf, np.float32), np.full((n, 1), -1, np.int64)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.store is not None:
            return self._search_reranked(queries, k)
        sims, ids = self.index.search(queries, k)
        return sims, ids

    def _search_reranked(self, queries: FloatArray, k: int) -> tuple[FloatArray, IdArray]:
        """PQ candidates, re-ordered by their exact similarity from the store."""
        assert self.store is not None
        _, candidates = self.index.search(queries, max(k, self.rerank))
        sims = np.full((len(queries), k), -np.inf, np.float32)
        ids = np.full((len(queries), k), -1, np.int64)
        for row, (query, found) in enumerate(zip(queries, candidates, strict=True)):
            found = found[found >= 0]
            exact = self.store.fetch(found) @ query
            best = np.argsort(-exact, kind="stable")[:k]
            sims[row, : len(best)] = exact[best]
            ids[row, : len(best)] = found[best]
        return sims, ids

    def checksum(self) -> str:
        """:func:`vectors_checksum` of the contents (an ``ivfpq`` store is read in chunks)."""
        if self.store is None:
            return vectors_checksum(*self.contents())
        ids, checksum = self.ids(), EMPTY_CHECKSUM
        for start in range(0, len(ids), ADD_CHUNK):
            part = ids[start : start + ADD_CHUNK]
            checksum = updated_checksum(checksum, added=(part, self.store.fetch(part)))
        return checksum

    def contents(self) -> tuple[IdArray, FloatArray]:
        """Every (id, vector) in the index, read back from FAISS' own storage (or, for
        ``ivfpq``, from its exact store)."""
        if self.count == 0:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        if self.store is not None:
            return self.store.contents()
        if self.kind == "flat":
            ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
            vectors = self.index.index.reconstruct_n(0, self.count)
            return ids, np.asarray(vectors, np.float32).reshape(-1, self.dim)
        invlists: Any = faiss.extract_index_ivf(self.index).invlists
        id_parts, vector_parts = [], []
        for cell in range(invlists.nlist):
            size = invlists.list_size(cell)
            if size:
                id_parts.append(faiss.rev_swig_ptr(invlists.get_ids(cell), size).copy())
                codes = faiss.rev_swig_ptr(invlists.get_codes(cell), size * self.dim * 4)
                vector_parts.append(np.frombuffer(codes.copy(), np.float32).reshape(size, -1))
        if not id_parts:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        return np.concatenate(id_parts).astype(np.int64), np.concatenate(vector_parts)


def _trained_ivf(vectors: FloatArray, dim: int) -> Any:
    lists = ivf_list_count(len(vectors))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = KMEANS_SEED
    # k-means on a seeded sample of 64 points per cell: 3.5x faster at 1M vectors than
    # FAISS' default 256, for 0.3 points of rank-1 talent recall (docs/benchmarks.md).
    index.cp.max_points_per_centroid = KMEANS_POINTS_PER_CELL
    index.train(vectors)
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
    return index


# --- persistence ----------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexManifest:
    pack_name: str
    pack_version: str
    dim: int
    kind: str
    count: int
    revision: int
    vectors_checksum: str
    index_file: str
    index_file_sha256: str
    written_at: str
    store_file: str | None = None  # ivfpq: exact vectors (changed in place; see ExactStore)
    store_ids_file: str | None = None  # ivfpq: the store's row → id map


class IndexFiles:
    """The on-disk form of one pack's index in ``directory``."""

    def __init__(self, directory: Path, pack_name: str) -> None:
        self.directory = directory
        self.pack_name = pack_name
        self.manifest_path = directory / f"{pack_name}.manifest.json"

    def read_manifest(self) -> IndexManifest | None:
        try:
            raw = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            return IndexManifest(**raw)
        except (OSError, ValueError, TypeError):
            return None

    def save(
        self, index: VectorIndex, *, pack_version: str, revision: int, checksum: str
    ) -> IndexManifest:
        self.directory.mkdir(parents=True, exist_ok=True)
        index_name = f"{self.pack_name}.r{revision}.{uuid.uuid4().hex[:8]}.faiss"
        tmp = self.directory / f".{index_name}.tmp"
        faiss.write_index(index.index, str(tmp))
        fsync_file(tmp)
        replace_durably(tmp, self.directory / index_name)
        store_file, store_ids_file = self._save_store(index, index_name)
        manifest = IndexManifest(
            pack_name=self.pack_name,
            pack_version=pack_version,
            dim=index.dim,
            kind=index.kind,
            count=index.count,
            revision=revision,
            vectors_checksum=checksum,
            index_file=index_name,
            index_file_sha256=sha256_file(self.directory / index_name),
            written_at=datetime.now(UTC).isoformat(),
            store_file=store_file,
            store_ids_file=store_ids_file,
        )
        write_durably(self.manifest_path, json.dumps(asdict(manifest), indent=2).encode())
        self._remove_other_index_files(keep={index_name, store_file, store_ids_file})
        return manifest

    def new_store_path(self) -> Path:
        """Where a build writes its exact store: a fresh hidden name, so neither the served
        index's store nor a save of it (which deletes other stores) touches it."""
        return self.directory / f".{self.pack_name}.store.{uuid.uuid4().hex[:8]}.f32"

    def _save_store(self, index: VectorIndex, index_name: str) -> tuple[str | None, str | None]:
        if index.store is None:
            return None, None
        if index.store.path.name.startswith("."):  # first save of a new build: publish it
            published = self.directory / index.store.path.name[1:]
            rename_durably(index.store.path, published)
            index.store.path = published
        ids_name = f"{index_name}.ids.npy"
        index.store.save_ids(self.directory / ids_name)
        return index.store.path.name, ids_name

    def load(self, manifest: IndexManifest, *, nprobe: int, rerank: int = 0) -> VectorIndex:
        """Read the index the manifest names, after checking the file's sha256."""
        path = self.directory / manifest.index_file
        if sha256_file(path) != manifest.index_file_sha256:
            raise ValueError(f"{path.name} does not match its manifest checksum")
        index = faiss.read_index(str(path))
        kind: IndexKind = next((k for k in INDEX_KINDS if k == manifest.kind), "flat")
        if kind != "ivfpq":
            return VectorIndex(index, kind, manifest.dim, nprobe)
        if manifest.store_file is None or manifest.store_ids_file is None:
            raise ValueError("an ivfpq manifest must name its exact store")
        store = ExactStore.open(
            self.directory / manifest.store_file,
            self.directory / manifest.store_ids_file,
            manifest.dim,
        )
        return VectorIndex(index, kind, manifest.dim, nprobe, store=store, rerank=rerank)

    def _remove_other_index_files(self, *, keep: set[str | None]) -> None:
        for pattern in (f"{self.pack_name}.r*.faiss*", f"{self.pack_name}.store.*.f32"):
            for path in self.directory.glob(pattern):
                if path.name not in keep:
                    path.unlink(missing_ok=True)
        for path in self.directory.glob(f".{self.pack_name}.r*.tmp"):
            path.unlink(missing_ok=True)


def discard_index_files(directory: Path, pack_names: set[str]) -> None:
    """Delete these packs' persisted indexes (derived data; rebuilt from the database on use)."""
    for pack_name in pack_names:
        for path in [
            *directory.glob(f"{pack_name}.r*.faiss*"),
            *directory.glob(f"{pack_name}.store.*.f32"),
            directory / f"{pack_name}.manifest.json",
        ]:
            path.unlink(missing_ok=True)
