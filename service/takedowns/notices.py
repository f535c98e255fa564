"""Drafting, editing and finalising a takedown notice, and its HTML and PDF.

A notice concerns one talent's likeness on one publisher: one alert, or a group of that
talent's alerts on the publisher (one URL each). It is drafted from a template per kind,
filled from the alerts and the agency's profile; the agency edits the texts and confirms
it, which renders it once (``final_html``, with its sha256) and makes it immutable. The
evidence in it is the third-party form (:func:`service.alerts.alerts.evidence`): the facts
of the use and a face crop, never licence terms, fees, licensees or internal notes.
Drafting the same kind from the same alerts while that draft is still a draft returns it:
a form sent twice (a double click, a resend) drafts one notice.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from indexer.db import Database, Talent, utcnow
from indexer.errors import TwinwatchError
from service.access.scoping import alert_in_scope, scoped_to_agency
from service.alerts.alerts import evidence
from service.alerts.evidence import EvidenceStore
from service.alerts.history import actor_label
from service.alerts.schemas import EvidenceTalentOut, ThirdPartyEvidenceOut
from service.alerts.states import AlertStatus, EvidenceForm
from service.core.errors import InvalidRequestError, ResourceNotFoundError
from service.core.principal import Principal
from service.core.schemas import Page
from service.core.tables.access import ApiKey, User
from service.core.tables.alerts import Alert, AlertSighting
from service.core.tables.scanning import Finding, Scan
from service.core.tables.takedowns import (
    AgencyProfile,
    TakedownEvent,
    TakedownItem,
    TakedownNotice,
)
from service.core.thumbnails import face_thumbnail
from service.rules.dates import video_range
from service.takedowns.errors import TakedownIncompleteError, TakedownNotAllowedError
from service.takedowns.profiles import agency_of, find_profile, set_profile
from service.takedowns.schemas import (
    AgencyProfileIn,
    AgencyProfileOut,
    NoticeCreate,
    NoticeEventOut,
    NoticeFields,
    NoticeFieldsEdit,
    NoticeItemOut,
    NoticeOut,
)
from service.takedowns.states import ItemState, NoticeKind, NoticeStatus

log = logging.getLogger(__name__)

#: The elements each kind of notice must carry before it can be confirmed.
REQUIRED: dict[NoticeKind, tuple[str, ...]] = {
    # 17 U.S.C. §512(c)(3)(A): (i) signature, (ii) the work, (iii) the material and where it
    # is (the URLs, always present), (iv) contact, (v) good faith, (vi) accuracy + authority.
    NoticeKind.DMCA: (
        "recipient",
        "notifier_name",
        "notifier_address",
        "notifier_email",
        "work_description",
        "good_faith_statement",
        "accuracy_statement",
        "signature",
    ),
    # DSA Art. 16(2): (a) reasons, (b) the exact URLs (always present), (c) name and e-mail,
    # (d) the statement of good faith.
    NoticeKind.DSA: (
        "recipient",
        "notifier_name",
        "notifier_email",
        "reasons",
        "good_faith_statement",
    ),
}
#: Decided alerts that cannot be the basis of a notice.
NOT_FOR_NOTICES = frozenset(
    {AlertStatus.DISMISSED_FALSE_MATCH.value, AlertStatus.LICENSED_ELSEWHERE.value}
)
EDITABLE = frozenset({NoticeStatus.DRAFT})

GOOD_FAITH = {
    NoticeKind.DMCA: "I have a good faith belief that use of the material in the manner "
    "complained of is not authorized by the copyright owner, its agent, or "
    "the law.",
    NoticeKind.DSA: "I confirm my bona fide belief that the information and allegations "
    "contained in this notice are accurate and complete.",
}
ACCURACY = (
    "The information in this notification is accurate, and under penalty of perjury, "
    "I am authorized to act on behalf of the owner of an exclusive right that is "
    "allegedly infringed."
)

_templates = Environment(
    loader=PackageLoader("service.takedowns", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


# --- drafting -------------------------------------------------------------------------------
def draft_notice(session: Session, *, principal: Principal, body: NoticeCreate) -> NoticeOut:
    agency_id = agency_of(principal)
    chosen = [
        alert_in_scope(session, principal=principal, alert_id=alert_id)
        for alert_id in sorted(set(body.alert_ids))
    ]
    _check_group(chosen)
    first = chosen[0]
    talent = session.get(Talent, first.talent_id, with_for_update=True)  # one drafter at once
    assert talent is not None
    pending = _same_draft(session, talent.id, body.kind, {alert.id for alert in chosen})
    if pending is not None:  # the form sent twice (a double click): the first draft
        return notice_out(session, pending, response_days=None)
    notice = TakedownNotice(
        agency_id=agency_id if not principal.is_admin else first.agency_id,
        talent_id=talent.id,
        kind=body.kind.value,
        status=NoticeStatus.DRAFT.value,
        publisher_key=first.publisher_key,
        publisher=first.publisher,
        fields=_default_fields(
            body.kind, talent.name, first.publisher, find_profile(session, first.agency_id)
        ).model_dump(),
    )
    notice.items = [_item(session, alert) for alert in chosen]
    session.add(notice)
    session.flush()
    record_event(
        session,
        notice,
        principal=principal,
        from_status=None,
        to_status=NoticeStatus.DRAFT,
        note=f"drafted from {len(chosen)} alert(s)",
    )
    return notice_out(session, notice, response_days=None)


def _same_draft(
    session: Session, talent_id: int, kind: NoticeKind, alert_ids: set[int]
) -> TakedownNotice | None:
    """A draft of this kind about exactly these alerts, if one is still a draft."""
    drafts = session.scalars(
        select(TakedownNotice)
        .where(
            TakedownNotice.talent_id == talent_id,
            TakedownNotice.kind == kind.value,
            TakedownNotice.status == NoticeStatus.DRAFT.value,
        )
        .order_by(TakedownNotice.id)
    )
    return next((n for n in drafts if {i.alert_id for i in n.items} == alert_ids), None)


def _check_group(chosen: list[Alert]) -> None:
    talents = {alert.talent_id for alert in chosen}
    publishers = {alert.publisher_key for alert in chosen}
    if len(talents) > 1 or len(publishers) > 1:
        raise InvalidRequestError(
            "A notice concerns one talent on one publisher: choose alerts of one talent on "
            f"one publisher (these name {len(talents)} talent(s) on {len(publishers)} "
            "publisher(s))."
        )
    decided = [a.id for a in chosen if a.status in NOT_FOR_NOTICES]
    if decided:
        raise InvalidRequestError(
            f"Alert(s) {', '.join(map(str, decided))} were dismissed as a false match or "
            "licensed elsewhere; reopen them before drafting a notice."
        )


def _item(session: Session, alert: Alert) -> TakedownItem:
    latest = session.execute(
        select(AlertSighting.page_url, Scan.source_url)
        .join(Scan, Scan.id == AlertSighting.scan_id)
        .where(AlertSighting.alert_id == alert.id)
        .order_by(AlertSighting.id.desc())
        .limit(1)
    ).first()
    page_url = (latest[0] if latest else None) or alert.page_url
    return TakedownItem(
        alert_id=alert.id,
        page_url=page_url,
        image_url=latest[1] if latest else None,
        image_sha256=alert.image_sha256,
        image_phash=alert.image_phash,
        state=ItemState.REPORTED.value,
    )


#: What a notice drafted before the agency's profile says in its place; it can never reach a
#: final notice (``invalid_elements``), and saving the profile fills it (``refresh_drafts``).
PLACEHOLDER = "[the agency]"


def _default_fields(
    kind: NoticeKind, talent: str, publisher: str | None, profile: AgencyProfile | None
) -> NoticeFields:
    holder = profile.rights_holder if profile else PLACEHOLDER
    where = publisher or "the service"
    fields = NoticeFields(
        notifier_name=profile.rights_holder if profile else "",
        notifier_address=profile.address if profile else "",
        notifier_email=profile.email if profile else "",
        notifier_phone=(profile.phone or "") if profile else "",
        good_faith_statement=GOOD_FAITH[kind],
        signature=f"/s/ {profile.signature_name}" if profile else "",
    )
    if kind is NoticeKind.DMCA:
        fields.recipient = f"Designated agent for notices of claimed infringement, {where}"
        fields.work_description = (
            f"Photographs of {talent}, a model represented by {holder}, and {talent}'s "
            f"likeness in them. {holder} acts for {talent}. The images at the URLs below "
            "reproduce them without authorisation."
        )
        fields.accuracy_statement = ACCURACY
    else:
        fields.recipient = f"Notice and action mechanism, {where}"
        fields.reasons = (
            f"The images at the URLs below show the likeness of {talent}, a model represented "
            f"by {holder}, published without {talent}'s consent and without any licence from "
            f"{holder}. Using a person's likeness commercially without consent infringes "
            f"{talent}'s rights in their own image; the content is illegal content within "
            "the meaning of Article 3(h) of Regulation (EU) 2022/2065."
        )
    return fields


# --- editing and confirming -----------------------------------------------------------------
def notice_in_scope(session: Session, *, principal: Principal, notice_id: int) -> TakedownNotice:
    agency_of(principal)
    notice = session.get(TakedownNotice, notice_id)
    if notice is None or not (principal.is_admin or notice.agency_id == principal.agency_id):
        raise ResourceNotFoundError(f"No takedown notice with id {notice_id}.")
    return notice


def edit_notice(
    session: Session, *, principal: Principal, notice_id: int, body: NoticeFieldsEdit
) -> NoticeOut:
    notice = notice_in_scope(session, principal=principal, notice_id=notice_id)
    if NoticeStatus(notice.status) not in EDITABLE:
        raise TakedownNotAllowedError(
            f"Notice {notice_id} is {notice.status.replace('_', ' ')}: a final notice cannot "
            "be changed (draft a new one)."
        )
    fields = {**notice.fields, **body.model_dump(exclude_none=True)}
    notice.fields = NoticeFields.model_validate(fields).model_dump()
    notice.updated_at = utcnow()
    return notice_out(session, notice, response_days=None)


def missing_elements(notice: TakedownNotice) -> list[str]:
    """The required elements the notice still lacks: empty, or not valid (see
    :func:`invalid_elements`)."""
    fields = notice.fields
    invalid = invalid_elements(notice)
    return [
        name
        for name in REQUIRED[NoticeKind(notice.kind)]
        if not str(fields.get(name, "")).strip() or name in invalid
    ]


def invalid_elements(notice: TakedownNotice) -> list[str]:
    """The fields whose stored text breaks the rules an edit is checked by
    (``NoticeFieldsEdit``: e.g. a notifier e-mail that is no address, kept from before that
    rule), or still holds the :data:`PLACEHOLDER`; such a notice cannot be confirmed."""
    held = {name for name, value in notice.fields.items() if PLACEHOLDER in str(value)}
    try:
        NoticeFieldsEdit.model_validate(notice.fields)
    except ValidationError as exc:
        held |= {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
    return sorted(held)


def save_profile(
    session: Session, *, principal: Principal, body: AgencyProfileIn
) -> AgencyProfileOut:
    """Save the agency's notice profile and let its drafts follow it (``refresh_drafts``)."""
    saved = set_profile(session, principal=principal, body=body)
    refresh_drafts(session, saved.agency_id)
    return saved


