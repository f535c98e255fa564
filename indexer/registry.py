"""The talent registry: agencies, talents, reference photos and their embeddings.

Every change commits to the database first (the source of truth, with the pack's index
revision bumped in the same transaction), then is mirrored into the FAISS index.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indexer.db import (
    Agency,
    Database,
    Embedding,
    ReferenceImage,
    Talent,
    bump_revisions,
    current_revision,
)
from indexer.engine import FaceAnalyser
from indexer.errors import (
    AgencyNotFoundError,
    AmbiguousTalentError,
    ConflictError,
    ExternalIdTakenError,
    TalentNotFoundError,
    TwinwatchError,
    close_match,
)
from indexer.imaging import DecodeLimits, open_photo
from indexer.index_manager import IndexManager
from indexer.photos import PhotoStore
from indexer.quality import QualityFigures, Refusal, assess_reference
from indexer.settings import IndexerSettings
from indexer.vector_index import FloatArray, IdArray, discard_index_files

log = logging.getLogger(__name__)

EraseHook = Callable[[Session, int], None]


def name_from_folder(folder: Path) -> str:
    """A talent's name from the folder named after them: underscores are spaces
    ("Norah_Jones" is "Norah Jones"), runs of spaces one space. The one rule for every
    name taken from a folder."""
    return " ".join(folder.name.replace("_", " ").split())


@dataclass(frozen=True)
class PhotoInput:
    label: str  # file name or upload name, used in reports only
    data: bytes


@dataclass(frozen=True)
class EnrolOutcome:
    label: str
    accepted: bool
    reasons: list[str]
    reference_id: int | None = None
    already_enrolled: bool = False
    figures: QualityFigures | None = None
    refusals: tuple[Refusal, ...] = ()  # the quality gate's, when it refused the photo


@dataclass(frozen=True)
class TalentSummary:
    id: int
    name: str
    agency: str
    agency_id: int
    external_id: str | None
    status: str
    references: int
    embeddings: int


@dataclass(frozen=True)
class ReferenceInfo:
    id: int
    sha256: str
    width: int
    height: int
    face_box: tuple[float, float, float, float]
    detection_score: float
    face_px: float
    blur: float
    stored: bool
    created_at: str


@dataclass(frozen=True)
class EraseReport:
    talent_id: int
    references_removed: int
    embeddings_removed: int


@dataclass
class _Prepared:
    outcome_index: int
    sha256: str
    data: bytes
    figures: QualityFigures
    box: tuple[float, float, float, float]
    vector: FloatArray
    width: int
    height: int


@dataclass
class Registry:
    db: Database
    analyser: FaceAnalyser
    index: IndexManager
    photos: PhotoStore
    settings: IndexerSettings
    erase_hooks: list[EraseHook] = field(default_factory=list)
    other_talent_stores: list[PhotoStore] = field(default_factory=list)

    # --- agencies and talents ----------------------------------------------------------------
    def ensure_agency(self, *, name: str) -> Agency:
        """Find or create (demo fixtures and tests; operators use `agencies create`)."""
        with self.db.session() as session:
            agency = session.scalar(select(Agency).where(Agency.name == name))
            if agency is None:
                agency = Agency(name=name)
                session.add(agency)
                session.flush()
            return agency

    def find_agency(self, *, name: str) -> Agency:
        """The agency of this exact name; agencies are never created as a side effect (a
        typo would make a new one): `twinwatch agencies create NAME` does that."""
        with self.db.session() as session:
            agency = session.scalar(select(Agency).where(Agency.name == name))
            if agency is None:
                close = close_match(name, list(session.scalars(select(Agency.name))))
                hint = f" Did you mean {close!r}?" if close else ""
                raise AgencyNotFoundError(
                    f"No agency named {name!r}.{hint} Create it first with `twinwatch "
                    f"agencies create {shlex.quote(name)}`.",
                    name=name,
                    suggestion=close,
                )
            return agency

    def create_talent(self, *, agency_id: int, name: str, external_id: str | None = None) -> Talent:
        """A new talent. Names are not identities (two people may share one); the agency's
        ``external_id`` is: a second talent with the same one is refused, naming the first."""
        try:
            with self.db.session() as session:
                if session.get(Agency, agency_id) is None:
                    raise AgencyNotFoundError(f"No agency with id {agency_id}.")
                if external_id is not None:
                    _refuse_taken_external_id(session, agency_id, external_id)
                talent = Talent(agency_id=agency_id, name=name, external_id=external_id)
                session.add(talent)
                session.flush()
                return talent
        except IntegrityError:  # a concurrent create took the external id first
            with self.db.session() as session:
                _refuse_taken_external_id(session, agency_id, external_id or "")
            raise

    def ensure_talent(
        self, *, agency_id: int, name: str, external_id: str | None = None
    ) -> tuple[Talent, bool]:
        """For idempotent imports: the talent with this ``external_id`` (or, without one,
        the only talent with this name), created if missing; (talent, created). Several
        talents sharing the name are ambiguous, never silently picked."""
        with self.db.session() as session:
            query = select(Talent).where(Talent.agency_id == agency_id)
            query = (
                query.where(Talent.external_id == external_id)
                if external_id
                else (query.where(Talent.name == name))
            )
            found = list(session.scalars(query.order_by(Talent.id)))
        if len(found) > 1:
            raise AmbiguousTalentError(
                f"{len(found)} talents in this agency are named {name!r} (ids "
                f"{', '.join(str(t.id) for t in found)}); tell them apart by external id.",
                talent_ids=[t.id for t in found],
            )
        if found:
            return found[0], False
        return self.create_talent(agency_id=agency_id, name=name, external_id=external_id), True

    def get_talent(self, *, talent_id: int, agency_id: int | None = None) -> TalentSummary:
        summaries = self.list_talents(agency_id=agency_id, talent_id=talent_id)
        if not summaries:
            raise TalentNotFoundError(f"No talent with id {talent_id}.")
        return summaries[0]

    def list_talents(
        self,
        *,
        agency_id: int | None = None,
        talent_id: int | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[TalentSummary]:
        references = (
            select(ReferenceImage.talent_id, func.count().label("n"))
            .group_by(ReferenceImage.talent_id)
            .subquery()
        )
        embeddings = (
            select(Embedding.talent_id, func.count().label("n"))
            .where(
                Embedding.pack_name == self.analyser.pack.name,
                Embedding.pack_version == self.analyser.pack.version,
            )
            .group_by(Embedding.talent_id)
            .subquery()
        )
        query = (
            select(Talent, Agency.name, references.c.n, embeddings.c.n)
            .join(Agency, Agency.id == Talent.agency_id)
            .outerjoin(references, references.c.talent_id == Talent.id)
            .outerjoin(embeddings, embeddings.c.talent_id == Talent.id)
            .order_by(Talent.id)
            .offset(offset)
            .limit(limit)
        )
        if agency_id is not None:
            query = query.where(Talent.agency_id == agency_id)
        if talent_id is not None:
            query = query.where(Talent.id == talent_id)
        with self.db.session() as session:
            return [
                TalentSummary(
                    t.id, t.name, agency, t.agency_id, t.external_id, t.status, refs or 0, embs or 0
                )
                for t, agency, refs, embs in session.execute(query)
            ]

    def references(self, *, talent_id: int) -> list[ReferenceInfo]:
        """A talent's reference photos: hash, size, face box and quality figures."""
        with self.db.session() as session:
            self._talent(session, talent_id)
            rows = session.scalars(
                select(ReferenceImage)
                .where(ReferenceImage.talent_id == talent_id)
                .order_by(ReferenceImage.id)
            )
            return [
                ReferenceInfo(
                    r.id,
                    r.sha256,
                    r.width,
                    r.height,
                    (r.face_x1, r.face_y1, r.face_x2, r.face_y2),
                    r.detection_score,
                    r.face_px,
                    r.blur,
                    r.stored_path is not None,
                    r.created_at.isoformat(),
                )
                for r in rows
            ]

    def count_talents(self, *, agency_id: int | None = None) -> int:
        query = select(func.count()).select_from(Talent)
        if agency_id is not None:
            query = query.where(Talent.agency_id == agency_id)
        with self.db.session() as session:
            return int(session.scalar(query) or 0)

    def set_status(self, *, talent_id: int, status: str) -> None:
        if status not in ("active", "paused"):
            raise ConflictError(f"Unknown talent status {status!r} (use active or paused).")
        with self.db.session() as session:
            talent = self._talent(session, talent_id)
            talent.status = status
            packs = set(
                session.scalars(
                    select(Embedding.pack_name).distinct().where(Embedding.talent_id == talent_id)
                )
            )
            bump_revisions(session, packs | {self.analyser.pack.name})
        self.index.ensure_current()

    # --- reference photos --------------------------------------------------------------------
    def enrol_photos(self, *, talent_id: int, photos: list[PhotoInput]) -> list[EnrolOutcome]:
        """Run each photo through the quality gate and store the accepted ones (idempotent)."""
        with self.db.session() as session:
            self._talent(session, talent_id)
            known = set(
                session.scalars(
                    select(ReferenceImage.sha256).where(ReferenceImage.talent_id == talent_id)
                )
            )
        outcomes: list[EnrolOutcome] = []
        prepared: list[_Prepared] = []
        for photo in photos:
            outcome, ready = self._assess(photo, known, len(outcomes))
            outcomes.append(outcome)
            if ready is not None:
                prepared.append(ready)
                known.add(ready.sha256)
        if prepared:
            for ready, reference_id in zip(prepared, self._store(talent_id, prepared), strict=True):
                outcomes[ready.outcome_index] = EnrolOutcome(
                    outcomes[ready.outcome_index].label,
                    True,
                    [],
                    reference_id,
                    figures=ready.figures,
                )
        return outcomes

    def _assess(
        self, photo: PhotoInput, known: set[str], position: int
    ) -> tuple[EnrolOutcome, _Prepared | None]:
        try:
            image = open_photo(photo.data, limits=DecodeLimits.of(self.settings))
        except TwinwatchError as exc:
            return EnrolOutcome(photo.label, False, [exc.message]), None
        if image.sha256 in known:
            return EnrolOutcome(photo.label, True, [], already_enrolled=True), None
        try:
            faces = self.analyser.analyse(image, keep_aligned=True)
        except TwinwatchError as exc:
            return EnrolOutcome(photo.label, False, [exc.message]), None
        verdict = assess_reference(
            faces,
            min_face_px=self.settings.quality_min_face_px,
            min_detection_score=self.settings.quality_min_detection_score,
            min_blur=self.settings.quality_min_blur,
            dominance_ratio=self.settings.quality_dominance_ratio,
        )
        if not verdict.accepted or verdict.face is None or verdict.figures is None:
            return EnrolOutcome(
                photo.label,
                False,
                verdict.reasons,
                figures=verdict.figures,
                refusals=tuple(verdict.refusals),
            ), None
        return EnrolOutcome(photo.label, False, ["pending"]), _Prepared(
            position,
            image.sha256,
            photo.data,
            verdict.figures,
            verdict.face.box,
            verdict.face.embedding,
            image.width,
            image.height,
        )

    def _store(self, talent_id: int, prepared: list[_Prepared]) -> list[int]:
        pack = self.analyser.pack
        stored = [
            self.photos.save(talent_id=talent_id, name=p.sha256, data=p.data)
            if self.settings.keep_reference_photos
            else None
            for p in prepared
        ]
        try:
            with self.db.session() as session:
                references, embeddings = [], []
                for ready, path in zip(prepared, stored, strict=True):
                    reference = _reference_row(talent_id, ready, path)
                    session.add(reference)
                    session.flush()
                    embedding = Embedding(
                        reference_image_id=reference.id,
                        talent_id=talent_id,
                        pack_name=pack.name,
                        pack_version=pack.version,
                        dim=pack.embedding_size,
                        vector=_vector_bytes(ready.vector),
                    )
                    session.add(embedding)
                    references.append(reference)
                    embeddings.append(embedding)
                session.flush()
                bump_revisions(session, {pack.name})
                session.flush()
                revision = current_revision(session, pack.name)
        except Exception:
            for path in stored:
                if path is not None:
                    self.photos.remove(path)
            raise
        ids = np.asarray([e.id for e in embeddings], np.int64)
        vectors = np.stack([p.vector for p in prepared]).astype(np.float32)
        self.index.apply_change(revision=revision, added=(ids, vectors))
        return [r.id for r in references]

    def remove_reference(self, *, talent_id: int, reference_id: int) -> None:
        with self.db.session() as session:
            reference = session.get(ReferenceImage, reference_id)
            if reference is None or reference.talent_id != talent_id:
                raise TalentNotFoundError(f"Talent {talent_id} has no reference {reference_id}.")
            removed = self._embeddings_of(session, ReferenceImage.id == reference_id)
            packs = set(
                session.scalars(
                    select(Embedding.pack_name)
                    .distinct()
                    .where(Embedding.reference_image_id == reference_id)
                )
            )
            stored_path = reference.stored_path
            session.delete(reference)
            bump_revisions(session, packs | {self.analyser.pack.name})
            session.flush()
            revision = current_revision(session, self.analyser.pack.name)
        self.index.apply_change(revision=revision, removed=removed)
        discard_index_files(self.settings.index_dir(), packs - {self.analyser.pack.name})
        if stored_path:
            self.photos.remove(stored_path)

    # --- erasure -----------------------------------------------------------------------------
    def erase_talent(self, *, talent_id: int) -> EraseReport:
        """Remove every trace of a talent: rows, vectors, kept photos. Crash-safe."""
        stores = [self.photos, *self.other_talent_stores]
        moved = [store.begin_erase(talent_id) for store in stores]
        try:
            with self.db.session() as session:
                talent = self._talent(session, talent_id)
                removed = self._embeddings_of(session, ReferenceImage.talent_id == talent_id)
                packs = set(
                    session.scalars(
                        select(Embedding.pack_name)
                        .distinct()
                        .where(Embedding.talent_id == talent_id)
                    )
                )
                references = (
                    session.scalar(
                        select(func.count())
                        .select_from(ReferenceImage)
                        .where(ReferenceImage.talent_id == talent_id)
                    )
                    or 0
                )
                embeddings = (
                    session.scalar(
                        select(func.count())
                        .select_from(Embedding)
                        .where(Embedding.talent_id == talent_id)
                    )
                    or 0
                )
                for hook in self.erase_hooks:
                    hook(session, talent_id)
                session.delete(talent)
                bump_revisions(session, packs | {self.analyser.pack.name})
                session.flush()
                revision = current_revision(session, self.analyser.pack.name)
        except BaseException:
            for store, moved_folder in zip(stores, moved, strict=True):
                store.undo_erase(moved_folder, talent_id)
            raise
        self.index.apply_change(revision=revision, removed=removed)
        discard_index_files(self.settings.index_dir(), packs - {self.analyser.pack.name})
        for store, pending in zip(stores, moved, strict=True):
            store.finish_erase(pending)
        self.db.forget_deleted()
        log.info(
            "erased talent %d: %d references, %d embeddings", talent_id, references, embeddings
        )
        return EraseReport(talent_id, references, embeddings)

    # --- start-up -----------------------------------------------------------------------------
    def recover(self) -> None:
        """Finish or undo anything a crash interrupted, then open the index."""
        with self.db.session() as session:
            talent_ids = set(session.scalars(select(Talent.id)))
            stored = set(
                session.scalars(
                    select(ReferenceImage.stored_path).where(
                        ReferenceImage.stored_path.is_not(None)
                    )
                )
            )
        self.photos.reconcile(talent_ids=talent_ids, stored_paths={p for p in stored if p})
        report = self.index.open()
        log.info(
            "index %s (%s): %d vectors, %s", report.action, report.reason, report.count, report.kind
        )
        stale = self.index.stale_embeddings()
        if stale:
            pack = self.analyser.pack
            log.warning(
                "%d reference photos were embedded by another version of %s and are "
                "not searched; run `twinwatch index migrate --pack %s` to re-embed "
                "them with %s",
                stale,
                pack.name,
                pack.name,
                pack.version,
            )

    # --- helpers -----------------------------------------------------------------------------
    def _embeddings_of(self, session: Session, condition: object) -> tuple[IdArray, FloatArray]:
        rows = session.execute(
            select(Embedding.id, Embedding.vector)
            .join(ReferenceImage, ReferenceImage.id == Embedding.reference_image_id)
            .where(
                condition,  # type: ignore[arg-type]
                Embedding.pack_name == self.analyser.pack.name,
                Embedding.pack_version == self.analyser.pack.version,
            )
            .order_by(Embedding.id)
        ).all()
        ids = np.asarray([r[0] for r in rows], np.int64)
        vectors = np.frombuffer(b"".join(r[1] for r in rows), "<f4").astype(np.float32)
        return ids, vectors.reshape(len(rows), self.analyser.pack.embedding_size)

    @staticmethod
    def _talent(session: Session, talent_id: int) -> Talent:
        talent = session.get(Talent, talent_id)
        if talent is None:
            raise TalentNotFoundError(f"No talent with id {talent_id}.")
        return talent


def _refuse_taken_external_id(session: Session, agency_id: int, external_id: str) -> None:
    taken = session.scalar(
        select(Talent.id).where(Talent.agency_id == agency_id, Talent.external_id == external_id)
    )
    if taken is not None:
        raise ExternalIdTakenError(
            f"External id {external_id!r} already belongs to talent {taken} in this agency.",
            existing_id=taken,
            external_id=external_id,
        )


def _vector_bytes(vector: FloatArray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def _reference_row(talent_id: int, ready: _Prepared, stored_path: str | None) -> ReferenceImage:
    x1, y1, x2, y2 = ready.box
    return ReferenceImage(
        talent_id=talent_id,
        sha256=ready.sha256,
        width=ready.width,
        height=ready.height,
        face_x1=x1,
        face_y1=y1,
        face_x2=x2,
        face_y2=y2,
        detection_score=ready.figures.detection_score,
        face_px=ready.figures.face_px,
        blur=ready.figures.blur,
        stored_path=stored_path,
    )
