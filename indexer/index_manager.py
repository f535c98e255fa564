"""Keeps one pack's FAISS index in step with the database (the source of truth)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import faiss
import numpy as np
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from indexer.db import Database, Embedding, Talent, current_revision
from indexer.engine import PackInfo
from indexer.settings import IndexerSettings
from indexer.vector_index import (
    EMPTY_CHECKSUM,
    FloatArray,
    IdArray,
    IndexFiles,
    IndexManifest,
    PqParams,
    VectorIndex,
    updated_checksum,
    vectors_checksum,
)

log = logging.getLogger(__name__)
DB_CHUNK = 100_000  # embeddings read from the database per query while building


@dataclass(frozen=True)
class TalentRef:
    id: int
    name: str
    agency_id: int
    status: str


@dataclass(frozen=True)
class TalentHit:
    """A talent's best similarity to one query face (max over the talent's references)."""

    talent: TalentRef
    similarity: float
    embedding_id: int


@dataclass
class OpenReport:
    action: str  # loaded | rebuilt
    reason: str
    count: int
    kind: str


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    database_count: int
    index_count: int
    database_checksum: str
    index_checksum: str
    manifest_checksum: str | None
    problems: list[str] = field(default_factory=list)


@dataclass
class _Loaded:
    index: VectorIndex
    revision: int
    checksum: str
    embedding_ids: IdArray  # sorted
    talent_of_embedding: IdArray  # aligned with embedding_ids
    talents: dict[int, TalentRef]


class IndexManager:
    """Loads, rebuilds, updates, searches and verifies the index of one model pack."""

    def __init__(self, *, db: Database, pack: PackInfo, settings: IndexerSettings) -> None:
        self.db = db
        self.pack = pack
        self.settings = settings
        self.files = IndexFiles(settings.index_dir(), pack.name)
        faiss.omp_set_num_threads(settings.faiss_threads)  # process-wide; the setting's only use
        self._lock = threading.RLock()
        self._build_lock = threading.Lock()  # one build at a time; searches never wait on it
        self._loaded: _Loaded | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def open(self) -> OpenReport:
        """Load the persisted index if it is intact and holds exactly the database's vectors
        (the manifest's checksum and the file's own contents are both compared with the
        database's order-independent checksum). An index that is intact but only behind the
        database's revision is loaded and caught up (:meth:`catch_up`); anything else is
        rebuilt."""
        with self._lock:
            manifest = self.files.read_manifest()
            with self.db.session() as session:
                revision = current_revision(session, self.pack.name)
                problem = self._manifest_problem(manifest, revision)
                if problem is None:
                    database_sum, _ = self._database_checksum(session)
                fresh = manifest is None and not self._has_embeddings(session)
            if manifest is not None and self._only_behind(manifest, revision):
                problem = self._load_behind(manifest) or problem
                if self._loaded is not None:
                    index = self._loaded.index
                    return OpenReport("caught up", problem or "", index.count, index.kind)
            if manifest is not None and problem is None:
                problem = self._load_checked(manifest, revision, database_sum)
                if problem is None:
                    assert self._loaded is not None
                    index = self._loaded.index
                    return OpenReport(
                        "loaded", "index file matches database", index.count, index.kind
                    )
        if fresh:  # a new data dir: nothing to rebuild, only an empty index to write
            log.info("creating the empty %s index (no embeddings yet)", self.pack.name)
        else:
            log.warning("rebuilding %s index from the database: %s", self.pack.name, problem)
        loaded = self.rebuild()
        return OpenReport("rebuilt", problem or "", loaded.index.count, loaded.index.kind)

    def _only_behind(self, manifest: IndexManifest, revision: int) -> bool:
        """Whether the index is this pack's, intact by its manifest, at an older revision."""
        intact = self._manifest_problem(manifest, manifest.revision) is None
        return intact and manifest.revision < revision

    def _load_behind(self, manifest: IndexManifest) -> str | None:
        """Install an intact index saved at an older revision and apply the database's
        changes since; else say why not (and install nothing)."""
        self._loaded = None
        try:
            index = self.files.load(
                manifest, nprobe=self._nprobe(manifest.kind), rerank=self.settings.index_pq_rerank
            )
            if index.count != manifest.count or index.checksum() != manifest.vectors_checksum:
                return "index contents differ from its manifest"
            loaded = self._install(index, manifest.revision, manifest.vectors_checksum)
            self._catch_up_locked(loaded)
        except (KeyError, ValueError, RuntimeError, OSError) as exc:
            self._loaded = None
            return f"index file unreadable or corrupt ({exc})"
        return None

    def _load_checked(
        self, manifest: IndexManifest, revision: int, database_sum: str
    ) -> str | None:
        """Install the persisted index if it matches the database; else say why not."""
        if manifest.vectors_checksum != database_sum:
            return "the manifest's vector checksum differs from the database's"
        try:
            index = self.files.load(
                manifest, nprobe=self._nprobe(manifest.kind), rerank=self.settings.index_pq_rerank
            )
        except (ValueError, RuntimeError, OSError) as exc:
            return f"index file unreadable or corrupt ({exc})"
        if index.count != manifest.count or index.dim != self.pack.embedding_size:
            return "index contents differ from its manifest"
        if index.checksum() != database_sum:
            return "the index file's vectors differ from the database's"
        self._install(index, revision, database_sum)
        return None

    def _manifest_problem(self, manifest: IndexManifest | None, revision: int) -> str | None:
        if manifest is None:
            return "no index manifest on disk"
        if manifest.pack_name != self.pack.name or manifest.pack_version != self.pack.version:
            return (
                f"index was built for {manifest.pack_name}@{manifest.pack_version}, "
                f"not {self.pack.name}@{self.pack.version}"
            )
        if manifest.dim != self.pack.embedding_size:
            return f"index dimension {manifest.dim} != pack's {self.pack.embedding_size}"
        if manifest.revision != revision:
            return f"index is stale (revision {manifest.revision}, database {revision})"
        return None

    def rebuild(self) -> _Loaded:
        """Build the index from the database's embeddings and persist it atomically.

        The build (minutes for a large index) runs without the lock: searches go on against
        the index in memory until the new one is swapped in under the lock. Changes committed
        while it was built are then applied to it (:meth:`catch_up`) before it serves.
        """
        with self._build_lock:
            with self.db.session() as session:
                revision = current_revision(session, self.pack.name)
                index, checksum = self._build(session)
            with self._lock:
                self.files.save(
                    index, pack_version=self.pack.version, revision=revision, checksum=checksum
                )
                loaded = self._install(index, revision, checksum)
                log.info("%s index built: %s, %d vectors", self.pack.name, index.kind, index.count)
                return self._catch_up_locked(loaded)

    def rebuild_in_background(self) -> threading.Thread:
        """Start :meth:`rebuild` on a thread; the current index serves until the swap."""
        thread = threading.Thread(
            target=self.rebuild, name=f"index-build-{self.pack.name}", daemon=True
        )
        thread.start()
        return thread

    def _build(self, session: Session) -> tuple[VectorIndex, str]:
        count = self._embedding_count(session)
        kind = self.settings.index_kind_for(count)
        if kind == "ivfpq":
            return self._build_pq(session, count)
        ids, vectors, _ = self._embeddings_from_db(session)
        index = VectorIndex.build(
            ids,
            vectors,
            dim=self.pack.embedding_size,
            approximate_min=self.settings.index_approximate_min_vectors,
            nprobe=self._nprobe(kind),
            kind="ivf" if kind == "ivf" else "flat",
        )
        return index, vectors_checksum(ids, vectors)

    def _build_pq(self, session: Session, count: int) -> tuple[VectorIndex, str]:
        """IVF-PQ trained on a sample, filled chunk by chunk (never all vectors in RAM)."""
        settings = self.settings
        params = PqParams(
            settings.index_pq_lists, settings.index_pq_subquantizers, settings.index_pq_rerank
        )
        checksum = EMPTY_CHECKSUM

        def chunks() -> Iterator[tuple[IdArray, FloatArray]]:
            nonlocal checksum
            for ids, vectors, _ in self._embedding_chunks(session):
                checksum = updated_checksum(checksum, added=(ids, vectors))
                yield ids, vectors

        index = VectorIndex.build_pq(
            self._training_sample(session, params.training_points(), count),
            chunks(),
            dim=self.pack.embedding_size,
            params=params,
            nprobe=settings.index_pq_nprobe,
            store_path=self.files.new_store_path(),
        )
        return index, checksum

    def _nprobe(self, kind: str) -> int:
        if kind == "ivfpq":
            return self.settings.index_pq_nprobe
        return self.settings.index_ivf_nprobe

    def ensure_current(self) -> None:
        """Catch up with changes made by other processes (one cheap query when current)."""
        with self.db.session() as session:
            revision = current_revision(session, self.pack.name)
        if self._loaded is None:
            self.open()
        elif self._loaded.revision != revision:
            self.catch_up()

    def catch_up(self) -> None:
        """Apply what the database changed since the loaded index was made: the embeddings
        added and removed (by id), then save it at the database's revision. No rebuild, so a
        10M-vector index takes seconds, not a build; a failure falls back to :meth:`open`."""
        with self._lock:
            if self._loaded is None:
                self.open()
                return
            try:
                self._catch_up_locked(self._loaded)
            except (KeyError, RuntimeError, ValueError) as exc:
                log.warning("catching up %s failed (%s); reopening", self.pack.name, exc)
                self.open()

    def _catch_up_locked(self, loaded: _Loaded) -> _Loaded:
        with self.db.session() as session:
            revision = current_revision(session, self.pack.name)
            if revision == loaded.revision:
                return loaded
            db_ids = self._embedding_ids(session)
            index_ids = loaded.index.ids()
            added_ids = np.setdiff1d(db_ids, index_ids)
            added = (added_ids, self._vectors_by_id(session, added_ids))
        removed_ids = np.setdiff1d(index_ids, db_ids)
        removed = (removed_ids, loaded.index.vectors_of(removed_ids))
        log.info(
            "%s index: catching up r%d -> r%d (+%d, -%d)",
            self.pack.name,
            loaded.revision,
            revision,
            len(added_ids),
            len(removed_ids),
        )
        return self._apply_locked(loaded, revision, added, removed)

    # --- changes -----------------------------------------------------------------------------
    def apply_change(
        self,
        *,
        revision: int,
        added: tuple[IdArray, FloatArray] | None = None,
        removed: tuple[IdArray, FloatArray] | None = None,
    ) -> None:
        """Mirror a committed database change; catches up first if we were behind."""
        with self._lock:
            loaded = self._loaded
            if loaded is None:
                self.open()
                return
            if loaded.revision != revision - 1:
                self.catch_up()
                return
            self._apply_locked(loaded, revision, added, removed)

    def _apply_locked(
        self,
        loaded: _Loaded,
        revision: int,
        added: tuple[IdArray, FloatArray] | None,
        removed: tuple[IdArray, FloatArray] | None,
    ) -> _Loaded:
        checksum = loaded.checksum
        if removed is not None and len(removed[0]):
            loaded.index.remove(removed[0])
            checksum = updated_checksum(checksum, removed=removed)
        if added is not None and len(added[0]):
            loaded.index.add(*added)
            checksum = updated_checksum(checksum, added=added)
        index = loaded.index
        self.files.save(index, pack_version=self.pack.version, revision=revision, checksum=checksum)
        installed = self._install(index, revision, checksum)
        kind = self.settings.index_kind_for(index.count, index.kind)
        if kind == index.kind:
            return installed
        if "ivfpq" not in (kind, index.kind):
            return self.rebuild()  # flat <-> ivf: small enough to switch before the next search
        self.rebuild_in_background()  # a large build: the current index answers until the swap
        return installed

    # --- queries -----------------------------------------------------------------------------
    def search(self, queries: FloatArray, *, top_talents: int) -> list[list[TalentHit]]:
        """For each query vector, the best ``top_talents`` active talents, best first."""
        with self._lock:
            loaded = self._require_loaded()
            sims, ids = loaded.index.search(queries, self.settings.search_top_k)
            return [
                self._by_talent(loaded, row_sims, row_ids, top_talents)
                for row_sims, row_ids in zip(sims, ids, strict=True)
            ]

    def _by_talent(
        self, loaded: _Loaded, sims: FloatArray, ids: IdArray, top: int
    ) -> list[TalentHit]:
        best: dict[int, TalentHit] = {}
        valid = ids >= 0
        positions = np.searchsorted(loaded.embedding_ids, ids[valid])
        talent_ids = loaded.talent_of_embedding[
            np.minimum(positions, len(loaded.embedding_ids) - 1)
        ]
        for sim, emb_id, talent_id in zip(sims[valid], ids[valid], talent_ids, strict=True):
            talent = loaded.talents.get(int(talent_id))
            if talent is None or talent.status != "active" or int(talent_id) in best:
                continue  # results arrive best-first, so the first hit is the talent's max
            best[int(talent_id)] = TalentHit(talent, float(sim), int(emb_id))
        return sorted(best.values(), key=lambda hit: -hit.similarity)[:top]

    def stats(self) -> dict[str, object]:
        with self._lock:
            loaded = self._require_loaded()
            manifest = self.files.read_manifest()
            return {
                "pack": f"{self.pack.name}@{self.pack.version}",
                "kind": loaded.index.kind,
                "vectors": loaded.index.count,
                "talents": len(set(loaded.talent_of_embedding.tolist())),
                "dim": loaded.index.dim,
                "revision": loaded.revision,
                "checksum": loaded.checksum,
                "file": manifest.index_file if manifest else None,
            }

    def verify(self) -> VerifyReport:
        """Compare the index's own contents, bit for bit, with the database's embeddings."""
        with self._lock:
            loaded = self._require_loaded()
            with self.db.session() as session:
                db_sum, db_count = self._database_checksum(session)
                revision = current_revision(session, self.pack.name)
            index_sum = loaded.index.checksum()
            manifest = self.files.read_manifest()
            problems = []
            if db_sum != index_sum:
                problems.append("index vectors differ from the database's embeddings")
            if manifest is None or manifest.vectors_checksum != db_sum:
                problems.append("on-disk manifest checksum differs from the database")
            if manifest is None or manifest.revision != revision:
                problems.append("on-disk index is not at the database's revision")
            return VerifyReport(
                not problems,
                db_count,
                loaded.index.count,
                db_sum,
                index_sum,
                manifest.vectors_checksum if manifest else None,
                problems,
            )

    def _require_loaded(self) -> _Loaded:
        if self._loaded is None:
            self.open()
        assert self._loaded is not None
        return self._loaded

    # --- database ----------------------------------------------------------------------------
    def _embeddings_from_db(self, session: Session) -> tuple[IdArray, FloatArray, IdArray]:
        parts = list(self._embedding_chunks(session))
        if not parts:
            dim = self.pack.embedding_size
            return np.zeros(0, np.int64), np.zeros((0, dim), np.float32), np.zeros(0, np.int64)
        ids, vectors, talents = (np.concatenate(column) for column in zip(*parts, strict=True))
        return ids, vectors, talents

    def _database_checksum(self, session: Session) -> tuple[str, int]:
        """The checksum and count of this pack's embeddings, read chunk by chunk."""
        checksum, count = EMPTY_CHECKSUM, 0
        for ids, vectors, _ in self._embedding_chunks(session):
            checksum = updated_checksum(checksum, added=(ids, vectors))
            count += len(ids)
        return checksum, count

    def _embedding_chunks(
        self, session: Session, size: int = DB_CHUNK
    ) -> Iterator[tuple[IdArray, FloatArray, IdArray]]:
        """This pack's (ids, vectors, talent ids) in id order, ``size`` rows a query."""
        last = -1
        while True:
            rows = session.execute(
                select(Embedding.id, Embedding.talent_id, Embedding.vector)
                .where(*self._current_pack(), Embedding.id > last)
                .order_by(Embedding.id)
                .limit(size)
            ).all()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            talents = np.fromiter((r[1] for r in rows), np.int64, len(rows))
            yield ids, self._decode([r[2] for r in rows]), talents
            last = int(ids[-1])

    def _decode(self, blobs: list[bytes]) -> FloatArray:
        dim = self.pack.embedding_size
        vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(-1, dim)
        return vectors.astype(np.float32)

    def _embedding_count(self, session: Session) -> int:
        query = select(func.count()).select_from(Embedding).where(*self._current_pack())
        return int(session.scalar(query) or 0)

    def _embedding_ids(self, session: Session) -> IdArray:
        ids = session.scalars(select(Embedding.id).where(*self._current_pack())).all()
        return np.unique(np.asarray(ids, np.int64))

    def _vectors_by_id(self, session: Session, ids: IdArray) -> FloatArray:
        """The vectors of these ids, in the order given."""
        by_id: dict[int, bytes] = {}
        for start in range(0, len(ids), 500):  # bounded IN lists
            wanted = [int(i) for i in ids[start : start + 500]]
            rows = session.execute(
                select(Embedding.id, Embedding.vector).where(Embedding.id.in_(wanted))
            ).all()
            by_id.update((int(r[0]), r[1]) for r in rows)
        return self._decode([by_id[int(i)] for i in ids])

    def _training_sample(self, session: Session, points: int, count: int) -> FloatArray:
        """Every n-th embedding by id: a sample spread over the whole gallery's history."""
        stride = max(1, count // max(points, 1))
        blobs = session.scalars(
            select(Embedding.vector).where(*self._current_pack(), Embedding.id % stride == 0)
        ).all()
        return self._decode(list(blobs))

    def _has_embeddings(self, session: Session) -> bool:
        found = session.scalar(select(Embedding.id).where(*self._current_pack()).limit(1))
        return found is not None

    def _current_pack(self) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        """Only this pack *version*'s vectors belong in its index (a new version re-embeds)."""
        return (Embedding.pack_name == self.pack.name, Embedding.pack_version == self.pack.version)

    def stale_embeddings(self) -> int:
        """Embeddings of this pack made by another version of it (need `index migrate`)."""
        with self.db.session() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(Embedding)
                    .where(
                        Embedding.pack_name == self.pack.name,
                        Embedding.pack_version != self.pack.version,
                    )
                )
                or 0
            )

    def _install(self, index: VectorIndex, revision: int, checksum: str) -> _Loaded:
        with self.db.session() as session:
            rows = session.execute(
                select(Embedding.id, Embedding.talent_id)
                .where(*self._current_pack())
                .order_by(Embedding.id)
            ).all()
            ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            talent_ids = np.fromiter((r[1] for r in rows), np.int64, len(rows))
            talents = {
                t.id: TalentRef(t.id, t.name, t.agency_id, t.status)
                for t in session.scalars(select(Talent))
            }
        self._loaded = _Loaded(index, revision, checksum, ids, talent_ids, talents)
        return self._loaded
