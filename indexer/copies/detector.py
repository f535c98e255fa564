"""One scanned image against the portfolio index: features, candidates, verification, and
whether the original's face, where it landed, is still the talent's.

The index is derived from the database (the portfolio rows) and the features kept beside
each portfolio original (:mod:`indexer.copies.sidecar`, written at registration), like the
face index from the embeddings: the portfolio's revision row is read on every query and the
index catches up (new images' features read and added, removed ones dropped). An image whose
kept features are missing, of another features version or unreadable (one registered
before they were kept) is extracted from its original again, and its features rewritten.
Processes start the build on a thread (:meth:`CopyDetector.build_in_background`); a scan that
arrives meanwhile waits for it. The build starts from the index kept on this machine's disk
when there is one (:mod:`indexer.copies.kept_index`: loaded in seconds, then caught up), and
keeps the index it built there. With no portfolio image registered a query costs that one
read and nothing else.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
from sqlalchemy import select

from indexer.boxes import Box
from indexer.copies.features import (
    PORTFOLIO_LIMITS,
    QUERY_LIMITS,
    FeatureLimits,
    Features,
    U8Array,
    extract,
    keypoints,
    mirrored,
    to_gray,
)
from indexer.copies.index import (
    Candidate,
    DescriptorIndex,
    IndexedImage,
    Neighbours,
    SearchTimings,
)
from indexer.copies.kept_index import KeptCopyIndex
from indexer.copies.store import PortfolioStore
from indexer.copies.tables import PORTFOLIO_REVISION, PortfolioImage
from indexer.copies.verify import Placement, VerifyRules, verify
from indexer.db import Database, Talent, current_revision
from indexer.engine import Face, FaceAnalyser
from indexer.errors import TwinwatchError
from indexer.imaging import FacePhoto, open_photo

log = logging.getLogger(__name__)

#: A face where the original's face landed with a cosine under this to the original's face
#: is someone else's (untouched copies measured >= 0.84, pasted faces <= 0.37).
REPLACED_BELOW = 0.55
FACE_CACHE = 1024  # original faces' embeddings kept in memory
ADD_BATCH = 2_000  # portfolio images read before they are added to the index
LOAD_THREADS = 8  # portfolio images read at once while the index is built (blob latency)
EXTRACT_THREADS = 2  # of those, originals decoded and extracted at once (memory, CPU)
#: After a change to the portfolio, the index is kept on disk again this much later (a burst
#: of changes is one save: ~1.5 s and 745 MiB written at 10,000 images).
KEEP_AFTER_S = 600.0
# A decoded view this long (px, longer side) or longer is reused for the query's features:
# the face detector's view is at least 640 / 1.3 = 492 px (its working size over its
# padding), so a scan decodes nothing more for copy detection.
QUERY_MIN_VIEW = 480
# The two-stage search (:meth:`CopyDetector._placements`, :class:`StagedQuery`). A query
# under COARSE_FROM samples every 3rd of its keypoints (10k, bench.copies: the same edits
# found as one search of all of them, 1.9 instead of 5.8 ms of FAISS; every 2nd: 2.8 ms);
# a slot needs 4 votes from the sample for the scan to be searched further.
SAMPLE_STRIDE = 3
SAMPLE_GATE = 4
# A query this long (px, its grey view) or longer is sampled by a coarse extraction of its
# own, and a copy that sample leaves open is searched whole at 640 px. 10k (bench.copies):
# 335 of 341 edits (every 3rd of the 640 px keypoints as the sample: 333), copy detection
# 7.9 ms inside a scene photo's scan (7.9-8.8); 150 coarse keypoints lost 10 captioned
# copies (the caption takes a grid cell's share of a small budget).
COARSE_FROM = 400
SAMPLE_DENSITY_FACTOR = 2.0  # see CopyLimits.sample_rules
COARSE_LIMITS = FeatureLimits(side=400, keypoints=200, levels=6)


@dataclass(frozen=True)
class CopyLimits:
    candidates: int = 5  # slots verified per query
    min_votes: int = 10  # matched descriptors before a slot is verified
    rules: VerifyRules = field(default_factory=VerifyRules)

    @property
    def sample_rules(self) -> VerifyRules:
        """A copy is taken on the sample alone only at twice the inlier density the rules
        ask of a whole query: the density floor was measured on whole queries, and a
        sample's coarser keypoints match more densely (another photo of one shoot,
        scenes/Jack img16 vs img17: density 0.065 on the coarse sample, 0.036 on the whole
        query, under the 0.05 floor; the portfolio originals scanned as they are: 0.15-0.48
        on the sample). Anything less is decided on the whole query."""
        return replace(self.rules, min_density=SAMPLE_DENSITY_FACTOR * self.rules.min_density)


@dataclass(frozen=True)
class DerivedFinding:
    """A scanned image derived from a portfolio image."""

    placement: Placement
    portfolio_image_id: int
    portfolio_name: str
    talent_id: int
    talent_name: str
    agency_id: int
    face_similarity: float | None  # the face where hers landed vs. hers in the original
    face_replaced: bool


@dataclass(frozen=True)
class _Row:
    image_id: int
    talent_id: int
    talent_name: str
    agency_id: int
    name: str
    stored_path: str
    face_box: Box | None


@dataclass
class CopyTimings:
    """Thread CPU seconds per stage of :meth:`CopyDetector.find` (summed over calls)."""

    extract_s: float = 0.0  # grey view, ORB
    search_s: float = 0.0  # FAISS
    vote_s: float = 0.0  # neighbours to candidate slots
    verify_s: float = 0.0  # RANSAC and the subject rules
    gated: int = 0  # queries whose sample drew too few votes to search on
    sample_verified: int = 0  # queries verified on their sample alone


class CopyDetector:
    def __init__(
        self,
        *,
        db: Database,
        store: PortfolioStore,
        analyser: FaceAnalyser,
        limits: CopyLimits | None = None,
        kept: KeptCopyIndex | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.analyser = analyser
        self.limits = limits or CopyLimits()
        self.kept = kept
        self.index = DescriptorIndex()
        self._rows: dict[int, _Row] = {}
        self._revision = 0
        self._kept_tried = False  # the first catch-up starts from the kept index, if any
        self._unkept = False  # the index changed since it was last kept
        self._keep_timer: threading.Timer | None = None  # a keep() due after a change
        self._lock = threading.Lock()
        self._extracting = threading.BoundedSemaphore(EXTRACT_THREADS)
        self._built = threading.Event()  # caught up once (the start-up build is done)
        self._faces: OrderedDict[int, np.ndarray | None] = OrderedDict()

    # --- keeping up with the database ------------------------------------------------------
    def ensure_current(self) -> bool:
        """Catch up with the portfolio rows; False when no portfolio image is registered."""
        with self.db.session() as session:
            revision = current_revision(session, PORTFOLIO_REVISION)
        if revision != self._revision:
            with self._lock:
                if revision != self._revision:
                    self._catch_up(revision)
        self._built.set()
        return bool(self._rows)

    @property
    def built(self) -> bool:
        """Whether the index has caught up once (False while the start-up build runs)."""
        return self._built.is_set()

    def _catch_up(self, revision: int) -> None:
        try:
            self._catch_up_to(revision)
        except BaseException:  # half-added (e.g. out of memory): start from nothing next time
            self.index = DescriptorIndex()
            self._rows.clear()
            self._faces.clear()
            self._revision = -1
            self._unkept = False
            raise

    def _catch_up_to(self, revision: int) -> None:
        rows = self._read_rows()
        if not self._kept_tried:
            self._kept_tried = True
            self._start_from_kept(rows)
        gone = [i for i, row in self._rows.items() if _changed(row, rows.get(i))]
        for image_id in gone:
            self.index.remove_image(image_id)
            self._rows.pop(image_id)
            self._faces.pop(image_id, None)
        if gone:
            self._forget_kept()
        new = [rows[i] for i in sorted(set(rows) - set(self._rows))]
        self._add_all(new)
        self._unkept = self._unkept or bool(gone or new)
        if self._unkept and self._built.is_set():
            self._keep_later()
        self._revision = revision
        log.info("portfolio index at revision %d: %d images", revision, len(self._rows))

    def _start_from_kept(self, rows: dict[int, _Row]) -> None:
        """Install the index kept on disk, keeping only the images the database still holds
        from the same stored file (the caller adds what is new)."""
        loaded = self.kept.load() if self.kept is not None else None
        if loaded is None:
            return
        self.index = loaded.index
        stale = False
        for image_id in self.index.image_ids() | set(loaded.stored_paths):
            row = rows.get(image_id)
            if row is not None and row.stored_path == loaded.stored_paths.get(image_id):
                self._rows[image_id] = row
            else:  # removed or erased since it was kept
                self.index.remove_image(image_id)
                stale = True
        if stale:
            self._forget_kept()
        log.info("portfolio index loaded from disk: %d images", len(self._rows))

    def _forget_kept(self) -> None:
        """The kept files hold an image that has left the portfolio: delete them now."""
        if self.kept is not None:
            self.kept.delete()
            self._unkept = True

    def _keep_later(self) -> None:
        """Keep the index :data:`KEEP_AFTER_S` after a change (one save for a burst of
        them), so a process killed later still leaves a recent index behind."""
        if self.kept is None or self._keep_timer is not None:
            return
        self._keep_timer = threading.Timer(KEEP_AFTER_S, self._keep_when_due)
        self._keep_timer.name = "copy-index-keep"
        self._keep_timer.daemon = True
        self._keep_timer.start()

    def _keep_when_due(self) -> None:
        self._keep_timer = None
        self.keep()

    def close(self) -> None:
        """At shutdown: no save left pending, the index kept as it is now."""
        timer, self._keep_timer = self._keep_timer, None
        if timer is not None:
            timer.cancel()
        self.keep()

    def keep(self) -> None:
        """Keep the index on this machine's disk if it changed since it was last kept: first
        caught up with the database, and deleted again if the portfolio changed while it
        was written. Called after the start-up build and at shutdown; never raises."""
        if self.kept is None or not self.built:
            return
        try:
            self.ensure_current()
            with self._lock:
                if not self._unkept:
                    return
                revision = self._revision
                held = {image_id: row.stored_path for image_id, row in self._rows.items()}
                if held:
                    self.kept.save(self.index, held)
                else:
                    self.kept.delete()
                self._unkept = False
            with self.db.session() as session:
                if current_revision(session, PORTFOLIO_REVISION) != revision:
                    self._forget_kept()
        except Exception:  # derived data: the next start builds it instead
            log.warning("portfolio index not kept on disk", exc_info=True)

    def _read_rows(self) -> dict[int, _Row]:
        with self.db.session() as session:
            found = session.execute(
                select(PortfolioImage, Talent.name, Talent.agency_id).join(
                    Talent, Talent.id == PortfolioImage.talent_id
                )
            ).all()
            return {
                image.id: _Row(
                    image.id,
                    image.talent_id,
                    name,
                    agency_id,
                    image.name,
                    image.stored_path,
                    image.face_box,
                )
                for image, name, agency_id in found
            }

    def _add_all(self, rows: list[_Row]) -> None:
        """Index these images (both orientations), in batches: their kept features read (or
        extracted again) on a few threads, added to the index on this one."""
        if not rows:
            return
        with ThreadPoolExecutor(LOAD_THREADS, thread_name_prefix="portfolio-load") as pool:
            for start in range(0, len(rows), ADD_BATCH):
                chunk = rows[start : start + ADD_BATCH]
                batch: list[tuple[IndexedImage, Features]] = []
                for row, entries in zip(chunk, pool.map(self._entries, chunk), strict=True):
                    if entries:
                        self._rows[row.image_id] = row
                        batch.extend(entries)
                self.index.add_many(batch)

    def _entries(self, row: _Row) -> list[tuple[IndexedImage, Features]]:
        """The image's two index entries (none if it cannot be read); thread-safe."""
        features = self._features(row)
        if features is None:
            return []
        original, flipped = features
        width, height = original.width, original.height
        return [
            (
                IndexedImage(
                    row.image_id, row.talent_id, False, original.points, width, height, row.face_box
                ),
                original,
            ),
            (
                IndexedImage(
                    row.image_id,
                    row.talent_id,
                    True,
                    flipped.points,
                    width,
                    height,
                    _flip(row.face_box, width),
                ),
                flipped,
            ),
        ]

    def _features(self, row: _Row) -> tuple[Features, Features] | None:
        """The features kept beside the original; else extracted from it (and kept)."""
        kept = self.store.read_features(row.stored_path)
        if kept is not None:
            return kept
        try:
            with self._extracting:
                features = portfolio_features(open_photo(self.store.read(row.stored_path)))
        except (OSError, TwinwatchError) as exc:
            log.warning("portfolio image %d not indexed: %s", row.image_id, exc)
            return None
        self.store.refresh_features(row.stored_path, features)
        return features

    def build_in_background(self) -> threading.Thread:
        """Catch up on a thread (start-up), so that the first scan does not pay for the
        build; a scan that arrives meanwhile waits for it (:meth:`ensure_current`)."""
        thread = threading.Thread(target=self._build, name="copy-index-build", daemon=True)
        thread.start()
        return thread

    def _build(self) -> None:
        started = time.perf_counter()
        try:
            self.ensure_current()
        except Exception:  # the next scan's ensure_current tries again
            log.exception("portfolio index not built at start-up")
            return
        log.info(
            "portfolio index built at start-up in %.1f s: %d images",
            time.perf_counter() - started,
            len(self._rows),
        )
        self.keep()

    # --- one query --------------------------------------------------------------------------
    def find(
        self, photo: FacePhoto, faces: list[Face], *, timings: CopyTimings | None = None
    ) -> list[DerivedFinding]:
        """The portfolio images this photo is derived from (one finding per image)."""
        if not self.ensure_current():
            return []
        timings = timings or CopyTimings()
        started = time.thread_time()
        query = staged_query(photo)
        timings.extract_s += time.thread_time() - started
        placed = self._placements(query, timings)
        return [self._finding(p, photo, faces) for p in placed.values() if p.image_id in self._rows]

    def _placements(self, query: StagedQuery, timings: CopyTimings) -> dict[int, Placement]:
        """Search the query's sample first: a scan no slot drew :data:`SAMPLE_GATE` votes
        from is no copy; a copy the sample alone verifies is done. Only what is left (a weak
        or partial copy) computes and searches the query's other keypoints, and is voted
        and verified as one search of them would be (:class:`StagedQuery`)."""
        searching = SearchTimings()
        sample = query.sample
        with self._lock:
            first = self.index.neighbours(sample.descriptors, timings=searching)
            leading = self.index.vote(
                sample.points, first, limit=self.limits.candidates, min_votes=1, timings=searching
            )
        placed: dict[int, Placement] = {}
        if leading and leading[0].votes >= SAMPLE_GATE:
            strong = [c for c in leading if c.votes >= self.limits.min_votes]
            placed = self._verified(strong, sample, timings, rules=self.limits.sample_rules)
            if placed:
                timings.sample_verified += 1
            else:
                placed = self._search_rest(query, first, searching, timings)
        else:
            timings.gated += 1
        timings.search_s += searching.search_s
        timings.vote_s += searching.vote_s
        return placed

    def _search_rest(
        self,
        query: StagedQuery,
        first: Neighbours,
        searching: SearchTimings,
        timings: CopyTimings,
    ) -> dict[int, Placement]:
        started = time.thread_time()
        rest = query.rest()
        timings.extract_s += time.thread_time() - started
        with self._lock:
            second = self.index.neighbours(rest.descriptors, timings=searching)
            if query.rest_adds_to_sample:
                whole = Features.joined(query.sample, rest)
                neighbours = Neighbours.joined(first, second)
            else:
                whole, neighbours = rest, second
            candidates = self.index.vote(
                whole.points,
                neighbours,
                limit=self.limits.candidates,
                min_votes=self.limits.min_votes,
                timings=searching,
            )
        return self._verified(candidates, whole, timings)

    def _verified(
        self,
        candidates: list[Candidate],
        query: Features,
        timings: CopyTimings,
        *,
        rules: VerifyRules | None = None,
    ) -> dict[int, Placement]:
        """The candidates whose geometry holds, the best placement per portfolio image."""
        started = time.thread_time()
        best: dict[int, Placement] = {}
        for candidate in candidates:
            placed = verify(
                candidate,
                query_points=query.points,
                scan_size=(query.width, query.height),
                rules=rules or self.limits.rules,
            )
            if placed is not None and (
                placed.image_id not in best or placed.inliers > best[placed.image_id].inliers
            ):
                best[placed.image_id] = placed
        timings.verify_s += time.thread_time() - started
        return best

    def _finding(self, placed: Placement, photo: FacePhoto, faces: list[Face]) -> DerivedFinding:
        row = self._rows[placed.image_id]
        similarity = None
        if placed.face_present and placed.face_in_scan is not None:
            similarity = self._face_similarity(row, placed.face_in_scan, photo, faces)
        replaced = similarity is not None and similarity < REPLACED_BELOW
        return DerivedFinding(
            placed,
            row.image_id,
            row.name,
            row.talent_id,
            row.talent_name,
            row.agency_id,
            similarity,
            replaced,
        )

    def _face_similarity(
        self, row: _Row, box: Box, photo: FacePhoto, faces: list[Face]
    ) -> float | None:
        original = self._original_face(row)
        if original is None:
            return None
        there = _face_at(box, faces) or _face_at(box, self._faces_near(box, photo))
        if there is None:
            return None
        return float(np.dot(original, there.embedding))

    def _faces_near(self, box: Box, photo: FacePhoto) -> list[Face]:
        """Faces in a crop around where the original's face landed (the scan's detector may
        have missed a small or blended face in the whole image)."""
        bgr = photo.view(1).bgr
        x1, y1, x2, y2 = box
        w, h = x2 - x1, y2 - y1
        left, top = max(0, int(x1 - w)), max(0, int(y1 - h))
        right, bottom = min(bgr.shape[1], int(x2 + w)), min(bgr.shape[0], int(y2 + h))
        if right - left < 16 or bottom - top < 16:
            return []
        found = self.analyser.analyse(np.ascontiguousarray(bgr[top:bottom, left:right]))
        return [_shifted(face, left, top) for face in found]

    def _original_face(self, row: _Row) -> np.ndarray | None:
        if row.image_id in self._faces:
            self._faces.move_to_end(row.image_id)
            return self._faces[row.image_id]
        embedding = None
        if row.face_box is not None:
            try:
                faces = self.analyser.analyse(open_photo(self.store.read(row.stored_path)))
            except (OSError, TwinwatchError):
                faces = []
            face = _face_at(row.face_box, faces)
            embedding = None if face is None else face.embedding
        self._faces[row.image_id] = embedding
        while len(self._faces) > FACE_CACHE:
            self._faces.popitem(last=False)
        return embedding

    def memory_bytes(self) -> int:
        return self.index.memory_bytes()


