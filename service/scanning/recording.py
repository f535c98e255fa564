"""Recording a scan in one transaction: findings, licence verdicts, alerts (with their
webhook outbox rows), usage events and, for new alerts, the evidence image."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indexer.copies.detector import DerivedFinding
from indexer.db import Embedding, Talent, utcnow
from indexer.matching import Band
from indexer.scanning import FaceFinding
from service.alerts.alerts import confirmed_same_person
from service.alerts.emails import enqueue_new_match
from service.alerts.review import without_rejected_faces
from service.alerts.states import AlertBand
from service.alerts.webhooks import enqueue_alert_created
from service.core.principal import Principal
from service.core.tables.alerts import Alert, AlertSighting
from service.core.tables.licensing import Licence, LicenceAsset
from service.core.tables.scanning import Finding, FindingCandidate, Scan
from service.licensing import billing
from service.licensing.evaluate import (
    ImageFacts,
    UsageContext,
    Verdict,
    evaluate_licences,
    find_approved_asset_reuse,
)
from service.licensing.licences import licence_terms, licensee_brands
from service.licensing.publishers import publisher_key
from service.licensing.verdicts import StoredVerdict, store_verdict
from service.rules.fingerprints import NEAR_IDENTICAL_MAX_DISTANCE
from service.rules.vocabulary import Alterations, MediaKind, ScanKind
from service.scanning import derived_alerts
from service.scanning.derived import record_derived
from service.scanning.provenance import Provenance
from service.scanning.types import AlertOutcome, JobLink

if TYPE_CHECKING:
    from indexer.db import Database
    from service.alerts.evidence import EvidenceStore
    from service.core.metrics import Metrics
    from service.scanning.types import ImageAnalysis, UseContext

log = logging.getLogger(__name__)
RECORD_ATTEMPTS = 3


@dataclass(frozen=True)
class RecordingSink:
    """The narrow pieces recording needs: where rows, evidence and counters go, and the
    policy for alerts and evidence."""

    db: Database
    evidence: EvidenceStore
    metrics: Metrics
    precheck_creates_alerts: bool
    keep_alert_evidence: bool
    evidence_retention_days: int
    # Called in each sighting's transaction once its findings are recorded (the takedown
    # tracker re-opens a case when a removed image is seen again).
    after_sighting: Callable[[Session, Scan], None] | None = None
    email_time_zone: str = "UTC"  # the zone of the times in the agency's e-mails


@dataclass
class _Recording:
    """What one scan's transaction is working with."""

    sink: RecordingSink
    session: Session
    scan: Scan
    analysis: ImageAnalysis
    context: UseContext
    creates_alerts: bool
    written_evidence: list[str] = field(default_factory=list)
    alert_outcome: AlertOutcome = AlertOutcome.NONE  # what this scan did to the alerts
    alerts: dict[int, Alert] = field(default_factory=dict)  # talent id -> alert this scan


def record_scan(
    *,
    sink: RecordingSink,
    principal: Principal,
    kind: ScanKind,
    source_url: str | None,
    context: UseContext,
    analysis: ImageAnalysis,
    job: JobLink | None = None,
) -> int:
    """Store the scan and everything it implies; retried when a concurrent scan of the same
    image races us to create the same alert or usage event.

    A job item's scan is keyed by the item and finishes the item in the same transaction:
    if the item already has its scan (another worker got there first), that scan's id is
    returned and nothing is recorded again. Talents erased since matching count as no match.
    """
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        recording: _Recording | None = None
        try:
            with sink.db.session() as session:
                # Written first (no read before it: SQLite could not upgrade a stale read
                # snapshot to a write); an item's second scan fails here, on the unique key.
                scan = _scan_row(principal, kind, source_url, context, analysis, job)
                session.add(scan)
                session.flush()
                live = _without_erased_talents(session, analysis)
                live = replace(live, scan=without_rejected_faces(session, live.scan, live.phash))
                recording = _Recording(
                    sink,
                    session,
                    scan,
                    live,
                    context,
                    creates_alerts=kind == ScanKind.SCAN or sink.precheck_creates_alerts,
                )
                _record_findings(recording)
                _derived_alerts(recording, record_derived(session, scan, live.scan.derived))
                if sink.after_sighting is not None and kind == ScanKind.SCAN:
                    sink.after_sighting(session, scan)
                if job is not None:
                    job.complete(session, scan.id, recording.alert_outcome)
                return scan.id
        except IntegrityError:
            _remove_evidence(sink, recording)
            if job is not None and (done := _item_scan(sink.db, job.item_id)) is not None:
                return done
            if attempt == RECORD_ATTEMPTS:
                raise
            log.info("scan recording raced another one (attempt %d); retrying", attempt)
        except BaseException:
            _remove_evidence(sink, recording)
            raise
    raise AssertionError("unreachable")


