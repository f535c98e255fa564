"""Watches (issue 19): what a monitor watches, on a schedule, and the runs that crawled it."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import AgencyPrincipal, Ctx, ObjectId, PageParams, WatcherPrincipal
from service.core.schemas import Page
from service.crawl import watches
from service.crawl.watch_schemas import RunOut, WatchIn, WatchOut, WatchPatch

router = APIRouter(tags=["watches"])


@router.post("/v1/watches", status_code=201, response_model=WatchOut, summary="Watch a URL")
def create_watch(ctx: Ctx, principal: WatcherPrincipal, body: WatchIn) -> WatchOut:
    return watches.create_watch(ctx.db, principal, body, ctx.settings)


@router.get("/v1/watches", response_model=Page[WatchOut], summary="The monitor's watches")
def list_watches(ctx: Ctx, principal: WatcherPrincipal, page: PageParams) -> Page[WatchOut]:
    return watches.list_watches(ctx.db, principal, offset=page.offset, limit=page.limit)


@router.get("/v1/watches/{watch_id}", response_model=WatchOut, summary="One watch")
def read_watch(ctx: Ctx, principal: WatcherPrincipal, watch_id: ObjectId) -> WatchOut:
    return watches.read_watch(ctx.db, principal, watch_id)


@router.patch("/v1/watches/{watch_id}", response_model=WatchOut, summary="Change or pause")
def update_watch(
    ctx: Ctx, principal: WatcherPrincipal, watch_id: ObjectId, body: WatchPatch
) -> WatchOut:
    return watches.update_watch(ctx.db, principal, watch_id, body, ctx.settings)


@router.delete("/v1/watches/{watch_id}", status_code=204, summary="Stop watching")
def delete_watch(ctx: Ctx, principal: WatcherPrincipal, watch_id: ObjectId) -> Response:
    watches.delete_watch(ctx.db, principal, watch_id)
    return Response(status_code=204)


@router.post(
    "/v1/watches/{watch_id}/run", status_code=202, response_model=RunOut, summary="Run now"
)
def run_watch(ctx: Ctx, principal: WatcherPrincipal, watch_id: ObjectId) -> RunOut:
    return watches.run_now(ctx.db, principal, watch_id)


@router.get("/v1/watches/{watch_id}/runs", response_model=Page[RunOut], summary="A watch's runs")
def list_runs(
    ctx: Ctx, principal: WatcherPrincipal, watch_id: ObjectId, page: PageParams
) -> Page[RunOut]:
    return watches.list_runs(ctx.db, principal, watch_id, offset=page.offset, limit=page.limit)


@router.post(
    "/v1/licences/{licence_id}/watch",
    status_code=201,
    response_model=list[WatchOut],
    summary="Watch the pages where an ended licence's sightings were seen",
)
def watch_licence(ctx: Ctx, principal: AgencyPrincipal, licence_id: ObjectId) -> list[WatchOut]:
    return watches.watch_licence(ctx.db, principal, licence_id, ctx.settings)
