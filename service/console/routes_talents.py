"""The agency's talent pages: the list, adding a talent with their first photos, a talent's
reference photos with their quality figures, adding photos (the quality gate's verdict per
photo), removing one, erasing the talent, and the talent's own account (its state and masked
address; the invitation, which goes to the talent by e-mail). Every action calls the same
talents service function as the API."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from indexer.db import ReferenceImage
from indexer.errors import ExternalIdTakenError
from indexer.registry import PhotoInput
from service.access import accounts
from service.access.scoping import talent_in_scope
from service.access.sessions import SignedIn
from service.api.deps import Ctx, ObjectId
from service.api.forms import check_upload_names
from service.console.deps import ConsoleRoute, FormUser, PageOffset, User, agency_of
from service.console.inbox import talent_activity
from service.console.links import PREFIX
from service.console.once import OnceToken, once
from service.console.rendering import field_errors, jpeg, page
from service.context import AppContext
from service.core import thumbnails as thumbs
from service.core.errors import InvalidRequestError, ResourceNotFoundError
from service.core.schemas import NAME_MAX
from service.scanning.uploads import read_upload
from service.talents import talents
from service.talents.schemas import PhotoOutcomeOut, TalentCreate, TalentInvitationIn

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


@router.get("/talents/{talent_id}/references/{reference_id}.jpg")
def reference_face(talent_id: ObjectId, reference_id: ObjectId, ctx: Ctx, user: User) -> Response:
    with ctx.db.session() as session:
        talent_in_scope(session, principal=agency_of(user), talent_id=talent_id)
        reference = session.get(ReferenceImage, reference_id)
        if reference is None or reference.talent_id != talent_id or not reference.stored_path:
            raise ResourceNotFoundError(
                f"Talent {talent_id} has no kept reference photo {reference_id}."
            )
        path = reference.stored_path
        box = [reference.face_x1, reference.face_y1, reference.face_x2, reference.face_y2]
    data = ctx.registry.photos.read(path)
    return jpeg(thumbs.face_thumbnail(data, box, max_pixels=ctx.settings.max_image_pixels))


@router.get("/talents")
def talent_list(ctx: Ctx, user: User, offset: PageOffset = 0) -> HTMLResponse:
    principal = agency_of(user)
    found = talents.list_talents(ctx=ctx, principal=principal, offset=offset, limit=100)
    with ctx.db.session() as session:
        activity = talent_activity(session, (t.id for t in found.items))
    return page("talents.html", user=user, talents=found, activity=activity)


@router.get("/talents/new")
def new_talent(user: User) -> HTMLResponse:
    agency_of(user)
    return _new_talent_page(user, {"name": "", "external_id": ""}, {})


def _new_talent_page(
    user: SignedIn, values: dict[str, str], errors: dict[str, str], status_code: int = 200
) -> HTMLResponse:
    return page(
        "talent_new.html",
        status_code=status_code,
        user=user,
        values=values,
        errors=errors,
        name_max=NAME_MAX,
    )


@router.post("/talents")
async def create_talent(
    ctx: Ctx,
    user: FormUser,
    name: Annotated[str, Form(max_length=NAME_MAX * 2)] = "",
    external_id: Annotated[str, Form(max_length=NAME_MAX * 2)] = "",
    files: Annotated[list[UploadFile], File()] = [],  # noqa: B006
    token: OnceToken = "",
) -> Response:
    """Register the talent and enrol the photos sent with it (the quality gate's verdict per
    photo on the talent's page); the same form sent again adds nothing and leads there."""
    principal = agency_of(user)
    values = {"name": name, "external_id": external_id}

    async def save() -> tuple[str | None, Response]:
        try:
            body = TalentCreate(name=name, external_id=external_id.strip() or None)
        except ValidationError as exc:
            return None, _new_talent_page(user, values, field_errors(exc), status_code=422)
        try:
            check_upload_names(_chosen(files), max_files=ctx.settings.max_batch_items)
        except InvalidRequestError as exc:
            return None, _new_talent_page(user, values, {"files": exc.message}, status_code=422)
        photos = [await _photo(ctx, upload, n) for n, upload in enumerate(files, start=1)]
        try:
            created = await run_in_threadpool(
                partial(talents.create_talent, ctx=ctx, principal=principal, body=body)
            )
        except ExternalIdTakenError as exc:
            errors = {"external_id": exc.message}
            return None, _new_talent_page(user, values, errors, status_code=409)
        outcomes = None
        if kept := [photo for photo in photos if photo is not None]:
            enrolled = await talents.enrol_photos(
                ctx=ctx, principal=principal, talent_id=created.id, photos=kept
            )
            outcomes = enrolled.photos
        location = f"{PREFIX}/talents/{created.id}"
        shown = await run_in_threadpool(
            _talent_page, ctx, user, created.id, outcomes=outcomes, status_code=201
        )
        return location, shown

    return await once(ctx=ctx, user=user, token=token, path="/talents", handler=save)


def _was_chosen(upload: UploadFile) -> bool:
    """A browser sends an empty file part when no file was chosen."""
    return bool(upload.filename or upload.size)


def _chosen(files: list[UploadFile]) -> list[UploadFile]:
    return [upload for upload in files if _was_chosen(upload)]


async def _photo(ctx: AppContext, upload: UploadFile, n: int) -> PhotoInput | None:
    if not _was_chosen(upload):
        return None
    data = await read_upload(upload, max_bytes=ctx.settings.max_upload_bytes)
    return PhotoInput(upload.filename or f"photo-{n}", data)


@router.get("/talents/{talent_id}")
def talent_page(talent_id: ObjectId, ctx: Ctx, user: User) -> HTMLResponse:
    return _talent_page(ctx, user, talent_id)


def _talent_page(
    ctx: AppContext,
    user: SignedIn,
    talent_id: int,
    *,
    outcomes: list[PhotoOutcomeOut] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    talent = talents.get_talent(ctx=ctx, principal=agency_of(user), talent_id=talent_id)
    references = ctx.registry.references(talent_id=talent_id)
    with ctx.db.session() as session:
        activity = talent_activity(session, [talent_id])[talent_id]
    return page(
        "talent.html",
        status_code=status_code,
        user=user,
        talent=talent,
        references=references,
        activity=activity,
        outcomes=outcomes,
    )


@router.post("/talents/{talent_id}/photos")
async def add_photos(
    talent_id: ObjectId, ctx: Ctx, user: FormUser, files: Annotated[list[UploadFile], File()]
) -> HTMLResponse:
    """The quality gate's verdict per photo, shown on the talent's page."""
    check_upload_names(_chosen(files), max_files=ctx.settings.max_batch_items)
    read = [await _photo(ctx, upload, n) for n, upload in enumerate(files, start=1)]
    photos = [photo for photo in read if photo is not None]
    enrolled = await talents.enrol_photos(
        ctx=ctx, principal=agency_of(user), talent_id=talent_id, photos=photos
    )
    return await run_in_threadpool(_talent_page, ctx, user, talent_id, outcomes=enrolled.photos)


@router.post("/talents/{talent_id}/references/{reference_id}/remove")
def remove_photo(
    talent_id: ObjectId, reference_id: ObjectId, ctx: Ctx, user: FormUser
) -> RedirectResponse:
    talents.remove_reference(
        ctx=ctx, principal=agency_of(user), talent_id=talent_id, reference_id=reference_id
    )
    return RedirectResponse(f"{PREFIX}/talents/{talent_id}", status_code=303)


@router.post("/talents/{talent_id}/erase")
def erase(
    talent_id: ObjectId,
    ctx: Ctx,
    user: FormUser,
    confirm: Annotated[str, Form(max_length=300)] = "",
) -> RedirectResponse:
    """Erase only when the talent's name is typed exactly (nothing can bring it back)."""
    talent = talents.get_talent(ctx=ctx, principal=agency_of(user), talent_id=talent_id)
    if confirm.strip() != talent.name:
        raise InvalidRequestError(
            f"Type the talent's name, {talent.name}, exactly to erase them; nothing was deleted."
        )
    talents.erase_talent(ctx=ctx, principal=agency_of(user), talent_id=talent_id)
    return RedirectResponse(f"{PREFIX}/talents", status_code=303)


# --- the talent's own account -------------------------------------------------------------------
@router.get("/talents/{talent_id}/access")
def talent_access(talent_id: ObjectId, ctx: Ctx, user: User) -> HTMLResponse:
    return _access_page(ctx, user, talent_id)


def _access_page(
    ctx: AppContext,
    user: SignedIn,
    talent_id: int,
    *,
    sent_to: str | None = None,
    link: str | None = None,
) -> HTMLResponse:
    """The account's state and masked address, never a link for it (an admin's fresh
    invitation link excepted: the operator hands it over)."""
    principal = agency_of(user)
    talent = talents.get_talent(ctx=ctx, principal=principal, talent_id=talent_id)
    with ctx.db.session() as session:
        people = accounts.talent_accounts(session, principal=principal, talent_id=talent_id)
    current = next((person for person in people if person.state != "disabled"), None)
    return page(
        "talent_access.html",
        user=user,
        talent=talent,
        people=people,
        current=current,
        sends_email=ctx.settings.sends_email(),
        operator=principal.is_admin,
        sent_to=sent_to,
        link=link,
        hours=ctx.settings.invitation_hours,
    )


@router.post("/talents/{talent_id}/access")
def invite(
    talent_id: ObjectId, ctx: Ctx, user: FormUser, email: Annotated[str, Form(max_length=320)] = ""
) -> HTMLResponse:
    """Invite the talent: the link goes to her address by e-mail (an admin sees it instead)."""
    try:
        body = TalentInvitationIn.model_validate({"email": email})
    except ValidationError as exc:
        raise InvalidRequestError("Give the talent's own e-mail address.", field="email") from exc
    invited = talents.invite_talent(
        ctx=ctx, principal=agency_of(user), talent_id=talent_id, body=body
    )
    return _access_page(ctx, user, talent_id, sent_to=invited.sent_to, link=invited.invitation_url)