def _item_scan(db: Database, item_id: int) -> int | None:
    """The scan already recorded for this job item, if any."""
    with db.session() as session:
        return session.scalar(select(Scan.id).where(Scan.job_item_id == item_id))


def _without_erased_talents(session: Session, analysis: ImageAnalysis) -> ImageAnalysis:
    """The analysis with every talent erased since matching turned into no match.

    The surviving talents are share-locked (PostgreSQL) until the scan commits, so an
    erasure cannot slip in between this check and the rows that reference them; on SQLite
    the scan row already holds the database's write lock.
    """
    named = {c.talent_id for face in analysis.scan.faces for c in face.candidates}
    named |= {face.talent.talent_id for face in analysis.scan.faces if face.talent}
    live = (
        set(
            session.scalars(
                select(Talent.id).where(Talent.id.in_(named)).with_for_update(read=True)
            )
        )
        if named
        else set()
    )
    if live == named:
        return analysis
    log.info("%d matched talent(s) were erased before the scan was recorded", len(named - live))
    faces = [
        replace(
            face,
            candidates=[c for c in face.candidates if c.talent_id in live],
            talent=face.talent if face.talent and face.talent.talent_id in live else None,
        )
        for face in analysis.scan.faces
    ]
    return replace(analysis, scan=replace(analysis.scan, faces=faces))


def _remove_evidence(sink: RecordingSink, recording: _Recording | None) -> None:
    for path in recording.written_evidence if recording else []:
        sink.evidence.remove(path)


def _scan_row(
    principal: Principal,
    kind: str,
    source_url: str | None,
    context: UseContext,
    analysis: ImageAnalysis,
    job: JobLink | None,
) -> Scan:
    image = analysis.scan
    return Scan(
        kind=kind,
        owner_key_id=principal.key_id,
        monitor_id=principal.monitor_id,
        brand_id=principal.brand_id,
        job_id=job.job_id if job else None,
        job_item_id=job.item_id if job else None,
        image_sha256=image.sha256,
        image_phash=analysis.phash,
        width=image.width,
        height=image.height,
        source_url=source_url,
        page_url=context.page_url,
        publisher=context.publisher,
        observed_at=context.observed_at,
        use_until=context.use_until,
        channel=context.channel,
        territory=context.territory,
        provenance=provenance_json(analysis.provenance),
        intended_medium=context.medium,
        intended_ai_label=context.ai_label,
        pack_name=image.pack.name,
        pack_version=image.pack.version,
        asset_reuse=[],
        media_kind=MediaKind.VIDEO if analysis.video else MediaKind.IMAGE,
        duration_s=analysis.video.duration_s if analysis.video else None,
        video_truncated=analysis.video.truncated if analysis.video else None,
    )


def usage_context(recording: _Recording, *, at: Any = None) -> UsageContext:
    context, analysis = recording.context, recording.analysis
    return UsageContext(
        page_url=context.page_url,
        publisher=context.publisher,
        observed_at=at or context.observed_at,
        channel=context.channel,
        territory=context.territory,
        image=image_facts(context, analysis),
    )


def image_facts(context: UseContext, analysis: ImageAnalysis) -> ImageFacts:
    """The image's own AI label if it carries one, else the label a pre-check says the
    published asset will carry; the pre-check's stated medium, if any; and the image's
    AI-generation signals beyond labels."""
    label = analysis.provenance.ai_label or context.ai_label
    return ImageFacts(
        sha256=analysis.scan.sha256,
        phash=analysis.phash,
        declares_ai=label is not None,
        ai_label=label,
        stated_medium=context.medium,
        ai_signals=analysis.provenance.ai_signals,
    )


