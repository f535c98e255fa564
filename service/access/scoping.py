"""Tenant scoping: every object a key may see, and 404 (never 403) for the rest."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false
from sqlalchemy.orm import Session

from indexer.db import Talent
from service.core.errors import ResourceNotFoundError
from service.core.principal import Principal, Role
from service.core.tables.alerts import Alert, Webhook
from service.core.tables.jobs import Job
from service.core.tables.licensing import Licence
from service.core.tables.scanning import Scan


def _missing(kind: str, object_id: int) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"No {kind} with id {object_id}.")


def talent_in_scope(session: Session, *, principal: Principal, talent_id: int) -> Talent:
    talent = session.get(Talent, talent_id)
    if talent is None or not (principal.is_admin or talent.agency_id == principal.agency_id):
        raise _missing("talent", talent_id)
    return talent


def licence_in_scope(session: Session, *, principal: Principal, licence_id: int) -> Licence:
    licence = session.get(Licence, licence_id)
    if licence is None:
        raise _missing("licence", licence_id)
    talent = session.get(Talent, licence.talent_id)
    if talent is None or not (principal.is_admin or talent.agency_id == principal.agency_id):
        raise _missing("licence", licence_id)
    return licence


def owns_submission(principal: Principal, *, monitor_id: int | None, brand_id: int | None) -> bool:
    """Scans and jobs belong to the monitor or brand that submitted them."""
    if principal.is_admin:
        return True
    if principal.role is Role.MONITOR:
        return monitor_id is not None and monitor_id == principal.monitor_id
    if principal.role is Role.BRAND:
        return brand_id is not None and brand_id == principal.brand_id
    return False


def scan_in_scope(session: Session, *, principal: Principal, scan_id: int, kind: str) -> Scan:
    scan = session.get(Scan, scan_id)
    if (
        scan is None
        or scan.kind != kind
        or not owns_submission(principal, monitor_id=scan.monitor_id, brand_id=scan.brand_id)
    ):
        raise _missing(kind, scan_id)
    return scan


def job_in_scope(session: Session, *, principal: Principal, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or not owns_submission(
        principal, monitor_id=job.monitor_id, brand_id=job.brand_id
    ):
        raise _missing("job", job_id)
    return job


def alert_in_scope(session: Session, *, principal: Principal, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None or not (principal.is_admin or alert.agency_id == principal.agency_id):
        raise _missing("alert", alert_id)
    return alert


def webhook_in_scope(session: Session, *, principal: Principal, webhook_id: int) -> Webhook:
    hook = session.get(Webhook, webhook_id)
    if hook is None or not (principal.is_admin or hook.agency_id == principal.agency_id):
        raise _missing("webhook", webhook_id)
    return hook


def scoped_submissions(
    query: Select[Any], model: type[Scan] | type[Job], principal: Principal
) -> Select[Any]:
    if principal.is_admin:
        return query
    if principal.role is Role.MONITOR:
        return query.where(model.monitor_id == principal.monitor_id)
    if principal.role is Role.BRAND:
        return query.where(model.brand_id == principal.brand_id)
    return query.where(false())


def scoped_to_agency(query: Select[Any], agency_column: Any, principal: Principal) -> Select[Any]:
    if principal.is_admin:
        return query
    return query.where(agency_column == principal.agency_id)
