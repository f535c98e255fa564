"""The monitor's pages: submit many files and URLs as one batch job, a page URL (the images
a person sees on it) or a WARC archive; watch it run (a live progress bar fed by a small JSON
endpoint, red when items failed), read each item's result, list earlier batches.

A batch is created by the same jobs service as ``POST /v1/scan-jobs`` (uploads staged on
disk, one row per item, the workers' exactly-once recording). A monitor sees, per item, the
faces found and whether the item raised an alert: never a licence, licensee or term.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from indexer.errors import TwinwatchError
from service.access.scoping import job_in_scope, scoped_submissions
from service.access.sessions import SignedIn
from service.api.deps import Ctx, ObjectId
from service.api.errors import status_of
from service.api.forms import check_upload_names, checked_urls, sighting_context
from service.console.deps import ConsoleRoute, FormUser, PageOffset, User
from service.console.links import PREFIX
from service.console.once import OnceToken, once
from service.console.rendering import next_offset, page, previous_offset
from service.context import AppContext
from service.core.errors import InvalidRequestError
from service.core.principal import Principal, Role
from service.core.tables.alerts import AlertSighting
from service.core.tables.jobs import Job, JobItem
from service.core.tables.scanning import Finding, Scan
from service.crawl.submissions import required_page_url, stage_page_batch, stage_warc_batch
from service.jobs import labels
from service.jobs.queue import (
    ITEMS_SHOWN,
    BatchInput,
    create_job,
    job_out,
    staging_folder,
)
from service.jobs.schemas import JobItemOut, JobOut
from service.jobs.submissions import StagedBatch, create_batch_job, discard_unowned
from service.rules.vocabulary import Channel, MediaKind, ScanKind, country_choices
from service.scanning.types import AlertOutcome, UseContext
from service.scanning.uploads import UploadBounds, stage_uploads

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
SUBMISSIONS_PAGE = 50
URLS_MAX_CHARS = 250_000  # the pasted list: at most max_batch_items lines of URL_MAX anyway
TEXT_MAX = 2048


def monitor_of(user: SignedIn) -> Principal:
    """The monitor pages' gate (admins pass too), as on the API's scan-job route."""
    user.principal.require(Role.MONITOR)
    return user.principal


@dataclass(frozen=True)
class ItemResult:
    """One item of a batch as a monitor may see it."""

    position: int
    name: str
    status: str
    faces: int | None
    alert: str | None  # raised | updated | none (when the jobs service says), yes | no
    error: str | None
    status_label: str  # the codes in words (service/jobs/labels.py)
    alert_label: str
    video: str | None = None  # a video: how much of it was checked (labels.video_read)


def _alert_outcome(item: JobItemOut, alerted: set[int]) -> str | None:
    """What the jobs service says (raised | updated | none); for items recorded before it
    said so, whether a sighting of the item's scan is on an alert (yes | no)."""
    if item.alert_outcome is not None:
        return item.alert_outcome.value
    if item.scan_id is None:
        return None
    return "yes" if item.scan_id in alerted else "no"


def item_results(ctx: AppContext, items: list[JobItemOut]) -> list[ItemResult]:
    """Per item: its name (file name or URL, else its position), faces found, alert."""
    scan_ids = [item.scan_id for item in items if item.scan_id is not None]
    with ctx.db.session() as session:
        faces = dict(
            session.execute(
                select(Finding.scan_id, func.count())
                .where(Finding.scan_id.in_(scan_ids))
                .group_by(Finding.scan_id)
            ).all()
        )
        alerted = set(
            session.scalars(
                select(AlertSighting.scan_id).distinct().where(AlertSighting.scan_id.in_(scan_ids))
            )
        )
        videos = {
            scan_id: labels.video_read(duration_s, truncated)
            for scan_id, duration_s, truncated in session.execute(
                select(Scan.id, Scan.duration_s, Scan.video_truncated).where(
                    Scan.id.in_(scan_ids), Scan.media_kind == MediaKind.VIDEO
                )
            )
        }
    results = []
    for item in items:
        error = item.error
        alert = _alert_outcome(item, alerted)
        results.append(
            ItemResult(
                position=item.position,
                name=item.name or f"item {item.position + 1}",
                status=item.status,
                faces=faces.get(item.scan_id, 0) if item.scan_id else None,
                alert=alert,
                error=str(error.get("message") or error.get("code"))
                if isinstance(error, dict)
                else None,
                status_label=labels.item_status(item.status),
                alert_label=labels.alert_outcome(alert),
                video=videos.get(item.scan_id) if item.scan_id else None,
            )
        )
    return results


SHOWN_CONTEXT = ("page_url", "publisher", "channel", "territory")