def _record_findings(recording: _Recording) -> None:
    session = recording.session
    talent_ids = {f.talent.talent_id for f in recording.analysis.scan.faces if f.talent}
    licences = _licences_by_talent(session, talent_ids)
    brands = licensee_brands(session, [lic for group in licences.values() for lic in group])
    references = _nearest_references(session, recording.analysis.scan.faces)
    video = recording.analysis.video
    for position, face in enumerate(recording.analysis.scan.faces):
        finding = _finding_row(recording.scan, position, face, references)
        if video is not None:
            track = video.tracks[position]
            finding.start_s, finding.end_s = track.start_s, track.end_s
            finding.best_frame_s = track.best_frame_s
        session.add(finding)
        session.flush()
        if face.talent is not None:
            considered = _considered(recording, licences.get(face.talent.talent_id, []), brands)
            stored = _evaluate(recording, considered, brands)
            _apply_verdict(recording, finding, face, stored)
    _record_asset_reuse(recording, brands)


def _nearest_references(session: Session, faces: list[FaceFinding]) -> dict[int, int]:
    """Embedding id -> its reference photo, for the assigned talents' nearest vectors."""
    ids = {f.talent.embedding_id for f in faces if f.talent and f.talent.embedding_id}
    if not ids:
        return {}
    rows = session.execute(
        select(Embedding.id, Embedding.reference_image_id).where(Embedding.id.in_(ids))
    )
    return {embedding_id: reference_id for embedding_id, reference_id in rows}


def _finding_row(
    scan: Scan, position: int, face: FaceFinding, references: dict[int, int]
) -> Finding:
    talent = face.talent
    finding = Finding(
        scan_id=scan.id,
        face_index=position,
        box=[round(v, 1) for v in face.box],
        detection_score=round(face.detection_score, 4),
        talent_id=talent.talent_id if talent else None,
        similarity=round(talent.similarity, 4) if talent else None,
        band=face.band.value,
        licence_checks=[],
        reasons=[],
        reference_image_id=references.get(talent.embedding_id or 0) if talent else None,
    )
    finding.candidates = [
        FindingCandidate(
            talent_id=c.talent_id, rank=rank, similarity=round(c.similarity, 4), band=c.band.value
        )
        for rank, c in enumerate(face.candidates)
        if c.band is not Band.NONE
    ]
    return finding


def _licences_by_talent(session: Session, talent_ids: set[int]) -> dict[int, list[Licence]]:
    grouped: dict[int, list[Licence]] = {}
    if talent_ids:
        for licence in session.scalars(
            select(Licence).where(Licence.talent_id.in_(talent_ids)).order_by(Licence.id)
        ):
            grouped.setdefault(licence.talent_id, []).append(licence)
    return grouped


def _considered(
    recording: _Recording, licences: list[Licence], brands: dict[int, int | None]
) -> list[Licence]:
    """A brand's pre-check asks "may *we* use this?": only its own licences can answer."""
    brand_id = recording.scan.brand_id
    if recording.scan.kind != ScanKind.PRECHECK or brand_id is None:
        return licences
    return [licence for licence in licences if brands.get(licence.id) == brand_id]


def _evaluate(
    recording: _Recording, licences: list[Licence], brands: dict[int, int | None]
) -> StoredVerdict:
    """The verdict at the sighting; for a pre-check with an end date, also at the end."""
    terms = [licence_terms(licence) for licence in licences]
    context = usage_context(recording)
    at_start = evaluate_licences(
        licences=terms, context=context, max_phash_distance=NEAR_IDENTICAL_MAX_DISTANCE
    )
    until = recording.context.use_until
    if until is not None and at_start.verdict is Verdict.LICENSED:
        at_end_context = usage_context(recording, at=until)
        at_end = evaluate_licences(
            licences=terms, context=at_end_context, max_phash_distance=NEAR_IDENTICAL_MAX_DISTANCE
        )
        if at_end.verdict is not Verdict.LICENSED or at_end.licence_id != at_start.licence_id:
            return store_verdict(at_end, terms=terms, brands=brands, context=at_end_context)
    return store_verdict(at_start, terms=terms, brands=brands, context=context)