def refresh_drafts(session: Session, agency_id: int) -> int:
    """Drafts of the agency whose fields are still as drafted without a profile take the
    profile's text now (a field someone edited stays as edited); returns how many changed."""
    profile = find_profile(session, agency_id)
    changed = 0
    drafts = session.scalars(
        select(TakedownNotice).where(
            TakedownNotice.agency_id == agency_id,
            TakedownNotice.status == NoticeStatus.DRAFT.value,
        )
    )
    for notice in drafts:
        talent = session.get(Talent, notice.talent_id)
        assert talent is not None
        kind = NoticeKind(notice.kind)
        blank = _default_fields(kind, talent.name, notice.publisher, None).model_dump()
        filled = _default_fields(kind, talent.name, notice.publisher, profile).model_dump()
        updates = {
            name: value
            for name, value in filled.items()
            if notice.fields.get(name) == blank.get(name) and value != blank.get(name)
        }
        if updates:
            notice.fields = {**notice.fields, **updates}
            changed += 1
    session.flush()
    return changed


def confirm_notice(
    session: Session, *, principal: Principal, notice_id: int, store: EvidenceStore, max_pixels: int
) -> NoticeOut:
    """Make the draft final: every required element present; rendered once, then frozen."""
    notice = notice_in_scope(session, principal=principal, notice_id=notice_id)
    if NoticeStatus(notice.status) is not NoticeStatus.DRAFT:
        raise TakedownNotAllowedError(f"Notice {notice_id} is already final.")
    missing = missing_elements(notice)
    invalid = invalid_elements(notice)
    if missing or invalid:
        raise _incomplete(NoticeKind(notice.kind), missing=missing, invalid=invalid)
    notice.finalized_at = utcnow()
    html = render_html(session, notice, principal=principal, store=store, max_pixels=max_pixels)
    notice.final_html = html
    notice.final_sha256 = hashlib.sha256(html.encode()).hexdigest()
    record_event(
        session,
        notice,
        principal=principal,
        from_status=NoticeStatus.DRAFT,
        to_status=NoticeStatus.FINAL,
        note=None,
    )
    notice.status = NoticeStatus.FINAL.value
    return notice_out(session, notice, response_days=None)


