"""A hostile review of the takedown, consent, review and AI-signal work (task H8): each test
here failed before its fix."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.core.tables.idempotency import IdempotencyRecord
from service.core.tables.takedowns import TakedownNotice
from tests.support.console import ConsoleWorld, console_world
from tests.support.service import LocalServer, local_server
from tests.support.takedowns import alerts_of, auth, scan_url, serve_image

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`


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
    world: ConsoleWorld, server: LocalServer
) -> None:
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

    erased = world.client.delete(
        f"/v1/talents/{world.talents['Ada Lovelace']}", headers=auth(world)
    )
    assert erased.status_code == 200, erased.text
    with world.ctx.db.session() as session:  # the stored answer named the talent: forgotten
        assert session.scalars(select(IdempotencyRecord)).all() == []


def test_both_html_evidence_reports_list_the_ai_generation_signals_as_the_json_does(
    world: ConsoleWorld,
) -> None:
    from tests.support.fakes import face_photo
    from tests.unit.scanning.test_ai_signals import A1111, chunk, with_chunk_before_iend

    png = with_chunk_before_iend(
        face_photo([(7, 90)], size=130, seed=3), chunk(b"tEXt", b"parameters\x00" + A1111.encode())
    )
    scanned = world.client.post(
        "/v1/scans",
        headers=auth(world, "monitor"),
        files={"file": ("seen.png", png)},
        data={"page_url": "https://shop.example/p/1", "publisher": "shop.example"},
    )
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
    from markupsafe import escape

    from tests.support.console import sign_in

    console = TestClient(world.client.app)
    assert sign_in(console, world.email("agency")).status_code == 303
    page = console.get(f"/console/alerts/{alert_id}/evidence")
    assert page.status_code == 200 and "AI-generation signals" in page.text
    shown = str(escape(f"{signal['detail']} ({signal['strength']})"))  # Jinja's escaping
    assert shown in page.text, page.text  # the console's evidence page, too


def _every_row(world: ConsoleWorld) -> Iterator[tuple[str, str]]:
    from sqlalchemy import MetaData

    metadata = MetaData()
    metadata.reflect(world.ctx.db.engine)
    with world.ctx.db.engine.connect() as connection:
        for table in metadata.tables.values():
            for row in connection.execute(table.select()):
                yield table.name, repr(tuple(row))


def test_erasing_a_talent_leaves_no_row_or_file_that_names_them(
    world: ConsoleWorld, server: LocalServer
) -> None:
    """Consent document, talent account and key, e-mails, a reviewer's rejection, a final
    notice with its face crop, alerts and evidence: after erasure, no table row names the
    talent or their account, and no file under the data directory holds their document or
    image or name."""
    from service.access import accounts
    from service.access.keys import create_key
    from service.core.principal import Role

    ada = world.talents["Ada Lovelace"]
    headers = auth(world)
    assert (
        world.client.put(
            "/v1/email-preferences", headers=headers, json={"recipients": ["alerts@demo.example"]}
        ).status_code
        == 200
    )
    assert (
        world.client.put(
            "/v1/takedown-profile",
            headers=headers,
            json={
                "rights_holder": "Demo Agency Ltd",
                "address": "1 Example Street",
                "email": "legal@demo.example",
                "phone": "+44 20 0000 0000",
                "signature_name": "Jane Booker",
            },
        ).status_code
        == 200
    )
    created = world.client.post(
        f"/v1/talents/{ada}/licences",
        headers=headers,
        json={
            "licensee": "Zara",
            "publishers": ["zara.example"],
            "channels": ["print"],
            "territories": ["FR"],
            "media": ["photo"],
            "valid_from": "2026-01-01",
        },
    )
    assert created.status_code == 201, created.text
    licence_id = created.json()["id"]
    assert (
        world.client.put(
            f"/v1/licences/{licence_id}/talent-consent",
            headers=headers,
            json={"requires_talent_consent": True},
        ).status_code
        == 200
    )
    document = b"%PDF-1.4\nada-signed-consent-document\n%%EOF\n"
    uploaded = world.client.post(
        f"/v1/licences/{licence_id}/consent/documents",
        files={"file": ("ada-consent.pdf", document)},
        data={"signer_name": "Ada Lovelace"},
        headers=headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    with world.ctx.db.session() as session:
        accounts.create_user(session, email="ada@talent.example", role=Role.TALENT, talent=ada)
        token = accounts.issue_invitation(session, email="ada@talent.example", valid_hours=1)
        accounts.accept_invitation(session, token=token, password="correct horse battery")
        create_key(session, role=Role.TALENT, talent=ada)
    images = [serve_image(server, f"/img/{n}.png", seed=20 + n) for n in range(3)]
    for n in range(2):
        scan_url(world, server, f"/img/{n}.png", page=f"/look/{n}")
    scan_url(world, server, "/img/2.png", publisher="other.example")
    [rejected] = alerts_of(world, "other.example")
    reviewed = world.client.post(
        f"/v1/alerts/{rejected}/review",
        headers=headers,
        json={"decision": "not_same_person", "note": "lookalike"},
    )
    assert reviewed.status_code == 200, reviewed.text
    notice = world.client.post(
        "/v1/takedowns",
        headers=headers,
        json={"kind": "dmca", "alert_ids": alerts_of(world, "shop.example")},
    )
    assert notice.status_code == 201, notice.text
    confirmed = world.client.post(f"/v1/takedowns/{notice.json()['id']}/confirm", headers=headers)
    assert confirmed.status_code == 200, confirmed.text
    rows = list(_every_row(world))
    assert any("Ada Lovelace" in text for _, text in rows)  # the planting worked
    assert {
        "face_rejections",
        "consent_records",
        "email_messages",
        "takedown_notices",
        "users",
    } <= {
        table
        for table, text in rows
        if "Ada Lovelace" in text or "ada@talent.example" in text or table == "face_rejections"
    }

    erased = world.client.delete(f"/v1/talents/{ada}", headers=headers)
    assert erased.status_code == 200, erased.text
    left = [
        (table, text[:200])
        for table, text in _every_row(world)
        if "Ada Lovelace" in text
        or "ada@talent.example" in text
        or "ada-consent.pdf" in text
        or "lookalike" in text
    ]
    assert left == []
    with world.ctx.db.session() as session:
        from service.core.tables.access import ApiKey, User
        from service.core.tables.alerts import EmailMessage, FaceRejection
        from service.core.tables.licensing import ConsentRecord

        for model in (ApiKey, User, ConsentRecord, EmailMessage, FaceRejection):
            assert session.scalars(select(model).where(model.talent_id == ada)).all() == []
    data_dir = world.ctx.settings.data_dir
    for path in data_dir.rglob("*"):
        if not path.is_file() or path.suffix in {".db", ".db-wal", ".db-shm"}:
            continue
        content = path.read_bytes()
        assert document not in content and b"Ada Lovelace" not in content, path
        assert not any(image in content for image in images), path
    for path in data_dir.rglob("*.db*"):
        assert b"Ada Lovelace" not in path.read_bytes(), path  # not even in free pages


def test_a_notice_form_sent_twice_drafts_one_notice(
    world: ConsoleWorld, server: LocalServer
) -> None:
    """A double click (or a browser's resend) on "Draft notice": the second submission
    lands on the first draft. A draft of the other kind, or of other alerts, is new."""
    from tests.console.test_pages import CSRF_FIELD
    from tests.support.console import sign_in

    serve_image(server, "/img/a.png", seed=11)
    serve_image(server, "/img/b.png", seed=12)
    scan_url(world, server, "/img/a.png", page="/look/1")
    scan_url(world, server, "/img/b.png", page="/look/2")
    first, second = alerts_of(world, "shop.example")
    client = TestClient(world.client.app)
    assert sign_in(client, world.email("agency")).status_code == 303
    match = CSRF_FIELD.search(client.get("/console/notices").text)
    assert match is not None
    form = {"csrf": match.group(1), "kind": "dmca", "alert_id": [str(first), str(second)]}
    answers = [client.post("/console/notices", data=form, follow_redirects=False) for _ in range(2)]
    assert [a.status_code for a in answers] == [303, 303]
    assert answers[0].headers["location"] == answers[1].headers["location"]
    assert notices_in_db(world) == 1
    again = world.client.post(
        "/v1/takedowns", headers=auth(world), json={"kind": "dmca", "alert_ids": [second, first]}
    )
    assert again.status_code == 201 and answers[0].headers["location"].endswith(
        f"/notices/{again.json()['id']}"
    )
    for other in (
        {"kind": "dsa", "alert_ids": [first, second]},
        {"kind": "dmca", "alert_ids": [first]},
    ):
        assert (
            world.client.post("/v1/takedowns", headers=auth(world), json=other).status_code == 201
        )
    assert notices_in_db(world) == 3


def test_a_retried_same_person_review_is_recorded_once(
    world: ConsoleWorld, server: LocalServer
) -> None:
    serve_image(server, "/img/a.png", seed=11)
    scan_url(world, server, "/img/a.png")
    [alert_id] = alerts_of(world, "shop.example")
    body = {"decision": "same_person", "note": "same ear shape"}
    answers = [
        world.client.post(f"/v1/alerts/{alert_id}/review", json=body, headers=auth(world))
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    events = world.client.get(f"/v1/alerts/{alert_id}/history", headers=auth(world)).json()
    assert [e["action"] for e in events].count("review_same_person") == 1, events
    other = world.client.post(
        f"/v1/alerts/{alert_id}/review",
        headers=auth(world),
        json={"decision": "same_person", "note": "checked again"},
    )
    assert other.status_code == 200
    events = world.client.get(f"/v1/alerts/{alert_id}/history", headers=auth(world)).json()
    assert [e["action"] for e in events].count("review_same_person") == 2


def test_a_reader_holding_an_old_snapshot_delays_the_log_truncation_by_seconds_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3
    import time

    from sqlalchemy import text

    from indexer.db import Database

    db = Database(f"sqlite:///{tmp_path / 'erase.db'}")
    with db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE people (name TEXT)"))
        connection.execute(text("INSERT INTO people VALUES ('Ada Lovelace')"))
    reader = sqlite3.connect(tmp_path / "erase.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM people").fetchall()  # a snapshot from before the delete
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM people"))
    started = time.monotonic()
    db.forget_deleted()
    assert time.monotonic() - started < 10
    assert "write-ahead log busy" in caplog.text
    reader.close()
    db.forget_deleted()  # the reader is gone: the log is emptied
    wal = tmp_path / "erase.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    assert b"Ada Lovelace" not in (tmp_path / "erase.db").read_bytes()
    db.dispose()


def test_a_consent_document_racing_the_talents_erasure_leaves_no_file(
    world: ConsoleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The talent is erased just as the agency's upload takes its lock (once it holds the
    lock, an erasure waits for the upload's commit, so no erasure falls between the upload's
    checks and its insert any more): the upload is refused (404, not a 500), and the signed
    document is not left behind."""
    from service.licensing import consent

    ada = world.talents["Ada Lovelace"]
    created = world.client.post(
        f"/v1/talents/{ada}/licences",
        headers=auth(world),
        json={
            "licensee": "Zara",
            "publishers": ["zara.example"],
            "media": ["photo"],
            "valid_from": "2026-01-01",
            "requires_talent_consent": True,
        },
    )
    assert created.status_code == 201, created.text
    assert (
        world.client.put(
            f"/v1/licences/{created.json()['id']}/talent-consent",
            headers=auth(world),
            json={"requires_talent_consent": True},
        ).status_code
        == 200
    )
    lock = consent._lock_for_consent

    def erased_meanwhile(session: Any, licence_id: int) -> None:
        world.ctx.registry.erase_talent(talent_id=ada)
        lock(session, licence_id)

    monkeypatch.setattr(consent, "_lock_for_consent", erased_meanwhile)
    client = TestClient(world.client.app, raise_server_exceptions=False)
    document = b"%PDF-1.4\nsigned-by-ada\n%%EOF\n"
    answer = client.post(
        f"/v1/licences/{created.json()['id']}/consent/documents",
        files={"file": ("signed.pdf", document)},
        data={"signer_name": "Ada Lovelace"},
        headers=auth(world),
    )
    assert answer.status_code == 404, answer.text  # the licence went with the talent
    kept = [info.key for info in world.ctx.blobs.list("consent-documents/")]
    assert not any(document == world.ctx.blobs.get(key) for key in kept), kept