def _apply_verdict(
    recording: _Recording, finding: Finding, face: FaceFinding, stored: StoredVerdict
) -> None:
    assert face.talent is not None
    finding.verdict = stored.verdict.value
    finding.licence_id = stored.licence_id
    finding.licence_checks = [dict(check) for check in stored.checks]
    finding.reasons = list(stored.reasons)
    recording.sink.metrics.verdicts.labels(stored.verdict.value).inc()
    if stored.verdict is Verdict.LICENSED:
        if recording.scan.kind == ScanKind.SCAN and stored.licence_id is not None:
            _licensed_sighting(recording, finding, face, stored)
        return
    if recording.creates_alerts:
        needs_review = face.band is Band.POSSIBLE or stored.verdict is Verdict.REVIEW
        _face_alert(recording, finding, face, stored, needs_review=needs_review)


def _face_alert(
    recording: _Recording,
    finding: Finding,
    face: FaceFinding,
    stored: StoredVerdict,
    *,
    needs_review: bool,
) -> Alert:
    """Raise (or join) the alert for a face matched to a talent, with its stored verdict."""
    assert face.talent is not None
    return _upsert_alert(
        recording,
        talent_id=face.talent.talent_id,
        finding=finding,
        verdict=stored.verdict,
        band=AlertBand(face.band.value),
        similarity=face.talent.similarity,
        needs_review=needs_review,
        reasons=stored.reasons,
        checks=finding.licence_checks,
    )


def _licensed_sighting(
    recording: _Recording, finding: Finding, face: FaceFinding, stored: StoredVerdict
) -> None:
    """A sure match is billed now (once per use, service.licensing.billing). A possible one
    is billed only once a person says it is the talent: it counts on a use already billed,
    else it raises (or joins) an alert to review, billed at once if that alert was
    confirmed already."""
    assert face.talent is not None and stored.licence_id is not None
    use = _use(recording, stored.licence_id, face.talent.talent_id)
    if face.band is Band.MATCH:
        billing.record_sighting(recording.session, use, sure=True)
        return
    if billing.count_if_billed(recording.session, use):
        return
    alert = _face_alert(recording, finding, face, stored, needs_review=True)
    if confirmed_same_person(recording.session, alert):
        billing.record_sighting(recording.session, replace(use, alert_id=alert.id), sure=False)


def _record_asset_reuse(recording: _Recording, brands: dict[int, int | None]) -> None:
    session, scan = recording.session, recording.scan
    with_assets = select(LicenceAsset.licence_id).where(
        or_(LicenceAsset.sha256 == scan.image_sha256, LicenceAsset.phash.is_not(None))
    )
    rows = session.scalars(select(Licence).where(Licence.id.in_(with_assets)))
    terms = {licence.id: licence for licence in rows}
    if not terms:
        return
    brands = {**brands, **licensee_brands(session, [terms[i] for i in terms if i not in brands])}
    reuse = find_approved_asset_reuse(
        licences=[licence_terms(licence) for licence in terms.values()],
        context=usage_context(recording),
        max_phash_distance=NEAR_IDENTICAL_MAX_DISTANCE,
    )
    scan.asset_reuse = [
        {
            "licence_id": r.licence_id,
            "licensee": r.licensee,
            "licensee_brand_id": brands.get(r.licence_id),
            "matched_by": r.matched_by,
            "distance": r.distance,
            "publisher_covered": r.publisher_covered,
            "message": r.message,
        }
        for r in reuse
    ]
    if not recording.creates_alerts:
        return
    for item in reuse:
        if not item.publisher_covered:
            _upsert_alert(
                recording,
                talent_id=terms[item.licence_id].talent_id,
                finding=None,
                verdict=Verdict.UNLICENSED,
                band=AlertBand.ASSET_REUSE,
                similarity=1.0,
                needs_review=False,
                reasons=[item.message],
                checks=[],
            )


