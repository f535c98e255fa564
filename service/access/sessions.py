"""Console sign-in: server-side sessions, login throttling, logout (here or everywhere).

The browser holds a random token in an HttpOnly cookie; the database holds its sha256, the
session's expiry and its CSRF token (the synchronizer token every console form carries).
Deleting the row ends the session at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from indexer.db import Database, utcnow
from service.access.accounts import normalise_email, password_matches, principal_for, token_hash
from service.access.errors import CsrfError, LoginFailedError, LoginThrottledError
from service.core.errors import InvalidRequestError, UnauthorizedError
from service.core.principal import Principal
from service.core.tables.access import LoginAttempt, User, UserSession

#: The SQLAlchemy dialect whose throttle keys are advisory locks (SQLite has a single writer).
POSTGRESQL = "postgresql"


@dataclass(frozen=True)
class LoginPolicy:
    session_hours: float
    window_minutes: float
    max_failures_per_email: int
    max_failures_per_ip: int


@dataclass(frozen=True)
class SignedIn:
    """The user behind a session cookie."""

    principal: Principal
    email: str
    session_id: int
    csrf_token: str

    def check_csrf(self, presented: str | None) -> None:
        if not presented or not hmac.compare_digest(presented, self.csrf_token):
            raise CsrfError(
                "This form is out of date or did not come from twinwatch; reload "
                "the page and try again."
            )


@dataclass(frozen=True)
class NewSession:
    token: str  # the cookie value (only its hash is stored)
    expires_at: datetime


def sign_in(
    db: Database,
    *,
    email: str,
    password: str,
    ip: str,
    policy: LoginPolicy,
    now: datetime | None = None,
) -> NewSession:
    """Admit the attempt past the throttles (recorded as a failure at once, see
    :func:`_admit`), then check the password; a success marks the attempt succeeded and
    opens a session. A throttled attempt is refused before any password check and is not
    recorded."""
    now = now or utcnow()
    try:
        address = normalise_email(email)
    except InvalidRequestError as exc:
        raise LoginFailedError("Wrong e-mail or password.") from exc
    attempt_id = _admit(db, email=address, ip=ip, policy=policy, now=now)
    with db.session() as session:
        opened = _try_password(
            session, attempt_id=attempt_id, email=address, password=password, policy=policy, now=now
        )
    if opened is None:
        raise LoginFailedError("Wrong e-mail or password.")
    return opened


def _admit(db: Database, *, email: str, ip: str, policy: LoginPolicy, now: datetime) -> int:
    """Count and record the attempt in one transaction that concurrent attempts for the same
    account or address take in turn, so at most the limit of guesses per window ever reach a
    password check. The attempt is written first, as a failure (a success is marked so once
    its password proved right); on SQLite that INSERT takes the database's write lock before
    anything is counted, on PostgreSQL a transaction-scoped advisory lock per key (the
    e-mail, the address) is taken first. A refused attempt rolls back: it is not recorded."""
    with db.session() as session:
        _lock_throttle_keys(session, email=email, ip=ip)
        attempt = LoginAttempt(email=email, ip=ip, succeeded=False, attempted_at=now)
        session.add(attempt)
        session.flush()
        _check_throttle(session, attempt=attempt, policy=policy, now=now)
        return attempt.id


def _lock_throttle_keys(session: Session, *, email: str, ip: str) -> None:
    """PostgreSQL: hold a transaction-scoped advisory lock on each throttle key, always in
    the same (numeric) order so that two attempts never wait on each other in a cycle.
    SQLite needs none: its single writer is serialised by the INSERT that follows."""
    if session.get_bind().dialect.name != POSTGRESQL:
        return
    for key in sorted({_lock_key("email", email), _lock_key("ip", ip)}):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _lock_key(kind: str, value: str) -> int:
    digest = hashlib.sha256(f"twinwatch-login:{kind}:{value}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _try_password(
    session: Session,
    *,
    attempt_id: int,
    email: str,
    password: str,
    policy: LoginPolicy,
    now: datetime,
) -> NewSession | None:
    user = session.scalar(select(User).where(User.email == email))
    ok = password_matches(user, password)
    if not ok or user is None or user.disabled_at is not None:
        return None
    session.execute(
        update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(succeeded=True)
    )
    user.last_login_at = now
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=policy.session_hours)
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=token_hash(token),
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=expires,
        )
    )
    return NewSession(token, expires)


def _check_throttle(
    session: Session, *, attempt: LoginAttempt, policy: LoginPolicy, now: datetime
) -> None:
    """Refuse the attempt if its account or its address already has the limit of failures
    in the window (attempts still being checked count as failures)."""
    since = now - timedelta(minutes=policy.window_minutes)
    for column, value, limit, what in (
        (LoginAttempt.email, attempt.email, policy.max_failures_per_email, "for this account"),
        (LoginAttempt.ip, attempt.ip, policy.max_failures_per_ip, "from your network address"),
    ):
        failures = session.execute(
            select(func.count(), func.min(LoginAttempt.attempted_at)).where(
                column == value,
                LoginAttempt.id != attempt.id,
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.attempted_at > since,
            )
        ).one()
        if failures[0] >= limit:
            wait = failures[1] + timedelta(minutes=policy.window_minutes) - now
            minutes = max(1, int(wait.total_seconds() // 60) + 1)
            raise LoginThrottledError(
                f"Too many failed sign-ins {what}; try again in {minutes} minute"
                f"{'s' if minutes != 1 else ''}.",
                retry_after_s=max(1, int(wait.total_seconds())),
            )


def signed_in(session: Session, *, token: str | None, now: datetime | None = None) -> SignedIn:
    """The live session behind a cookie token, or :class:`UnauthorizedError`."""
    now = now or utcnow()
    row = (
        session.scalar(select(UserSession).where(UserSession.token_hash == token_hash(token)))
        if token
        else None
    )
    user = session.get(User, row.user_id) if row is not None else None
    if row is None or user is None or row.expires_at <= now or user.disabled_at is not None:
        raise UnauthorizedError("Please sign in.")
    return SignedIn(principal_for(user), user.email, row.id, row.csrf_token)


def logout(session: Session, *, session_id: int) -> None:
    session.execute(delete(UserSession).where(UserSession.id == session_id))


def logout_everywhere(session: Session, *, user_id: int) -> int:
    """End every session of the user (all browsers); returns how many ended."""
    ended = session.scalar(select(func.count()).where(UserSession.user_id == user_id)) or 0
    session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    return ended


def purge_expired(db: Database, *, login_window: timedelta, now: datetime | None = None) -> int:
    """Forget what no longer serves: sessions past their expiry, and sign-in attempts older
    than the throttling window (they only ever count inside it). Run by the workers' sweep."""
    now = now or utcnow()
    with db.session() as session:
        sessions = session.execute(
            delete(UserSession)
            .where(UserSession.expires_at <= now)
            .execution_options(synchronize_session=False)
        )
        attempts = session.execute(
            delete(LoginAttempt)
            .where(LoginAttempt.attempted_at < now - login_window)
            .execution_options(synchronize_session=False)
        )
        return int(sessions.rowcount or 0) + int(attempts.rowcount or 0)  # type: ignore[attr-defined]
