"""E-mail to a person about their own account: an invitation, a link to set a new password,
the confirmation of a new address, and the note that the address changed.

These messages carry one-time links, so unlike the agency's outbox
(``service.alerts.emails``) they are never stored: each is sent at once, over the one SMTP
transport (``service.core.mail``), to the account's own address only. Logs name the kind of
message and the user's id, never the address, the link or its token.
"""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Callable
from email.message import EmailMessage as MimeMessage
from typing import ParamSpec

from service.access.errors import EmailNotSentError
from service.core.mail import deliver
from service.core.settings import ServiceSettings

log = logging.getLogger(__name__)
P = ParamSpec("P")
SIGNATURE = "Sent by twinwatch about your own account. If you did not expect it, ignore it."


def _hours(hours: float) -> str:
    return f"{hours:g} hour{'s' if hours != 1 else ''}"


def _minutes(minutes: float) -> str:
    return f"{minutes:g} minute{'s' if minutes != 1 else ''}"


def _mime(
    *, to: str, subject: str, paragraphs: list[str], link: str | None, sender: str
) -> MimeMessage:
    mime = MimeMessage()
    mime["From"] = sender
    mime["To"] = to
    mime["Subject"] = subject
    text = [subject, "=" * len(subject), "", *(p + "\n" for p in paragraphs)]
    if link is not None:
        text += [link, ""]
    text.append(SIGNATURE)
    mime.set_content("\n".join(text) + "\n")
    esc = html.escape
    body = "".join(f"<p>{esc(p)}</p>" for p in paragraphs)
    if link is not None:
        body += f"<p><a href='{esc(link, quote=True)}'>{esc(link)}</a></p>"
    mime.add_alternative(
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{esc(subject)}</title>"
        f"<body><h1>{esc(subject)}</h1>{body}<p><small>{esc(SIGNATURE)}</small></p>"
        "</body></html>",
        subtype="html",
    )
    return mime


def _send(settings: ServiceSettings, mime: MimeMessage, *, kind: str, user_id: int) -> None:
    result = deliver(mime, settings=settings)
    if result.sent:
        log.info("account e-mail sent", extra={"fields": {"kind": kind, "user_id": user_id}})
        return
    log.warning(
        "account e-mail not sent",
        extra={"fields": {"kind": kind, "user_id": user_id, "smtp_code": result.smtp_code}},
    )
    raise EmailNotSentError(
        "The e-mail server did not take the message, so no link was sent (and the link made "
        "for it does not work); try again later.",
        smtp_code=result.smtp_code,
    )


def send_invitation(
    settings: ServiceSettings, *, user_id: int, to: str, link: str, talent_name: str | None
) -> None:
    """The invitation to set a password, to the invited address (raises EmailNotSentError)."""
    whose = f"{talent_name}'s own twinwatch account" if talent_name else "a twinwatch account"
    mime = _mime(
        to=to,
        subject="Your twinwatch account: choose your password",
        paragraphs=[
            f"You are invited to {whose}: every sighting of your likeness, every licence "
            "that names you, what you are owed, and the consent to AI replicas that only you "
            "can sign.",
            f"Open this link to choose your password. It works once, for "
            f"{_hours(settings.invitation_hours)}; only you receive it, and nobody at your "
            "agency sees it.",
        ],
        link=link,
        sender=settings.smtp_from,
    )
    _send(settings, mime, kind="invitation", user_id=user_id)


def send_invitation_not_made(settings: ServiceSettings, *, user_id: int, to: str) -> None:
    """To an address an agency invited for a talent while another tenant's account holds it
    (``user_id`` is the talent's held account): nothing was made and no link is sent, and
    neither the agency nor the talent is named. The agency's answer is the one a fresh
    address gets, so it learns nothing from this message either (raises EmailNotSentError,
    as an invitation would)."""
    mime = _mime(
        to=to,
        subject="Your twinwatch address",
        paragraphs=[
            "Someone asked twinwatch to invite this address to a talent's own account. This "
            "address has a twinwatch account already, so nothing was made and no link was "
            "sent.",
            "If you are that talent and want your own account, ask for the invitation to "
            "go to another address of yours. Otherwise ignore this message.",
        ],
        link=None,
        sender=settings.smtp_from,
    )
    _send(settings, mime, kind="invitation_not_made", user_id=user_id)


def send_password_reset(settings: ServiceSettings, *, user_id: int, to: str, link: str) -> None:
    mime = _mime(
        to=to,
        subject="Set a new twinwatch password",
        paragraphs=[
            "Someone (we hope you) asked to set a new password for the twinwatch account of "
            "this address.",
            f"Open this link to choose it. It works once, for "
            f"{_minutes(settings.password_reset_minutes)}; setting the password signs out "
            "every browser signed in to the account. If you did not ask, ignore this message: "
            "your password stays as it is.",
        ],
        link=link,
        sender=settings.smtp_from,
    )
    _send(settings, mime, kind="password_reset", user_id=user_id)


def send_email_confirmation(settings: ServiceSettings, *, user_id: int, to: str, link: str) -> None:
    mime = _mime(
        to=to,
        subject="Confirm your new twinwatch address",
        paragraphs=[
            "You asked to make this address the one you sign in to twinwatch with.",
            f"Open this link to confirm it. It works once, for "
            f"{_hours(settings.email_change_hours)}; until then your old address stays.",
        ],
        link=link,
        sender=settings.smtp_from,
    )
    _send(settings, mime, kind="email_confirmation", user_id=user_id)


def send_address_in_use(settings: ServiceSettings, *, user_id: int, to: str) -> None:
    """To a new address that has an account already (the one who asked is not told)."""
    mime = _mime(
        to=to,
        subject="Your twinwatch address",
        paragraphs=[
            "Someone signed in to twinwatch asked to move their account to this address. "
            "This address has a twinwatch account already, so nothing was changed.",
            "If it was you, sign in with this address instead, or choose another one.",
        ],
        link=None,
        sender=settings.smtp_from,
    )
    _send(settings, mime, kind="address_in_use", user_id=user_id)


def send_address_changed(settings: ServiceSettings, *, user_id: int, to: str, new: str) -> None:
    """To the old address, once the change applied (``new`` is shown masked)."""
    mime = _mime(
        to=to,
        subject="Your twinwatch address changed",
        paragraphs=[
            f"Your twinwatch account now signs in with {new} instead of this address; the "
            "change was confirmed from the new address.",
            "If you did not do this, ask your twinwatch operator to disable the account at once.",
        ],
        link=None,
        sender=settings.smtp_from,
    )
    _send(settings, mime, kind="address_changed", user_id=user_id)


def send_quietly(send: Callable[P, None], *args: P.args, **kwargs: P.kwargs) -> None:
    """For messages sent after the answer (a reset asked for, an address changed): a
    failure is logged by :func:`_send` and goes no further."""
    with contextlib.suppress(EmailNotSentError):
        send(*args, **kwargs)
