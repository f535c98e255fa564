"""The brand's pages: pre-check assets for an intended use (each shown with a numbered box
on every face), the history of pre-checks, a downloadable clearance record (HTML and JSON)
of one pre-check, and the brand's own licences.

Every pre-check runs through the same scan pipeline and is read back through the same view
as ``POST /v1/prechecks``: the brand sees its verdicts in terms of its own licences only
(``service.licensing.verdicts``, brand audience), never another licensee's terms.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from indexer.db import utcnow
from indexer.errors import TwinwatchError
from indexer.formats import MEDIA_TYPES
from service.access.sessions import SignedIn
from service.api.deps import Ctx, ObjectId
from service.api.errors import status_of
from service.api.forms import ContextForm, check_upload_names, intended_use
from service.console.deps import ConsoleRoute, FormUser, PageOffset, User
from service.console.links import PREFIX
from service.console.once import OnceToken, once
from service.console.previews import Previews, previews_of
from service.console.rendering import next_offset, page, templates
from service.context import AppContext
from service.core.errors import InvalidRequestError, ResourceNotFoundError
from service.core.principal import Principal, Role
from service.core.tables.access import Brand
from service.core.thumbnails import image_thumbnail
from service.licensing import licences
from service.rules.vocabulary import AiLabel, Channel, Medium, ScanKind, country_choices
from service.scanning.scan import run_scan
from service.scanning.schemas import ScanOut
from service.scanning.submissions import agency_names, list_scans, read_scan
from service.scanning.types import ImageSource
from service.scanning.uploads import read_upload

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
MAX_ASSETS = 10  # per pre-check form; larger sets go through POST /v1/precheck-jobs
HISTORY_PAGE = 50
LICENCES_PAGE = 100
TEXT_MAX = 500
Store = Annotated[Previews, Depends(previews_of)]


def brand_of(user: SignedIn) -> Principal:
    """The brand pages' gate (admins pass too), as on the API's pre-check routes."""
    user.principal.require(Role.BRAND)
    return user.principal


def _choices() -> dict[str, Any]:
    return {
        "channels": [c.value for c in Channel],
        "countries": country_choices(),
        "media": [m.value for m in Medium],
        "ai_labels": [a.value for a in AiLabel],
    }


def _history_page(
    ctx: AppContext,
    user: SignedIn,
    *,
    offset: int = 0,
    checked: list[ScanOut] | None = None,
    failure: TwinwatchError | None = None,
    values: dict[str, str] | None = None,
    previews: Previews | None = None,
) -> HTMLResponse:
    """The form (refilled with ``values``, and saying what was wrong after a ``failure``, with
    its status), the assets just checked (with their pictures while ``previews`` holds them),
    and the history."""
    principal = brand_of(user)
    history = list_scans(ctx.db, principal, ScanKind.PRECHECK, offset, HISTORY_PAGE)
    checked = checked or []
    return page(
        "prechecks.html",
        status_code=status_of(failure) if failure else 200,
        user=user,
        history=history,
        checked=checked,
        previewed=_previewed(principal, checked, previews),
        agencies=agency_names(ctx.db, checked),
        failure=failure,
        values=values or {},
        max_assets=MAX_ASSETS,
        next_offset=next_offset(offset, HISTORY_PAGE, history.total),
        **_choices(),
    )


@router.get("/prechecks")
def prechecks(
    ctx: Ctx,
    user: User,
    store: Store,
    offset: PageOffset = 0,
    checked: Annotated[list[ObjectId], Query(max_length=MAX_ASSETS)] = [],  # noqa: B006
) -> HTMLResponse:
    """The form and history; ``checked`` (a form sent again lands here) shows those
    pre-checks above the history, as right after the first send, and the form with their
    intended use."""
    principal = brand_of(user)
    shown = [read_scan(ctx.db, principal, scan_id, ScanKind.PRECHECK) for scan_id in checked]
    values = _values_of(shown[0]) if shown else None
    return _history_page(ctx, user, offset=offset, checked=shown, values=values, previews=store)


def _previewed(principal: Principal, checked: list[ScanOut], previews: Previews | None) -> set[int]:
    """The pre-checks whose picture this process still holds for this brand."""
    if previews is None or principal.brand_id is None:
        return set()
    brand_id = principal.brand_id
    return {s.id for s in checked if previews.get(brand_id, s.image.sha256) is not None}


def _values_of(scan: ScanOut) -> dict[str, str]:
    """The form's fields as a pre-check stated its intended use (the first day; a last day is
    not shown again: the stored end is an instant)."""
    context = scan.context
    return {
        "publisher": context.publisher or "",
        "channel": context.channel or "",
        "territory": context.territory or "",
        "use_from": context.observed_at.date().isoformat(),
        "medium": context.medium or "",
        "ai_label": context.ai_label or "",
    }


Text = Annotated[str, Form(max_length=TEXT_MAX)]


@router.post("/prechecks")
async def create_prechecks(
    ctx: Ctx,
    user: FormUser,
    store: Store,
    files: Annotated[list[UploadFile], File()],
    publisher: Text,
    channel: Text,
    territory: Text,
    use_from: Text = "",
    use_until: Text = "",
    medium: Text = "",
    ai_label: Text = "",
    once_token: OnceToken = "",
) -> Response:
    """Pre-check each uploaded asset for the one intended use; the verdicts are shown on the
    page above the history (each also has its own page and clearance record). The same form
    sent again checks nothing and shows the first send's verdicts."""
    principal = brand_of(user)
    values = {
        "publisher": publisher,
        "channel": channel,
        "territory": territory,
        "use_from": use_from,
        "use_until": use_until,
        "medium": medium,
        "ai_label": ai_label,
    }

    async def check() -> tuple[str | None, Response]:
        checked: list[ScanOut] = []
        try:
            use = _intended_use(
                publisher, channel, territory, use_from, use_until, medium, ai_label
            )
            uploads = [upload for upload in files if upload.filename or upload.size]
            if not uploads:
                raise InvalidRequestError("Choose at least one image to pre-check.")
            check_upload_names(uploads, max_files=MAX_ASSETS)
            for upload in uploads:
                data = await read_upload(upload, max_bytes=ctx.settings.max_upload_bytes)
                scan_id = await run_scan(
                    pipeline=ctx.pipeline(),
                    principal=principal,
                    kind=ScanKind.PRECHECK,
                    source=ImageSource(data=data),
                    context=use.context,
                )
                found = await run_in_threadpool(
                    read_scan, ctx.db, principal, scan_id, ScanKind.PRECHECK
                )
                checked.append(found)
                await run_in_threadpool(_keep_preview, ctx, store, principal, found, data)
        except TwinwatchError as exc:  # the form again, filled in, saying what was wrong
            return _checked_location(checked), await run_in_threadpool(
                partial(
                    _history_page,
                    ctx,
                    user,
                    checked=checked,
                    failure=exc,
                    values=values,
                    previews=store,
                )
            )
        return _checked_location(checked), await run_in_threadpool(
            partial(_history_page, ctx, user, checked=checked, values=values, previews=store)
        )

    return await once(ctx=ctx, user=user, token=once_token, path="/prechecks", handler=check)