def _incomplete(
    kind: NoticeKind, *, missing: list[str], invalid: list[str]
) -> TakedownIncompleteError:
    needed = [
        f"{name.replace('_', ' ')}{' (not valid)' if name in invalid else ''}"
        for name in [*missing, *(name for name in invalid if name not in missing)]
    ]
    details: dict[str, list[str]] = {"missing": missing}
    if invalid:
        details["invalid"] = invalid
    return TakedownIncompleteError(
        f"A {kind.value.upper()} notice needs: {', '.join(needed)}.", **details
    )


def record_event(
    session: Session,
    notice: TakedownNotice,
    *,
    principal: Principal | None,
    from_status: NoticeStatus | None,
    to_status: NoticeStatus,
    note: str | None,
) -> None:
    """The history row; ``principal`` None is twinwatch itself (a sighting re-opened it)."""
    session.add(
        TakedownEvent(
            notice_id=notice.id,
            user_id=principal.user_id if principal else None,
            key_id=(principal.key_id or None) if principal else None,
            from_status=from_status.value if from_status else None,
            to_status=to_status.value,
            note=note,
        )
    )


# --- reading --------------------------------------------------------------------------------
def due_at(notice: TakedownNotice, response_days: int | None) -> datetime | None:
    waiting = {NoticeStatus.SENT.value, NoticeStatus.STILL_UP.value}
    if response_days is None or notice.sent_at is None or notice.status not in waiting:
        return None
    return notice.sent_at + timedelta(days=response_days)


