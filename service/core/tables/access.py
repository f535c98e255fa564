"""Tables of who may act: brands, monitors, API keys, console users, sessions, invitations,
and the one-time links of password resets and address changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Index,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from indexer.db import Base, UtcDateTime, id_column, key_ref, table_args, utcnow

TS = UtcDateTime


class Brand(Base):
    __tablename__ = "brands"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Monitor(Base):
    __tablename__ = "monitors"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class ApiKey(Base):
    """An API key; only its sha256 is stored. ``prefix`` identifies it in lists and logs."""

    __tablename__ = "api_keys"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # admin | agency | monitor | brand | talent
    agency_id: Mapped[int | None] = key_ref("agencies.id", ondelete="CASCADE")
    brand_id: Mapped[int | None] = key_ref("brands.id", ondelete="CASCADE")
    monitor_id: Mapped[int | None] = key_ref("monitors.id", ondelete="CASCADE")
    # A talent's own key: erased with the talent.
    talent_id: Mapped[int | None] = key_ref("talents.id", ondelete="CASCADE", index=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(TS)


# --- human accounts (the web console) --------------------------------------------------------
class User(Base):
    """A person who signs in to the console: one tenant, one role (as API keys have).

    ``password_hash`` (argon2) is empty until the user sets a password from an invitation.
    """

    __tablename__ = "users"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    email: Mapped[str] = mapped_column(String(320), unique=True)  # normalised, lower case
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # admin | agency | brand | monitor | talent
    agency_id: Mapped[int | None] = key_ref("agencies.id", ondelete="CASCADE")
    brand_id: Mapped[int | None] = key_ref("brands.id", ondelete="CASCADE")
    monitor_id: Mapped[int | None] = key_ref("monitors.id", ondelete="CASCADE")
    # A talent's own account (invited by their agency): erased with the talent.
    talent_id: Mapped[int | None] = key_ref("talents.id", ondelete="CASCADE", index=True)
    disabled_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(TS)


class UserSession(Base):
    """A signed-in browser: only the cookie token's sha256 is stored; the CSRF token of the
    session's forms (synchronizer token) lives beside it."""

    __tablename__ = "user_sessions"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    user_id: Mapped[int] = key_ref("users.id", ondelete="CASCADE", index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TS)


class Invitation(Base):
    """A single-use link to set a password; only the token's sha256 is stored."""

    __tablename__ = "invitations"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    user_id: Mapped[int] = key_ref("users.id", ondelete="CASCADE", index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TS)
    used_at: Mapped[datetime | None] = mapped_column(TS)


class AccountToken(Base):
    """A single-use link for an existing account, sent only to an address of its own: a
    password reset (``purpose`` ``password_reset``) or the confirmation of a new e-mail
    address (``email_change``, with ``new_email``). Only the token's sha256 is stored."""

    __tablename__ = "account_tokens"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    user_id: Mapped[int] = key_ref("users.id", ondelete="CASCADE", index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    new_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TS)
    used_at: Mapped[datetime | None] = mapped_column(TS)


class LoginAttempt(Base):
    """Every sign-in attempt, for throttling per e-mail and per client address."""

    __tablename__ = "login_attempts"
    __table_args__ = table_args(
        Index("ix_login_attempts_email_at", "email", "attempted_at"),
        Index("ix_login_attempts_ip_at", "ip", "attempted_at"),
    )

    id: Mapped[int] = id_column()
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    attempted_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
