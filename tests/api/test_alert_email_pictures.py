"""The agency's new-match e-mail through a real local SMTP server (aiosmtpd): the face as it
was seen is inline (multipart/related, a ``cid:`` image of the agency's own alert), and
times are in the configured zone (``email_time_zone``), the zone named, not raw ISO."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from pydantic import ValidationError

from service.alerts.emails import alert_face, claim_due_emails
from service.core.settings import ServiceSettings
from tests.api.test_alert_emails import RECIPIENT, deliver, mail_world, prefer
from tests.support.console import console_world
from tests.support.takedowns import ADA, auth, smtp_server

pytestmark = pytest.mark.postgres
PARIS = "Europe/Paris"


def test_the_new_match_email_shows_the_face_inline_and_local_times(tmp_path: Path) -> None:
    with (
        smtp_server() as inbox,
        console_world(
            tmp_path,
            smtp_host="127.0.0.1",
            smtp_port=inbox.port,
            smtp_starttls=False,
            email_time_zone=PARIS,
        ) as world,
    ):
        prefer(world)
        world.scan(ADA, publisher="shop.example", page="/p/1", seed=3)
        (alert,) = world.client.get("/v1/alerts", headers=auth(world)).json()["items"]
        assert deliver(world) == 1
        (message,) = inbox.messages
        assert inbox.envelopes == [[RECIPIENT]]

        related = next(p for p in message.walk() if p.get_content_type() == "multipart/related")
        html_part, picture = related.iter_parts()
        assert html_part.get_content_type() == "text/html"
        assert picture.get_content_type() == "image/jpeg"
        cid = str(picture["Content-ID"]).strip("<>")
        assert f"src='cid:{cid}'" in html_part.get_content()
        face = picture.get_payload(decode=True)
        assert isinstance(face, bytes)
        with Image.open(io.BytesIO(face)) as image:
            assert image.format == "JPEG" and min(image.size) > 16

        first = datetime.fromisoformat(alert["first_seen_at"]).astimezone(ZoneInfo(PARIS))
        shown = f"{first:%Y-%m-%d %H:%M} {first.tzname()} ({PARIS})"
        plain = message.get_body(("plain",))
        assert plain is not None
        assert f"First seen: {shown}" in plain.get_content()
        assert shown in html_part.get_content()
        assert alert["first_seen_at"][:16] not in plain.get_content()  # no raw ISO timestamp


def test_the_face_goes_only_into_the_alerts_own_agencys_email(tmp_path: Path) -> None:
    with smtp_server() as inbox, mail_world(tmp_path, inbox.port) as world:
        prefer(world)
        world.scan(ADA, publisher="shop.example", page="/p/1", seed=3)
        (due,) = claim_due_emails(world.ctx.db, limit=1, lease_s=60)
        ctx = world.ctx
        pixels = ctx.settings.max_image_pixels
        assert alert_face(ctx.db, ctx.evidence, due, max_pixels=pixels) is not None
        other_agency = replace(due, agency_id=due.agency_id + 1)
        assert alert_face(ctx.db, ctx.evidence, other_agency, max_pixels=pixels) is None
        digest = replace(due, event_key="digest:2026-12-01")
        assert alert_face(ctx.db, ctx.evidence, digest, max_pixels=pixels) is None


def test_an_unknown_time_zone_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        ServiceSettings(data_dir=tmp_path, email_time_zone="Mars/Olympus")
    assert ServiceSettings(data_dir=tmp_path).email_time_zone == "UTC"
