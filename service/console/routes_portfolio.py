"""A talent's portfolio in the agency's console (issue 22): her shoot and campaign images
(thumbnails, name, size, whether her face was found), adding images (each file's outcome in
plain words), removing one after a confirmation, and the copies of them monitors found, a
page at a time. Every action calls the same portfolio service function as the API
(service.talents.portfolio_access): only her agency (or an admin) sees or changes it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from indexer.errors import TwinwatchError
from indexer.registry import PhotoInput
from service.access.scoping import talent_in_scope
from service.access.sessions import SignedIn
from service.api.deps import Ctx, ObjectId
from service.api.forms import check_upload_names
from service.console.deps import ConsoleRoute, FormUser, PageOffset, User, agency_of
from service.console.links import PREFIX
from service.console.portfolio_view import (
    COPIES_PAGE,
    IMAGES_PAGE,
    copies_found,
    kept_image,
    thumbnail,
)
from service.console.rendering import jpeg, next_offset, page, previous_offset
from service.context import AppContext
from service.core.errors import InvalidRequestError
from service.core.principal import Principal
from service.scanning.uploads import read_upload
from service.talents import portfolio_access, talents
from service.talents.errors import PortfolioFullError
from service.talents.schemas import PortfolioFileOut

log = logging.getLogger(__name__)
router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


def _verdict(answer: PortfolioFileOut) -> str:
    if answer.already_registered:
        return "already registered"
    return "added" if answer.accepted else "refused"


@dataclass(frozen=True)
class FileOutcome:
    """One uploaded file's outcome, in the words the page shows."""

    file: str
    verdict: str  # added | already registered | refused
    reason: str | None = None


def _in_scope(ctx: AppContext, principal: Principal, talent_id: int) -> None:
    with ctx.db.session() as session:
        talent_in_scope(session, principal=principal, talent_id=talent_id)


def _portfolio_url(talent_id: int) -> str:
    return f"{PREFIX}/talents/{talent_id}/portfolio"


@router.get("/talents/{talent_id}/portfolio/{image_id}.jpg")
def portfolio_thumbnail(talent_id: ObjectId, image_id: ObjectId, ctx: Ctx, user: User) -> Response:
    """A reduced copy of one of her portfolio images (never the file itself)."""
    _in_scope(ctx, agency_of(user), talent_id)
    return jpeg(thumbnail(ctx, talent_id=talent_id, image_id=image_id))


@router.get("/talents/{talent_id}/portfolio")
def portfolio_page(
    talent_id: ObjectId,
    ctx: Ctx,
    user: User,
    offset: PageOffset = 0,
    copies_offset: PageOffset = 0,
    removed: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    return _page(ctx, user, talent_id, offset=offset, copies_offset=copies_offset, removed=removed)


def _page(
    ctx: AppContext,
    user: SignedIn,
    talent_id: int,
    *,
    offset: int = 0,
    copies_offset: int = 0,
    outcomes: list[FileOutcome] | None = None,
    problem: str | None = None,
    removed: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    principal = agency_of(user)
    talent = talents.get_talent(ctx=ctx, principal=principal, talent_id=talent_id)
    images = portfolio_access.list_images(
        ctx=ctx, principal=principal, talent_id=talent_id, offset=offset, limit=IMAGES_PAGE
    )
    with ctx.db.session() as session:
        copies, copies_total = copies_found(
            session, talent_id=talent_id, offset=copies_offset, limit=COPIES_PAGE
        )
    return page(
        "portfolio.html",
        status_code=status_code,
        user=user,
        talent=talent,
        images=images,
        limit=ctx.settings.max_portfolio_images,
        max_files=ctx.settings.max_batch_items,
        max_bytes=ctx.settings.max_upload_bytes,
        next_offset=next_offset(offset, IMAGES_PAGE, images.total),
        previous_offset=previous_offset(offset, IMAGES_PAGE),
        copies=copies,
        copies_total=copies_total,
        copies_offset=copies_offset,
        older_copies=next_offset(copies_offset, COPIES_PAGE, copies_total),
        newer_copies=previous_offset(copies_offset, COPIES_PAGE),
        outcomes=outcomes,
        problem=problem,
        removed=removed,
    )


def _was_chosen(upload: UploadFile) -> bool:
    """A browser sends an empty file part when no file was chosen."""
    return bool(upload.filename or upload.size)


@router.post("/talents/{talent_id}/portfolio")
async def add_images(
    talent_id: ObjectId,
    ctx: Ctx,
    user: FormUser,
    files: Annotated[list[UploadFile], File()] = [],  # noqa: B006
) -> HTMLResponse:
    """Register the images chosen; the page lists each file's outcome (added, already
    registered, or refused with the reason) above the portfolio."""
    principal = agency_of(user)
    await run_in_threadpool(_in_scope, ctx, principal, talent_id)
    chosen = [upload for upload in files if _was_chosen(upload)]
    try:
        if not chosen:
            raise InvalidRequestError("Choose at least one image to add.", field="files")
        check_upload_names(chosen, max_files=ctx.settings.max_batch_items)
    except InvalidRequestError as exc:
        return await run_in_threadpool(
            _page, ctx, user, talent_id, problem=exc.message, status_code=422
        )
    outcomes: list[FileOutcome | None] = []
    photos: list[PhotoInput] = []
    for n, upload in enumerate(chosen, start=1):
        name = upload.filename or f"image-{n}"
        try:
            photos.append(
                PhotoInput(name, await read_upload(upload, max_bytes=ctx.settings.max_upload_bytes))
            )
            outcomes.append(None)  # decided by the portfolio service below
        except TwinwatchError as exc:  # over the size limit
            outcomes.append(FileOutcome(name, "refused", exc.message))
    status_code = 200
    if photos:
        try:
            added = await portfolio_access.add_images(
                ctx=ctx, principal=principal, talent_id=talent_id, files=photos
            )
            decided = [FileOutcome(f.file, _verdict(f), f.reason) for f in added.files]
        except PortfolioFullError as exc:
            status_code = 409
            decided = [FileOutcome(p.label, "refused", exc.message) for p in photos]
        answers = iter(decided)
        outcomes = [o if o is not None else next(answers) for o in outcomes]
    shown = [o for o in outcomes if o is not None]
    log.info(
        "portfolio upload for talent %d: %d added, %d refused",
        talent_id,
        sum(o.verdict == "added" for o in shown),
        sum(o.verdict == "refused" for o in shown),
    )
    return await run_in_threadpool(
        _page, ctx, user, talent_id, outcomes=shown, status_code=status_code
    )


@router.post("/talents/{talent_id}/portfolio/{image_id}/remove")
def remove_image(
    talent_id: ObjectId,
    image_id: ObjectId,
    ctx: Ctx,
    user: FormUser,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """First a page asking to confirm (the image, what removing it means); removed only
    when that page's button is pressed."""
    principal = agency_of(user)
    _in_scope(ctx, principal, talent_id)
    with ctx.db.session() as session:
        kept = kept_image(session, talent_id=talent_id, image_id=image_id)
    if confirm != "yes":
        talent = talents.get_talent(ctx=ctx, principal=principal, talent_id=talent_id)
        return page(
            "portfolio_remove.html", user=user, talent=talent, image_id=image_id, name=kept.name
        )
    portfolio_access.remove_image(
        ctx=ctx, principal=principal, talent_id=talent_id, image_id=image_id
    )
    log.info("portfolio image %d of talent %d removed in the console", image_id, talent_id)
    return RedirectResponse(f"{_portfolio_url(talent_id)}?removed={image_id}", status_code=303)