@dataclass(frozen=True)
class JobPage:
    """A job's counts and one page of its items (``ITEMS_SHOWN`` at a time, in ``job``)."""

    job: JobOut
    offset: int
    seen: dict[str, str]  # the batch's context as submitted: page_url, publisher, ...
    raised: int  # items whose scan raised a new alert
    updated: int  # items whose scan added a sighting to an alert that existed

    @property
    def status_label(self) -> str:
        return labels.job_status(self.job.status)

    @property
    def outcome(self) -> str:
        """How the finished items went: ``failed`` (all of them), ``partial`` or ``ok``."""
        if self.job.failed and self.job.failed == self.job.done + self.job.failed:
            return "failed"
        return "partial" if self.job.failed else "ok"

    @property
    def previous_offset(self) -> int | None:
        return previous_offset(self.offset, ITEMS_SHOWN)

    @property
    def next_offset(self) -> int | None:
        return next_offset(self.offset, ITEMS_SHOWN, self.job.total)


def _read_job(ctx: AppContext, principal: Principal, job_id: int, offset: int = 0) -> JobPage:
    with ctx.db.session() as session:
        job = job_in_scope(session, principal=principal, job_id=job_id)
        seen = {name: str(job.context[name]) for name in SHOWN_CONTEXT if job.context.get(name)}
        if "territory" in seen:
            seen["territory"] = _country(seen["territory"])
        outcomes = dict(
            session.execute(
                select(JobItem.alert_outcome, func.count())
                .where(JobItem.job_id == job.id, JobItem.alert_outcome.is_not(None))
                .group_by(JobItem.alert_outcome)
            ).all()
        )
        return JobPage(
            job_out(session, job, items_offset=offset),
            offset,
            seen,
            raised=outcomes.get(AlertOutcome.RAISED, 0),
            updated=outcomes.get(AlertOutcome.UPDATED, 0),
        )


def _country(code: str) -> str:
    """``France (FR)``: a territory code as the forms list it."""
    names = dict(country_choices())
    return f"{names[code]} ({code})" if code in names else code


def _submissions(ctx: AppContext, principal: Principal, offset: int) -> tuple[list[Job], int]:
    query = scoped_submissions(select(Job).where(Job.kind == ScanKind.SCAN), Job, principal)
    with ctx.db.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list(
            session.scalars(query.order_by(Job.id.desc()).offset(offset).limit(SUBMISSIONS_PAGE))
        )
        session.expunge_all()
    return rows, total


