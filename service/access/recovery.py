"""An account's own links: a forgotten password, and a new e-mail address.

Both are single-use, short-lived tokens (only their sha256 is kept, in ``account_tokens``)
that go to an address of the account's own, never to whoever asks:

- **Password reset**: anyone may ask for one for an address; the answer is the same whether
  or not an account has it (no enumeration), and the link goes only to that address, at most
  :data:`MAX_RESETS_PER_HOUR` times an hour. An operator (an admin, or ``twinwatch users
  reset-link``) may issue one to hand over, e.g. where no SMTP server is configured. Using it
  sets the password through :func:`accounts.set_password`: every other link of the account
  is spent and every session ends.
- **Address change**: only the signed-in owner asks (with her current password); the link
  goes to the new address, and the change applies only when it is opened. The old address
  is told afterwards.

Sending is not done here (``service.access.mail`` does it, after the transaction commits),
so an SMTP server's pace never holds a database transaction open.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from indexer.db import utcnow
from service.access.accounts import (
    find_user,
    normalise_email,
    password_matches,
    refuse_held,
    set_password,
    token_hash,
)
from service.access.errors import AccountLinkInvalidError, PasswordWrongError, UserExistsError
from service.core.errors import InvalidRequestError
from service.core.tables.access import AccountToken, User

#: Self-service resets sent to one account per hour (more answer the same, and send nothing).
MAX_RESETS_PER_HOUR = 3
_KEEP_SPENT = timedelta(hours=1)  # spent rows are kept this long: they count for the limit


class Purpose(StrEnum):
    PASSWORD_RESET = "password_reset"
    EMAIL_CHANGE = "email_change"


@dataclass(frozen=True)
class AccountLink:
    """A token just issued, and where it may go. ``token`` is for the e-mail (or the
    operator) only: never logged, never stored."""

    user_id: int
    to: str  # the address the link is sent to
    token: str
    expires_at: datetime


def _issue(
    session: Session,
    *,
    user: User,
    purpose: Purpose,
    valid: timedelta,
    now: datetime,
    new_email: str | None = None,
) -> AccountLink:
    """A fresh token for ``purpose``; the account's earlier unused ones of that purpose stop
    working, and rows spent more than an hour ago are forgotten."""
    session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == purpose.value,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    session.execute(
        delete(AccountToken).where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == purpose.value,
            AccountToken.created_at < now - _KEEP_SPENT,
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose.value,
            token_hash=token_hash(token),
            new_email=new_email,
            created_at=now,
            expires_at=now + valid,
        )
    )
    session.flush()
    return AccountLink(user.id, new_email or user.email, token, now + valid)


def _live(session: Session, *, token: str, purpose: Purpose, now: datetime) -> AccountToken:
    row = session.scalar(
        select(AccountToken).where(
            AccountToken.token_hash == token_hash(token), AccountToken.purpose == purpose.value
        )
    )
    user = session.get(User, row.user_id) if row is not None else None
    if (
        row is None
        or user is None
        or row.used_at is not None
        or row.expires_at <= now
        or user.disabled_at is not None
    ):
        raise AccountLinkInvalidError(
            "This link is unknown, used already or expired; ask for a new one."
        )
    return row


# --- forgotten passwords ----------------------------------------------------------------------
def request_password_reset(
    session: Session, *, email: str, valid_minutes: float, now: datetime | None = None
) -> AccountLink | None:
    """Self-service: a link for the account with this address, to be sent to that address
    only; ``None`` (and nothing to send) when there is no such enabled account or it has had
    :data:`MAX_RESETS_PER_HOUR` links this hour. The caller answers the same either way."""
    now = now or utcnow()
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None or user.disabled_at is not None:
        return None
    recent = session.scalar(
        select(func.count()).where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == Purpose.PASSWORD_RESET.value,
            AccountToken.created_at > now - timedelta(hours=1),
        )
    )
    if (recent or 0) >= MAX_RESETS_PER_HOUR:
        return None
    return _issue(
        session,
        user=user,
        purpose=Purpose.PASSWORD_RESET,
        valid=timedelta(minutes=valid_minutes),
        now=now,
    )


def issue_password_reset(
    session: Session, *, email: str, valid_minutes: float, now: datetime | None = None
) -> AccountLink:
    """The operator's reset link for an account (an admin in the console, or the CLI), to
    hand to its owner; an unknown or disabled account is an error here."""
    now = now or utcnow()
    user = find_user(session, email=email)
    if user.disabled_at is not None:
        raise InvalidRequestError(f"The user {user.email} is disabled.")
    refuse_held(user)
    return _issue(
        session,
        user=user,
        purpose=Purpose.PASSWORD_RESET,
        valid=timedelta(minutes=valid_minutes),
        now=now,
    )


def reset_user(session: Session, *, token: str, now: datetime | None = None) -> User:
    """The account a live reset link is for."""
    row = _live(session, token=token, purpose=Purpose.PASSWORD_RESET, now=now or utcnow())
    user = session.get(User, row.user_id)
    assert user is not None
    return user


def reset_password(
    session: Session, *, token: str, password: str, now: datetime | None = None
) -> User:
    """Set a new password from a reset link: the link is spent, with every other link of the
    account, and every session of the account ends."""
    now = now or utcnow()
    user = reset_user(session, token=token, now=now)
    set_password(session, user=user, password=password, now=now)
    return user


# --- a new address ----------------------------------------------------------------------------
@dataclass(frozen=True)
class AddressChange:
    """What to send after a change was asked for: the confirmation ``link`` to the new
    address, or (``link`` None) a note to it that it belongs to another account already."""

    user_id: int
    new_email: str
    link: AccountLink | None


def request_email_change(
    session: Session,
    *,
    user_id: int,
    new_email: str,
    password: str,
    valid_hours: float,
    now: datetime | None = None,
) -> AddressChange:
    """The signed-in owner asks to change her address, with her current password. The
    answer does not say whether the new address has an account (its owner is told)."""
    now = now or utcnow()
    user = session.get(User, user_id)
    if user is None or user.disabled_at is not None:
        raise AccountLinkInvalidError("This account is disabled.")
    address = normalise_email(new_email)
    if not password_matches(user, password):
        raise PasswordWrongError("That is not your current password; nothing was changed.")
    if address == user.email:
        raise InvalidRequestError("That is your address already.")
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        return AddressChange(user.id, address, None)
    link = _issue(
        session,
        user=user,
        purpose=Purpose.EMAIL_CHANGE,
        valid=timedelta(hours=valid_hours),
        now=now,
        new_email=address,
    )
    return AddressChange(user.id, address, link)


def pending_email(session: Session, *, token: str, now: datetime | None = None) -> str:
    """The new address a live confirmation link would make the account's."""
    row = _live(session, token=token, purpose=Purpose.EMAIL_CHANGE, now=now or utcnow())
    assert row.new_email is not None
    return row.new_email


@dataclass(frozen=True)
class AddressChanged:
    user_id: int
    old_email: str
    new_email: str


def confirm_email_change(
    session: Session, *, token: str, now: datetime | None = None
) -> AddressChanged:
    """Opened from the new address: it becomes the account's sign-in name; the link is
    spent. An address taken in the meantime is refused."""
    now = now or utcnow()
    row = _live(session, token=token, purpose=Purpose.EMAIL_CHANGE, now=now)
    user = session.get(User, row.user_id)
    assert user is not None and row.new_email is not None
    taken = session.scalar(select(User.id).where(User.email == row.new_email, User.id != user.id))
    if taken is not None:
        raise UserExistsError(f"The address {row.new_email} belongs to another account now.")
    old = user.email
    user.email = row.new_email
    session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == Purpose.EMAIL_CHANGE.value,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    session.flush()
    return AddressChanged(user.id, old, user.email)


def void_link(session: Session, *, link: AccountLink, now: datetime | None = None) -> None:
    """A link that could not be sent stops working."""
    session.execute(
        update(AccountToken)
        .where(AccountToken.token_hash == token_hash(link.token))
        .values(used_at=now or utcnow())
    )