def _keep_preview(
    ctx: AppContext, store: Previews, principal: Principal, scan: ScanOut, data: bytes
) -> None:
    """A reduced copy of an asset with faces, in memory for a while (service.console.previews)."""
    if principal.brand_id is None or not scan.faces:
        return
    try:
        jpeg = image_thumbnail(data, max_pixels=ctx.settings.max_image_pixels)
    except TwinwatchError:  # it was scanned, so it decodes; if not, the boxes stand alone
        return
    store.put(principal.brand_id, scan.image.sha256, jpeg)


def _checked_location(checked: list[ScanOut]) -> str | None:
    """Where the pre-checks just made are shown again (None: none were made)."""
    if not checked:
        return None
    return f"{PREFIX}/prechecks?" + urlencode([("checked", scan.id) for scan in checked])


def _intended_use(
    publisher: str,
    channel: str,
    territory: str,
    use_from: str,
    use_until: str,
    medium: str,
    ai_label: str,
) -> ContextForm:
    """The form's fields read by the API's own parser (the same rules and messages)."""
    try:
        stated_medium = Medium(medium) if medium.strip() else None
        stated_label = AiLabel(ai_label) if ai_label.strip() else None
    except ValueError as exc:
        raise InvalidRequestError(
            f"Choose a medium ({', '.join(Medium)}) and an AI label "
            f"({', '.join(AiLabel)}, or none)."
        ) from exc
    return intended_use(
        publisher=publisher,
        channel=channel,
        territory=territory,
        use_from=use_from or None,
        use_until=use_until or None,
        page_url=None,
        medium=stated_medium,
        ai_label=stated_label,
    )


