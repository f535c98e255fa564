"""The brand's pages: pre-check assets for an intended use, the history of pre-checks, and
a downloadable clearance record (HTML and JSON) of one pre-check.

Every pre-check runs through the same scan pipeline and is read back through the same view
as ``POST /v1/prechecks``: the brand sees its verdicts in terms of its own licences only
(``service.licensing.verdicts``, brand audience), never another licensee's terms.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from indexer.db import utcnow
from indexer.errors import TwinwatchError
from service.access.sessions import SignedIn
from service.api.deps import Ctx, ObjectId
from service.api.errors import status_of
from service.api.forms import ContextForm, check_upload_names, intended_use
from service.console.deps import ConsoleRoute, FormUser, User
from service.console.links import PREFIX
from service.console.once import OnceToken, once
from service.console.rendering import next_offset, page, templates
from service.context import AppContext
from service.core.errors import InvalidRequestError
from service.core.principal import Principal, Role
from service.core.tables.access import Brand
from service.rules.vocabulary import AiLabel, Channel, Medium, ScanKind, country_choices
from service.scanning.scan import run_scan
from service.scanning.schemas import ScanOut
from service.scanning.submissions import list_scans, read_scan
from service.scanning.types import ImageSource
from service.scanning.uploads import read_upload

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
MAX_ASSETS = 10  # per pre-check form; larger sets go through POST /v1/precheck-jobs
HISTORY_PAGE = 50
TEXT_MAX = 500


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
) -> HTMLResponse:
    """The form (refilled with ``values`` and saying what was wrong after a ``failure``, with
    its status), the assets just checked, and the history."""
    history = list_scans(ctx.db, brand_of(user), ScanKind.PRECHECK, offset, HISTORY_PAGE)
    return page(
        "prechecks.html",
        status_code=status_of(failure) if failure else 200,
        user=user,
        history=history,
        checked=checked or [],
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
    offset: Annotated[int, Query(ge=0)] = 0,
    checked: Annotated[list[ObjectId], Query(max_length=MAX_ASSETS)] = [],  # noqa: B006
) -> HTMLResponse:
    """The form and history; ``checked`` (a form sent again lands here) shows those
    pre-checks above the history, as right after the first send."""
    principal = brand_of(user)
    shown = [read_scan(ctx.db, principal, scan_id, ScanKind.PRECHECK) for scan_id in checked]
    return _history_page(ctx, user, offset=offset, checked=shown)


Text = Annotated[str, Form(max_length=TEXT_MAX)]


@router.post("/prechecks")
async def create_prechecks(
    ctx: Ctx,
    user: FormUser,
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
                checked.append(
                    await run_in_threadpool(
                        read_scan, ctx.db, principal, scan_id, ScanKind.PRECHECK
                    )
                )
        except TwinwatchError as exc:  # the form again, filled in, saying what was wrong
            return _checked_location(checked), await run_in_threadpool(
                partial(_history_page, ctx, user, checked=checked, failure=exc, values=values)
            )
        return _checked_location(checked), await run_in_threadpool(
            partial(_history_page, ctx, user, checked=checked)
        )

    return await once(ctx=ctx, user=user, token=once_token, path="/prechecks", handler=check)


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
def precheck(precheck_id: ObjectId, ctx: Ctx, user: User) -> HTMLResponse:
    found = read_scan(ctx.db, brand_of(user), precheck_id, ScanKind.PRECHECK)
    return page("precheck.html", user=user, scan=found)


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
