"""The admin's pages: tenants (agencies, brands, monitors), users across tenants
(invite, re-invite while never used, a password-reset link for an account in use, disable),
API keys (created and shown once, listed by prefix, revoked) and a status page (model
pack, index, job queue, this process's recent errors).

Each action calls the same access function as the ``twinwatch`` command that does it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from indexer.errors import TwinwatchError
from service.access import accounts, keys, recovery
from service.access.keys import TenantKind
from service.access.sessions import SignedIn
from service.api.deps import Ctx, ObjectId
from service.console.deps import ConsoleRoute, FormUser, User
from service.console.links import PREFIX
from service.console.once import OnceToken, once
from service.console.rendering import page
from service.context import AppContext
from service.core.errors import ForbiddenError, InvalidRequestError, ResourceNotFoundError
from service.core.logs import RECENT_ERRORS
from service.core.principal import Principal, Role
from service.core.tables.access import ApiKey
from service.core.tables.access import User as UserRow
from service.core.tables.jobs import JobItem
from service.jobs.queue import ItemStatus

router = APIRouter(prefix=f"{PREFIX}/admin", route_class=ConsoleRoute, include_in_schema=False)
NAME_MAX = 200
LABEL_MAX = 200
EMAIL_MAX = 320
ADMIN_SCOPE = "admin"  # the account picker's value for "all tenants, admin role"
TENANTS, USERS, KEYS = (f"{PREFIX}/admin/{page}" for page in ("tenants", "users", "keys"))


def admin_of(user: SignedIn) -> Principal:
    """Only admins: every other role gets 403 (as ``Principal.require`` answers)."""
    if not user.principal.is_admin:
        raise ForbiddenError(
            f"These pages are for admins; you are signed in as {user.principal.role.value}."
        )
    return user.principal


# --- tenants ----------------------------------------------------------------------------------
def _tenants(ctx: AppContext) -> dict[TenantKind, list[keys.TenantRow]]:
    with ctx.db.session() as session:
        return {kind: keys.list_tenants(session, kind=kind) for kind in TenantKind}


def _names(tenants: dict[TenantKind, list[keys.TenantRow]]) -> dict[tuple[str, int], str]:
    return {(kind.value, row.id): row.name for kind, rows in tenants.items() for row in rows}


@router.get("/tenants")
def tenants_page(ctx: Ctx, user: User) -> HTMLResponse:
    admin_of(user)
    return page(
        "admin_tenants.html",
        user=user,
        tenants=_tenants(ctx),
        kinds=[kind.value for kind in TenantKind],
    )


@router.post("/tenants")
async def create_tenant(
    ctx: Ctx,
    user: FormUser,
    kind: Annotated[str, Form(max_length=20)],
    name: Annotated[str, Form(max_length=NAME_MAX)],
    once_token: OnceToken = "",
) -> Response:
    """Create the tenant (once per form: sent again, it leads to the list)."""
    admin_of(user)
    try:
        tenant_kind = TenantKind(kind)
    except ValueError as exc:
        raise InvalidRequestError(f"Choose one of: {', '.join(TenantKind)}.") from exc

    def create() -> None:
        with ctx.db.session() as session:
            keys.create_tenant(session, kind=tenant_kind, name=name)

    async def handler() -> tuple[str | None, Response]:
        await run_in_threadpool(create)
        return TENANTS, RedirectResponse(TENANTS, status_code=303)

    return await once(ctx=ctx, user=user, token=once_token, path="/admin/tenants", handler=handler)


# --- who an account or key acts for -------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """The picker's choice: the admin role (no tenant), or one tenant (its role follows)."""

    role: Role
    tenant: dict[str, Any]  # {"agency": name} and the like; empty for admin

    @classmethod
    def parse(cls, value: str) -> Scope:
        if value == ADMIN_SCOPE:
            return cls(Role.ADMIN, {})
        kind, _, name = value.partition(":")
        try:
            tenant_kind = TenantKind(kind)
        except ValueError as exc:
            raise InvalidRequestError("Choose who the account or key acts for.") from exc
        return cls(Role(tenant_kind.value), {tenant_kind.value: name})