def _derived_alerts(recording: _Recording, derived: list[DerivedFinding]) -> None:
    """Each talent's portfolio images found in the scan, evaluated like a sighting of her
    (service.scanning.derived_alerts says when that alerts). One alert per talent, image
    and publisher: when her face already raised (or joined) one in this scan, the derived
    reasons are added to it and it gains no second sighting. A copy a licence covers
    (as it was altered) is a use of her likeness: billed once per use like a sure face
    sighting, unless her face already counted this scan's sighting of it."""
    if not derived or not (recording.creates_alerts or recording.scan.kind == ScanKind.SCAN):
        return
    session = recording.session
    talent_ids = {found.talent_id for found in derived}
    licences = _licences_by_talent(session, talent_ids)
    brands = licensee_brands(session, [lic for group in licences.values() for lic in group])
    reasons: dict[int, list[str]] = {}
    verdicts: dict[int, StoredVerdict] = {}
    replaced: set[int] = set()  # a pasted face is certain: no review of the licence
    billed: set[tuple[int, int]] = set()  # (licence id, talent id) of covered copies
    for found in derived:
        considered = _considered(recording, licences.get(found.talent_id, []), brands)
        stored = verdicts.setdefault(found.talent_id, _evaluate(recording, considered, brands))
        decision = _derived_decision(session, found, stored)
        if decision.alerts:
            reasons.setdefault(found.talent_id, []).extend(decision.reasons)
            if found.face_replaced:
                replaced.add(found.talent_id)
        elif stored.licence_id is not None:
            billed.add((stored.licence_id, found.talent_id))
    if recording.scan.kind == ScanKind.SCAN:
        _bill_derived(recording, {use for use in billed if use[1] not in reasons})
    if not recording.creates_alerts:
        return
    for talent_id, words in reasons.items():
        review = verdicts[talent_id].verdict is Verdict.REVIEW and talent_id not in replaced
        _derived_alert(recording, talent_id, words, verdicts[talent_id], review=review)


def _bill_derived(recording: _Recording, uses: set[tuple[int, int]]) -> None:
    """Bill each covered copy's use (a verified copy is as sure as a ``match``), except
    where a licensed sighting of her face in this scan already counted it."""
    faced = {face.talent.talent_id for face in recording.analysis.scan.faces if face.talent}
    for licence_id, talent_id in sorted(uses):
        use = _use(recording, licence_id, talent_id)
        if talent_id in faced and billing.is_billed(recording.session, use):
            continue
        billing.record_sighting(recording.session, use, sure=True)


def _derived_decision(
    session: Session, found: DerivedFinding, stored: StoredVerdict
) -> derived_alerts.DerivedDecision:
    licence = (
        session.get(Licence, stored.licence_id)
        if stored.verdict is Verdict.LICENSED and stored.licence_id is not None
        else None
    )
    return derived_alerts.decide(
        found,
        licensed_by=licence.licensee if licence else None,
        allowed=Alterations(licence.alterations_allowed) if licence else None,
        verdict_reasons=list(stored.reasons),
    )


def _derived_alert(
    recording: _Recording,
    talent_id: int,
    reasons: list[str],
    stored: StoredVerdict,
    *,
    review: bool,
) -> None:
    joined = recording.alerts.get(talent_id)
    if joined is not None:
        joined.reasons = list(dict.fromkeys([*joined.reasons, *reasons]))
        return
    _upsert_alert(
        recording,
        talent_id=talent_id,
        finding=None,
        verdict=Verdict.REVIEW if review else Verdict.UNLICENSED,
        band=AlertBand.DERIVED,
        similarity=1.0,
        needs_review=review,
        reasons=reasons,
        checks=[dict(check) for check in stored.checks],
    )


def _use(recording: _Recording, licence_id: int, talent_id: int) -> billing.Use:
    scan = recording.scan
    key = publisher_key(scan.publisher, scan.page_url)
    return billing.Use(
        licence_id=licence_id,
        talent_id=talent_id,
        image_sha256=scan.image_sha256,
        publisher_key=key,
        publisher=scan.publisher or key or None,
        first_seen_at=scan.observed_at,
        last_seen_at=scan.observed_at,
        scan_id=scan.id,
    )


