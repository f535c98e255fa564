"""The monitor's watches in the console: create one, pause or resume it, run it now, and
read it (last run, next run, pages and images seen, new sightings, problems). The same
service functions as ``/v1/watches`` (service.crawl.watches), the same scoping: a monitor
sees only its own watches."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from indexer.errors import TwinwatchError
from service.access.sessions import SignedIn
from service.api.deps import Ctx, ObjectId
from service.api.errors import status_of
from service.console.deps import ConsoleRoute, FormUser, PageOffset, User
from service.console.links import PREFIX
from service.console.once import OnceToken, once
from service.console.rendering import next_offset, page
from service.context import AppContext
from service.core.errors import InvalidRequestError
from service.core.principal import Principal, Role
from service.crawl import watches
from service.crawl.rules import WatchKind
from service.crawl.watch_schemas import WatchIn, WatchPatch
from service.rules.vocabulary import Channel, country_choices

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


def monitor_of(user: SignedIn) -> Principal:
    """The watches' gate: monitors and agencies (and admins), as on ``/v1/watches``."""
    user.principal.require(Role.MONITOR, Role.AGENCY)
    return user.principal


WATCHES_PAGE = 50
RUNS_SHOWN = 20
Text = Annotated[str, Form(max_length=2048)]


def _list_page(
    ctx: AppContext,
    user: SignedIn,
    *,
    offset: int = 0,
    failure: TwinwatchError | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    listed = watches.list_watches(ctx.db, monitor_of(user), offset=offset, limit=WATCHES_PAGE)
    return page(
        "watches.html",
        status_code=status_of(failure) if failure else 200,
        user=user,
        watches=listed.items,
        total=listed.total,
        failure=failure,
        values=values or {},
        kinds=[k.value for k in WatchKind],
        channels=[c.value for c in Channel],
        countries=country_choices(),
        next_offset=next_offset(offset, WATCHES_PAGE, listed.total),
    )


@router.get("/watches")
def watch_list(ctx: Ctx, user: User, offset: PageOffset = 0) -> HTMLResponse:
    return _list_page(ctx, user, offset=offset)


def _watch_in(values: dict[str, str]) -> WatchIn:
    try:
        return WatchIn.model_validate(
            {
                "url": values["url"],
                "kind": values["kind"] or "page",
                "every_hours": values["every_hours"] or 24,
                "channel": values["channel"] or None,
                "territory": values["territory"] or None,
                "max_pages": values["max_pages"] or None,
                "max_images": values["max_images"] or None,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidRequestError(f"{where}: {first['msg']}", field=where) from None


@router.post("/watches")
async def create(
    ctx: Ctx,
    user: FormUser,
    url: Text = "",
    kind: Annotated[str, Form(max_length=10)] = "page",
    every_hours: Annotated[str, Form(max_length=6)] = "24",
    channel: Annotated[str, Form(max_length=40)] = "",
    territory: Annotated[str, Form(max_length=8)] = "",
    max_pages: Annotated[str, Form(max_length=6)] = "",
    max_images: Annotated[str, Form(max_length=6)] = "",
    once_token: OnceToken = "",
) -> Response:
    """Create the watch once per form token, then show it; or the form saying what was wrong."""
    values = {
        "url": url,
        "kind": kind,
        "every_hours": every_hours,
        "channel": channel,
        "territory": territory,
        "max_pages": max_pages,
        "max_images": max_images,
    }

    async def handler() -> tuple[str | None, Response]:
        try:
            body = _watch_in(values)
            made = await run_in_threadpool(
                watches.create_watch, ctx.db, monitor_of(user), body, ctx.settings
            )
        except TwinwatchError as exc:
            shown = partial(_list_page, ctx, user, failure=exc, values=values)
            return None, await run_in_threadpool(shown)
        location = f"{PREFIX}/watches/{made.id}"
        return location, RedirectResponse(location, status_code=303)

    return await once(ctx=ctx, user=user, token=once_token, path="/watches", handler=handler)


@router.get("/watches/{watch_id}")
def watch_page(watch_id: ObjectId, ctx: Ctx, user: User) -> HTMLResponse:
    principal = monitor_of(user)
    watch = watches.read_watch(ctx.db, principal, watch_id)
    runs = watches.list_runs(ctx.db, principal, watch_id, offset=0, limit=RUNS_SHOWN)
    return page("watch.html", user=user, watch=watch, runs=runs.items, runs_total=runs.total)


@router.post("/watches/{watch_id}/pause")
def pause(
    watch_id: ObjectId, ctx: Ctx, user: FormUser, paused: Annotated[str, Form(max_length=1)] = "1"
) -> Response:
    body = WatchPatch(paused=paused == "1")
    watches.update_watch(ctx.db, monitor_of(user), watch_id, body, ctx.settings)
    return RedirectResponse(f"{PREFIX}/watches/{watch_id}", status_code=303)


@router.post("/watches/{watch_id}/run")
def run_now(watch_id: ObjectId, ctx: Ctx, user: FormUser) -> Response:
    watches.run_now(ctx.db, monitor_of(user), watch_id)
    return RedirectResponse(f"{PREFIX}/watches/{watch_id}", status_code=303)


@router.post("/licences/{licence_id}/watch")
def watch_licence(licence_id: ObjectId, ctx: Ctx, user: FormUser) -> Response:
    """One click from an ended licence: watch the pages where its sightings were seen."""
    user.principal.require(Role.AGENCY)
    watches.watch_licence(ctx.db, user.principal, licence_id, ctx.settings)
    return RedirectResponse(f"{PREFIX}/watches", status_code=303)
