"""A talent's sightings as her agency's triage left them: licensed, confirmed (an unlicensed
use her agency confirmed), under review (not decided yet, a ``possible`` face included) or
rejected (her agency said the face is not hers), and the face crop of one of her own
sightings. The talent sees only her own (``Principal.talent_id``); a rejected face is not
hers, so its crop is not shown to her."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.alerts.schemas import OwnSightingOut
from service.alerts.states import AlertStatus, SightingStatus
from service.core.errors import ForbiddenError, ResourceNotFoundError
from service.core.principal import Principal, Role
from service.core.schemas import Page
from service.core.tables.alerts import Alert, AlertSighting
from service.core.tables.scanning import Finding, Scan
from service.licensing.consent_schemas import SightingOut
from service.rules.vocabulary import ScanKind, Verdict

#: What the talent reads for each status (the one wording: her pages and their filter).
LABELS = {
    SightingStatus.LICENSED: "licensed",
    SightingStatus.CONFIRMED: "confirmed unlicensed by your agency",
    SightingStatus.UNDER_REVIEW: "under review by your agency",
    SightingStatus.REJECTED: "rejected by your agency: not you",
}
_BY_ALERT = {
    AlertStatus.DISMISSED_FALSE_MATCH: SightingStatus.REJECTED,
    AlertStatus.CONFIRMED_VIOLATION: SightingStatus.CONFIRMED,
    AlertStatus.LICENSED_ELSEWHERE: SightingStatus.LICENSED,
    AlertStatus.OPEN: SightingStatus.UNDER_REVIEW,
    AlertStatus.ACKNOWLEDGED: SightingStatus.UNDER_REVIEW,
}


def _talent_id(principal: Principal) -> int:
    if principal.role is not Role.TALENT or principal.talent_id is None:
        raise ForbiddenError("A talent's own sightings are for her own account only.")
    return principal.talent_id


def sighting_status(alert_status: str | None, verdict: str | None) -> SightingStatus:
    """The alert's status decides; a sighting without an alert is licensed or not reviewed."""
    if alert_status is not None:
        return _BY_ALERT[AlertStatus(alert_status)]
    if verdict == Verdict.LICENSED.value:
        return SightingStatus.LICENSED
    return SightingStatus.UNDER_REVIEW


@dataclass(frozen=True)
class SightingState:
    status: SightingStatus
    picture: bool  # a face crop of it may be shown to her

    @property
    def label(self) -> str:
        return LABELS[self.status]


def states(
    session: Session, *, principal: Principal, finding_ids: Iterable[int]
) -> dict[int, SightingState]:
    """Per finding of hers: its status and whether a crop of it can be shown."""
    talent = _talent_id(principal)
    ids = list(finding_ids)
    rows = session.execute(
        select(Finding.id, Finding.verdict, Alert.status, Alert.evidence_path)
        .outerjoin(AlertSighting, AlertSighting.finding_id == Finding.id)
        .outerjoin(Alert, Alert.id == AlertSighting.alert_id)
        .where(Finding.id.in_(ids), Finding.talent_id == talent)
    )
    found: dict[int, SightingState] = {}
    for finding_id, verdict, alert_status, evidence_path in rows:
        status = sighting_status(alert_status, verdict)
        kept = evidence_path is not None and status is not SightingStatus.REJECTED
        found[finding_id] = SightingState(status, kept)
    return found


def with_states(
    session: Session, *, principal: Principal, found: Page[SightingOut]
) -> Page[OwnSightingOut]:
    """Her page of sightings (``/v1/me/sightings``), each with its status (:func:`states`)."""
    known = states(session, principal=principal, finding_ids=(s.finding_id for s in found.items))
    pending = SightingState(SightingStatus.UNDER_REVIEW, picture=False)
    items = []
    for sighting in found.items:
        state = known.get(sighting.finding_id, pending)
        items.append(
            OwnSightingOut(**sighting.model_dump(), status=state.status, status_label=state.label)
        )
    return Page[OwnSightingOut](
        items=items, total=found.total, offset=found.offset, limit=found.limit
    )


def rejected_findings(session: Session, *, principal: Principal) -> set[int]:
    """Her sightings her agency rejected (the ones her page hides unless she asks)."""
    talent = _talent_id(principal)
    return set(
        session.scalars(
            select(AlertSighting.finding_id)
            .join(Alert, Alert.id == AlertSighting.alert_id)
            .where(
                Alert.talent_id == talent,
                Alert.status == AlertStatus.DISMISSED_FALSE_MATCH.value,
            )
        )
    )


def own_face(session: Session, *, principal: Principal, finding_id: int) -> tuple[str, list[float]]:
    """The kept image and face box of one of her own sightings (404 for anyone else's, for a
    rejected one, and where no image was kept)."""
    talent = _talent_id(principal)
    row = session.execute(
        select(Alert.evidence_path, Alert.status, Finding.box)
        .join(AlertSighting, AlertSighting.alert_id == Alert.id)
        .join(Finding, Finding.id == AlertSighting.finding_id)
        .join(Scan, Scan.id == Finding.scan_id)
        .where(
            Finding.id == finding_id,
            Finding.talent_id == talent,
            Alert.talent_id == talent,
            Scan.kind == ScanKind.SCAN.value,
        )
        .limit(1)
    ).first()
    if row is None or row.evidence_path is None or row.status == AlertStatus.DISMISSED_FALSE_MATCH:
        raise ResourceNotFoundError(f"No picture of sighting {finding_id} to show.")
    return row.evidence_path, list(row.box)
