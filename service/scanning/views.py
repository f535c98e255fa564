"""Turning rows into the API's response shapes, for the one who asks.

Licence verdicts are rendered from what was stored when the scan was recorded, by
:mod:`service.licensing.verdicts`, for the caller's audience: the talent's side sees every
licence, a brand only its own, a monitor the verdict alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from indexer.db import Talent
from indexer.matching import Band
from service.core.schemas import ModelPackOut
from service.core.tables.scanning import Finding, Scan
from service.licensing.evaluate import Verdict
from service.licensing.verdicts import (
    RenderedVerdict,
    StoredCheck,
    StoredVerdict,
    Viewer,
    asset_reuse_view,
    clearance,
    render_verdict,
)
from service.rules.vocabulary import MediaKind, ScanKind
from service.scanning.derived import derived_out
from service.scanning.schemas import (
    AssetReuseOut,
    CandidateOut,
    ContextOut,
    FaceOut,
    ImageOut,
    LicenceVerdictOut,
    MatchedTalentOut,
    ScanOut,
)


def scan_out(session: Session, scan: Scan, viewer: Viewer) -> ScanOut:
    talent_ids = {c.talent_id for f in scan.findings for c in f.candidates}
    talent_ids |= {f.talent_id for f in scan.findings if f.talent_id is not None}
    talents = {t.id: t for t in session.scalars(select(Talent).where(Talent.id.in_(talent_ids)))}
    precheck = scan.kind == ScanKind.PRECHECK
    faces = [_face_out(finding, talents, viewer, precheck=precheck) for finding in scan.findings]
    reuse = [
        AssetReuseOut.model_validate(asset_reuse_view(entry, viewer)) for entry in scan.asset_reuse
    ]
    summary = _summary(faces, reuse)
    cleared = None
    if precheck:
        cleared = all(f.cleared for f in faces) and not summary["asset_reuse_uncovered"]
    return ScanOut(
        id=scan.id,
        kind=ScanKind(scan.kind),
        created_at=scan.created_at,
        model_pack=ModelPackOut(name=scan.pack_name, version=scan.pack_version),
        image=ImageOut(
            sha256=scan.image_sha256,
            phash=scan.image_phash,
            width=scan.width,
            height=scan.height,
            source_url=scan.source_url,
            kind=MediaKind(scan.media_kind),
            duration_s=scan.duration_s,
            truncated=scan.video_truncated,
            derived_from=derived_out(session, scan.id),
        ),
        context=ContextOut(
            page_url=scan.page_url,
            publisher=scan.publisher,
            observed_at=scan.observed_at,
            use_until=scan.use_until,
            channel=scan.channel,
            territory=scan.territory,
            medium=scan.intended_medium,
            ai_label=scan.intended_ai_label,
        ),
        provenance=scan.provenance,
        asset_reuse=reuse,
        faces=faces,
        summary=summary,
        cleared=cleared,
        tracks=faces if scan.media_kind == MediaKind.VIDEO else None,
    )


def _summary(faces: list[FaceOut], reuse: list[AssetReuseOut]) -> dict[str, int]:
    verdicts = [f.licence.verdict for f in faces if f.licence is not None]
    return {
        "faces": len(faces),
        "matched": sum(1 for f in faces if f.talent is not None),
        **{verdict.value: verdicts.count(verdict) for verdict in Verdict},
        "asset_reuse_uncovered": sum(1 for r in reuse if not r.publisher_covered),
    }


def stored_verdict(finding: Finding) -> StoredVerdict | None:
    """The verdict recorded on a finding (None for a face matched to no talent)."""
    if finding.verdict is None:
        return None
    checks: list[StoredCheck] = [_stored_check(raw) for raw in finding.licence_checks]
    return StoredVerdict(
        Verdict(finding.verdict), finding.licence_id, checks, list(finding.reasons or [])
    )


def _stored_check(raw: dict[str, Any]) -> StoredCheck:
    return {
        "licence_id": raw["licence_id"],
        "licensee": raw["licensee"],
        "licensee_brand_id": raw.get("licensee_brand_id"),
        "covers": raw["covers"],
        "failures": [
            {"code": f["code"], "message": f["message"], "params": dict(f.get("params") or {})}
            for f in raw["failures"]
        ],
        "unknowns": list(raw["unknowns"]),
    }


def _face_out(
    finding: Finding, talents: dict[int, Talent], viewer: Viewer, *, precheck: bool
) -> FaceOut:
    talent = talents.get(finding.talent_id) if finding.talent_id is not None else None
    matched = None
    if talent is not None and finding.similarity is not None:
        matched = MatchedTalentOut(
            id=talent.id,
            name=talent.name,
            agency_id=talent.agency_id,
            similarity=finding.similarity,
        )
    stored = stored_verdict(finding)
    rendered = render_verdict(stored, viewer) if stored is not None else None
    face = FaceOut(
        index=finding.face_index,
        box=finding.box,
        detection_score=finding.detection_score,
        band=Band(finding.band),
        talent=matched,
        start_s=finding.start_s,
        end_s=finding.end_s,
        best_frame_s=finding.best_frame_s,
        licence=_licence_out(rendered),
        candidates=[
            CandidateOut(
                talent_id=c.talent_id,
                name=talents[c.talent_id].name,
                similarity=c.similarity,
                band=c.band,
            )
            for c in finding.candidates
            if c.talent_id in talents
        ],
    )
    if precheck:
        face.cleared, face.why = clearance(
            talent_name=matched.name if matched else None,
            possible=face.band is Band.POSSIBLE,
            similarity=finding.similarity,
            rendered=rendered,
        )
    return face


def _licence_out(rendered: RenderedVerdict | None) -> LicenceVerdictOut | None:
    if rendered is None:
        return None
    return LicenceVerdictOut.model_validate(
        {
            "verdict": rendered.verdict.value,
            "licence_id": rendered.licence_id,
            "reasons": rendered.reasons,
            "checks": rendered.checks,
        }
    )
