"""Sending one e-mail over SMTP: the one transport every kind of message uses.

The agency's outbox (``service.alerts.emails``) and the account messages that carry a
one-time link (``service.access.mail``) build their MIME message and hand it here. One
attempt per call, blocking (run it in a thread); any refusal is an error, never raised.
Every message passing through here gets a ``Date`` (the attempt's, UTC) and, unless its
sender set a stable one, a globally unique ``Message-ID`` (a random part, at the domain of
the public URL or else of the from-address). Every attempt has one wall-clock deadline,
``delivery_deadline_s`` (smtplib's timeout is per read, so a server dripping a byte at a
time would otherwise hold it for minutes).
"""

from __future__ import annotations

import contextlib
import secrets
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, make_msgid, parseaddr
from urllib.parse import urlsplit

from service.core.settings import ServiceSettings

ERROR_TEXT_MAX = 500
SOCKET_POLL_S = 0.05
SMTP_READY = 220
FALLBACK_DOMAIN = "twinwatch.invalid"


@dataclass(frozen=True)
class SmtpResult:
    smtp_code: int | None
    error: str | None
    duration_ms: float

    @property
    def sent(self) -> bool:
        return self.error is None


def message_id_domain(settings: ServiceSettings) -> str:
    """The right-hand side of our Message-IDs: the public URL's host, else the domain of the
    from-address (``twinwatch.invalid`` when neither gives one)."""
    if settings.public_url:
        host = urlsplit(settings.public_url).hostname
        if host:
            return host
    _, address = parseaddr(settings.smtp_from)
    domain = address.rpartition("@")[2].strip().lower()
    return domain or FALLBACK_DOMAIN


def new_message_id(settings: ServiceSettings) -> str:
    """A Message-ID no other message, install or data reset will have (128 random bits)."""
    return make_msgid(idstring=secrets.token_hex(16), domain=message_id_domain(settings))


def stamp(mime: MimeMessage, *, settings: ServiceSettings) -> MimeMessage:
    """The headers every message carries: ``Date`` (now, UTC) and a ``Message-ID`` (kept when
    the sender set one, so a retried message keeps its id)."""
    del mime["Date"]
    mime["Date"] = format_datetime(datetime.now(UTC))
    if mime["Message-ID"] is None:
        mime["Message-ID"] = new_message_id(settings)
    return mime


def deliver(mime: MimeMessage, *, settings: ServiceSettings) -> SmtpResult:
    """One attempt to hand ``mime`` to the configured SMTP server (``smtp_host`` is set),
    cut at ``delivery_deadline_s`` whatever the server drips; an answer accepted before the
    cut stands."""
    stamp(mime, settings=settings)
    started = time.perf_counter()
    deadline_s = settings.delivery_deadline_s
    smtp = smtplib.SMTP(timeout=min(settings.smtp_timeout_s, deadline_s))
    with SocketDeadline(smtp, deadline_s) as deadline:
        result = _converse(smtp, mime, settings=settings, started=started)
    if deadline.expired and not result.sent:
        return SmtpResult(
            None, _error(f"no answer within the {deadline_s:g} s deadline"), _ms(started)
        )
    return result


class SocketDeadline:
    """Shuts an SMTP connection's socket down once ``deadline_s`` has passed, which ends a
    read or write blocked on it at once; used as a context around the whole conversation."""

    def __init__(self, smtp: smtplib.SMTP, deadline_s: float) -> None:
        self._smtp = smtp
        self._over = threading.Event()
        self._timer = threading.Timer(deadline_s, self._cut)
        self._timer.daemon = True
        self.expired = False

    def __enter__(self) -> SocketDeadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._over.set()
        self._timer.cancel()

    def _cut(self) -> None:
        self.expired = True
        while not self._over.is_set():  # the socket may still be being made: wait for it
            sock = self._smtp.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                return
            self._over.wait(SOCKET_POLL_S)


def _converse(
    smtp: smtplib.SMTP, mime: MimeMessage, *, settings: ServiceSettings, started: float
) -> SmtpResult:
    assert settings.smtp_host is not None
    try:
        with smtp:
            code, greeting = smtp.connect(settings.smtp_host, settings.smtp_port)
            if code != SMTP_READY:
                raise smtplib.SMTPConnectError(code, greeting)
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            refused = smtp.send_message(mime)
        if refused:
            code, reason = next(iter(refused.values()))
            return SmtpResult(
                code,
                _error(f"{len(refused)} recipient(s) refused: {code} {reason!r}"),
                _ms(started),
            )
        return SmtpResult(250, None, _ms(started))
    except smtplib.SMTPRecipientsRefused as exc:
        code, reason = next(iter(exc.recipients.values()))
        return SmtpResult(code, _error(f"every recipient refused: {code} {reason!r}"), _ms(started))
    except smtplib.SMTPResponseException as exc:
        return SmtpResult(
            exc.smtp_code, _error(f"{exc.smtp_code} {exc.smtp_error!r}"), _ms(started)
        )
    except (smtplib.SMTPException, OSError) as exc:
        return SmtpResult(None, _error(f"{type(exc).__name__}: {exc}"), _ms(started))


def _error(text: str) -> str:
    return text[:ERROR_TEXT_MAX]


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
