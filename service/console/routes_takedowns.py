"""The agency's takedown pages: notices (draft from an inbox group, edit, confirm, HTML/PDF,
mark sent, re-check, the list with the overdue flag), the notice profile and e-mail
preferences. Each calls the same service function as the API route it mirrors."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from indexer.errors import TwinwatchError
from service.access.sessions import SignedIn
from service.alerts import emails
from service.alerts.schemas import EmailPreferencesIn
from service.api.deps import BoundedId, Ctx, ObjectId
from service.api.errors import status_of
from service.console.deps import ConsoleRoute, FormUser, User, agency_of
from service.console.links import PREFIX
from service.console.rendering import page
from service.context import AppContext
from service.core.errors import InvalidRequestError, ResourceNotFoundError
from service.core.pdf import render_pdf
from service.takedowns import notices, profiles, tracking
from service.takedowns.errors import TakedownIncompleteError
from service.takedowns.schemas import (
    AgencyProfileIn,
    NoticeCreate,
    NoticeFields,
    NoticeFieldsEdit,
    NoticeSend,
)
from service.takedowns.states import NoticeKind, NoticeStatus

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
NOTICES_PAGE = 100
FIELD_LABELS = {
    "recipient": "To (the service provider's designated agent or contact)",
    "notifier_name": "Notifier: rights holder or authorised agent",
    "notifier_address": "Notifier's postal address",
    "notifier_email": "Notifier's e-mail",
    "notifier_phone": "Notifier's telephone",
    "work_description": "The work and likeness concerned",
    "reasons": "Why the content is illegal (reasons)",
    "good_faith_statement": "Good-faith statement",
    "accuracy_statement": "Accuracy and authority, under penalty of perjury",
    "signature": "Signature (e.g. /s/ Full Name)",
    "additional_information": "Additional information (optional)",
}
#: Which fields each kind's form shows, in order.
FIELDS_SHOWN = {
    NoticeKind.DMCA: (
        "recipient",
        "notifier_name",
        "notifier_address",
        "notifier_email",
        "notifier_phone",
        "work_description",
        "good_faith_statement",
        "accuracy_statement",
        "signature",
        "additional_information",
    ),
    NoticeKind.DSA: (
        "recipient",
        "notifier_name",
        "notifier_email",
        "notifier_address",
        "reasons",
        "good_faith_statement",
        "signature",
        "additional_information",
    ),
}


M = TypeVar("M", bound=BaseModel)


def _parsed(model: type[M], values: dict[str, object], what: str) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise InvalidRequestError(f"The {what} is not valid: {problems}") from exc


def _see(notice_id: int, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/notices/{notice_id}{anchor}", status_code=303)


@router.get("/notices")
def notice_list(
    ctx: Ctx, user: User, status: NoticeStatus | None = None, overdue: bool | None = None
) -> HTMLResponse:
    principal = agency_of(user)
    with ctx.db.session() as session:
        found = notices.list_notices(
            session,
            principal=principal,
            status=status,
            overdue=overdue,
            offset=0,
            limit=NOTICES_PAGE,
            response_days=ctx.settings.takedown_response_days,
        )
    return page(
        "notices.html",
        user=user,
        notices=found,
        status=status.value if status else "",
        overdue=overdue,
        statuses=[s.value for s in NoticeStatus],
        response_days=ctx.settings.takedown_response_days,
    )


@router.post("/notices")
def draft(
    ctx: Ctx,
    user: FormUser,
    kind: Annotated[str, Form()],
    alert_id: Annotated[list[BoundedId] | None, Form()] = None,
) -> RedirectResponse:
    principal = agency_of(user)
    body = _parsed(NoticeCreate, {"kind": kind, "alert_ids": alert_id or []}, "notice request")
    with ctx.db.session() as session:
        created = notices.draft_notice(session, principal=principal, body=body)
    return _see(created.id)


@router.get("/notices/{notice_id}")
def notice_page(notice_id: ObjectId, ctx: Ctx, user: User) -> HTMLResponse:
    return _notice_page(ctx, user, notice_id)


def _notice_page(
    ctx: AppContext,
    user: SignedIn,
    notice_id: int,
    *,
    problem: TwinwatchError | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The notice, its fields to edit and its actions; ``problem`` says why an action
    was refused, on the page where it can be mended."""
    principal = agency_of(user)
    with ctx.db.session() as session:
        notice = notices.get_notice(
            session,
            principal=principal,
            notice_id=notice_id,
            response_days=ctx.settings.takedown_response_days,
        )
    return page(
        "notice.html",
        status_code=status_code,
        problem=problem,
        user=user,
        notice=notice,
        labels=FIELD_LABELS,
        shown=FIELDS_SHOWN[notice.kind],
        required=notices.REQUIRED[notice.kind],
        sendable={s.value for s in tracking.SENDABLE},
        checkable={s.value for s in tracking.CHECKABLE},
    )


@router.post("/notices/{notice_id}/edit")
async def edit(notice_id: ObjectId, request: Request, ctx: Ctx, user: FormUser) -> RedirectResponse:
    principal = agency_of(user)
    form = await request.form()
    values: dict[str, object] = {
        name: str(form[name]) for name in NoticeFields.model_fields if name in form
    }
    body = _parsed(NoticeFieldsEdit, values, "notice")
    with ctx.db.session() as session:
        notices.edit_notice(session, principal=principal, notice_id=notice_id, body=body)
    return _see(notice_id, "#saved")


