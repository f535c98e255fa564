"""Single scans and brand pre-checks as use cases: scan one image now, read one, list a page.

The API's routers and the console's pages both call these; neither reaches into the other.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from starlette.concurrency import run_in_threadpool

from indexer.db import Agency, Database
from service.access.scoping import scan_in_scope, scoped_submissions
from service.core.principal import Principal
from service.core.schemas import Page
from service.core.tables.scanning import Scan
from service.licensing.verdicts import Viewer
from service.rules.vocabulary import ScanKind
from service.scanning.scan import ScanPipeline, run_scan
from service.scanning.schemas import ScanOut
from service.scanning.types import ImageSource, UseContext
from service.scanning.views import scan_out


async def scan_now(
    *,
    pipeline: ScanPipeline,
    principal: Principal,
    kind: ScanKind,
    source: ImageSource,
    context: UseContext,
) -> ScanOut:
    """Scan one image in the inference pool, record it, and answer with the recorded scan."""
    scan_id = await run_scan(
        pipeline=pipeline, principal=principal, kind=kind, source=source, context=context
    )
    return await run_in_threadpool(read_scan, pipeline.sink.db, principal, scan_id, kind)


def read_scan(db: Database, principal: Principal, scan_id: int, kind: ScanKind) -> ScanOut:
    """One scan (or pre-check) of the principal's tenant, as the principal may see it."""
    with db.session() as session:
        scan = scan_in_scope(session, principal=principal, scan_id=scan_id, kind=kind)
        return scan_out(session, scan, Viewer.of(principal))


def list_scans(
    db: Database, principal: Principal, kind: ScanKind, offset: int, limit: int
) -> Page[ScanOut]:
    """The principal's tenant's scans (or pre-checks), newest first, a page at a time."""
    query = scoped_submissions(select(Scan).where(Scan.kind == kind), Scan, principal)
    with db.session() as session:
        return scans_page(session, query, Scan.id.desc(), principal, offset, limit)


def scans_page(
    session: Session,
    query: Select[Scan],
    order: ColumnElement[int] | InstrumentedAttribute[int],
    principal: Principal,
    offset: int,
    limit: int,
) -> Page[ScanOut]:
    """One page of the scans ``query`` selects, in ``order``, as ``principal`` may see them."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(order).offset(offset).limit(limit))
    viewer = Viewer.of(principal)
    return Page[ScanOut](
        items=[scan_out(session, scan, viewer) for scan in rows],
        total=total,
        offset=offset,
        limit=limit,
    )


def agency_names(db: Database, scans: list[ScanOut]) -> dict[int, str]:
    """The agencies of the talents found in ``scans`` (agency id -> name): whom a brand asks
    for a licence to a talent its pre-check did not clear."""
    ids = {face.talent.agency_id for scan in scans for face in scan.faces if face.talent}
    if not ids:
        return {}
    with db.session() as session:
        return dict(session.execute(select(Agency.id, Agency.name).where(Agency.id.in_(ids))).all())
