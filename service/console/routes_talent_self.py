"""The talent's own pages: every sighting of their likeness, their portfolio as their agency
registered it and the copies of it found in use, every licence that names them (full terms,
consent status), signing a licence's exact terms with their typed name,
confirming a document uploaded in their name, withdrawing consent, every consent event of
theirs, the ledger of what they are owed (uses and flat fees) and their monthly statements.
Each page calls the same service function as the API route it mirrors (``/v1/me...``,
``/v1/me/portfolio``, ``/v1/licences/{id}/consent``, ``/v1/usage``, ``/v1/me/statements``),
with the signed-in talent's principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from indexer.db import utcnow
from service.access.sessions import SignedIn
from service.alerts import sightings as own_sightings
from service.alerts.derived_evidence import copies_of
from service.api.deps import Ctx, ObjectId
from service.api.forms import DATE_MAX
from service.console.deps import ConsoleRoute, FormUser, PageOffset, User
from service.console.downloads import recent_months, statement_download
from service.console.links import PREFIX
from service.console.portfolio_view import COPIES_PAGE, IMAGES_PAGE, copies_found, thumbnail
from service.console.rendering import jpeg, next_offset, page, previous_offset
from service.context import AppContext
from service.core import thumbnails as thumbs
from service.core.errors import ForbiddenError, InvalidRequestError
from service.core.principal import Principal, Role
from service.core.schemas import NAME_MAX, SHA256_HEX
from service.licensing import consent, statements, talent_view
from service.licensing.statement_schemas import StatementOut
from service.licensing.statements import StatementFormat
from service.licensing.usage import usage_report
from service.talents import portfolio_access

router = APIRouter(prefix=f"{PREFIX}/me", route_class=ConsoleRoute, include_in_schema=False)
SIGHTINGS_PAGE = 100
NOTICES = {
    "signed": "You signed this licence. It is in force from now, for these terms.",
    "withdrawn": "You withdrew your consent. Uses seen from now on are unlicensed; "
    "earlier ones stay licensed and paid.",
    "confirmed": "You confirmed the document. The licence is in force from now, for these terms.",
}
EVENTS_PAGE = 100


def talent_of(user: SignedIn) -> Principal:
    """The talent pages' gate: a talent's own account only."""
    if user.principal.role is not Role.TALENT:
        raise ForbiddenError("These pages are for talents' own accounts.")
    return user.principal


@router.get("")
def sightings(
    ctx: Ctx,
    user: User,
    offset: PageOffset = 0,
    rejected: bool = False,
) -> HTMLResponse:
    """Her sightings with their pictures and statuses; the ones her agency rejected ("not
    the same person") only when she asks (``rejected=true``)."""
    principal = talent_of(user)
    with ctx.db.session() as session:
        me = talent_view.me(session, principal=principal)
        hidden = own_sightings.rejected_findings(session, principal=principal)
        found = talent_view.sightings(
            session,
            principal=principal,
            offset=offset,
            limit=SIGHTINGS_PAGE,
            hide=() if rejected else hidden,
        )
        states = own_sightings.states(
            session, principal=principal, finding_ids=(s.finding_id for s in found.items)
        )
        copies = copies_of(session, talent_view.own_talent(session, principal).id)
    return page(
        "me_sightings.html",
        user=user,
        me=me,
        sightings=found,
        states=states,
        copies=copies,
        rejected_count=len(hidden),
        showing_rejected=rejected,
        next_offset=next_offset(offset, SIGHTINGS_PAGE, found.total),
    )


@router.get("/sightings/{finding_id}/face.jpg")
def sighting_face(finding_id: ObjectId, ctx: Ctx, user: User) -> Response:
    """The face crop of one of her own sightings (404 for anyone else's)."""
    with ctx.db.session() as session:
        path, box = own_sightings.own_face(
            session, principal=talent_of(user), finding_id=finding_id
        )
    data = ctx.evidence.read(path)
    return jpeg(thumbs.face_thumbnail(data, box, max_pixels=ctx.settings.max_image_pixels))


@router.get("/portfolio")
def portfolio(
    ctx: Ctx, user: User, offset: PageOffset = 0, copies_offset: PageOffset = 0
) -> HTMLResponse:
    """Her portfolio images (what her agency registered to find copies of) and every copy of
    them monitors found, each a page at a time; only her agency adds or removes images."""
    principal = talent_of(user)
    images = portfolio_access.list_own_images(
        ctx=ctx, principal=principal, offset=offset, limit=IMAGES_PAGE
    )
    with ctx.db.session() as session:
        me = talent_view.me(session, principal=principal)
        talent_id = talent_view.own_talent(session, principal).id
        copies, copies_total = copies_found(
            session, talent_id=talent_id, offset=copies_offset, limit=COPIES_PAGE
        )
    return page(
        "me_portfolio.html",
        user=user,
        me=me,
        images=images,
        next_offset=next_offset(offset, IMAGES_PAGE, images.total),
        previous_offset=previous_offset(offset, IMAGES_PAGE),
        copies=copies,
        copies_total=copies_total,
        older_copies=next_offset(copies_offset, COPIES_PAGE, copies_total),
        newer_copies=previous_offset(copies_offset, COPIES_PAGE),
    )


@router.get("/portfolio/{image_id}.jpg")
def portfolio_thumbnail(image_id: ObjectId, ctx: Ctx, user: User) -> Response:
    """A reduced copy of one of her own portfolio images (404 for anyone else's)."""
    principal = talent_of(user)
    with ctx.db.session() as session:
        talent_id = talent_view.own_talent(session, principal).id
    return jpeg(thumbnail(ctx, talent_id=talent_id, image_id=image_id))


@router.get("/licences")
def licences(ctx: Ctx, user: User) -> HTMLResponse:
    principal = talent_of(user)
    with ctx.db.session() as session:
        me = talent_view.me(session, principal=principal)
        items = talent_view.licences(session, principal=principal)
    return page("me_licences.html", user=user, me=me, licences=items)


@router.get("/licences/{licence_id}")
def licence(licence_id: ObjectId, ctx: Ctx, user: User, notice: str | None = None) -> HTMLResponse:
    principal = talent_of(user)
    with ctx.db.session() as session:
        me = talent_view.me(session, principal=principal)
        terms = talent_view.own_licence(session, principal=principal, licence_id=licence_id)
        detail = talent_view.licence_consent(session, principal=principal, licence_id=licence_id)
    return page(
        "me_licence.html",
        user=user,
        me=me,
        licence=terms,
        consent=detail,
        notice=NOTICES.get(notice or ""),
    )


@router.post("/licences/{licence_id}/sign")
def sign(
    licence_id: ObjectId,
    ctx: Ctx,
    user: FormUser,
    signature_name: Annotated[str, Form(max_length=NAME_MAX)] = "",
    terms_sha256: Annotated[str, Form(pattern=SHA256_HEX)] = "0" * 64,
) -> RedirectResponse:
    """The talent's own act: their typed name over the exact terms they read."""
    with ctx.db.session() as session:
        consent.sign(
            session,
            principal=talent_of(user),
            licence_id=licence_id,
            signature_name=signature_name,
            presented_sha256=terms_sha256,
        )
    return RedirectResponse(f"{PREFIX}/me/licences/{licence_id}?notice=signed", status_code=303)


@router.post("/licences/{licence_id}/records/{record_id}/confirm")
def confirm(
    licence_id: ObjectId,
    record_id: ObjectId,
    ctx: Ctx,
    user: FormUser,
    terms_sha256: Annotated[str, Form(pattern=SHA256_HEX)] = "0" * 64,
    document_sha256: Annotated[str, Form(pattern=SHA256_HEX)] = "0" * 64,
) -> RedirectResponse:
    """The talent's own act: she confirms the document uploaded in her name, as she saw it."""
    with ctx.db.session() as session:
        consent.confirm_document(
            session,
            principal=talent_of(user),
            licence_id=licence_id,
            record_id=record_id,
            presented_terms_sha256=terms_sha256,
            presented_document_sha256=document_sha256,
        )
    return RedirectResponse(f"{PREFIX}/me/licences/{licence_id}?notice=confirmed", status_code=303)


@router.get("/consent")
def consent_events(ctx: Ctx, user: User, offset: PageOffset = 0) -> HTMLResponse:
    """Every consent event of hers (her ledger chain), with the terms of each."""
    principal = talent_of(user)
    with ctx.db.session() as session:
        me = talent_view.me(session, principal=principal)
        events = talent_view.my_events(
            session, principal=principal, offset=offset, limit=EVENTS_PAGE
        )
    return page("me_consent.html", user=user, me=me, events=events)


@router.get("/licences/{licence_id}/withdraw")
def confirm_withdrawal(licence_id: ObjectId, ctx: Ctx, user: User) -> HTMLResponse:
    """The step before a withdrawal: what it does, and who is told."""
    principal = talent_of(user)
    with ctx.db.session() as session:
        me = talent_view.me(session, principal=principal)
        terms = talent_view.own_licence(session, principal=principal, licence_id=licence_id)
    return page("me_withdraw.html", user=user, me=me, licence=terms)


@router.post("/licences/{licence_id}/withdraw")
def withdraw(
    licence_id: ObjectId,
    ctx: Ctx,
    user: FormUser,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> RedirectResponse:
    """Her withdrawal, once she confirmed it on the page before (``confirm=yes``); her
    agency gets an e-mail and sees it on its consent page."""
    if confirm != "yes":
        raise InvalidRequestError("Confirm the withdrawal on the page that explains it first.")
    with ctx.db.session() as session:
        consent.withdraw(session, principal=talent_of(user), licence_id=licence_id)
    return RedirectResponse(f"{PREFIX}/me/licences/{licence_id}?notice=withdrawn", status_code=303)


@router.get("/ledger")
def ledger(ctx: Ctx, user: User) -> HTMLResponse:
    principal = talent_of(user)
    with ctx.db.session() as session:
        me = talent_view.me(session, principal=principal)
        report = usage_report(
            session,
            principal=principal,
            talent_id=None,
            licence_id=None,
            period_from=None,
            period_to=None,
        )
    return page("me_ledger.html", user=user, me=me, report=report, months=recent_months(utcnow()))


@router.get("/statements")
async def statement_file(
    ctx: Ctx,
    user: User,
    month: Annotated[str, Query(max_length=DATE_MAX)] = "",
    format: StatementFormat = StatementFormat.PDF,
) -> Response:
    """The talent's own monthly statement (``/v1/me/statements``) as a file."""
    principal = talent_of(user)
    statement = await run_in_threadpool(_own_statement, ctx, principal, month)
    return await statement_download(statement, form=format, talent_id=None)


def _own_statement(ctx: AppContext, principal: Principal, month: str) -> StatementOut:
    with ctx.db.session() as session:
        return statements.own_statement(session, principal=principal, month=month)