@router.post("/notices/{notice_id}/confirm")
def confirm(notice_id: ObjectId, ctx: Ctx, user: FormUser) -> Response:
    """Make the draft final; an incomplete one stays on its page, saying what it needs."""
    principal = agency_of(user)
    try:
        with ctx.db.session() as session:
            notices.confirm_notice(
                session,
                principal=principal,
                notice_id=notice_id,
                store=ctx.evidence,
                max_pixels=ctx.settings.max_image_pixels,
            )
    except TakedownIncompleteError as exc:
        return _notice_page(ctx, user, notice_id, problem=exc, status_code=status_of(exc))
    return _see(notice_id)


@router.post("/notices/{notice_id}/sent")
def mark_sent(
    notice_id: ObjectId,
    ctx: Ctx,
    user: FormUser,
    sent_to: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> RedirectResponse:
    principal = agency_of(user)
    body = _parsed(
        NoticeSend, {"sent_to": sent_to.strip(), "note": note.strip() or None}, "sending record"
    )
    with ctx.db.session() as session:
        tracking.mark_sent(
            session,
            principal=principal,
            notice_id=notice_id,
            body=body,
            response_days=ctx.settings.takedown_response_days,
        )
    return _see(notice_id)


@router.post("/notices/{notice_id}/recheck")
async def recheck(notice_id: ObjectId, ctx: Ctx, user: FormUser) -> RedirectResponse:
    await tracking.recheck(pipeline=ctx.pipeline(), principal=agency_of(user), notice_id=notice_id)
    return _see(notice_id, "#urls")


@router.get("/notices/{notice_id}/notice.html")
def download_html(notice_id: ObjectId, ctx: Ctx, user: User) -> Response:
    html, name = notices.notice_document(
        ctx.db,
        principal=agency_of(user),
        notice_id=notice_id,
        store=ctx.evidence,
        max_pixels=ctx.settings.max_image_pixels,
    )
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.html"'},
    )


@router.get("/notices/{notice_id}/notice.pdf")
async def download_pdf(notice_id: ObjectId, ctx: Ctx, user: User) -> Response:
    html, name = await run_in_threadpool(
        notices.notice_document,
        ctx.db,
        principal=agency_of(user),
        notice_id=notice_id,
        store=ctx.evidence,
        max_pixels=ctx.settings.max_image_pixels,
    )
    pdf = await run_in_threadpool(render_pdf, html)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
    )


# --- the notice profile and e-mail preferences ----------------------------------------------
@router.get("/takedown-profile")
def profile_page(ctx: Ctx, user: User) -> HTMLResponse:
    principal = agency_of(user)
    with ctx.db.session() as session:
        try:
            current = profiles.get_profile(session, principal=principal).model_dump()
        except ResourceNotFoundError:
            current = {}
    return page("takedown_profile.html", user=user, profile=current)


@router.post("/takedown-profile")
def save_profile(
    ctx: Ctx,
    user: FormUser,
    rights_holder: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    signature_name: Annotated[str, Form()] = "",
) -> RedirectResponse:
    principal = agency_of(user)
    body = _parsed(
        AgencyProfileIn,
        {
            "rights_holder": rights_holder.strip(),
            "address": address.strip(),
            "email": email.strip(),
            "phone": phone.strip() or None,
            "signature_name": signature_name.strip(),
        },
        "profile",
    )
    with ctx.db.session() as session:
        notices.save_profile(session, principal=principal, body=body)
    return RedirectResponse(f"{PREFIX}/takedown-profile#saved", status_code=303)


@router.get("/email")
def email_page(ctx: Ctx, user: User) -> HTMLResponse:
    return _email_view(ctx, user)


def _email_view(
    ctx: Ctx, user: SignedIn, *, test: dict[str, str] | None = None, status_code: int = 200
) -> HTMLResponse:
    principal = agency_of(user)
    with ctx.db.session() as session:
        prefs = emails.get_preferences(session, principal=principal)
        recent = emails.list_messages(session, principal=principal, offset=0, limit=20)
    settings = ctx.settings
    return page(
        "email.html",
        status_code=status_code,
        user=user,
        prefs=prefs,
        recent=recent,
        configured=settings.sends_email(),
        # what the page may show of the SMTP set-up: never the username or the password
        smtp={
            "host": f"{settings.smtp_host}:{settings.smtp_port}",
            "sender": settings.smtp_from,
            "starttls": "yes" if settings.smtp_starttls else "no",
        },
        test=test,
    )


@router.post("/email/test")
def send_test_email(ctx: Ctx, user: FormUser) -> HTMLResponse:
    """One test message to the signed-in person's own address; the outcome on the page."""
    agency_of(user)
    if not ctx.settings.sends_email():
        outcome = {"status": "refused", "reason": "E-mail is not set up on this server."}
        return _email_view(ctx, user, test=outcome, status_code=409)
    result = emails.send_test_email(to=user.email, settings=ctx.settings)
    if result.sent:
        return _email_view(ctx, user, test={"status": "sent", "to": user.email})
    reason = result.error or "refused"
    return _email_view(ctx, user, test={"status": "refused", "to": user.email, "reason": reason})


@router.post("/email")
def save_email(
    ctx: Ctx,
    user: FormUser,
    recipients: Annotated[str, Form()] = "",
    immediate_matches: Annotated[str, Form()] = "",
    daily_digest: Annotated[str, Form()] = "",
    takedown_updates: Annotated[str, Form()] = "",
) -> RedirectResponse:
    principal = agency_of(user)
    addresses = [a.strip() for a in recipients.replace(",", "\n").splitlines() if a.strip()]
    body = _parsed(
        EmailPreferencesIn,
        {
            "recipients": addresses,
            "immediate_matches": bool(immediate_matches),
            "daily_digest": bool(daily_digest),
            "takedown_updates": bool(takedown_updates),
        },
        "e-mail preference",
    )
    with ctx.db.session() as session:
        emails.set_preferences(session, principal=principal, body=body)
    return RedirectResponse(f"{PREFIX}/email#saved", status_code=303)
