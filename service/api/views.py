"""Turning rows into the API's response shapes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from indexer.db import Talent
from service.models import Finding, Scan
from service.scanning.types import ScanKind
from service.schemas import (
    CandidateOut,
    ContextOut,
    FaceOut,
    ImageOut,
    LicenceVerdictOut,
    MatchedTalentOut,
    ModelPackOut,
    ScanOut,
)


def scan_out(session: Session, scan: Scan) -> ScanOut:
    talent_ids = {c.talent_id for f in scan.findings for c in f.candidates}
    talent_ids |= {f.talent_id for f in scan.findings if f.talent_id is not None}
    talents = {t.id: t for t in session.scalars(select(Talent).where(Talent.id.in_(talent_ids)))}
    faces = [_face_out(finding, talents, precheck=scan.kind == ScanKind.PRECHECK)
             for finding in scan.findings]
    summary = {"faces": len(faces),
               "matched": sum(1 for f in faces if f.talent is not None),
               "licensed": sum(1 for f in faces if f.licence and f.licence.verdict == "licensed"),
               "unlicensed": sum(1 for f in faces
                                 if f.licence and f.licence.verdict == "unlicensed"),
               "review": sum(1 for f in faces if f.licence and f.licence.verdict == "review"),
               "asset_reuse_uncovered": sum(1 for r in scan.asset_reuse
                                            if not r["publisher_covered"])}
    cleared = None
    if scan.kind == ScanKind.PRECHECK:
        cleared = all(f.cleared for f in faces) and not summary["asset_reuse_uncovered"]
    return ScanOut(
        id=scan.id, kind=scan.kind,
        created_at=scan.created_at, model_pack=ModelPackOut(name=scan.pack_name,
                                                            version=scan.pack_version),
        image=ImageOut(sha256=scan.image_sha256, phash=scan.image_phash, width=scan.width,
                       height=scan.height, source_url=scan.source_url),
        context=ContextOut(page_url=scan.page_url, publisher=scan.publisher,
                           observed_at=scan.observed_at, use_until=scan.use_until,
                           channel=scan.channel, territory=scan.territory),
        provenance=scan.provenance, asset_reuse=scan.asset_reuse, faces=faces,
        summary=summary, cleared=cleared)


def _face_out(finding: Finding, talents: dict[int, Talent], *, precheck: bool) -> FaceOut:
    talent = talents.get(finding.talent_id) if finding.talent_id is not None else None
    matched = None
    if talent is not None and finding.similarity is not None:
        matched = MatchedTalentOut(id=talent.id, name=talent.name, agency_id=talent.agency_id,
                                   similarity=finding.similarity)
    licence = None
    if finding.verdict is not None:
        reasons = [f"licence {c['licence_id']} ({c['licensee']}): {f['message']}"
                   for c in finding.licence_checks for f in c["failures"]]
        licence = LicenceVerdictOut.model_validate({
            "verdict": finding.verdict, "licence_id": finding.licence_id,
            "reasons": reasons or _verdict_reason(finding), "checks": finding.licence_checks})
    face = FaceOut(
        index=finding.face_index, box=finding.box, detection_score=finding.detection_score,
        band=finding.band, talent=matched, licence=licence,
        candidates=[CandidateOut(talent_id=c.talent_id, name=talents[c.talent_id].name,
                                 similarity=c.similarity, band=c.band)
                    for c in finding.candidates if c.talent_id in talents])
    if precheck:
        face.cleared, face.why = _clearance(face)
    return face


def _verdict_reason(finding: Finding) -> list[str]:
    if finding.verdict == "licensed":
        return [f"covered by licence {finding.licence_id}"]
    if not finding.licence_checks:
        return ["no licence on record for this talent"]
    return [f"licence {c['licence_id']} ({c['licensee']}) needs: {', '.join(c['unknowns'])}"
            for c in finding.licence_checks if c["unknowns"]]


def _clearance(face: FaceOut) -> tuple[bool, list[str]]:
    if face.talent is None:
        return True, ["no registered talent recognised in this face"]
    assert face.licence is not None
    name = face.talent.name
    if face.licence.verdict == "licensed":
        return True, [f"{name}: covered by licence {face.licence.licence_id}"]
    if face.band == "possible":
        return False, [f"possibly {name} (similarity {face.talent.similarity:.2f}); needs human "
                       "review", *face.licence.reasons]
    return False, [f"{name}: {reason}" for reason in face.licence.reasons]