@router.get("/prechecks/{precheck_id}")
def precheck(precheck_id: ObjectId, ctx: Ctx, user: User, store: Store) -> HTMLResponse:
    principal = brand_of(user)
    found = read_scan(ctx.db, principal, precheck_id, ScanKind.PRECHECK)
    return page(
        "precheck.html",
        user=user,
        scan=found,
        preview=found.id in _previewed(principal, [found], store),
        agencies=agency_names(ctx.db, [found]),
    )


@router.get("/prechecks/{precheck_id}/preview.jpg")
def preview(precheck_id: ObjectId, ctx: Ctx, user: User, store: Store) -> Response:
    """The asset's reduced copy, to the brand that pre-checked it, while it is held."""
    principal = brand_of(user)
    found = read_scan(ctx.db, principal, precheck_id, ScanKind.PRECHECK)
    jpeg = store.get(principal.brand_id, found.image.sha256) if principal.brand_id else None
    if jpeg is None:
        raise ResourceNotFoundError(
            f"The picture of pre-check {precheck_id} is not kept any more; pre-check it again."
        )
    private = {"Cache-Control": "private, no-store"}
    return Response(jpeg, media_type=MEDIA_TYPES["JPEG"], headers=private)


@router.get("/brand/licences")
def my_licences(ctx: Ctx, user: User, offset: PageOffset = 0) -> HTMLResponse:
    """The licences to this brand (linked to it; never another brand's), newest first, each
    with the talent's agency: whom to ask about it."""
    principal = brand_of(user)
    with ctx.db.session() as session:
        rows, total = licences.list_brand_licences(
            session, principal=principal, offset=offset, limit=LICENCES_PAGE
        )
        items = [
            (licences.licence_out(licence), talent.name, agency) for licence, talent, agency in rows
        ]
        brand = licences.brand_name(session, principal.brand_id)
    return page(
        "brand_licences.html",
        user=user,
        items=items,
        brand_name=brand,
        total=total,
        now=utcnow(),
        next_offset=next_offset(offset, LICENCES_PAGE, total),
    )


def _record(ctx: AppContext, principal: Principal, precheck_id: int) -> dict[str, Any]:
    """The clearance record: the pre-check as the brand may see it, with who and when."""
    found = read_scan(ctx.db, principal, precheck_id, ScanKind.PRECHECK)
    with ctx.db.session() as session:
        brand = (
            session.scalar(select(Brand.name).where(Brand.id == principal.brand_id))
            if principal.brand_id is not None
            else None
        )
    return {
        "record": "twinwatch clearance record",
        "generated_at": utcnow().isoformat(),
        "brand": brand,
        "precheck": found.model_dump(mode="json"),
    }


def _download(body: str, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/prechecks/{precheck_id}/record.json")
def record_json(precheck_id: ObjectId, ctx: Ctx, user: User) -> Response:
    record = _record(ctx, brand_of(user), precheck_id)
    return _download(
        json.dumps(record, indent=2), "application/json", f"twinwatch-clearance-{precheck_id}.json"
    )


@router.get("/prechecks/{precheck_id}/record.html")
def record_html(precheck_id: ObjectId, ctx: Ctx, user: User) -> Response:
    """A self-contained page (no script, no external style) to keep or print."""
    record = _record(ctx, brand_of(user), precheck_id)
    body = templates.get_template("clearance_record.html").render(record=record)
    return _download(body, "text/html; charset=utf-8", f"twinwatch-clearance-{precheck_id}.html")
