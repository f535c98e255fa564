"""A talent's portfolio over the API and the console: only her agency (or an admin)
registers, lists and removes her portfolio images; the talent herself sees them."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from indexer.imaging import DecodeLimits
from indexer.registry import PhotoInput
from service.access.scoping import talent_in_scope
from service.context import AppContext
from service.core.errors import InvalidRequestError
from service.core.principal import Principal
from service.core.schemas import Page
from service.licensing import talent_view
from service.talents import portfolio
from service.talents.schemas import PortfolioAddOut, PortfolioFileOut, PortfolioImageOut


def _check_scope(ctx: AppContext, principal: Principal, talent_id: int) -> None:
    with ctx.db.session() as session:
        talent_in_scope(session, principal=principal, talent_id=talent_id)


async def add_images(
    *, ctx: AppContext, principal: Principal, talent_id: int, files: list[PhotoInput]
) -> PortfolioAddOut:
    if not files:
        raise InvalidRequestError("Send at least one image in the `files` field.")
    await run_in_threadpool(_check_scope, ctx, principal, talent_id)
    with ctx.gate.admitted(principal.key_id):
        outcomes = await ctx.gate.run(
            portfolio.add_images,
            ctx.copies,
            talent_id=talent_id,
            files=files,
            limits=DecodeLimits.of(ctx.settings),
            max_images=ctx.settings.max_portfolio_images,
        )
    return PortfolioAddOut(
        talent_id=talent_id,
        files=[
            PortfolioFileOut(
                file=o.label,
                accepted=o.accepted,
                image_id=o.image_id,
                already_registered=o.already_registered,
                reason=o.reason,
            )
            for o in outcomes
        ],
    )


def list_images(
    *, ctx: AppContext, principal: Principal, talent_id: int, offset: int, limit: int
) -> Page[PortfolioImageOut]:
    _check_scope(ctx, principal, talent_id)
    return _listed(ctx, talent_id, offset=offset, limit=limit)


def list_own_images(
    *, ctx: AppContext, principal: Principal, offset: int, limit: int
) -> Page[PortfolioImageOut]:
    """The signed-in talent's own portfolio images (a talent key or account only)."""
    with ctx.db.session() as session:
        talent_id = talent_view.own_talent(session, principal).id
    return _listed(ctx, talent_id, offset=offset, limit=limit)


def _listed(ctx: AppContext, talent_id: int, *, offset: int, limit: int) -> Page[PortfolioImageOut]:
    entries, total = portfolio.list_images(
        ctx.copies, talent_id=talent_id, offset=offset, limit=limit
    )
    return Page[PortfolioImageOut](
        items=[image_out(e) for e in entries], total=total, offset=offset, limit=limit
    )


def image_out(entry: portfolio.PortfolioEntry) -> PortfolioImageOut:
    return PortfolioImageOut(
        id=entry.id,
        talent_id=entry.talent_id,
        name=entry.name,
        sha256=entry.sha256,
        width=entry.width,
        height=entry.height,
        face_box=None if entry.face_box is None else [round(v, 1) for v in entry.face_box],
    )


def remove_image(*, ctx: AppContext, principal: Principal, talent_id: int, image_id: int) -> None:
    _check_scope(ctx, principal, talent_id)
    portfolio.remove_image(ctx.copies, talent_id=talent_id, image_id=image_id)
