"""API keys (shown once, stored as sha256) and the principal a request acts as."""

from __future__ import annotations

import hashlib
import secrets
import shlex
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from indexer.db import Agency, Talent, utcnow
from indexer.errors import TalentNotFoundError, close_match
from service.core.errors import (
    InvalidRequestError,
    TenantExistsError,
    TenantNotFoundError,
    UnauthorizedError,
)
from service.core.principal import Principal, Role
from service.core.tables.access import ApiKey, Brand, Monitor

KEY_PREFIX = "tw_"


@dataclass(frozen=True)
class CreatedKey:
    id: int
    key: str  # the plaintext, shown once
    prefix: str
    role: Role
    scope: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    session: Session,
    *,
    role: Role,
    agency: str | None = None,
    brand: str | None = None,
    monitor: str | None = None,
    label: str | None = None,
    talent: int | None = None,
) -> CreatedKey:
    """Create a key scoped to one existing tenant (or talent); only its hash is stored."""
    scope_ids = scope_for(
        session, role=role, agency=agency, brand=brand, monitor=monitor, talent=talent
    )
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        prefix=plaintext[:10],
        key_hash=hash_key(plaintext),
        role=role.value,
        label=label,
        **scope_ids,
    )
    session.add(row)
    session.flush()
    scope = agency or brand or monitor or (f"talent {talent}" if talent else "all tenants")
    return CreatedKey(row.id, plaintext, row.prefix, role, scope)


def scope_for(
    session: Session,
    *,
    role: Role,
    agency: str | None,
    brand: str | None,
    monitor: str | None,
    talent: int | None = None,
) -> dict[str, int | None]:
    names = {Role.AGENCY: agency, Role.BRAND: brand, Role.MONITOR: monitor}
    given = [name for name in (agency, brand, monitor) if name]
    if role is Role.TALENT or talent is not None:
        return _talent_scope(session, role=role, talent=talent, others=given)
    if role is Role.ADMIN:
        if given:
            raise InvalidRequestError("Admin keys and users are not scoped to a tenant.")
        return {}
    name = names[role]
    if not name or len(given) != 1:
        raise InvalidRequestError(
            f"A {role.value} key or user needs --{role.value} NAME (and nothing else)."
        )
    return {f"{role.value}_id": _tenant_id(session, role, name)}


def _talent_scope(
    session: Session, *, role: Role, talent: int | None, others: list[str]
) -> dict[str, int | None]:
    """A talent's own key or account names exactly one existing talent (by id: names are
    not identities) and nothing else."""
    if role is not Role.TALENT or talent is None or others:
        raise InvalidRequestError(
            "A talent key or user needs --talent ID (and nothing else); "
            "--talent goes with --role talent only."
        )
    if session.get(Talent, talent) is None:
        raise TalentNotFoundError(f"No talent with id {talent}.")
    return {"talent_id": talent}


def _tenant_id(session: Session, role: Role, name: str) -> int:
    """The id of the named agency, brand or monitor; never creates one (a typo would make a
    new tenant): unknown names are refused, naming the command that creates them."""
    kind = TenantKind(role.value)
    model = TENANT_TABLES[kind]
    found = session.scalar(select(model.id).where(model.name == name))
    if found is not None:
        return found
    known = list(session.scalars(select(model.name)))
    close = close_match(name, known)
    hint = f" Did you mean {close!r}?" if close else ""
    raise TenantNotFoundError(
        f"No {kind.value} named {name!r}.{hint} Create it first with "
        f"`twinwatch {kind.plural} create {shlex.quote(name)}`.",
        kind=kind.value,
        name=name,
        suggestion=close,
    )


def authenticate(session: Session, *, presented: str | None) -> Principal:
    if not presented:
        raise UnauthorizedError("Missing API key: send `Authorization: Bearer <key>`.")
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(presented)))
    if row is None or row.revoked_at is not None:
        raise UnauthorizedError("Unknown or revoked API key.")
    return Principal(
        key_id=row.id,
        key_prefix=row.prefix,
        role=Role(row.role),
        agency_id=row.agency_id,
        brand_id=row.brand_id,
        monitor_id=row.monitor_id,
        talent_id=row.talent_id,
    )


def revoke_key(session: Session, *, key_id: int, now: datetime | None = None) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise InvalidRequestError(f"No API key with id {key_id}.")
    row.revoked_at = row.revoked_at or now or utcnow()
    return row


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


# --- tenants ----------------------------------------------------------------------------------
class TenantKind(StrEnum):
    AGENCY = "agency"
    BRAND = "brand"
    MONITOR = "monitor"

    @property
    def plural(self) -> str:
        return {"agency": "agencies", "brand": "brands", "monitor": "monitors"}[self.value]


TenantTable = type[Agency] | type[Brand] | type[Monitor]
TENANT_TABLES: dict[TenantKind, TenantTable] = {
    TenantKind.AGENCY: Agency,
    TenantKind.BRAND: Brand,
    TenantKind.MONITOR: Monitor,
}


@dataclass(frozen=True)
class TenantRow:
    id: int
    name: str
    created_at: datetime


def create_tenant(session: Session, *, kind: TenantKind, name: str) -> TenantRow:
    """Create an agency, brand or monitor explicitly; an existing name is a conflict."""
    name = name.strip()
    if not name:
        raise InvalidRequestError(f"A {kind.value} needs a name.")
    model = TENANT_TABLES[kind]
    existing = session.scalar(select(model.id).where(model.name == name))
    if existing is not None:
        raise TenantExistsError(
            f"{kind.value.capitalize()} {name!r} already exists (id {existing}).", id=existing
        )
    session.add(model(name=name))
    session.flush()
    [created] = _tenant_rows(session, model, model.name == name)
    return created


def list_tenants(session: Session, *, kind: TenantKind) -> list[TenantRow]:
    model = TENANT_TABLES[kind]
    return _tenant_rows(session, model, true())


def _tenant_rows(
    session: Session, model: TenantTable, where: ColumnElement[bool]
) -> list[TenantRow]:
    rows = session.execute(
        select(model.id, model.name, model.created_at).where(where).order_by(model.id)
    )
    return [TenantRow(row_id, name, created_at) for row_id, name, created_at in rows]