def _changed(held: _Row, now: _Row | None) -> bool:
    """Whether an indexed image is gone from the rows, or is another file under its id."""
    return now is None or now.stored_path != held.stored_path


def reconcile_portfolio(db: Database, store: PortfolioStore) -> None:
    """Make the portfolio files match the rows after a crash (start-up)."""
    with db.session() as session:
        talent_ids = set(session.scalars(select(Talent.id)))
        stored = set(session.scalars(select(PortfolioImage.stored_path)))
    store.reconcile(talent_ids=talent_ids, stored_paths=stored)


def portfolio_features(photo: FacePhoto) -> tuple[Features, Features]:
    gray = _gray_for(photo, PORTFOLIO_LIMITS.side)
    size = (photo.width, photo.height)
    return (
        extract(gray, limits=PORTFOLIO_LIMITS, full_size=size),
        mirrored(gray, limits=PORTFOLIO_LIMITS, full_size=size),
    )


@dataclass(frozen=True)
class StagedQuery:
    """A scanned image's features in two stages: the sample searched first, and the rest,
    computed only when the sample neither rules a copy out nor verifies one.

    A query of :data:`COARSE_FROM` px or more samples its own image at 400 px
    (:data:`COARSE_LIMITS`), and its rest is the whole query at 640 px, searched alone. A
    smaller one (at two sizes, see :func:`keypoints`) samples every
    :data:`SAMPLE_STRIDE`-th of its keypoints, and its rest is the others, added to the
    sample's."""

    sample: Features
    rest: Callable[[], Features]
    rest_adds_to_sample: bool


