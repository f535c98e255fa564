"""Talents and reference photos over the API (the same quality gate as the CLI)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from indexer.db import Talent
from indexer.registry import EnrolOutcome, PhotoInput, TalentSummary
from service.access.keys import Principal, Role
from service.access.scoping import talent_in_scope
from service.context import AppContext
from service.errors import ExternalIdConflictError, InvalidRequestError, TalentNameTakenError
from service.schemas import (
    EnrolOut,
    EraseOut,
    ModelPackOut,
    Page,
    PhotoOutcomeOut,
    TalentCreate,
    TalentOut,
)


def _pack(ctx: AppContext) -> ModelPackOut:
    return ModelPackOut(name=ctx.analyser.pack.name, version=ctx.analyser.pack.version)


def talent_out(ctx: AppContext, summary: TalentSummary) -> TalentOut:
    return TalentOut(id=summary.id, name=summary.name, agency=summary.agency,
                     agency_id=summary.agency_id, external_id=summary.external_id,
                     status=summary.status, references=summary.references,
                     embeddings=summary.embeddings, model_pack=_pack(ctx))


def create_talent(*, ctx: AppContext, principal: Principal, body: TalentCreate) -> TalentOut:
    """A new talent, always: two talents may share a name. ``external_id`` is unique per
    agency; a duplicate answers 409 naming the existing talent. Admin keys name an existing
    agency (a typo must not create one)."""
    principal.require(Role.AGENCY)
    if principal.is_admin:
        if not body.agency:
            raise InvalidRequestError("Admin keys must name the talent's `agency`.")
        agency_id = ctx.registry.find_agency(name=body.agency).id
    else:
        if body.agency:
            raise InvalidRequestError("Agency keys create talents in their own agency; omit "
                                      "`agency`.")
        assert principal.agency_id is not None
        agency_id = principal.agency_id
    if not body.name.strip():
        raise InvalidRequestError("A talent needs a name.", field="name")
    talent_id = _insert_talent(ctx, agency_id=agency_id, name=body.name.strip(),
                               external_id=_external_id(body.external_id))
    return talent_out(ctx, ctx.registry.get_talent(talent_id=talent_id))


def _external_id(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _existing_external_id(session: Session, *, agency_id: int, external_id: str) -> int | None:
    return session.scalar(select(Talent.id).where(Talent.agency_id == agency_id,
                                                  Talent.external_id == external_id))


def _insert_talent(ctx: AppContext, *, agency_id: int, name: str, external_id: str | None
                   ) -> int:
    try:
        with ctx.db.session() as session:
            if external_id is not None:
                _refuse_duplicate(session, agency_id=agency_id, external_id=external_id)
            talent = Talent(agency_id=agency_id, name=name, external_id=external_id)
            session.add(talent)
            session.flush()
            return talent.id
    except IntegrityError:  # a unique constraint (or a concurrent insert) refused the row
        with ctx.db.session() as session:
            if external_id is not None:
                _refuse_duplicate(session, agency_id=agency_id, external_id=external_id)
            _refuse_taken_name(session, agency_id=agency_id, name=name)
        raise


def _refuse_taken_name(session: Session, *, agency_id: int, name: str) -> None:
    existing = session.scalar(select(Talent.id).where(Talent.agency_id == agency_id,
                                                      Talent.name == name))
    if existing is not None:
        raise TalentNameTakenError(
            f"This agency already has a talent named {name!r} (talent {existing}); the "
            "database still requires one talent per name.", existing_id=existing)


def _refuse_duplicate(session: Session, *, agency_id: int, external_id: str) -> None:
    existing = _existing_external_id(session, agency_id=agency_id, external_id=external_id)
    if existing is not None:
        raise ExternalIdConflictError(
            f"This agency already has a talent with external id {external_id!r} "
            f"(talent {existing}).", existing_id=existing)


def list_talents(*, ctx: AppContext, principal: Principal, offset: int, limit: int
                 ) -> Page[TalentOut]:
    principal.require(Role.AGENCY)
    agency_id = None if principal.is_admin else principal.agency_id
    items = ctx.registry.list_talents(agency_id=agency_id, offset=offset, limit=limit)
    return Page[TalentOut](items=[talent_out(ctx, t) for t in items],
                           total=ctx.registry.count_talents(agency_id=agency_id),
                           offset=offset, limit=limit)


def get_talent(*, ctx: AppContext, principal: Principal, talent_id: int) -> TalentOut:
    principal.require(Role.AGENCY)
    with ctx.db.session() as session:
        talent_in_scope(session, principal=principal, talent_id=talent_id)
    return talent_out(ctx, ctx.registry.get_talent(talent_id=talent_id))


async def enrol_photos(*, ctx: AppContext, principal: Principal, talent_id: int,
                       photos: list[PhotoInput]) -> EnrolOut:
    principal.require(Role.AGENCY)
    if not photos:
        raise InvalidRequestError("Send at least one photo in the `files` field.")
    await run_in_threadpool(_check_scope, ctx, principal, talent_id)
    with ctx.gate.admitted(principal.key_id):
        outcomes = await ctx.gate.run(ctx.registry.enrol_photos, talent_id=talent_id,
                                      photos=photos)
    return EnrolOut(talent_id=talent_id, model_pack=_pack(ctx),
                    photos=[_outcome_out(o) for o in outcomes])


def _check_scope(ctx: AppContext, principal: Principal, talent_id: int) -> None:
    with ctx.db.session() as session:
        talent_in_scope(session, principal=principal, talent_id=talent_id)


def _outcome_out(outcome: EnrolOutcome) -> PhotoOutcomeOut:
    figures = outcome.figures
    return PhotoOutcomeOut(
        file=outcome.label, accepted=outcome.accepted, already_enrolled=outcome.already_enrolled,
        reference_id=outcome.reference_id, reasons=outcome.reasons,
        face_px=round(figures.face_px, 1) if figures else None,
        detection_score=round(figures.detection_score, 3) if figures else None,
        sharpness=round(figures.blur, 1) if figures else None)


def remove_reference(*, ctx: AppContext, principal: Principal, talent_id: int,
                     reference_id: int) -> None:
    principal.require(Role.AGENCY)
    _check_scope(ctx, principal, talent_id)
    ctx.registry.remove_reference(talent_id=talent_id, reference_id=reference_id)


def erase_talent(*, ctx: AppContext, principal: Principal, talent_id: int) -> EraseOut:
    """Every trace: rows (licences, findings, alerts, usage too), vectors, photos, evidence."""
    principal.require(Role.AGENCY)
    _check_scope(ctx, principal, talent_id)
    report = ctx.registry.erase_talent(talent_id=talent_id)
    return EraseOut(talent_id=talent_id, erased=True,
                    references_removed=report.references_removed,
                    embeddings_removed=report.embeddings_removed)
