"""Console forms that create something happen once (HTTP via TestClient, real database): the
same pre-check, batch or licence form sent twice makes one object and the second answer
leads to the first; a token from another sign-in is refused, an expired one too (both as
pages, never a 500); a form that failed may be sent again; the records go with the session
and with the hourly sweep."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from indexer.db import utcnow
from service.console import once as once_module
from service.core.tables.access import ApiKey
from service.core.tables.idempotency import IdempotencyRecord
from service.core.tables.jobs import Job
from service.core.tables.licensing import ConsentRecord, Licence
from service.core.tables.scanning import Scan
from service.jobs.housekeeping import KEEP_RECORDS, purge_idempotency_records
from service.rules.vocabulary import ScanKind
from tests.console.test_consent import PDF, replica_licence
from tests.support.console import ConsoleWorld, console_world, sign_in
from tests.support.fakes import face_photo

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
ONCE_FIELD = re.compile(r'name="once" value="([^"]+)"')
ADA = 7  # the fake face identity of Ada Lovelace (Demo Agency)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as built:
        yield built


def person(world: ConsoleWorld, who: str) -> TestClient:
    client = TestClient(world.client.app)
    assert sign_in(client, world.email(who)).status_code == 303
    return client


def form_tokens(client: TestClient, path: str) -> dict[str, str]:
    """The CSRF token and the one-time token of the create form on ``path``."""
    html = client.get(path).text
    csrf, once = CSRF_FIELD.search(html), ONCE_FIELD.search(html)
    assert csrf is not None and once is not None, html
    return {"csrf": csrf.group(1), "once": once.group(1)}


def count(world: ConsoleWorld, model: Any, *where: Any) -> int:
    with world.ctx.db.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def precheck(client: TestClient, tokens: dict[str, str]) -> Any:
    return client.post(
        "/console/prechecks",
        follow_redirects=False,
        data={**tokens, "publisher": "hm.com", "channel": "social", "territory": "FR"},
        files=[("files", ("asset.png", face_photo([(ADA, 90)], size=130, seed=31)))],
    )


def submit(client: TestClient, tokens: dict[str, str]) -> Any:
    return client.post(
        "/console/submissions",
        follow_redirects=False,
        data={**tokens, "urls": "", "publisher": "knockoff.example"},
        files=[("files", ("look.png", face_photo([(ADA, 90)], size=130, seed=51)))],
    )


def licence_form(world: ConsoleWorld, tokens: dict[str, str], **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        **tokens,
        "talent_id": str(world.talents["Ada Lovelace"]),
        "licensee": "H&M",
        "publishers": "shop.example",
        "channels": ["ecommerce"],
        "territory_groups": ["EU"],
        "media": ["photo"],
        "asset_scope": "any_image",
        "valid_from": "2020-01-01",
        "valid_until": "2099-12-31",
        "flat_fee": "1000.00",
        "per_use": "2.50",
        "currency": "EUR",
    }
    values.update(changes)
    return values


def test_a_precheck_form_sent_twice_checks_once_and_the_repeat_shows_the_first(
    world: ConsoleWorld,
) -> None:
    desk = person(world, "brand")
    tokens = form_tokens(desk, "/console/prechecks")
    first = precheck(desk, tokens)
    assert first.status_code == 200, first.text
    made = re.findall(r'href="/console/prechecks/(\d+)"', first.text)
    assert made
    again = precheck(desk, tokens)
    assert again.status_code == 303
    assert again.headers["location"] == f"/console/prechecks?checked={made[0]}"
    assert count(world, Scan, Scan.kind == ScanKind.PRECHECK) == 1
    shown = desk.get(again.headers["location"])
    assert shown.status_code == 200 and f"Open pre-check {made[0]}" in shown.text


def test_a_batch_form_sent_twice_queues_one_job_and_the_repeat_leads_to_it(
    world: ConsoleWorld,
) -> None:
    volunteer = person(world, "monitor")
    tokens = form_tokens(volunteer, "/console/submissions")
    first, again = submit(volunteer, tokens), submit(volunteer, tokens)
    assert first.status_code == again.status_code == 303, again.text
    assert again.headers["location"] == first.headers["location"]
    assert count(world, Job) == 1
    assert volunteer.get(again.headers["location"]).status_code == 200


def test_a_double_click_on_a_batch_form_queues_one_job(world: ConsoleWorld) -> None:
    """Both POSTs in flight at once: the second waits for the first and follows it."""
    volunteer = person(world, "monitor")
    tokens = form_tokens(volunteer, "/console/submissions")
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: submit(volunteer, tokens), range(2)))
    assert [a.status_code for a in answers] == [303, 303], [a.text for a in answers]
    assert answers[0].headers["location"] == answers[1].headers["location"]
    assert count(world, Job) == 1


def test_a_licence_form_sent_twice_records_one_licence_and_the_repeat_leads_to_it(
    world: ConsoleWorld,
) -> None:
    booker = person(world, "agency")
    tokens = form_tokens(booker, "/console/licences/new")
    form = licence_form(world, tokens)
    first = booker.post("/console/licences", data=form, follow_redirects=False)
    again = booker.post("/console/licences", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303, again.text
    assert again.headers["location"] == first.headers["location"]
    assert count(world, Licence) == 1


def test_a_form_that_failed_may_be_corrected_and_sent_with_the_same_token(
    world: ConsoleWorld,
) -> None:
    booker = person(world, "agency")
    tokens = form_tokens(booker, "/console/licences/new")
    wrong = booker.post(
        "/console/licences",
        data=licence_form(world, tokens, currency="EURO"),
        follow_redirects=False,
    )
    assert wrong.status_code == 422 and count(world, Licence) == 0
    fixed = booker.post(
        "/console/licences", data=licence_form(world, tokens), follow_redirects=False
    )
    assert fixed.status_code == 303 and count(world, Licence) == 1


def test_a_token_from_another_sign_in_is_refused_and_nothing_is_made(world: ConsoleWorld) -> None:
    laptop, phone = person(world, "monitor"), person(world, "monitor")
    laptop_tokens = form_tokens(laptop, "/console/submissions")
    phone_tokens = form_tokens(phone, "/console/submissions")
    refused = submit(phone, {"csrf": phone_tokens["csrf"], "once": laptop_tokens["once"]})
    assert refused.status_code == 403
    assert "form_token_invalid" in refused.text and "reload the page" in refused.text
    for forged in (phone_tokens["once"][:-1] + "x", "é.é.é", "².x.y", "1.2", "...", "x" * 121):
        tampered = submit(phone, {**phone_tokens, "once": forged})
        assert tampered.status_code in (403, 422), forged  # a page, never a 500
    assert count(world, Job) == 0


def test_an_expired_token_is_refused_with_a_clear_message(
    world: ConsoleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = person(world, "brand")
    tokens = form_tokens(desk, "/console/prechecks")
    later = utcnow() + once_module.FORM_TOKEN_MAX_AGE + timedelta(minutes=1)

    def late() -> datetime:
        return later

    monkeypatch.setattr(once_module, "utcnow", late)
    refused = precheck(desk, tokens)
    assert refused.status_code == 409
    assert "form_expired" in refused.text and "more than 12 hours old" in refused.text
    assert count(world, Scan, Scan.kind == ScanKind.PRECHECK) == 0


def test_records_go_with_the_session_and_with_the_sweep(world: ConsoleWorld) -> None:
    volunteer = person(world, "monitor")
    assert submit(volunteer, form_tokens(volunteer, "/console/submissions")).status_code == 303
    console_records = IdempotencyRecord.session_id.is_not(None)
    assert count(world, IdempotencyRecord, console_records) == 1
    csrf = form_tokens(volunteer, "/console/submissions")["csrf"]
    assert (
        volunteer.post("/console/logout", data={"csrf": csrf}, follow_redirects=False).status_code
        == 303
    )
    assert count(world, IdempotencyRecord, console_records) == 0

    desk = person(world, "brand")
    assert precheck(desk, form_tokens(desk, "/console/prechecks")).status_code == 200
    assert purge_idempotency_records(world.ctx.db) == 0  # fresh: kept
    assert purge_idempotency_records(world.ctx.db, older_than=-timedelta(seconds=1)) == 1
    assert once_module.FORM_TOKEN_MAX_AGE < KEEP_RECORDS  # a live token's record is kept


def test_an_admin_key_form_sent_twice_makes_one_key_and_never_shows_it_again(
    world: ConsoleWorld,
) -> None:
    admin = person(world, "admin")
    tokens = form_tokens(admin, "/console/admin/keys")
    form = {**tokens, "key_for": "monitor:Model Alliance", "label": "crawler"}
    keys_before = count(world, ApiKey)
    first = admin.post("/console/admin/keys", data=form, follow_redirects=False)
    shown = re.search(r'<code id="new-key">(tw_[^<]+)</code>', first.text)
    assert first.status_code == 200 and shown is not None
    again = admin.post("/console/admin/keys", data=form, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/console/admin/keys"
    assert count(world, ApiKey) == keys_before + 1
    assert shown.group(1) not in admin.get("/console/admin/keys").text  # the plaintext: once


def test_the_repeat_page_shows_only_the_brands_own_prechecks(world: ConsoleWorld) -> None:
    theirs = world.client.post(
        "/v1/prechecks",
        headers={"Authorization": f"Bearer {world.keys['other_brand']}"},
        files={"file": ("a.png", face_photo([(ADA, 90)], size=130, seed=41))},
        data={"publisher": "zara.com", "channel": "social", "territory": "ES"},
    )
    assert theirs.status_code == 201, theirs.text
    desk = person(world, "brand")
    refused = desk.get(f"/console/prechecks?checked={theirs.json()['id']}")
    assert refused.status_code == 404 and "zara.com" not in refused.text
    too_many = "&".join(f"checked={n}" for n in range(1, 13))
    assert desk.get(f"/console/prechecks?{too_many}").status_code == 422


def test_a_consent_document_form_sent_twice_keeps_one_record_and_leads_to_the_page(
    world: ConsoleWorld,
) -> None:
    lid = replica_licence(world)
    booker = person(world, "agency")
    tokens = form_tokens(booker, f"/console/licences/{lid}/consent")

    def upload() -> Any:
        return booker.post(
            f"/console/licences/{lid}/consent/documents",
            follow_redirects=False,
            data={**tokens, "signer_name": "Ada Lovelace"},
            files={"file": ("signed.pdf", PDF, "application/pdf")},
        )

    first, again = upload(), upload()
    assert first.status_code == again.status_code == 303, again.text
    assert again.headers["location"] == first.headers["location"]
    assert count(world, ConsentRecord, ConsentRecord.licence_id == lid) == 1
