"""Shared set-up for the takedown and e-mail tests: images served by a real local HTTP
server, scanned by URL through the API (the fake analyser: faces are coloured squares), a
real local SMTP server (aiosmtpd), and the PDF reader."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from service.core.errors import PdfUnavailableError
from service.core.pdf import render_pdf
from tests.support.console import ConsoleWorld
from tests.support.fakes import face_photo
from tests.support.service import LocalServer

ADA = 7  # the fake identity of "Ada Lovelace" (Demo Agency)
PROFILE = {
    "rights_holder": "Demo Agency Ltd, agent for Ada Lovelace",
    "address": "1 Example Street, London",
    "email": "legal@demo.example",
    "phone": "+44 20 0000 0000",
    "signature_name": "Jane Booker",
}


def auth(world: ConsoleWorld, who: str = "agency") -> dict[str, str]:
    return {"Authorization": f"Bearer {world.keys[who]}"}


def serve_image(server: LocalServer, path: str, *, seed: int) -> bytes:
    image = face_photo([(ADA, 90)], size=130, seed=seed)
    server.responses[path] = (200, "image/png", image)
    return image


def scan_url(
    world: ConsoleWorld,
    server: LocalServer,
    path: str,
    *,
    publisher: str = "shop.example",
    page: str = "/p/1",
) -> dict[str, Any]:
    response = world.client.post(
        "/v1/scans",
        headers=auth(world, "monitor"),
        data={
            "url": server.url(path),
            "page_url": f"https://{publisher}{page}",
            "publisher": publisher,
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def alerts_of(world: ConsoleWorld, publisher: str) -> list[int]:
    response = world.client.get(
        "/v1/alerts", params={"publisher": publisher, "status": "open"}, headers=auth(world)
    )
    return sorted(item["id"] for item in response.json()["items"])


def set_profile(world: ConsoleWorld) -> None:
    response = world.client.put("/v1/takedown-profile", json=PROFILE, headers=auth(world))
    assert response.status_code == 200, response.text


def draft(world: ConsoleWorld, kind: str, alert_ids: list[int]) -> dict[str, Any]:
    response = world.client.post(
        "/v1/takedowns", json={"kind": kind, "alert_ids": alert_ids}, headers=auth(world)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def pdf_available() -> str | None:
    try:
        render_pdf("<p>probe</p>")
    except PdfUnavailableError as exc:
        return exc.message
    return None


def pdf_text(data: bytes) -> str:
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return " ".join(text.split())  # lines wrap anywhere in a PDF


# --- a real SMTP server ---------------------------------------------------------------------
@dataclass
class SmtpInbox:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[list[str]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # answers to DATA before "250 OK"
    refused: list[EmailMessage] = field(default_factory=list)  # answered with a reply


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server() -> Iterator[SmtpInbox]:
    """aiosmtpd on 127.0.0.1: DATA answers the queued ``replies`` first (e.g. a 451), then
    250 and keeps the message."""
    controller_module = pytest.importorskip("aiosmtpd.controller")
    inbox = SmtpInbox(port=free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            if inbox.replies:
                inbox.refused.append(message_from_bytes(envelope.content, policy=policy.default))
                return inbox.replies.pop(0)
            inbox.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            inbox.envelopes.append(list(envelope.rcpt_tos))
            return "250 OK"

    controller = controller_module.Controller(Handler(), hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