def _submissions_page(
    ctx: AppContext,
    user: SignedIn,
    *,
    offset: int = 0,
    failure: TwinwatchError | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    """The form (refilled with ``values`` and saying what was wrong after a ``failure``) and
    the earlier submissions."""
    jobs, total = _submissions(ctx, monitor_of(user), offset)
    return page(
        "submissions.html",
        status_code=status_of(failure) if failure else 200,
        user=user,
        jobs=jobs,
        total=total,
        failure=failure,
        values=values or {},
        max_items=ctx.settings.max_batch_items,
        page_max_images=ctx.settings.page_max_images,
        max_warc_items=ctx.settings.max_warc_items,
        channels=[c.value for c in Channel],
        countries=country_choices(),
        next_offset=next_offset(offset, SUBMISSIONS_PAGE, total),
    )


@router.get("/submissions")
def submissions(ctx: Ctx, user: User, offset: PageOffset = 0) -> HTMLResponse:
    return _submissions_page(ctx, user, offset=offset)


Text = Annotated[str, Form(max_length=TEXT_MAX)]


@router.post("/submissions")
async def submit(
    ctx: Ctx,
    user: FormUser,
    files: Annotated[list[UploadFile], File()] = [],  # noqa: B006
    urls: Annotated[str, Form(max_length=URLS_MAX_CHARS)] = "",
    publisher: Text = "",
    page_url: Text = "",
    channel: Text = "",
    territory: Text = "",
    once_token: OnceToken = "",
) -> Response:
    """Queue the files and pasted URLs (one per line) as one batch, seen in one context;
    a refused batch brings the form back, filled in, saying why. The same form sent again
    queues nothing and leads to the first batch."""
    principal = monitor_of(user)
    values = {
        "urls": urls,
        "publisher": publisher,
        "page_url": page_url,
        "channel": channel,
        "territory": territory,
    }

    async def queue() -> int:
        return await _queue(
            ctx,
            principal,
            files,
            urls,
            publisher=publisher,
            page_url=page_url,
            channel=channel,
            territory=territory,
        )

    return await _submitted(ctx, user, once_token, "/submissions", queue, values)


@router.post("/submissions/page")
async def submit_page(
    ctx: Ctx,
    user: FormUser,
    page_url: Text = "",
    publisher: Text = "",
    channel: Text = "",
    territory: Text = "",
    once_token: OnceToken = "",
) -> Response:
    """Fetch a page and queue the images a person would see on it, with the page as their
    context (the crawl service of ``POST /v1/page-jobs``)."""
    principal = monitor_of(user)
    values = {"page_page_url": page_url, "page_publisher": publisher}
    values |= {"page_channel": channel, "page_territory": territory}

    async def queue() -> int:
        context = sighting_context(
            page_url=page_url or None,
            publisher=publisher or None,
            observed_at=None,
            channel=channel or None,
            territory=territory or None,
        ).context
        staged = await stage_page_batch(ctx, required_page_url(context.page_url), None)
        return await _create(ctx, principal, staged, context, ctx.settings.page_max_images)

    return await _submitted(ctx, user, once_token, "/submissions/page", queue, values)


@router.post("/submissions/warc")
async def submit_warc(
    ctx: Ctx,
    user: FormUser,
    archive: Annotated[UploadFile | None, File()] = None,
    channel: Text = "",
    territory: Text = "",
    once_token: OnceToken = "",
) -> Response:
    """Queue every image response of a WARC archive, each with its own URL, page, publisher
    and date (the crawl service of ``POST /v1/warc-jobs``)."""
    principal = monitor_of(user)
    values = {"warc_channel": channel, "warc_territory": territory}

    async def queue() -> int:
        if archive is None or not (archive.filename or archive.size):
            raise InvalidRequestError("Choose a WARC archive (.warc or .warc.gz).", field="archive")
        context = sighting_context(
            page_url=None,
            publisher=None,
            observed_at=None,
            channel=channel or None,
            territory=territory or None,
        ).context
        staged = await stage_warc_batch(ctx, archive, None)
        return await _create(ctx, principal, staged, context, ctx.settings.max_warc_items)

    return await _submitted(ctx, user, once_token, "/submissions/warc", queue, values)


async def _create(
    ctx: AppContext, principal: Principal, staged: StagedBatch, context: UseContext, limit: int
) -> int:
    created: list[int] = []
    try:
        await create_batch_job(
            ctx, principal, ScanKind.SCAN, staged, context, max_items=limit, created=created
        )
    finally:
        await discard_unowned(ctx, staged, created)
    return created[0]


async def _submitted(
    ctx: AppContext,
    user: SignedIn,
    token: str,
    path: str,
    queue: Callable[[], Awaitable[int]],
    values: dict[str, str],
) -> Response:
    """Queue once per form token: to the job's page, or the form again saying what was wrong."""

    async def handler() -> tuple[str | None, Response]:
        try:
            job_id = await queue()
        except TwinwatchError as exc:
            return None, await run_in_threadpool(
                partial(_submissions_page, ctx, user, failure=exc, values=values)
            )
        location = f"{PREFIX}/submissions/{job_id}"
        return location, RedirectResponse(location, status_code=303)

    return await once(ctx=ctx, user=user, token=token, path=path, handler=handler)


async def _queue(
    ctx: AppContext,
    principal: Principal,
    files: list[UploadFile],
    urls: str,
    *,
    publisher: str,
    page_url: str,
    channel: str,
    territory: str,
) -> int:
    """Stage the uploads and create the job (the jobs service of ``POST /v1/scan-jobs``)."""
    context = sighting_context(
        page_url=page_url or None,
        publisher=publisher or None,
        observed_at=None,
        channel=channel or None,
        territory=territory or None,
    )
    uploads = [upload for upload in files if upload.filename or upload.size]
    links = checked_urls(urls.splitlines())
    check_upload_names(uploads, max_files=ctx.settings.max_batch_items)
    folder = staging_folder()
    staged = await stage_uploads(
        uploads, blobs=ctx.blobs, folder=folder, max_bytes=UploadBounds.of(ctx.settings)
    )
    batch = BatchInput(staged.files, links, folder if staged.files else None)
    try:
        return await run_in_threadpool(
            lambda: create_job(
                db=ctx.db,
                principal=principal,
                kind=ScanKind.SCAN,
                batch=batch,
                context=context.context,
                max_items=ctx.settings.max_batch_items,
                blobs=ctx.blobs,
            )
        )
    except BaseException:
        await run_in_threadpool(ctx.blobs.delete_prefix, folder)
        raise


@router.get("/submissions/{job_id}")
def submission(job_id: ObjectId, ctx: Ctx, user: User, offset: PageOffset = 0) -> HTMLResponse:
    shown = _read_job(ctx, monitor_of(user), job_id, offset)
    return page(
        "submission.html",
        user=user,
        job=shown.job,
        shown=shown,
        items=item_results(ctx, shown.job.items),
    )


@router.get("/submissions/{job_id}/progress.json")
def progress(job_id: ObjectId, ctx: Ctx, user: User, offset: PageOffset = 0) -> JSONResponse:
    """What the job page's script polls: counts and the results of the items on its page."""
    shown = _read_job(ctx, monitor_of(user), job_id, offset)
    job = shown.job
    return JSONResponse(
        {
            "id": job.id,
            "status": job.status,
            "status_label": shown.status_label,
            "total": job.total,
            "queued": job.queued,
            "running": job.running,
            "done": job.done,
            "failed": job.failed,
            "raised": shown.raised,
            "updated": shown.updated,
            "outcome": shown.outcome,
            "offset": offset,
            "items": [asdict(item) for item in item_results(ctx, job.items)],
        },
        headers={"Cache-Control": "no-store"},
    )
