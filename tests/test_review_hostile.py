"""A hostile review of the takedown, consent, review and AI-signal work (task H8): each test
here failed before its fix."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.models import IdempotencyRecord, TakedownNotice
from tests.console_support import ConsoleWorld, console_world
from tests.service_support import LocalServer, local_server
from tests.takedown_support import alerts_of, auth, scan_url, serve_image


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path, fetch_allow_private_networks=True) as built:
        yield built


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


def notices_in_db(world: ConsoleWorld) -> int:
    with world.ctx.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(TakedownNotice)) or 0)


def test_a_retried_notice_draft_with_one_idempotency_key_drafts_once(
        world: ConsoleWorld, server: LocalServer) -> None:
    serve_image(server, "/img/a.png", seed=11)
    scan_url(world, server, "/img/a.png")
    [alert_id] = alerts_of(world, "shop.example")
    headers = {**auth(world), "Idempotency-Key": "notice-1"}
    body = {"kind": "dmca", "alert_ids": [alert_id]}
    first = world.client.post("/v1/takedowns", json=body, headers=headers)
    again = world.client.post("/v1/takedowns", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"] and notices_in_db(world) == 1
    other = world.client.post("/v1/takedowns", json={**body, "kind": "dsa"}, headers=headers)
    assert other.status_code == 409 and notices_in_db(world) == 1

    erased = world.client.delete(f"/v1/talents/{world.talents['Ada Lovelace']}",
                                 headers=auth(world))
    assert erased.status_code == 200, erased.text
    with world.ctx.db.session() as session:  # the stored answer named the talent: forgotten
        assert session.scalars(select(IdempotencyRecord)).all() == []


def test_both_html_evidence_reports_list_the_ai_generation_signals_as_the_json_does(
        world: ConsoleWorld) -> None:
    from tests.fakes import face_photo
    from tests.test_ai_signals import A1111, chunk, with_chunk_before_iend

    png = with_chunk_before_iend(face_photo([(7, 90)], size=130, seed=3),
                                 chunk(b"tEXt", b"parameters\x00" + A1111.encode()))
    scanned = world.client.post(
        "/v1/scans", headers=auth(world, "monitor"), files={"file": ("seen.png", png)},
        data={"page_url": "https://shop.example/p/1", "publisher": "shop.example"})
    assert scanned.status_code == 201, scanned.text
    [alert_id] = alerts_of(world, "shop.example")
    base = f"/v1/alerts/{alert_id}/evidence"
    for form in ("third_party", "internal"):
        report = world.client.get(base, params={"form": form}, headers=auth(world)).json()
        [signal] = report["sightings"][0]["provenance"]["ai_signals"]
        page = world.client.get(f"{base}.html", params={"form": form}, headers=auth(world))
        assert page.status_code == 200
        assert "AI-generation signals" in page.text
        expected = html.escape(f"{signal['detail']} ({signal['strength']})")
        assert expected in page.text, (form, page.text)