Picked = Annotated[str, Form(max_length=NAME_MAX + 20)]


def _scope_name(row: UserRow | ApiKey, names: dict[tuple[str, int], str]) -> str:
    for kind in TenantKind:
        tenant_id = getattr(row, f"{kind.value}_id", None)
        if tenant_id is not None:
            return names.get((kind.value, tenant_id), f"{kind.value} {tenant_id}")
    return "all tenants"


# --- users --------------------------------------------------------------------------------------
def _users_page(
    ctx: AppContext, user: SignedIn, *, link: dict[str, str] | None = None
) -> HTMLResponse:
    tenants = _tenants(ctx)
    names = _names(tenants)
    with ctx.db.session() as session:
        rows = [
            {
                "id": row.id,
                "email": row.email,
                "role": row.role,
                "scope": _scope_name(row, names),
                "created_at": row.created_at,
                "last_login_at": row.last_login_at,
                "state": accounts.account_state(row),
            }
            for row in accounts.list_users(session)
        ]
    return page(
        "admin_users.html",
        user=user,
        users=rows,
        tenants=tenants,
        link=link,
        admin_scope=ADMIN_SCOPE,
    )


@router.get("/users")
def users_page(ctx: Ctx, user: User) -> HTMLResponse:
    admin_of(user)
    return _users_page(ctx, user)


def _invitation(ctx: AppContext, email: str) -> dict[str, str]:
    with ctx.db.session() as session:
        token = accounts.issue_invitation(
            session, email=email, valid_hours=ctx.settings.invitation_hours
        )
    return {
        "kind": "invitation",
        "email": email,
        "url": ctx.settings.invitation_url(token),
        "valid": f"{ctx.settings.invitation_hours:g} hours",
    }


def _reset_link(ctx: AppContext, email: str) -> dict[str, str]:
    """The operator's password-reset link for an account in use, to hand to its owner."""
    minutes = ctx.settings.password_reset_minutes
    with ctx.db.session() as session:
        link = recovery.issue_password_reset(session, email=email, valid_minutes=minutes)
    return {
        "kind": "password reset link",
        "email": email,
        "url": ctx.settings.password_reset_url(link.token),
        "valid": f"{minutes:g} minutes",
    }


@router.post("/users")
async def invite_user(
    ctx: Ctx,
    user: FormUser,
    email: Annotated[str, Form(max_length=EMAIL_MAX)],
    account_for: Picked,
    once_token: OnceToken = "",
) -> Response:
    """Create the account and show its one-time invitation link (to send to the person).
    The form sent again creates nothing and leads to the list (the link is never kept)."""
    admin_of(user)
    scope = Scope.parse(account_for)

    def create() -> HTMLResponse:
        with ctx.db.session() as session:
            created = accounts.create_user(session, email=email, role=scope.role, **scope.tenant)
            address = created.email
        return _users_page(ctx, user, link=_invitation(ctx, address))

    async def handler() -> tuple[str | None, Response]:
        return USERS, await run_in_threadpool(create)

    return await once(ctx=ctx, user=user, token=once_token, path="/admin/users", handler=handler)


def _user_email(ctx: AppContext, user_id: int) -> str:
    with ctx.db.session() as session:
        row = session.get(UserRow, user_id)
        if row is None:
            raise ResourceNotFoundError(f"No user with id {user_id}.")
        return row.email


@router.post("/users/{user_id}/invite")
def reinvite_user(user_id: ObjectId, ctx: Ctx, user: FormUser) -> HTMLResponse:
    """A fresh invitation link (earlier unused ones stop working); an account in use is
    refused (``account_active``): its owner gets a reset link instead."""
    admin_of(user)
    return _users_page(ctx, user, link=_invitation(ctx, _user_email(ctx, user_id)))


@router.post("/users/{user_id}/reset")
def reset_link(user_id: ObjectId, ctx: Ctx, user: FormUser) -> HTMLResponse:
    """A one-time link to set a new password, shown once, for the operator to hand to the
    account's owner (e.g. where no SMTP server is configured); using it ends every session."""
    admin_of(user)
    return _users_page(ctx, user, link=_reset_link(ctx, _user_email(ctx, user_id)))


