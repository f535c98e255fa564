"""Signing in and out, invitations, forgotten passwords, and the account page (with the
change of its e-mail address, confirmed at the new address).

Links to an account (invitations, password resets, address confirmations) reach only the
account's own address, or an operator; the pages behind them take the one-time token in
their path, which the access log never writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from indexer.errors import TwinwatchError
from service.access import accounts, recovery, sessions
from service.access import mail as account_mail
from service.access.errors import (
    CsrfError,
    EmailNotConfiguredError,
    EmailNotSentError,
    LoginFailedError,
    LoginThrottledError,
    PasswordWrongError,
)
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
from service.core.errors import InvalidRequestError
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
ACCOUNT_NOTICES = {
    "email_change_sent": "We e-mailed a link to the new address. Your address changes when "
    "you open it there; until then you sign in with this one.",
    "email_changed": "Your address is changed: sign in with the new one from now on. Your "
    "old address was told.",
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
def account(ctx: Ctx, user: User, notice: str | None = None) -> HTMLResponse:
    return _account_page(ctx, user, notice=ACCOUNT_NOTICES.get(notice or ""))


def _account_page(
    ctx: Ctx,
    user: sessions.SignedIn,
    *,
    notice: str | None = None,
    failure: TwinwatchError | None = None,
    new_email: str = "",
) -> HTMLResponse:
    return page(
        "account.html",
        status_code=STATUS_BY_CATEGORY[failure.category] if failure else 200,
        user=user,
        notice=notice,
        failure=failure,
        new_email=new_email,
        sends_email=ctx.settings.sends_email(),
        hours=ctx.settings.email_change_hours,
    )


@router.post(f"{PREFIX}/account/email")
def change_email(
    ctx: Ctx,
    user: FormUser,
    new_email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """The owner asks for a new address (with her current password): a confirmation link
    goes to the new address, and nothing changes until it is opened."""
    settings = ctx.settings
    if not settings.sends_email():
        raise EmailNotConfiguredError(
            "A new address is confirmed by e-mail to it, and this twinwatch sends no e-mail "
            "(no SMTP server is set up); ask your twinwatch operator to set one up."
        )
    assert user.principal.user_id is not None
    try:
        with ctx.db.session() as session:
            change = recovery.request_email_change(
                session,
                user_id=user.principal.user_id,
                new_email=new_email,
                password=password,
                valid_hours=settings.email_change_hours,
            )
        if change.link is None:  # the address has an account: its owner is told, not this one
            account_mail.send_quietly(
                account_mail.send_address_in_use,
                settings,
                user_id=change.user_id,
                to=change.new_email,
            )
        else:
            _send_confirmation(ctx, change.link)
    except (InvalidRequestError, PasswordWrongError, EmailNotSentError) as exc:
        return _account_page(ctx, user, failure=exc, new_email=new_email)
    return RedirectResponse(f"{PREFIX}/account?notice=email_change_sent", status_code=303)


def _send_confirmation(ctx: Ctx, link: recovery.AccountLink) -> None:
    try:
        account_mail.send_email_confirmation(
            ctx.settings,
            user_id=link.user_id,
            to=link.to,
            link=ctx.settings.email_confirm_url(link.token),
        )
    except EmailNotSentError:
        with ctx.db.session() as session:
            recovery.void_link(session, link=link)
        raise


@router.get(f"{PREFIX}/email/confirm/{{token}}")
def email_confirm_form(token: str, ctx: Ctx) -> HTMLResponse:
    """Opening the link shows what it does; the change needs the button (a POST), so a mail
    client that fetches links to preview them changes nothing."""
    with ctx.db.session() as session:
        new_email = recovery.pending_email(session, token=token)
    return _token_form(ctx, "email_confirm.html", token=token, email=new_email)


@router.post(f"{PREFIX}/email/confirm/{{token}}")
def email_confirm(
    token: str,
    request: Request,
    ctx: Ctx,
    background: BackgroundTasks,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_login_csrf(request, csrf)
    with ctx.db.session() as session:
        changed = recovery.confirm_email_change(session, token=token)
    background.add_task(
        account_mail.send_quietly,
        account_mail.send_address_changed,
        ctx.settings,
        user_id=changed.user_id,
        to=changed.old_email,
        new=accounts.mask_email(changed.new_email),
    )
    return RedirectResponse(f"{PREFIX}/account?notice=email_changed", status_code=303)


# --- forgotten passwords ------------------------------------------------------------------------
@router.get(f"{PREFIX}/forgot")
def forgot_form(ctx: Ctx) -> HTMLResponse:
    return _forgot_page(ctx)


def _forgot_page(
    ctx: Ctx, *, sent: bool = False, failure: TwinwatchError | None = None, email: str = ""
) -> HTMLResponse:
    token = new_login_csrf()
    response = page(
        "forgot.html",
        status_code=STATUS_BY_CATEGORY[failure.category] if failure else 200,
        user=None,
        sends_email=ctx.settings.sends_email(),
        sent=sent,
        failure=failure,
        email=email,
        minutes=ctx.settings.password_reset_minutes,
        login_csrf=token,
    )
    set_login_csrf(response, token, secure=ctx.settings.console_secure_cookies)
    return response


@router.post(f"{PREFIX}/forgot")
def forgot(
    request: Request,
    ctx: Ctx,
    background: BackgroundTasks,
    email: Annotated[str, Form(max_length=320)] = "",
    csrf: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """The same answer whether or not an account has the address; the link, if any, goes
    to that address only, after the answer (its sending takes no time of the answer)."""
    settings = ctx.settings
    if not settings.sends_email():
        return _forgot_page(ctx)  # the page says to ask the operator
    try:
        check_login_csrf(request, csrf)
        address = accounts.normalise_email(email)
    except (CsrfError, InvalidRequestError) as exc:
        return _forgot_page(ctx, failure=exc, email=email)
    with ctx.db.session() as session:
        link = recovery.request_password_reset(
            session, email=address, valid_minutes=settings.password_reset_minutes
        )
    if link is not None:
        background.add_task(
            account_mail.send_quietly,
            account_mail.send_password_reset,
            settings,
            user_id=link.user_id,
            to=link.to,
            link=settings.password_reset_url(link.token),
        )
    return _forgot_page(ctx, sent=True, email=address)


@router.get(f"{PREFIX}/reset/{{token}}")
def reset_form(token: str, ctx: Ctx) -> HTMLResponse:
    with ctx.db.session() as session:
        email = recovery.reset_user(session, token=token).email
    return _token_form(ctx, "reset.html", token=token, email=email)


@router.post(f"{PREFIX}/reset/{{token}}")
def reset(
    token: str,
    request: Request,
    ctx: Ctx,
    password: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """A new password from the link: every session of the account ends (this browser's
    too: it signs in again with the new password)."""
    check_login_csrf(request, csrf)
    with ctx.db.session() as session:
        recovery.reset_password(session, token=token, password=password)
    response = RedirectResponse(f"{LOGIN}?notice=password_set", status_code=303)
    clear_session_cookie(response, secure=ctx.settings.console_secure_cookies)
    return response


def _token_form(ctx: Ctx, template: str, *, token: str, email: str) -> HTMLResponse:
    csrf = new_login_csrf()
    response = page(
        template,
        user=None,
        email=email,
        token=token,
        login_csrf=csrf,
        min_chars=accounts.MIN_PASSWORD_CHARS,
    )
    set_login_csrf(response, csrf, secure=ctx.settings.console_secure_cookies)
    return response
