"""People's accounts for the console: users (argon2 passwords) and single-use invitations.

A user belongs to one tenant with one role, exactly as an API key does (the same
:func:`service.access.keys.scope_for`), and acts as the same :class:`Principal`, so the
console calls the same service functions and scoping as the API.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from indexer.db import Talent, utcnow
from service.access.errors import InvitationInvalidError, PasswordRejectedError, UserExistsError
from service.access.keys import scope_for
from service.access.scoping import talent_in_scope
from service.core.errors import InvalidRequestError, ResourceNotFoundError
from service.core.principal import Principal, Role
from service.core.tables.access import Invitation, User, UserSession

log = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024
_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def token_hash(token: str) -> str:
    """Cookie and invitation tokens are stored as their sha256, like API keys."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalise_email(raw: str) -> str:
    """The one e-mail normaliser: syntax checked (no DNS look-up), then lower-cased."""
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidRequestError(f"Not a valid e-mail address: {exc}") from exc
    return checked.normalized.lower()


def check_password(password: str, *, email: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise PasswordRejectedError(
            f"Choose a password of at least {MIN_PASSWORD_CHARS} characters."
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise PasswordRejectedError(f"A password may have at most {MAX_PASSWORD_CHARS} characters.")
    if password.strip().lower() == email.lower():
        raise PasswordRejectedError("The password must not be the e-mail address.")


def password_matches(user: User | None, password: str) -> bool:
    """Verify in constant work whether or not the user exists or has a password yet."""
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    return user is not None and user.password_hash is not None


def create_user(
    session: Session,
    *,
    email: str,
    role: Role,
    agency: str | None = None,
    brand: str | None = None,
    monitor: str | None = None,
    talent: int | None = None,
) -> User:
    """A user without a password yet (they set it from an invitation)."""
    address = normalise_email(email)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise UserExistsError(f"A user with the e-mail {address} exists already.")
    user = User(
        email=address,
        role=role.value,
        **scope_for(session, role=role, agency=agency, brand=brand, monitor=monitor, talent=talent),
    )
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, *, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise ResourceNotFoundError(f"No user with the e-mail {email.strip()}.")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def disable_user(session: Session, *, email: str, now: datetime | None = None) -> User:
    """Disable the account and end all its sessions at once."""
    user = find_user(session, email=email)
    user.disabled_at = user.disabled_at or now or utcnow()
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    session.execute(
        update(Invitation)
        .where(Invitation.user_id == user.id, Invitation.used_at.is_(None))
        .values(used_at=user.disabled_at)
    )
    return user


def issue_invitation(
    session: Session, *, email: str, valid_hours: float, now: datetime | None = None
) -> str:
    """A fresh single-use token (earlier unused ones stop working); only its hash is kept."""
    now = now or utcnow()
    user = find_user(session, email=email)
    if user.disabled_at is not None:
        raise InvalidRequestError(f"The user {user.email} is disabled.")
    session.execute(
        update(Invitation)
        .where(Invitation.user_id == user.id, Invitation.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        Invitation(
            user_id=user.id,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=now + timedelta(hours=valid_hours),
        )
    )
    session.flush()
    return token


def invitation_expiry(session: Session, *, token: str) -> datetime:
    """When the invitation ``token`` stops working."""
    expires = session.scalar(
        select(Invitation.expires_at).where(Invitation.token_hash == token_hash(token))
    )
    if expires is None:
        raise InvitationInvalidError("This invitation link is unknown.")
    return expires


def invitation_user(session: Session, *, token: str, now: datetime | None = None) -> User:
    """The user an invitation is for, if it is unused and unexpired."""
    now = now or utcnow()
    invitation = session.scalar(
        select(Invitation).where(Invitation.token_hash == token_hash(token))
    )
    user = session.get(User, invitation.user_id) if invitation else None
    if (
        invitation is None
        or user is None
        or invitation.used_at is not None
        or invitation.expires_at <= now
        or user.disabled_at is not None
    ):
        raise InvitationInvalidError(
            "This invitation link is unknown, used already or "
            "expired; ask your administrator for a new one."
        )
    return user


def accept_invitation(
    session: Session, *, token: str, password: str, now: datetime | None = None
) -> User:
    """Set the user's password from an invitation; the link is then spent, and every
    earlier session of the user ends."""
    now = now or utcnow()
    user = invitation_user(session, token=token, now=now)
    check_password(password, email=user.email)
    user.password_hash = _hasher.hash(password)
    session.execute(
        update(Invitation).where(Invitation.token_hash == token_hash(token)).values(used_at=now)
    )
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    return user


def principal_for(user: User) -> Principal:
    return Principal(
        key_id=None,
        key_prefix=f"user:{user.id}",
        role=Role(user.role),
        agency_id=user.agency_id,
        brand_id=user.brand_id,
        monitor_id=user.monitor_id,
        user_id=user.id,
        talent_id=user.talent_id,
    )


@dataclass(frozen=True)
class TalentInvitation:
    """What inviting a talent answers: the account's id, its address, the one-time link's
    token (shown once) and when the link stops working."""

    user_id: int
    email: str
    token: str
    expires_at: datetime


def invite_talent_user(
    session: Session,
    *,
    principal: Principal,
    talent_id: int,
    email: str,
    valid_hours: float,
    now: datetime | None = None,
) -> TalentInvitation:
    """The agency invites a talent to their own account (their sightings, licences, pay and
    consent): a new talent user, or a fresh link for the talent's existing one. Another
    account of the agency's own with that e-mail is a conflict; an account of another tenant
    is never revealed (see :func:`_unusable_invitation`)."""
    principal.require(Role.AGENCY)
    talent_in_scope(session, principal=principal, talent_id=talent_id)
    now = now or utcnow()
    address = normalise_email(email)
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        user = create_user(session, email=address, role=Role.TALENT, talent=talent_id)
    elif user.role != Role.TALENT.value or user.talent_id != talent_id:
        if not _in_tenant(session, principal=principal, user=user):
            return _unusable_invitation(session, email=address, valid_hours=valid_hours, now=now)
        raise UserExistsError(f"A user with the e-mail {address} exists already.")
    token = issue_invitation(session, email=address, valid_hours=valid_hours, now=now)
    return TalentInvitation(user.id, address, token, now + timedelta(hours=valid_hours))


def _in_tenant(session: Session, *, principal: Principal, user: User) -> bool:
    """Whether ``principal`` may know of ``user``: an admin knows every account; an agency
    its own bookers and its own talents' accounts."""
    if principal.is_admin:
        return True
    if user.agency_id is not None:
        return user.agency_id == principal.agency_id
    talent = session.get(Talent, user.talent_id) if user.talent_id is not None else None
    return talent is not None and talent.agency_id == principal.agency_id


def _unusable_invitation(
    session: Session, *, email: str, valid_hours: float, now: datetime
) -> TalentInvitation:
    """Inviting an address that another tenant's account holds answers exactly as a fresh
    address does (so an agency cannot probe which addresses exist elsewhere), but nothing
    usable is made: the other account is untouched and the link's token is stored nowhere,
    so the link answers as a used or expired one does. The answer's ``user_id`` is taken
    from the users' key sequence as a new account's would be (a placeholder row, inserted
    and deleted in this transaction; keys are never reused)."""
    placeholder = User(email=f"{secrets.token_hex(16)}@unused.invalid", role=Role.TALENT.value)
    session.add(placeholder)
    session.flush()
    reserved = placeholder.id
    session.delete(placeholder)
    session.flush()
    log.info(
        "talent invitation to another tenant's address answered without an account",
        extra={"fields": {"reserved_user_id": reserved}},
    )
    return TalentInvitation(
        reserved, email, secrets.token_urlsafe(32), now + timedelta(hours=valid_hours)
    )


def talent_users(session: Session, *, principal: Principal, talent_id: int) -> list[User]:
    principal.require(Role.AGENCY)
    talent_in_scope(session, principal=principal, talent_id=talent_id)
    return list(session.scalars(select(User).where(User.talent_id == talent_id).order_by(User.id)))