def notice_out(session: Session, notice: TakedownNotice, *, response_days: int | None) -> NoticeOut:
    talent = session.get(Talent, notice.talent_id)
    assert talent is not None
    due = due_at(notice, response_days)
    events = session.execute(
        select(TakedownEvent, User.email, ApiKey.prefix)
        .outerjoin(User, User.id == TakedownEvent.user_id)
        .outerjoin(ApiKey, ApiKey.id == TakedownEvent.key_id)
        .where(TakedownEvent.notice_id == notice.id)
        .order_by(TakedownEvent.id)
    )
    return NoticeOut(
        id=notice.id,
        kind=NoticeKind(notice.kind),
        status=NoticeStatus(notice.status),
        talent_id=talent.id,
        talent=EvidenceTalentOut(name=talent.name),
        publisher=notice.publisher,
        fields=NoticeFields.model_validate(notice.fields),
        missing=missing_elements(notice) if notice.status == NoticeStatus.DRAFT else [],
        items=[
            NoticeItemOut(
                alert_id=i.alert_id,
                page_url=i.page_url,
                image_url=i.image_url,
                image_sha256=i.image_sha256,
                image_phash=i.image_phash,
                state=ItemState(i.state),
                checked_at=i.checked_at,
                check_detail=i.check_detail,
            )
            for i in notice.items
        ],
        final_sha256=notice.final_sha256,
        finalized_at=notice.finalized_at,
        sent_at=notice.sent_at,
        sent_to=notice.sent_to,
        due_at=due,
        overdue=due is not None and due < utcnow(),
        last_checked_at=notice.last_checked_at,
        created_at=notice.created_at,
        history=[
            NoticeEventOut(
                at=e.at,
                from_status=NoticeStatus(e.from_status) if e.from_status else None,
                to_status=NoticeStatus(e.to_status),
                actor=_actor(e, email, prefix),
                note=e.note,
            )
            for e, email, prefix in events
        ],
    )


def _actor(event: TakedownEvent, email: str | None, key_prefix: str | None) -> str:
    """Alert history's label (one owner); an event of no user and no key is twinwatch's."""
    if event.user_id is None and event.key_id is None:
        return "twinwatch"
    return actor_label(email, key_prefix)


def get_notice(
    session: Session, *, principal: Principal, notice_id: int, response_days: int
) -> NoticeOut:
    notice = notice_in_scope(session, principal=principal, notice_id=notice_id)
    return notice_out(session, notice, response_days=response_days)