@router.post("/users/{user_id}/disable")
def disable_user(user_id: ObjectId, ctx: Ctx, user: FormUser) -> RedirectResponse:
    """Disable the account and end its sessions at once (an admin cannot disable itself)."""
    admin_of(user)
    if user_id == user.principal.user_id:
        raise InvalidRequestError("You cannot disable your own account.")
    email = _user_email(ctx, user_id)
    with ctx.db.session() as session:
        accounts.disable_user(session, email=email)
    return RedirectResponse(USERS, status_code=303)


# --- API keys -----------------------------------------------------------------------------------
def _keys_page(
    ctx: AppContext, user: SignedIn, *, created: keys.CreatedKey | None = None
) -> HTMLResponse:
    tenants = _tenants(ctx)
    names = _names(tenants)
    with ctx.db.session() as session:
        rows = [
            {
                "id": row.id,
                "prefix": row.prefix,
                "role": row.role,
                "label": row.label,
                "scope": _scope_name(row, names),
                "created_at": row.created_at,
                "revoked_at": row.revoked_at,
            }
            for row in keys.list_keys(session)
        ]
    return page(
        "admin_keys.html",
        user=user,
        keys=rows,
        tenants=tenants,
        created=created,
        admin_scope=ADMIN_SCOPE,
    )


@router.get("/keys")
def keys_page(ctx: Ctx, user: User) -> HTMLResponse:
    admin_of(user)
    return _keys_page(ctx, user)


@router.post("/keys")
async def create_key(
    ctx: Ctx,
    user: FormUser,
    key_for: Picked,
    label: Annotated[str, Form(max_length=LABEL_MAX)] = "",
    once_token: OnceToken = "",
) -> Response:
    """Create a key; its plaintext is on this answer only (only its hash is stored). The
    form sent again creates no second key and leads to the list."""
    admin_of(user)
    scope = Scope.parse(key_for)

    def create() -> HTMLResponse:
        with ctx.db.session() as session:
            created = keys.create_key(
                session, role=scope.role, label=label.strip() or None, **scope.tenant
            )
        return _keys_page(ctx, user, created=created)

    async def handler() -> tuple[str | None, Response]:
        return KEYS, await run_in_threadpool(create)

    return await once(ctx=ctx, user=user, token=once_token, path="/admin/keys", handler=handler)


@router.post("/keys/{key_id}/revoke")
def revoke_key(key_id: ObjectId, ctx: Ctx, user: FormUser) -> RedirectResponse:
    admin_of(user)
    with ctx.db.session() as session:
        if session.get(ApiKey, key_id) is None:
            raise ResourceNotFoundError(f"No API key with id {key_id}.")
        keys.revoke_key(session, key_id=key_id)
    return RedirectResponse(KEYS, status_code=303)


# --- status -------------------------------------------------------------------------------------
def _index_status(ctx: AppContext) -> dict[str, Any]:
    if not ctx.ready:
        return {"state": "loading"}
    try:
        ctx.index.ensure_current()  # the CLI or a worker may have changed it
        return {"state": "ready", **ctx.index.stats()}
    except TwinwatchError as exc:
        return {"state": f"unavailable ({exc.code})"}


@router.get("/status")
def status_page(ctx: Ctx, user: User) -> HTMLResponse:
    admin_of(user)
    with ctx.db.session() as session:
        depth = dict(
            session.execute(
                select(JobItem.status, func.count())
                .where(JobItem.status.in_([ItemStatus.QUEUED, ItemStatus.RUNNING]))
                .group_by(JobItem.status)
            ).all()
        )
    pack = ctx.analyser.pack
    return page(
        "admin_status.html",
        user=user,
        pack=pack,
        index=_index_status(ctx),
        queued=depth.get(ItemStatus.QUEUED, 0),
        running=depth.get(ItemStatus.RUNNING, 0),
        errors=RECENT_ERRORS.newest_first(),
    )
