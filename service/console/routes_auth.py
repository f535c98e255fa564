"""Signing in and out, invitations, and the account page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from indexer.errors import TwinwatchError
from service.access import accounts, sessions
from service.access.errors import CsrfError, LoginFailedError, LoginThrottledError
from service.api.deps import Ctx
from service.api.errors import STATUS_BY_CATEGORY
from service.console.deps import ConsoleRoute, FormUser, User, policy
from service.console.links import HOME, LOGIN, PREFIX, safe_return_path
from service.console.rendering import page
from service.console.security import (
    check_login_csrf,
    clear_session_cookie,
    new_login_csrf,
    set_login_csrf,
    set_session_cookie,
)
from service.core.principal import Role

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
ROLE_HOME = {
    Role.AGENCY: f"{PREFIX}/alerts",
    Role.BRAND: f"{PREFIX}/prechecks",
    Role.MONITOR: f"{PREFIX}/submissions",
    Role.ADMIN: f"{PREFIX}/admin/status",
    Role.TALENT: f"{PREFIX}/me",
}
NOTICES = {
    "signed_out": "You are signed out.",
    "password_set": "Your password is set; sign in with it now.",
}


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


@router.get(f"{PREFIX}/login")
def login_form(ctx: Ctx, next: str | None = None, notice: str | None = None) -> HTMLResponse:
    return _login_page(ctx, next=next, notice=NOTICES.get(notice or ""))


def _login_page(
    ctx: Ctx,
    *,
    next: str | None,
    notice: str | None = None,
    failure: TwinwatchError | None = None,
    email: str = "",
) -> HTMLResponse:
    token = new_login_csrf()
    status = STATUS_BY_CATEGORY[failure.category] if failure else 200
    response = page(
        "login.html",
        status_code=status,
        user=None,
        email=email,
        next=safe_return_path(next, ""),
        notice=notice,
        failure=failure,
        login_csrf=token,
    )
    set_login_csrf(response, token, secure=ctx.settings.console_secure_cookies)
    if isinstance(failure, LoginThrottledError):
        response.headers["Retry-After"] = str(failure.retry_after_s)
    return response


@router.post(f"{PREFIX}/login")
async def login(
    request: Request,
    ctx: Ctx,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    ip = request.client.host if request.client else "unknown"
    try:
        check_login_csrf(request, csrf)
        opened = await run_in_threadpool(
            sessions.sign_in,
            ctx.db,
            email=email,
            password=password,
            ip=ip,
            policy=policy(ctx.settings),
        )
    except (LoginFailedError, LoginThrottledError, CsrfError) as exc:
        return _login_page(ctx, next=next, failure=exc, email=email)
    response = RedirectResponse(safe_return_path(next, HOME), status_code=303)
    set_session_cookie(
        response,
        token=opened.token,
        expires=opened.expires_at,
        secure=ctx.settings.console_secure_cookies,
    )
    return response


@router.post(f"{PREFIX}/logout")
def logout(ctx: Ctx, user: FormUser) -> Response:
    with ctx.db.session() as session:
        sessions.logout(session, session_id=user.session_id)
    return _signed_out(ctx)


@router.post(f"{PREFIX}/logout-everywhere")
def logout_everywhere(ctx: Ctx, user: FormUser) -> Response:
    assert user.principal.user_id is not None
    with ctx.db.session() as session:
        sessions.logout_everywhere(session, user_id=user.principal.user_id)
    return _signed_out(ctx)


def _signed_out(ctx: Ctx) -> Response:
    response = RedirectResponse(f"{LOGIN}?notice=signed_out", status_code=303)
    clear_session_cookie(response, secure=ctx.settings.console_secure_cookies)
    return response


@router.get(f"{PREFIX}/invite/{{token}}")
def invitation_form(token: str, ctx: Ctx) -> HTMLResponse:
    with ctx.db.session() as session:
        email = accounts.invitation_user(session, token=token).email
    csrf = new_login_csrf()
    response = page(
        "invite.html",
        user=None,
        email=email,
        token=token,
        login_csrf=csrf,
        min_chars=accounts.MIN_PASSWORD_CHARS,
    )
    set_login_csrf(response, csrf, secure=ctx.settings.console_secure_cookies)
    return response


@router.post(f"{PREFIX}/invite/{{token}}")
def accept_invitation(
    token: str,
    request: Request,
    ctx: Ctx,
    password: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_login_csrf(request, csrf)
    with ctx.db.session() as session:
        accounts.accept_invitation(session, token=token, password=password)
    return RedirectResponse(f"{LOGIN}?notice=password_set", status_code=303)


@router.get(f"{PREFIX}/")
def home(user: User) -> Response:
    target = ROLE_HOME.get(user.principal.role)
    if target is not None:
        return RedirectResponse(target, status_code=303)
    return page("home.html", user=user)


@router.get(f"{PREFIX}/account")
def account(user: User) -> HTMLResponse:
    return page("account.html", user=user)