def list_notices(
    session: Session,
    *,
    principal: Principal,
    status: NoticeStatus | None,
    overdue: bool | None,
    offset: int,
    limit: int,
    response_days: int,
) -> Page[NoticeOut]:
    agency_of(principal)
    query: Select[Any] = scoped_to_agency(
        select(TakedownNotice), TakedownNotice.agency_id, principal
    )
    if status is not None:
        query = query.where(TakedownNotice.status == status.value)
    if overdue is not None:
        waiting = TakedownNotice.status.in_([NoticeStatus.SENT.value, NoticeStatus.STILL_UP.value])
        cutoff = utcnow() - timedelta(days=response_days)
        query = query.where(
            waiting & (TakedownNotice.sent_at < cutoff)
            if overdue
            else or_(~waiting, TakedownNotice.sent_at.is_(None), TakedownNotice.sent_at >= cutoff)
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(TakedownNotice.id.desc()).offset(offset).limit(limit))
    return Page[NoticeOut](
        items=[notice_out(session, n, response_days=response_days) for n in rows],
        total=total,
        offset=offset,
        limit=limit,
    )


# --- rendering ------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvidenceItem:
    """One URL of the notice with its third-party evidence."""

    page_url: str | None
    image_url: str | None
    report: ThirdPartyEvidenceOut
    face_jpeg_base64: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    similarity: float | None
    video_times: list[str] = field(default_factory=list)  # "0:12–0:27" per face track
    copied_from: str | None = None  # a copy of one of her portfolio photos (issue 22)


def render_html(
    session: Session,
    notice: TakedownNotice,
    *,
    principal: Principal,
    store: EvidenceStore,
    max_pixels: int,
) -> str:
    """The notice as a self-contained HTML document (a final one: as stored, unchanged)."""
    if notice.final_html is not None:
        return notice.final_html
    talent = session.get(Talent, notice.talent_id)
    assert talent is not None
    items = [
        _evidence_item(session, item, principal=principal, store=store, max_pixels=max_pixels)
        for item in notice.items
    ]
    return _templates.get_template(f"{notice.kind}.html").render(
        notice=notice,
        fields=NoticeFields.model_validate(notice.fields),
        talent=talent.name,
        items=items,
        draft=notice.finalized_at is None,
        dated=notice.finalized_at or utcnow(),
    )


def _evidence_item(
    session: Session,
    item: TakedownItem,
    *,
    principal: Principal,
    store: EvidenceStore,
    max_pixels: int,
) -> EvidenceItem:
    report = evidence(
        session, principal=principal, alert_id=item.alert_id, form=EvidenceForm.THIRD_PARTY
    )
    assert isinstance(report, ThirdPartyEvidenceOut)
    alert = session.get(Alert, item.alert_id)
    assert alert is not None
    seen = [s.observed_at for s in report.sightings]
    scores = [s.similarity for s in report.sightings if s.similarity is not None]
    crop = None
    if alert.evidence_path and report.sightings:
        try:
            crop = base64.b64encode(
                face_thumbnail(
                    store.read(alert.evidence_path),
                    report.sightings[-1].face_box,
                    max_pixels=max_pixels,
                )
            ).decode()
        except (OSError, TwinwatchError):
            log.warning("no face crop for alert %d in notice %d", alert.id, item.notice_id)
    return EvidenceItem(
        page_url=item.page_url,
        image_url=item.image_url,
        report=report,
        face_jpeg_base64=crop,
        first_seen=min(seen) if seen else alert.first_seen_at,
        last_seen=max(seen) if seen else alert.last_seen_at,
        similarity=max(scores) if scores else alert.similarity,
        video_times=_video_times(session, alert.id),
        copied_from=report.copied_from,
    )


def _video_times(session: Session, alert_id: int) -> list[str]:
    """When the talent is on screen in the alert's video, one range per face track."""
    rows = session.execute(
        select(Finding.start_s, Finding.end_s)
        .join(AlertSighting, AlertSighting.finding_id == Finding.id)
        .where(AlertSighting.alert_id == alert_id, Finding.start_s.is_not(None))
        .order_by(Finding.start_s)
    ).all()
    ranges = [
        video_range(start, end) for start, end in rows if start is not None and end is not None
    ]
    return list(dict.fromkeys(ranges))


def notice_document(
    db: Database, *, principal: Principal, notice_id: int, store: EvidenceStore, max_pixels: int
) -> tuple[str, str]:
    """The notice's HTML (a draft's preview, or the final text) and a file name for it."""
    with db.session() as session:
        notice = notice_in_scope(session, principal=principal, notice_id=notice_id)
        html = render_html(session, notice, principal=principal, store=store, max_pixels=max_pixels)
        return html, f"twinwatch-{notice.kind}-notice-{notice.id}-{notice.status}"
