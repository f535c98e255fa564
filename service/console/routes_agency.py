"""The agency's pages: the inbox (alerts grouped by publisher), triage, evidence, talents.

Each page calls the same service function as the API route it mirrors, with the signed-in
user's principal; images are generated thumbnails of rows that principal may see.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy.orm import Session

from indexer.db import utcnow
from indexer.matching import Band
from service.access.scoping import alert_in_scope
from service.alerts import alerts, undo
from service.alerts.derived_evidence import derived_source, side_by_side
from service.alerts.evidence import latest_face_box
from service.alerts.schemas import TriageIn
from service.alerts.states import AlertBand, AlertStatus, EvidenceForm, TriageAction
from service.api.deps import MAX_OFFSET, BoundedId, Ctx, ObjectId
from service.console.deps import ConsoleRoute, FormUser, User, agency_of
from service.console.inbox import Toast, alert_cards, buttons, group_by_publisher, undo_offer
from service.console.links import PREFIX, safe_return_path, with_marker
from service.console.rendering import jpeg, next_offset, page
from service.context import AppContext
from service.core import thumbnails as thumbs
from service.core.errors import InvalidRequestError, ResourceNotFoundError
from service.core.principal import Principal
from service.core.schemas import PUBLISHER_MAX
from service.rules.dates import end_of, start_of
from service.talents import talents

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
INBOX_PAGE = 100
STATUSES = tuple(status.value for status in AlertStatus)
ACTIONS = tuple(action.value for action in TriageAction)
BANDS = (Band.MATCH.value, Band.POSSIBLE.value)


def _day(value: date | None, *, end: bool = False) -> datetime | None:
    """A picked day as an instant: its start, or (``end``) the start of the next day, an
    exclusive end (the rule of service.rules.dates)."""
    if value is None:
        return None
    return end_of(value, inclusive=True) if end else start_of(value)


class InboxFilters(BaseModel):
    """The inbox's filter form; an empty field means "any" (absent status means open)."""

    status: AlertStatus | None = AlertStatus.OPEN
    talent_id: BoundedId | None = None
    publisher: str | None = Field(default=None, max_length=PUBLISHER_MAX)
    since: date | None = None
    until: date | None = None
    band: Band | None = None
    needs_review: bool | None = None
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    done: BoundedId | None = None  # the alert just changed here: the toast offers its undo
    undone: BoundedId | None = None  # the alert whose change was just undone

    @field_validator("*", mode="before")
    @classmethod
    def empty_is_any(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def form_values(self) -> dict[str, str]:
        return {
            name: ""
            if value is None
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
            for name, value in self.model_dump(
                mode="json", exclude={"offset", "done", "undone"}
            ).items()
        }


@router.get("/alerts")
def inbox(ctx: Ctx, user: User, filters: Annotated[InboxFilters, Query()]) -> HTMLResponse:
    """Alerts newest first, grouped by publisher, filtered like ``GET /v1/alerts``."""
    principal = agency_of(user)
    with ctx.db.session() as session:
        found = alerts.list_alerts(
            session,
            principal=principal,
            status=filters.status,
            talent_id=filters.talent_id,
            publisher=filters.publisher,
            since=_day(filters.since),
            until_before=_day(filters.until, end=True),
            needs_review=filters.needs_review,
            offset=filters.offset or 0,
            limit=INBOX_PAGE,
            band=AlertBand(filters.band.value) if filters.band else None,
        )
        groups = group_by_publisher(alert_cards(session, found.items))
        toast = _toast(session, principal, filters)
    roster = talents.list_talents(ctx=ctx, principal=principal, offset=0, limit=200).items
    return page(
        "inbox.html",
        user=user,
        groups=groups,
        page=found,
        filters=filters.form_values(),
        statuses=STATUSES,
        bands=BANDS,
        actions=ACTIONS,
        allowed_actions=alerts.allowed_actions,
        buttons=buttons,
        toast=toast,
        roster=roster,
        back=f"{PREFIX}/alerts?{urlencode(filters.form_values())}",
        next_offset=next_offset(filters.offset or 0, INBOX_PAGE, found.total),
    )


@router.post("/alerts/{alert_id}/triage")
def triage(
    alert_id: ObjectId,
    ctx: Ctx,
    user: FormUser,
    action: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> RedirectResponse:
    principal = agency_of(user)
    body = _triage_body(action, note)
    with ctx.db.session() as session:
        alerts.triage(
            session, principal=principal, alert_id=alert_id, action=body.action, note=body.note
        )
    return RedirectResponse(
        with_marker(safe_return_path(back, f"{PREFIX}/alerts"), "done", alert_id),
        status_code=303,
    )


@router.post("/alerts/{alert_id}/undo")
def undo_change(
    alert_id: ObjectId, ctx: Ctx, user: FormUser, back: Annotated[str, Form()] = ""
) -> RedirectResponse:
    """Take back this person's newest change of the alert (``POST /v1/alerts/{id}/undo``)."""
    with ctx.db.session() as session:
        undo.undo(session, principal=agency_of(user), alert_id=alert_id)
    return RedirectResponse(
        with_marker(safe_return_path(back, f"{PREFIX}/alerts"), "undone", alert_id),
        status_code=303,
    )


def _toast(session: Session, principal: Principal, filters: InboxFilters) -> Toast | None:
    """After a change: what was done, with Undo when it can be; after an undo: its result
    (an alert this person may not see, named in a crafted link, gets no toast, no 404)."""
    try:
        return _toast_of(session, principal, filters)
    except ResourceNotFoundError:
        return None


def _toast_of(session: Session, principal: Principal, filters: InboxFilters) -> Toast | None:
    if filters.done is not None:
        alert = alerts.get_alert(session, principal=principal, alert_id=filters.done)
        offer = undo_offer(session, principal=principal, alert=alert, now=utcnow())
        return Toast(offer, None) if offer else None
    if filters.undone is not None:
        alert = alerts.get_alert(session, principal=principal, alert_id=filters.undone)
        return Toast(None, alert)
    return None


MAX_BULK = 500


@router.post("/alerts/bulk-triage")
def bulk_triage(
    ctx: Ctx,
    user: FormUser,
    action: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "selected",
    alert_id: Annotated[list[BoundedId] | None, Form()] = None,
    group_alert_id: Annotated[list[BoundedId] | None, Form()] = None,
) -> RedirectResponse:
    """One action on the selected alerts, or on a whole publisher group: all or nothing
    (an alert outside the user's scope fails the lot)."""
    principal = agency_of(user)
    body = _triage_body(action, note)
    chosen = sorted(set((group_alert_id if scope == "group" else alert_id) or []))
    if not chosen:
        raise InvalidRequestError("Select at least one alert (or apply to the whole group).")
    if len(chosen) > MAX_BULK:
        raise InvalidRequestError(f"At most {MAX_BULK} alerts at once.")
    with ctx.db.session() as session:
        for one in chosen:
            alerts.triage(
                session, principal=principal, alert_id=one, action=body.action, note=body.note
            )
    return RedirectResponse(safe_return_path(back, f"{PREFIX}/alerts"), status_code=303)


def _triage_body(action: str, note: str) -> TriageIn:
    try:
        return TriageIn.model_validate({"action": action, "note": note.strip() or None})
    except ValidationError as exc:
        raise InvalidRequestError(
            f"Choose one of: {', '.join(ACTIONS)} (notes up to 4000 characters)."
        ) from exc


def _evidence_bytes(
    ctx: AppContext, principal: Principal, alert_id: int
) -> tuple[bytes, list[float] | None]:
    """The kept image of an alert in this principal's scope, and its latest face box."""
    with ctx.db.session() as session:
        alert = alert_in_scope(session, principal=principal, alert_id=alert_id)
        path = alert.evidence_path
        box = latest_face_box(session, alert_id)
    if path is None:
        raise ResourceNotFoundError(
            f"Alert {alert_id} has no kept image (not kept, or past its retention date)."
        )
    return ctx.evidence.read(path), box


@router.get("/alerts/{alert_id}/face.jpg")
def alert_face(alert_id: ObjectId, ctx: Ctx, user: User) -> Response:
    data, box = _evidence_bytes(ctx, agency_of(user), alert_id)
    limit = ctx.settings.max_image_pixels
    return jpeg(
        thumbs.face_thumbnail(data, box, max_pixels=limit)
        if box
        else thumbs.image_thumbnail(data, max_pixels=limit, size=thumbs.FACE_PX)
    )


@router.get("/alerts/{alert_id}/image.jpg")
def alert_image(alert_id: ObjectId, ctx: Ctx, user: User) -> Response:
    data, _ = _evidence_bytes(ctx, agency_of(user), alert_id)
    return jpeg(thumbs.image_thumbnail(data, max_pixels=ctx.settings.max_image_pixels))


@router.get("/alerts/{alert_id}/derived.jpg")
def alert_derived(alert_id: ObjectId, ctx: Ctx, user: User) -> Response:
    """The portfolio original beside the image found, the copied region outlined."""
    with ctx.db.session() as session:
        alert = alert_in_scope(session, principal=agency_of(user), alert_id=alert_id)
        source, kept = derived_source(session, alert), alert.evidence_path
    if source is None or kept is None:
        raise ResourceNotFoundError(f"Alert {alert_id} has no kept copy of a portfolio image.")
    original = ctx.copies.store.read(source.stored_path)
    limit = ctx.settings.max_image_pixels
    return jpeg(side_by_side(original, ctx.evidence.read(kept), source.region, max_pixels=limit))


@router.get("/alerts/{alert_id}/evidence")
def evidence(alert_id: ObjectId, ctx: Ctx, user: User) -> HTMLResponse:
    principal = agency_of(user)
    report = _report(ctx, principal, alert_id)
    with ctx.db.session() as session:
        source = derived_source(
            session, alert_in_scope(session, principal=principal, alert_id=alert_id)
        )
    return page(
        "evidence.html",
        user=user,
        report=report,
        alert_id=alert_id,
        derived=source.words if source else None,
    )


@router.get("/alerts/{alert_id}/evidence.json")
def evidence_json(
    alert_id: ObjectId, ctx: Ctx, user: User, form: EvidenceForm = EvidenceForm.THIRD_PARTY
) -> Response:
    """The report as a download: by default the third-party form, for a takedown request
    (no licence terms, fees or notes)."""
    report = _report(ctx, agency_of(user), alert_id, form)
    return Response(
        json.dumps(report, indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": (
                f'attachment; filename="twinwatch-evidence-{alert_id}-{form.value}.json"'
            )
        },
    )


def _report(
    ctx: AppContext, principal: Principal, alert_id: int, form: EvidenceForm = EvidenceForm.INTERNAL
) -> dict[str, Any]:
    with ctx.db.session() as session:
        report = alerts.evidence(session, principal=principal, alert_id=alert_id, form=form)
    return report.model_dump(mode="json")