def _upsert_alert(
    recording: _Recording,
    *,
    talent_id: int,
    finding: Finding | None,
    verdict: Verdict,
    band: AlertBand,
    similarity: float,
    needs_review: bool,
    reasons: list[str],
    checks: list[dict[str, Any]],
) -> Alert:
    session, scan = recording.session, recording.scan
    key = publisher_key(scan.publisher, scan.page_url)
    alert = session.scalar(
        select(Alert)
        .where(
            Alert.talent_id == talent_id,
            Alert.image_sha256 == scan.image_sha256,
            Alert.publisher_key == key,
        )
        .with_for_update()
    )
    if alert is None:
        alert = _new_alert(
            recording, talent_id, key, verdict, band, similarity, needs_review, reasons, checks
        )
        recording.alert_outcome = AlertOutcome.RAISED
    else:
        _merge_sighting(alert, scan, band, similarity, needs_review, reasons)
        recording.sink.metrics.alerts.labels("sighting").inc()
        if recording.alert_outcome is AlertOutcome.NONE:
            recording.alert_outcome = AlertOutcome.UPDATED
    recording.alerts[talent_id] = alert
    if finding is not None:
        session.add(
            AlertSighting(
                alert_id=alert.id,
                scan_id=scan.id,
                finding_id=finding.id,
                seen_at=utcnow(),
                observed_at=scan.observed_at,
                page_url=scan.page_url,
            )
        )
    return alert


def _new_alert(
    recording: _Recording,
    talent_id: int,
    key: str,
    verdict: Verdict,
    band: AlertBand,
    similarity: float,
    needs_review: bool,
    reasons: list[str],
    checks: list[dict[str, Any]],
) -> Alert:
    session, scan, sink = recording.session, recording.scan, recording.sink
    talent = session.get(Talent, talent_id)
    assert talent is not None
    alert = Alert(
        agency_id=talent.agency_id,
        talent_id=talent_id,
        image_sha256=scan.image_sha256,
        image_phash=scan.image_phash,
        publisher_key=key,
        publisher=scan.publisher or key or None,
        page_url=scan.page_url,
        needs_review=needs_review,
        verdict=verdict.value,
        band=band.value,
        similarity=round(similarity, 4),
        reasons=reasons,
        licence_checks=checks,
        pack_name=scan.pack_name,
        pack_version=scan.pack_version,
        first_seen_at=scan.observed_at,
        last_seen_at=scan.observed_at,
    )
    session.add(alert)
    session.flush()
    if sink.keep_alert_evidence:
        alert.evidence_path = sink.evidence.save(
            talent_id=talent_id,
            name=f"{alert.id}-{scan.image_sha256[:16]}",
            data=_evidence_bytes(recording.analysis, talent_id),
        )
        alert.evidence_expires_at = utcnow() + timedelta(days=sink.evidence_retention_days)
        recording.written_evidence.append(alert.evidence_path)
    enqueue_alert_created(session, alert, talent)
    enqueue_new_match(session, alert, talent, zone=sink.email_time_zone)
    recording.sink.metrics.alerts.labels("created").inc()
    return alert


def _evidence_bytes(analysis: ImageAnalysis, talent_id: int) -> bytes:
    """What an alert keeps: the image; of a video, only the frame that proves the match: the
    best frame (at the video's size) of the talent's last track, whose finding is the
    alert's latest sighting, so the box the console and notices crop with is that frame's.
    The whole video only if no frame was kept."""
    if analysis.video is None:
        return analysis.data
    tracks = [t for t in analysis.video.tracks if t.talent and t.talent.talent_id == talent_id]
    if not tracks or tracks[-1].best_frame_jpeg is None:
        return analysis.data
    return tracks[-1].best_frame_jpeg


def _merge_sighting(
    alert: Alert,
    scan: Scan,
    band: AlertBand,
    similarity: float,
    needs_review: bool,
    reasons: list[str],
) -> None:
    alert.sightings += 1
    alert.last_seen_at = max(alert.last_seen_at, scan.observed_at)
    alert.first_seen_at = min(alert.first_seen_at, scan.observed_at)
    alert.needs_review = alert.needs_review and needs_review
    if similarity > alert.similarity:
        alert.similarity, alert.band = round(similarity, 4), band.value
    alert.reasons = list(dict.fromkeys([*alert.reasons, *reasons]))


def provenance_json(provenance: Provenance) -> dict[str, Any]:
    return {
        **asdict(provenance),
        "declares_ai": provenance.declares_ai,
        "ai_label": provenance.ai_label,
    }
