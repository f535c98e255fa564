"""Talents and reference photos over the API (the same quality gate as the CLI)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from indexer.registry import EnrolOutcome, PhotoInput, TalentSummary
from service.access import accounts
from service.access import mail as account_mail
from service.access.errors import EmailNotSentError, InvitationNeedsOperatorError
from service.access.scoping import talent_in_scope
from service.context import AppContext
from service.core.errors import InvalidRequestError
from service.core.principal import Principal, Role
from service.core.schemas import ModelPackOut, Page
from service.talents.advice import advice
from service.talents.schemas import (
    EnrolOut,
    EraseOut,
    PhotoOutcomeOut,
    TalentCreate,
    TalentInvitationIn,
    TalentInvitationOut,
    TalentOut,
)


def invite_talent(
    *, ctx: AppContext, principal: Principal, talent_id: int, body: TalentInvitationIn
) -> TalentInvitationOut:
    """The agency invites one of its talents to her own account (see
    ``accounts.invite_talent_user``: one account per talent, never one in use). The link is
    e-mailed to the talent's address and the answer names it masked (``sent_to``); only an
    admin, the operator, gets the link itself (``invitation_url``), to hand over. Without an
    SMTP server an agency's invitation is refused (``invitation_needs_operator``)."""
    settings = ctx.settings
    by_operator = principal.is_admin
    with ctx.db.session() as session:
        principal.require(Role.AGENCY)
        talent = talent_in_scope(session, principal=principal, talent_id=talent_id)
        accounts.normalise_email(body.email)  # a bad address is a bad address, e-mail or not
        if not by_operator and not settings.sends_email():
            raise InvitationNeedsOperatorError(
                "This twinwatch sends no e-mail (no SMTP server is configured), so the "
                "invitation cannot go to the talent's own address. Ask your twinwatch operator "
                "to issue it: an admin in the console (Admin: Users) or on the command line "
                f"(twinwatch users create --role talent --talent {talent_id} --email ...)."
            )
        invited = accounts.invite_talent_user(
            session,
            principal=principal,
            talent_id=talent_id,
            email=body.email,
            valid_hours=settings.invitation_hours,
        )
        talent_name = talent.name
    out = TalentInvitationOut(
        talent_id=talent_id,
        user_id=invited.user_id,
        email=invited.email,
        expires_at=invited.expires_at,
    )
    sent = out.model_copy(update={"sent_to": accounts.mask_email(out.email)})
    if invited.token is None:
        # The address is another tenant's account (accounts._held_invitation; never an
        # admin's): the same answer as for a fresh address, and that address gets a note
        # without a link, naming neither the agency nor the talent.
        account_mail.send_invitation_not_made(settings, user_id=out.user_id, to=out.email)
        return sent
    url = settings.invitation_url(invited.token)
    if by_operator:
        return out.model_copy(update={"invitation_url": url})
    try:
        account_mail.send_invitation(
            settings, user_id=out.user_id, to=out.email, link=url, talent_name=talent_name
        )
    except EmailNotSentError:
        with ctx.db.session() as session:
            accounts.void_invitation(session, token=invited.token)
        raise
    return sent


def _pack(ctx: AppContext) -> ModelPackOut:
    return ModelPackOut(name=ctx.analyser.pack.name, version=ctx.analyser.pack.version)


def talent_out(ctx: AppContext, summary: TalentSummary) -> TalentOut:
    return TalentOut(
        id=summary.id,
        name=summary.name,
        agency=summary.agency,
        agency_id=summary.agency_id,
        external_id=summary.external_id,
        status=summary.status,
        references=summary.references,
        embeddings=summary.embeddings,
        model_pack=_pack(ctx),
    )


def create_talent(*, ctx: AppContext, principal: Principal, body: TalentCreate) -> TalentOut:
    principal.require(Role.AGENCY)
    if principal.is_admin:
        if not body.agency:
            raise InvalidRequestError("Admin keys must name the talent's `agency`.")
        agency_id = ctx.registry.find_agency(name=body.agency).id
    else:
        if body.agency:
            raise InvalidRequestError(
                "Agency keys create talents in their own agency; omit `agency`."
            )
        assert principal.agency_id is not None
        agency_id = principal.agency_id
    talent = ctx.registry.create_talent(
        agency_id=agency_id, name=body.name, external_id=body.external_id
    )
    return talent_out(ctx, ctx.registry.get_talent(talent_id=talent.id))


def list_talents(
    *, ctx: AppContext, principal: Principal, offset: int, limit: int
) -> Page[TalentOut]:
    principal.require(Role.AGENCY)
    agency_id = None if principal.is_admin else principal.agency_id
    items = ctx.registry.list_talents(agency_id=agency_id, offset=offset, limit=limit)
    return Page[TalentOut](
        items=[talent_out(ctx, t) for t in items],
        total=ctx.registry.count_talents(agency_id=agency_id),
        offset=offset,
        limit=limit,
    )


def get_talent(*, ctx: AppContext, principal: Principal, talent_id: int) -> TalentOut:
    principal.require(Role.AGENCY)
    with ctx.db.session() as session:
        talent_in_scope(session, principal=principal, talent_id=talent_id)
    return talent_out(ctx, ctx.registry.get_talent(talent_id=talent_id))


async def enrol_photos(
    *, ctx: AppContext, principal: Principal, talent_id: int, photos: list[PhotoInput]
) -> EnrolOut:
    principal.require(Role.AGENCY)
    if not photos:
        raise InvalidRequestError("Send at least one photo in the `files` field.")
    await run_in_threadpool(_check_scope, ctx, principal, talent_id)
    with ctx.gate.admitted(principal.key_id):
        outcomes = await ctx.gate.run(ctx.registry.enrol_photos, talent_id=talent_id, photos=photos)
    return EnrolOut(
        talent_id=talent_id, model_pack=_pack(ctx), photos=[_outcome_out(o) for o in outcomes]
    )


def _check_scope(ctx: AppContext, principal: Principal, talent_id: int) -> None:
    with ctx.db.session() as session:
        talent_in_scope(session, principal=principal, talent_id=talent_id)


def _outcome_out(outcome: EnrolOutcome) -> PhotoOutcomeOut:
    figures = outcome.figures
    return PhotoOutcomeOut(
        file=outcome.label,
        accepted=outcome.accepted,
        already_enrolled=outcome.already_enrolled,
        reference_id=outcome.reference_id,
        reasons=outcome.reasons,
        advice=[] if outcome.accepted else advice(outcome.refusals, outcome.reasons),
        face_px=round(figures.face_px, 1) if figures else None,
        detection_score=round(figures.detection_score, 3) if figures else None,
        sharpness=round(figures.blur, 1) if figures else None,
    )


def remove_reference(
    *, ctx: AppContext, principal: Principal, talent_id: int, reference_id: int
) -> None:
    principal.require(Role.AGENCY)
    _check_scope(ctx, principal, talent_id)
    ctx.registry.remove_reference(talent_id=talent_id, reference_id=reference_id)


def erase_talent(*, ctx: AppContext, principal: Principal, talent_id: int) -> EraseOut:
    """Every trace: rows (licences, findings, alerts, usage too), vectors, photos, evidence,
    and the idempotency records whose stored answers name the talent."""
    principal.require(Role.AGENCY)
    _check_scope(ctx, principal, talent_id)
    report = ctx.registry.erase_talent(talent_id=talent_id)
    return EraseOut(
        talent_id=talent_id,
        erased=True,
        references_removed=report.references_removed,
        embeddings_removed=report.embeddings_removed,
    )