def staged_query(photo: FacePhoto) -> StagedQuery:
    gray = _query_gray(photo)
    size = (photo.width, photo.height)
    if max(gray.shape[:2]) >= COARSE_FROM:
        coarse = extract(gray, limits=COARSE_LIMITS, full_size=size)
        whole = partial(extract, gray, limits=QUERY_LIMITS, full_size=size)
        return StagedQuery(coarse, whole, rest_adds_to_sample=False)
    keys = keypoints(gray, limits=QUERY_LIMITS, full_size=size)

    def others() -> Features:
        return keys.features([n for n in range(keys.count) if n % SAMPLE_STRIDE])

    sample = keys.features(range(0, keys.count, SAMPLE_STRIDE))
    return StagedQuery(sample, others, rest_adds_to_sample=True)


def _query_gray(photo: FacePhoto) -> U8Array:
    """The coarsest view already decoded (the face detector's) when it is large enough, so
    the scan decodes nothing more for copy detection."""
    view = photo.coarsest_decoded()
    if view.reduction > 1 and max(view.bgr.shape[:2]) < QUERY_MIN_VIEW:
        view = photo.view(photo.reduction_for(max(photo.width, photo.height), QUERY_LIMITS.side))
    return to_gray(view.bgr)


def query_features(photo: FacePhoto) -> Features:
    """Every chosen keypoint's features of a scanned image (:data:`QUERY_LIMITS`), as one
    search of the whole query would use them."""
    return extract(_query_gray(photo), limits=QUERY_LIMITS, full_size=(photo.width, photo.height))


