from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse

from service.access.scoping import alert_in_scope
from service.alerts import alerts, history, review, undo
from service.alerts.schemas import (
    AlertEventOut,
    AlertOut,
    InternalEvidenceOut,
    ReviewIn,
    ThirdPartyEvidenceOut,
    TriageIn,
)
from service.alerts.states import AlertStatus, EvidenceForm
from service.api.deps import AgencyPrincipal, Ctx, IdFilter, ObjectId, PageParams
from service.api.docs import responses
from service.api.forms import DATE_MAX, PublisherFilter, located
from service.core.errors import ResourceNotFoundError
from service.core.schemas import NO_NUL, Page
from service.rules.dates import end_or_error, start_or_error

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
Form = Annotated[
    EvidenceForm,
    Query(
        description="internal: for the agency (licence terms, "
        "notes); third_party: for a takedown recipient (none)."
    ),
]


@router.get("", response_model=Page[AlertOut], summary="This agency's alerts, latest first")
def list_alerts(
    ctx: Ctx,
    principal: AgencyPrincipal,
    page: PageParams,
    status: AlertStatus | None = None,
    talent_id: IdFilter = None,
    publisher: PublisherFilter = None,
    since: Annotated[
        str | None,
        Query(
            max_length=DATE_MAX,
            pattern=NO_NUL,
            description="Seen on/after: a date (from its start, UTC) or date-time.",
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(
            max_length=DATE_MAX,
            pattern=NO_NUL,
            description="Seen on/before: a date (to its end, UTC) or date-time (inclusive).",
        ),
    ] = None,
    needs_review: bool | None = None,
) -> Page[AlertOut]:
    publisher = located(publisher, "publisher")
    start = start_or_error(since, field="since")
    end = end_or_error(until, field="until", inclusive=True)
    with ctx.db.session() as session:
        return alerts.list_alerts(
            session,
            principal=principal,
            status=status,
            talent_id=talent_id,
            publisher=publisher,
            since=start,
            until_before=end,
            needs_review=needs_review,
            offset=page.offset,
            limit=page.limit,
        )


@router.get("/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: ObjectId, ctx: Ctx, principal: AgencyPrincipal) -> AlertOut:
    with ctx.db.session() as session:
        return alerts.get_alert(session, principal=principal, alert_id=alert_id)


@router.post(
    "/{alert_id}/triage",
    response_model=AlertOut,
    responses=responses(409),
    summary="Acknowledge, dismiss as false match, mark licensed elsewhere, confirm "
    "(409 triage_not_allowed when the action does not apply to the alert's status)",
)
def triage_alert(
    alert_id: ObjectId, body: TriageIn, ctx: Ctx, principal: AgencyPrincipal
) -> AlertOut:
    with ctx.db.session() as session:
        return alerts.triage(
            session, principal=principal, alert_id=alert_id, action=body.action, note=body.note
        )


@router.post(
    "/{alert_id}/review",
    response_model=AlertOut,
    responses=responses(409),
    summary="Review a match side by side: same_person confirms it; not_same_person "
    "dismisses it and keeps that face from matching that talent again (409 "
    "review_not_allowed unless open or acknowledged and about a face)",
)
def review_alert(
    alert_id: ObjectId, body: ReviewIn, ctx: Ctx, principal: AgencyPrincipal
) -> AlertOut:
    with ctx.db.session() as session:
        return review.review(
            session, principal=principal, alert_id=alert_id, decision=body.decision, note=body.note
        )


@router.post(
    "/{alert_id}/undo",
    response_model=AlertOut,
    responses=responses(409),
    summary="Take back the alert's newest triage or review, made by the caller in the last "
    "15 minutes (409 undo_not_allowed otherwise); the history records the undo",
)
def undo_alert(alert_id: ObjectId, ctx: Ctx, principal: AgencyPrincipal) -> AlertOut:
    with ctx.db.session() as session:
        return undo.undo(session, principal=principal, alert_id=alert_id)


@router.get(
    "/{alert_id}/history",
    response_model=list[AlertEventOut],
    summary="Every triage and review of the alert: who, when, from, to, note",
)
def alert_history(alert_id: ObjectId, ctx: Ctx, principal: AgencyPrincipal) -> list[AlertEventOut]:
    with ctx.db.session() as session:
        return history.alert_history(session, principal=principal, alert_id=alert_id)


@router.get(
    "/{alert_id}/evidence",
    response_model=InternalEvidenceOut | ThirdPartyEvidenceOut,
    summary="Evidence export (JSON): internal, or third-party for a takedown request",
)
def get_evidence(
    alert_id: ObjectId, ctx: Ctx, principal: AgencyPrincipal, form: Form = EvidenceForm.INTERNAL
) -> alerts.Evidence:
    with ctx.db.session() as session:
        return alerts.evidence(session, principal=principal, alert_id=alert_id, form=form)


@router.get(
    "/{alert_id}/evidence.html",
    response_class=HTMLResponse,
    summary="Evidence report, human-readable: internal or third-party",
)
def get_evidence_html(
    alert_id: ObjectId, ctx: Ctx, principal: AgencyPrincipal, form: Form = EvidenceForm.INTERNAL
) -> HTMLResponse:
    with ctx.db.session() as session:
        report = alerts.evidence(session, principal=principal, alert_id=alert_id, form=form)
    return HTMLResponse(alerts.evidence_html(report))


@router.get(
    "/{alert_id}/evidence/image",
    response_class=Response,
    summary="The image kept as evidence (while within retention)",
)
def get_evidence_image(alert_id: ObjectId, ctx: Ctx, principal: AgencyPrincipal) -> Response:
    with ctx.db.session() as session:
        alert = alert_in_scope(session, principal=principal, alert_id=alert_id)
        path = alert.evidence_path
    if path is None:
        raise ResourceNotFoundError(
            f"Alert {alert_id} has no kept image (not kept, or past its retention date)."
        )
    return Response(
        ctx.evidence.read(path),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="alert-{alert_id}"'},
    )
