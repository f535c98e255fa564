"""Sending one e-mail over SMTP: the one transport every kind of message uses.

The agency's outbox (``service.alerts.emails``) and the account messages that carry a
one-time link (``service.access.mail``) build their MIME message and hand it here. One
attempt per call, blocking (run it in a thread); any refusal is an error, never raised.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage as MimeMessage

from service.core.settings import ServiceSettings

ERROR_TEXT_MAX = 500


@dataclass(frozen=True)
class SmtpResult:
    smtp_code: int | None
    error: str | None
    duration_ms: float

    @property
    def sent(self) -> bool:
        return self.error is None


def deliver(mime: MimeMessage, *, settings: ServiceSettings) -> SmtpResult:
    """One attempt to hand ``mime`` to the configured SMTP server (``smtp_host`` is set)."""
    started = time.perf_counter()
    assert settings.smtp_host is not None
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s
        ) as smtp:
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
