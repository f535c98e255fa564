"""What the agency's pages show beside the service's answers: the sighting behind each
alert (face box, provenance), the talent's reference photo to compare with, and per-talent
counts. Every read here starts from rows the service functions already scoped."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indexer.db import ReferenceImage
from service.alerts.alerts import face_confirmed, standing_events
from service.alerts.history import actor_label, histories
from service.alerts.review import REVIEWABLE_BANDS, REVIEWABLE_STATUSES
from service.alerts.schemas import AlertOut
from service.alerts.states import ReviewDecision, TriageAction
from service.alerts.undo import UNDO_WINDOW
from service.core.principal import Principal
from service.core.tables.alerts import Alert, AlertSighting
from service.core.tables.scanning import Finding, Scan
from service.licensing.publishers import publisher_key
from service.rules.dates import video_range


@dataclass(frozen=True)
class Sighting:
    """The latest sighting of an alert: where the face is and what the image declared."""

    face_box: list[float]
    provenance: dict[str, Any]
    source_url: str | None
    reference_id: int | None = None  # the talent's photo nearest to this face, if recorded
    video_time: str | None = None  # a video's face track: "0:12–0:27"


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str
    action: str
    from_status: str
    to_status: str
    note: str | None


@dataclass
class AlertCard:
    alert: AlertOut
    sighting: Sighting | None
    reference_id: int | None
    image_kept: bool
    history: list[HistoryEntry] = field(default_factory=list)
    best_reference: bool = False  # reference_id is the photo that gave the similarity

    @property
    def face_confirmed(self) -> bool:
        """Somebody said "same person" and it stands (the one rule, service.alerts)."""
        return face_confirmed(self.alert.status.value, self.history)

    @property
    def reviewable(self) -> bool:
        """The face question is still open: "same person" / "not the same person" apply."""
        return (
            self.alert.band.value in REVIEWABLE_BANDS
            and self.alert.status.value in REVIEWABLE_STATUSES
            and not self.face_confirmed
        )

    @property
    def face_label(self) -> str:
        """What the face is, as every page shows it."""
        if self.face_confirmed:
            return "same person (confirmed)"
        return FACE_LABELS.get(self.alert.band.value, self.alert.band.value.replace("_", " "))


@dataclass
class PublisherGroup:
    key: str
    label: str
    cards: list[AlertCard] = field(default_factory=list)

    @property
    def sightings(self) -> int:
        return sum(card.alert.sightings for card in self.cards)


def latest_sightings(session: Session, alert_ids: Iterable[int]) -> dict[int, Sighting]:
    ids = list(alert_ids)
    if not ids:
        return {}
    newest = (
        select(AlertSighting.alert_id, func.max(AlertSighting.id).label("sid"))
        .where(AlertSighting.alert_id.in_(ids))
        .group_by(AlertSighting.alert_id)
        .subquery()
    )
    rows = session.execute(
        select(
            AlertSighting.alert_id,
            Finding.box,
            Scan.provenance,
            Scan.source_url,
            ReferenceImage.id,
            Finding.start_s,
            Finding.end_s,
        )
        .join(newest, newest.c.sid == AlertSighting.id)
        .join(Finding, Finding.id == AlertSighting.finding_id)
        .join(Scan, Scan.id == AlertSighting.scan_id)
        .outerjoin(
            ReferenceImage,
            (ReferenceImage.id == Finding.reference_image_id)
            & (ReferenceImage.talent_id == Finding.talent_id)
            & ReferenceImage.stored_path.is_not(None),
        )
    )
    return {
        alert_id: Sighting(
            list(box),
            dict(provenance or {}),
            source_url,
            reference_id,
            video_range(start, end) if start is not None and end is not None else None,
        )
        for alert_id, box, provenance, source_url, reference_id, start, end in rows
    }


def comparison_references(session: Session, talent_ids: Iterable[int]) -> dict[int, int]:
    """Per talent, the kept reference photo to show beside a sighting the match did not
    record its nearest photo for (rows from before it was recorded, or whose photo was
    removed since): the one with the largest, most confidently detected face."""
    rows = session.execute(
        select(ReferenceImage.talent_id, ReferenceImage.id)
        .where(
            ReferenceImage.talent_id.in_(set(talent_ids)), ReferenceImage.stored_path.is_not(None)
        )
        .order_by(
            ReferenceImage.talent_id,
            (ReferenceImage.face_px * ReferenceImage.detection_score).desc(),
            ReferenceImage.id,
        )
    )
    chosen: dict[int, int] = {}
    for talent_id, reference_id in rows:
        chosen.setdefault(talent_id, reference_id)
    return chosen


def alert_cards(session: Session, alerts: list[AlertOut]) -> list[AlertCard]:
    sightings = latest_sightings(session, (a.id for a in alerts))
    references = comparison_references(session, (a.talent.id for a in alerts))
    history = triage_history(session, (a.id for a in alerts))
    cards = []
    for a in alerts:
        sighting = sightings.get(a.id)
        best = sighting.reference_id if sighting else None
        cards.append(
            AlertCard(
                a,
                sighting,
                best or references.get(a.talent.id),
                a.evidence_image_kept,
                history.get(a.id, []),
                best_reference=best is not None,
            )
        )
    return cards


def triage_history(session: Session, alert_ids: Iterable[int]) -> dict[int, list[HistoryEntry]]:
    """Who changed each alert, oldest first: a user by e-mail, a key by its prefix."""
    return {
        alert_id: [
            HistoryEntry(
                e.at,
                actor_label(e.user_email, e.key_prefix),
                e.action,
                e.from_status.value,
                e.to_status.value,
                e.note,
            )
            for e in events
        ]
        for alert_id, events in histories(session, alert_ids).items()
    }


def group_by_publisher(cards: list[AlertCard]) -> list[PublisherGroup]:
    """Alerts on one site form one group; groups keep the order of their newest alert."""
    groups: dict[str, PublisherGroup] = {}
    for card in cards:
        key = publisher_key(card.alert.publisher, card.alert.page_url)
        group = groups.setdefault(key, PublisherGroup(key, key or "Unknown publisher"))
        group.cards.append(card)
    return list(groups.values())


@dataclass(frozen=True)
class TalentActivity:
    open_alerts: int
    last_seen_at: datetime | None


def talent_activity(session: Session, talent_ids: Iterable[int]) -> dict[int, TalentActivity]:
    ids = list(talent_ids)
    if not ids:
        return {}
    open_counts: dict[int, int] = {
        talent_id: count
        for talent_id, count in session.execute(
            select(Alert.talent_id, func.count())
            .where(Alert.talent_id.in_(ids), Alert.status == "open")
            .group_by(Alert.talent_id)
        )
    }
    last_seen: dict[int, datetime] = {
        talent_id: when
        for talent_id, when in session.execute(
            select(Alert.talent_id, func.max(Alert.last_seen_at))
            .where(Alert.talent_id.in_(ids))
            .group_by(Alert.talent_id)
        )
    }
    return {tid: TalentActivity(open_counts.get(tid, 0), last_seen.get(tid)) for tid in ids}


FACE_LABELS = {
    "match": "match",
    "possible": "possible match",
    "asset_reuse": "asset reused",
    "derived": "copy of her photo",
}
SAME, NOT_SAME = (f"review_{d.value}" for d in ReviewDecision)
#: What each change is called, as done (the undo toast and the history say it this way).
DONE_LABELS = {
    TriageAction.ACKNOWLEDGE.value: "acknowledged",
    TriageAction.CONFIRM_VIOLATION.value: "confirmed as a violation",
    TriageAction.DISMISS_FALSE_MATCH.value: "dismissed as a false match",
    TriageAction.LICENSED_ELSEWHERE.value: "marked licensed elsewhere",
    TriageAction.REOPEN.value: "reopened",
    SAME: "reviewed: same person",
    NOT_SAME: "reviewed: not the same person",
}


@dataclass(frozen=True)
class Button:
    """A one-click action of an inbox row: the form field it sends, its words, its key."""

    name: str  # "action" (triage) or "decision" (review)
    value: str
    label: str
    key: str | None = None


#: The inbox's one-click buttons, in the order they show, with their keyboard shortcuts
#: (acknowledge and licensed elsewhere are in each row's details, with a note).
TRIAGE_BUTTONS = {
    TriageAction.CONFIRM_VIOLATION.value: Button(
        "action", TriageAction.CONFIRM_VIOLATION.value, "Confirm", "c"
    ),
    TriageAction.DISMISS_FALSE_MATCH.value: Button(
        "action", TriageAction.DISMISS_FALSE_MATCH.value, "Dismiss", "d"
    ),
    TriageAction.REOPEN.value: Button("action", TriageAction.REOPEN.value, "Reopen"),
}
REVIEW_BUTTONS = (
    Button("decision", ReviewDecision.SAME_PERSON.value, "Same person", "s"),
    Button("decision", ReviewDecision.NOT_SAME_PERSON.value, "Not the same person", "n"),
)


def buttons(card: AlertCard, allowed: Iterable[str]) -> list[Button]:
    """The row's one-click actions: the review's two answers while the face question is
    open, then the triage actions its status allows."""
    chosen = list(REVIEW_BUTTONS) if card.reviewable else []
    allowed_now = set(allowed)
    return chosen + [b for value, b in TRIAGE_BUTTONS.items() if value in allowed_now]


@dataclass(frozen=True)
class UndoOffer:
    """What the toast says after an action, and whether its Undo button is offered."""

    alert_id: int
    talent: str
    done: str
    undoable: bool


def undo_offer(
    session: Session, *, principal: Principal, alert: AlertOut, now: datetime
) -> UndoOffer | None:
    """The toast after a change of ``alert`` (already scoped): its newest standing change,
    offered for undo when it is this person's and recent (the rule of service.alerts.undo)."""
    events = standing_events(session, alert.id)
    if not events:
        return None
    last = events[-1]
    mine = last.user_id == principal.user_id and last.key_id == (principal.key_id or None)
    return UndoOffer(
        alert.id,
        alert.talent.name,
        DONE_LABELS.get(last.action, last.action.replace("_", " ")),
        mine and now - last.at <= UNDO_WINDOW,
    )


@dataclass(frozen=True)
class Toast:
    """The inbox's note after an action (``offer``) or after an undo (``undone``)."""

    offer: UndoOffer | None
    undone: AlertOut | None
