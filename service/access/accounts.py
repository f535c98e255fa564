"""People's accounts for the console: users (argon2 passwords) and single-use invitations.

A user belongs to one tenant with one role, exactly as an API key does (the same
:func:`service.access.keys.scope_for`), and acts as the same :class:`Principal`, so the
console calls the same service functions and scoping as the API.

A talent's account is hers alone (issue 17): a talent has at most one account that is not
disabled, an invitation is only for an account that has never had a password, and once she
has set one nobody else can obtain a link or a session for it (forgotten passwords and new
addresses go through :mod:`service.access.recovery`, to her own address).
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
from service.access.errors import (
    AccountActiveError,
    InvitationInvalidError,
    PasswordRejectedError,
    TalentHasAccountError,
    UserExistsError,
)
from service.access.keys import scope_for
from service.access.scoping import talent_in_scope
from service.core.errors import InvalidRequestError, ResourceNotFoundError
from service.core.principal import Principal, Role
from service.core.tables.access import AccountToken, Invitation, User, UserSession

log = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024
#: How a held account's ``email`` begins (see :func:`_held_invitation`).
HELD_PREFIX = "held:"
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


def mask_email(address: str) -> str:
    """How an address is shown to anyone but its owner: first letter, ``***``, the domain
    (``n***@talent.example``)."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


def masked_address(user: User) -> str:
    """The account's address as anyone but its owner sees it (:func:`mask_email`); a held
    account shows the address it was asked for, masked."""
    if is_held(user.email):
        return user.email.split(":", 3)[3]
    return mask_email(user.email)


def is_held(email: str) -> bool:
    """Whether ``email`` is a held account's (see :func:`_held_invitation`), not an address."""
    return email.startswith(HELD_PREFIX)


def account_state(user: User) -> str:
    """``disabled``, ``active`` (a password is set) or ``invited`` (never used)."""
    if user.disabled_at is not None:
        return "disabled"
    return "active" if user.password_hash is not None else "invited"


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
    """A user without a password yet (they set it from an invitation). A talent has one
    account: another one for her, while hers is not disabled, is refused."""
    address = normalise_email(email)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise UserExistsError(f"A user with the e-mail {address} exists already.")
    scope = scope_for(
        session, role=role, agency=agency, brand=brand, monitor=monitor, talent=talent
    )
    talent_id = scope.get("talent_id")
    if talent_id is not None:
        _refuse_second_talent_account(session, talent_id=talent_id)
    user = User(email=address, role=role.value, **scope)
    session.add(user)
    session.flush()
    return user


def _refuse_second_talent_account(session: Session, *, talent_id: int) -> None:
    # The talent's row is locked (PostgreSQL) so two invitations at once cannot both add one;
    # SQLite runs one writer at a time.
    session.execute(select(Talent.id).where(Talent.id == talent_id).with_for_update())
    existing = session.scalar(
        select(User).where(User.talent_id == talent_id, User.disabled_at.is_(None)).limit(1)
    )
    if existing is not None:
        raise TalentHasAccountError(
            f"Talent {talent_id} has an account already ({masked_address(existing)}, "
            f"{account_state(existing)}); a talent has one account, and only she changes its "
            "address.",
            talent_id=talent_id,
            state=account_state(existing),
        )


def find_user(session: Session, *, email: str) -> User:
    """The account of an address (or of a held account's own ``held:...`` name, for the
    operator, who may disable it)."""
    wanted = email.strip()
    user = session.scalar(
        select(User).where(User.email == (wanted if is_held(wanted) else normalise_email(email)))
    )
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
    """A fresh single-use token (earlier unused ones stop working); only its hash is kept.
    Only for an account that has never had a password: an active one is refused."""
    now = now or utcnow()
    user = find_user(session, email=email)
    if user.disabled_at is not None:
        raise InvalidRequestError(f"The user {user.email} is disabled.")
    refuse_held(user)
    if user.password_hash is not None:
        raise AccountActiveError(
            f"The account {mask_email(user.email)} is in use (its password is set); an "
            "invitation is only for an account never used. A forgotten password is reset "
            "from the sign-in page's 'Forgot your password?', by its owner.",
            user_id=user.id,
        )
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
    """The user an invitation is for, if it is unused and unexpired and the account has
    never had a password (once it has, every invitation for it is dead)."""
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
        or user.password_hash is not None
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
    set_password(session, user=user, password=password, now=now)
    return user


def set_password(session: Session, *, user: User, password: str, now: datetime) -> None:
    """The one way a password is set (from an invitation or a reset link): checked, hashed,
    and then every link still open for the account is spent and every session ends."""
    check_password(password, email=user.email)
    user.password_hash = _hasher.hash(password)
    for table in (Invitation, AccountToken):
        session.execute(
            update(table)
            .where(table.user_id == user.id, table.used_at.is_(None))
            .values(used_at=now)
        )
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))


