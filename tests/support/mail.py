"""A console world whose twinwatch sends e-mail to a real local SMTP server (aiosmtpd), and
the one-time links read back out of the messages that arrived."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.support.console import ConsoleWorld, console_world
from tests.support.takedowns import SmtpInbox, smtp_server

LINK = re.compile(r"https?://\S+?(/console/(?:invite|reset|email/confirm)/[A-Za-z0-9_-]+)")


def smtp_settings(inbox: SmtpInbox) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": inbox.port, "smtp_starttls": False}


@contextmanager
def mailing_console_world(
    tmp_path: Path, **overrides: Any
) -> Iterator[tuple[ConsoleWorld, SmtpInbox]]:
    with smtp_server() as inbox, console_world(tmp_path, **smtp_settings(inbox), **overrides) as w:
        yield w, inbox


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def link_path(message: EmailMessage) -> str:
    """The console path of the one-time link in ``message`` (in both its parts, the same)."""
    found = LINK.findall(plain_text(message))
    assert len(set(found)) == 1, plain_text(message)
    rich = message.get_body(("html",))
    assert rich is not None and found[0] in str(rich.get_content())
    return str(found[0])


def messages_to(inbox: SmtpInbox, address: str) -> list[EmailMessage]:
    return [m for m, rcpt in zip(inbox.messages, inbox.envelopes, strict=True) if rcpt == [address]]
