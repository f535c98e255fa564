"""Human review of a match: "same person" or "not the same person".

"Same person" clears the alert's need for review (it proceeds as a confirmed match) and
bills the licensed uses among its sightings (service.licensing.billing): a ``possible``
sighting is paid for only once a person has said it is the talent, and only once.
"Not the same person" dismisses the alert as a false match and remembers, for that talent,
the face in that image: the image's sha256 and pHash and the face box as fractions of the
image (never an embedding). A later scan of the same bytes, or of an image within
:data:`~service.rules.fingerprints.NEAR_IDENTICAL_MAX_DISTANCE` pHash bits, no longer
matches that face to that talent. The rows are erased with the talent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from indexer.boxes import iou
from indexer.scanning import ImageScan
from service.access.scoping import alert_in_scope
from service.alerts.alerts import (
    get_alert,
    record_event,
    refresh_needs_review,
    triage,
)
from service.alerts.errors import ReviewNotAllowedError
from service.alerts.schemas import AlertOut
from service.alerts.states import AlertBand, AlertStatus, ReviewDecision, TriageAction
from service.core.principal import Principal
from service.core.tables.alerts import Alert, AlertEvent, AlertSighting, FaceRejection
from service.core.tables.scanning import Finding, Scan
from service.licensing import billing
from service.rules.fingerprints import NEAR_IDENTICAL_MAX_DISTANCE, hamming_distance

log = logging.getLogger(__name__)

#: Two boxes (relative to their images) are the same face when they overlap this much
#: (intersection over union). A re-encoded or resized copy keeps the box within a few %.
SAME_FACE_MIN_IOU = 0.5
REVIEWABLE_BANDS = frozenset({AlertBand.MATCH.value, AlertBand.POSSIBLE.value})
REVIEWABLE_STATUSES = frozenset({AlertStatus.OPEN.value, AlertStatus.ACKNOWLEDGED.value})
Box = Sequence[float]


def review(
    session: Session,
    *,
    principal: Principal,
    alert_id: int,
    decision: ReviewDecision,
    note: str | None,
) -> AlertOut:
    """Record a reviewer's decision on an open or acknowledged face alert."""
    alert = alert_in_scope(session, principal=principal, alert_id=alert_id)
    session.refresh(alert, with_for_update=True)  # two reviewers at once: one decides
    if alert.band not in REVIEWABLE_BANDS or alert.status not in REVIEWABLE_STATUSES:
        raise ReviewNotAllowedError(
            f"Alert {alert_id} is {alert.status.replace('_', ' ')} ({alert.band.replace('_', ' ')}"
            "); only open or acknowledged alerts about a face can be reviewed."
        )
    action = f"review_{decision.value}"
    if decision is ReviewDecision.SAME_PERSON:
        if _repeats_last(session, alert, principal, action=action, note=note):
            return get_alert(session, principal=principal, alert_id=alert_id)  # a retry
        record_event(
            session,
            alert,
            principal=principal,
            action=action,
            to_status=AlertStatus(alert.status),
            note=note,
        )
        billing.bill_confirmed(session, alert)
        if note:
            alert.triage_note = note
        session.flush()
        refresh_needs_review(session, alert)
        return get_alert(session, principal=principal, alert_id=alert_id)
    _remember_rejection(session, alert, principal)
    return triage(
        session,
        principal=principal,
        alert_id=alert_id,
        action=TriageAction.DISMISS_FALSE_MATCH,
        note=note,
        recorded_as=action,
    )


def _repeats_last(
    session: Session, alert: Alert, principal: Principal, *, action: str, note: str | None
) -> bool:
    """The alert's last event is this very decision, by this person, with this note: a
    retried (or twice sent) request, recorded once."""
    last = session.scalar(
        select(AlertEvent)
        .where(AlertEvent.alert_id == alert.id)
        .order_by(AlertEvent.id.desc())
        .limit(1)
    )
    return (
        last is not None
        and last.action == action
        and last.note == note
        and last.user_id == principal.user_id
        and last.key_id == (principal.key_id or None)
    )


def _remember_rejection(session: Session, alert: Alert, principal: Principal) -> None:
    """One row per distinct face of the alert's sightings (one image: the dedup key)."""
    rows = session.execute(
        select(Finding.box, Scan.width, Scan.height, Scan.image_sha256, Scan.image_phash)
        .join(AlertSighting, AlertSighting.finding_id == Finding.id)
        .join(Scan, Scan.id == AlertSighting.scan_id)
        .where(AlertSighting.alert_id == alert.id)
    )
    kept: list[tuple[str, list[float]]] = []
    for box, width, height, sha256, phash in rows:
        relative = relative_box(box, width, height)
        if any(s == sha256 and iou(b, relative) >= SAME_FACE_MIN_IOU for s, b in kept):
            continue
        kept.append((sha256, relative))
        session.add(
            FaceRejection(
                talent_id=alert.talent_id,
                image_sha256=sha256,
                image_phash=phash,
                box=relative,
                alert_id=alert.id,
                user_id=principal.user_id,
                key_id=principal.key_id or None,
            )
        )
    log.info(
        "alert %d: %d face(s) remembered as not talent %d", alert.id, len(kept), alert.talent_id
    )


def relative_box(box: Box, width: int, height: int) -> list[float]:
    """A face box in pixels as fractions of the image's width and height."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    w, h = max(width, 1), max(height, 1)
    return [round(x1 / w, 4), round(y1 / h, 4), round(x2 / w, 4), round(y2 / h, 4)]


def _same_image(rejection: FaceRejection, sha256: str, phash: str | None) -> bool:
    if rejection.image_sha256 == sha256:
        return True
    return (
        phash is not None
        and rejection.image_phash is not None
        and hamming_distance(phash, rejection.image_phash) <= NEAR_IDENTICAL_MAX_DISTANCE
    )


def rejected_faces(session: Session, scan: ImageScan, phash: str | None) -> set[tuple[int, int]]:
    """(face position, talent id) pairs of this image a reviewer said are not that talent."""
    named = {c.talent_id for face in scan.faces for c in face.candidates}
    if not named:
        return set()
    same_image = [FaceRejection.image_sha256 == scan.sha256]
    if phash is not None:
        same_image.append(FaceRejection.image_phash.is_not(None))
    rejections = [
        r
        for r in session.scalars(
            select(FaceRejection).where(FaceRejection.talent_id.in_(named), or_(*same_image))
        )
        if _same_image(r, scan.sha256, phash)
    ]
    found: set[tuple[int, int]] = set()
    for position, face in enumerate(scan.faces):
        box = relative_box(face.box, scan.width, scan.height)
        for rejection in rejections:
            if iou(box, rejection.box) >= SAME_FACE_MIN_IOU:
                found.add((position, rejection.talent_id))
    return found


def without_rejected_faces(session: Session, scan: ImageScan, phash: str | None) -> ImageScan:
    """The scan with every (face, talent) pair a reviewer rejected taken out: that face is
    no longer that talent's candidate, nor assigned to them."""
    rejected = rejected_faces(session, scan, phash)
    if not rejected:
        return scan
    log.info("%d face/talent pair(s) left out: a reviewer said not the same person", len(rejected))
    faces = [
        replace(
            face,
            candidates=[c for c in face.candidates if (position, c.talent_id) not in rejected],
            talent=None
            if face.talent and (position, face.talent.talent_id) in rejected
            else face.talent,
        )
        for position, face in enumerate(scan.faces)
    ]
    return replace(scan, faces=faces)