def _gray_for(photo: FacePhoto, side: int) -> np.ndarray:
    view = photo.view(photo.reduction_for(max(photo.width, photo.height), side))
    return to_gray(view.bgr)


def _flip(box: Box | None, width: int) -> Box | None:
    if box is None:
        return None
    return (width - box[2], box[1], width - box[0], box[3])


def _face_at(box: Box, faces: list[Face]) -> Face | None:
    """The face whose centre lies in ``box`` (grown by a quarter), the closest one."""
    x1, y1, x2, y2 = box
    grow_x, grow_y = 0.25 * (x2 - x1), 0.25 * (y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    inside = [
        f
        for f in faces
        if x1 - grow_x <= (f.box[0] + f.box[2]) / 2 <= x2 + grow_x
        and y1 - grow_y <= (f.box[1] + f.box[3]) / 2 <= y2 + grow_y
    ]
    if not inside:
        return None
    return min(
        inside,
        key=lambda f: abs((f.box[0] + f.box[2]) / 2 - cx) + abs((f.box[1] + f.box[3]) / 2 - cy),
    )


def _shifted(face: Face, dx: int, dy: int) -> Face:
    x1, y1, x2, y2 = face.box
    return Face((x1 + dx, y1 + dy, x2 + dx, y2 + dy), face.score, face.landmarks, face.embedding)