def void_invitation(session: Session, *, token: str, now: datetime | None = None) -> None:
    """An invitation that could not be delivered stops working."""
    session.execute(
        update(Invitation)
        .where(Invitation.token_hash == token_hash(token), Invitation.used_at.is_(None))
        .values(used_at=now or utcnow())
    )


def refuse_held(user: User) -> None:
    """A held account has no address: nobody gets a link for it (the operator disables it)."""
    if is_held(user.email):
        raise InvalidRequestError(
            f"The account {user.id} was held for an address that another tenant's account "
            "uses; it has no address of its own, so no link is made for it. Disable it to let "
            "the talent be invited at another address."
        )


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
    token (shown once; None for a held account, which has no link) and when the link stops
    working."""

    user_id: int
    email: str
    token: str | None
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
    consent): a new talent user, or a fresh link for the talent's account while it has never
    been used. Another account of the agency's own with that e-mail is a conflict; so are a
    second account for the talent (``talent_has_account``) and an account in use
    (``account_active``). An account of another tenant is never revealed: that address gets
    a held account instead (see :func:`_held_invitation`), answered exactly as a fresh one."""
    principal.require(Role.AGENCY)
    talent_in_scope(session, principal=principal, talent_id=talent_id)
    now = now or utcnow()
    address = normalise_email(email)
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        user = create_user(session, email=address, role=Role.TALENT, talent=talent_id)
    elif user.role != Role.TALENT.value or user.talent_id != talent_id:
        if not _in_tenant(session, principal=principal, user=user):
            return _held_invitation(
                session,
                principal=principal,
                talent_id=talent_id,
                email=address,
                valid_hours=valid_hours,
                now=now,
            )
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


def _held_email(*, talent_id: int, address: str) -> str:
    digest = hashlib.sha256(address.encode("utf-8")).hexdigest()[:32]
    return f"{HELD_PREFIX}{talent_id}:{digest}:{mask_email(address)}"


def _held_invitation(
    session: Session,
    *,
    principal: Principal,
    talent_id: int,
    email: str,
    valid_hours: float,
    now: datetime,
) -> TalentInvitation:
    """Inviting an address that another tenant's account holds answers exactly as a fresh
    address does, then and afterwards, so an agency cannot probe which addresses exist
    elsewhere (issue 17). The other account is untouched and no link is made (``token`` is
    None: the talent service e-mails that address a note without one). The talent gets a
    *held* account in its place: no address (its ``email`` is ``held:<talent>:<digest of
    the address>:<the address masked>``, which no address normalises to, so nobody signs
    in with it, resets it or is sent anything for it), never a password, never a link. The
    agency sees it as it would see the fresh address's account: invited, the address
    masked, one account for the talent (another address is ``talent_has_account``), the
    same id when the address is invited again for the talent, ``user_exists`` for another
    of its talents, and an error once it is disabled (by the operator, to free the talent).
    """
    held = _held_email(talent_id=talent_id, address=email)
    user = session.scalar(select(User).where(User.email == held))
    if user is None:
        digest = held.split(":", 3)[2]
        own_talents = select(Talent.id).where(Talent.agency_id == principal.agency_id)
        if (
            session.scalar(
                select(User.id)
                .where(
                    User.email.like(f"{HELD_PREFIX}%:{digest}:%"),
                    User.talent_id.in_(own_talents),
                )
                .limit(1)
            )
            is not None
        ):
            raise UserExistsError(f"A user with the e-mail {email} exists already.")
        _refuse_second_talent_account(session, talent_id=talent_id)
        user = User(email=held, role=Role.TALENT.value, talent_id=talent_id)
        session.add(user)
        session.flush()
        log.info(
            "talent invitation to another tenant's address: a held account, no link",
            extra={"fields": {"user_id": user.id, "talent_id": talent_id}},
        )
    elif user.disabled_at is not None:
        raise InvalidRequestError(f"The user {email} is disabled.")
    return TalentInvitation(user.id, email, None, now + timedelta(hours=valid_hours))


@dataclass(frozen=True)
class TalentAccount:
    """A talent's account as her agency sees it: the address masked, never a link."""

    user_id: int
    masked_email: str
    state: str  # invited | active | disabled
    last_login_at: datetime | None


def talent_accounts(
    session: Session, *, principal: Principal, talent_id: int
) -> list[TalentAccount]:
    principal.require(Role.AGENCY)
    talent_in_scope(session, principal=principal, talent_id=talent_id)
    return [
        TalentAccount(user.id, masked_address(user), account_state(user), user.last_login_at)
        for user in session.scalars(
            select(User).where(User.talent_id == talent_id).order_by(User.id)
        )
    ]
