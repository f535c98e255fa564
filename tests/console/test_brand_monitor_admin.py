"""The brand, monitor and admin pages of the console over HTTP (the browser flows are in
test_console_browser_roles.py): pre-checks judged on the brand's own licences only, with a
clearance record; monitor batches with per-item results and no licence terms; tenants,
users, keys and the status page for admins; every other role refused."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.access.keys import create_key
from service.api.errors import error_response
from service.core.errors import InternalError, InvalidRequestError, UrlFetchFailedError
from service.core.logs import RECENT_ERRORS, RecentErrors, RecentErrorsHandler
from service.core.principal import Role
from service.jobs.worker import JobWorker
from tests.support.console import PASSWORD, ConsoleWorld, console_world, sign_in
from tests.support.fakes import face_photo

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
NOW = datetime.now(UTC)
ADA = 7  # the fake face identity of Ada Lovelace (Demo Agency)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as built:
        yield built


def person(world: ConsoleWorld, who: str) -> TestClient:
    client = TestClient(world.client.app)
    assert sign_in(client, world.email(who)).status_code == 303
    return client


def csrf_of(client: TestClient, path: str = "/console/account") -> str:
    match = CSRF_FIELD.search(client.get(path).text)
    assert match is not None
    return match.group(1)


def licence(world: ConsoleWorld, licensee: str, publisher: str, **terms: Any) -> int:
    body: dict[str, Any] = {
        "licensee": licensee,
        "publishers": [publisher],
        "channels": ["social"],
        "territories": ["FR"],
        "media": ["photo"],
        "valid_from": (NOW - timedelta(days=30)).isoformat(),
        "valid_until": (NOW + timedelta(days=30)).isoformat(),
        "compensation": {"per_use": "40.00", "flat_fee": "999.00", "currency": "EUR"},
    }
    body.update(terms)
    response = world.client.post(
        f"/v1/talents/{world.talents['Ada Lovelace']}/licences",
        json=body,
        headers={"Authorization": f"Bearer {world.keys['agency']}"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def sign_as_talent(world: ConsoleWorld, licence_id: int, name: str) -> None:
    with world.ctx.db.session() as session:
        talent_key = create_key(session, role=Role.TALENT, talent=world.talents[name]).key
    headers = {"Authorization": f"Bearer {talent_key}"}
    terms = world.client.get(f"/v1/licences/{licence_id}/consent", headers=headers)
    assert terms.status_code == 200, terms.text
    signed = world.client.post(
        f"/v1/licences/{licence_id}/consent",
        headers=headers,
        json={"signature_name": name, "terms_sha256": terms.json()["terms_sha256"]},
    )
    assert signed.status_code == 201, signed.text


def precheck(
    client: TestClient, *, publisher: str, seeds: tuple[int, ...] = (31,), **fields: str
) -> Any:
    files = [
        ("files", (f"asset-{seed}.png", face_photo([(ADA, 90)], size=130, seed=seed)))
        for seed in seeds
    ]
    data = {
        "csrf": csrf_of(client),
        "publisher": publisher,
        "channel": "social",
        "territory": "FR",
        **fields,
    }
    return client.post("/console/prechecks", files=files, data=data)


def precheck_ids(html: str) -> list[int]:
    return sorted({int(n) for n in re.findall(r'href="/console/prechecks/(\d+)"', html)})


def test_brand_precheck_is_judged_on_its_own_licences_only(world: ConsoleWorld) -> None:
    own = licence(world, "H&M", "hm.com")
    licence(world, "Zara", "zara.com", territories=["ES"])
    desk = person(world, "brand")
    refused = precheck(desk, publisher="zara.com")
    assert refused.status_code == 200, refused.text
    assert "not cleared" in refused.text
    assert f"your licence {own}: publisher zara.com not in hm.com" in refused.text
    for secret in ("Zara", "ES", "999", "40.00"):
        assert f">{secret}<" not in refused.text and f"{secret} " not in refused.text.replace(
            "zara.com", ""
        ), secret

    cleared = precheck(desk, publisher="hm.com", seeds=(32, 33))
    assert cleared.text.count('class="badge verdict-licensed">cleared') >= 2
    history = desk.get("/console/prechecks").text
    assert "Your pre-checks (3)" in history and len(precheck_ids(history)) == 3


def test_a_clearance_record_downloads_as_json_and_html(world: ConsoleWorld) -> None:
    own = licence(world, "H&M", "hm.com")
    licence(world, "Zara", "zara.com")
    desk = person(world, "brand")
    (precheck_id,) = precheck_ids(
        precheck(
            desk, publisher="hm.com", use_until=(NOW + timedelta(days=5)).date().isoformat()
        ).text
    )
    page = desk.get(f"/console/prechecks/{precheck_id}")
    assert page.status_code == 200 and "record.json" in page.text and "record.html" in page.text

    as_json = desk.get(f"/console/prechecks/{precheck_id}/record.json")
    assert as_json.headers["content-disposition"].startswith("attachment;")
    record = as_json.json()
    assert record["brand"] == "H&M" and record["precheck"]["cleared"] is True
    (face,) = record["precheck"]["faces"]
    assert face["cleared"] and face["licence"]["licence_id"] == own
    assert "Zara" not in as_json.text and "zara.com" not in as_json.text

    as_html = desk.get(f"/console/prechecks/{precheck_id}/record.html")
    assert as_html.headers["content-type"].startswith("text/html")
    assert "attachment" in as_html.headers["content-disposition"]
    assert "Cleared" in as_html.text and "Ada Lovelace" in as_html.text
    assert "Zara" not in as_html.text and "<script" not in as_html.text


def test_a_stated_medium_and_ai_label_are_judged(world: ConsoleWorld) -> None:
    photo_only = licence(world, "H&M", "hm.com")
    desk = person(world, "brand")
    replica = precheck(desk, publisher="hm.com", medium="ai_replica")
    assert f"your licence {photo_only}: medium ai_replica not in photo" in replica.text
    assert "not cleared" in replica.text
    labelled_photo = precheck(desk, publisher="hm.com", medium="photo", ai_label="c2pa")
    assert labelled_photo.status_code == 422 and "ai_label" in labelled_photo.text
    assert 'id="precheck-problem"' in labelled_photo.text  # the form again, filled in
    assert 'value="hm.com"' in labelled_photo.text
    assert '<option value="photo" selected>' in labelled_photo.text
    assert '<option value="FR" selected>' in labelled_photo.text

    replica_licence = licence(world, "H&M", "hm.com", media=["ai_replica"], ai_label_required=True)
    sign_as_talent(world, replica_licence, "Ada Lovelace")  # a replica needs her signature
    unlabelled = precheck(desk, publisher="hm.com", medium="ai_replica")
    assert "not cleared" in unlabelled.text and "no AI label" in unlabelled.text
    labelled = precheck(desk, publisher="hm.com", medium="ai_replica", ai_label="c2pa")
    assert "Pre-check" in labelled.text and ">cleared<" in labelled.text
    newest = max(precheck_ids(labelled.text))
    record = desk.get(f"/console/prechecks/{newest}/record.json").json()["precheck"]
    assert record["context"]["medium"] == "ai_replica"
    assert record["context"]["ai_label"] == "c2pa" and record["cleared"] is True


def test_a_brand_never_opens_another_brands_precheck(world: ConsoleWorld) -> None:
    theirs = world.client.post(
        "/v1/prechecks",
        headers={"Authorization": f"Bearer {world.keys['other_brand']}"},
        files={"file": ("z.png", face_photo([(ADA, 90)], size=130, seed=41))},
        data={"publisher": "zara.com", "channel": "social", "territory": "ES"},
    )
    assert theirs.status_code == 201, theirs.text
    desk = person(world, "brand")
    for suffix in ("", "/record.json", "/record.html"):
        assert desk.get(f"/console/prechecks/{theirs.json()['id']}{suffix}").status_code == 404
    assert "zara.com" not in desk.get("/console/prechecks").text


def drain(world: ConsoleWorld) -> None:
    worker = JobWorker(world.ctx, name="console-roles-test")

    async def run() -> None:
        while await worker.run_once():
            pass

    asyncio.run(run())


def submit(
    client: TestClient, files: list[tuple[str, bytes]], urls: str = "", **fields: str
) -> Any:
    return client.post(
        "/console/submissions",
        follow_redirects=False,
        data={"csrf": csrf_of(client), "urls": urls, **fields},
        files=[("files", (name, data)) for name, data in files],
    )


def test_monitor_batch_shows_per_item_results_and_no_licence_terms(world: ConsoleWorld) -> None:
    licence(world, "H&M", "hm.com")
    volunteer = person(world, "monitor")
    response = submit(
        volunteer,
        [
            ("look-1.png", face_photo([(ADA, 90)], size=130, seed=51)),
            ("nobody.png", face_photo([(60, 90)], size=130, seed=52)),
        ],
        urls="http://127.0.0.1/private.jpg\n\n",
        publisher="knockoff.example",
        channel="ecommerce",
        territory="US",
    )
    assert response.status_code == 303, response.text
    job_page = response.headers["location"]
    before = volunteer.get(f"{job_page}/progress.json").json()
    assert before["status"] == "queued" and before["total"] == 3 and before["done"] == 0
    assert "Refresh" in volunteer.get(job_page).text  # the no-script way to follow it

    drain(world)
    progress = volunteer.get(f"{job_page}/progress.json").json()
    assert progress["status"] == "done" and progress["done"] == 2 and progress["failed"] == 1
    by_name = {item["name"]: item for item in progress["items"]}
    assert by_name["look-1.png"]["faces"] == 1 and by_name["look-1.png"]["alert"] in (
        "yes",
        "raised",
    )
    assert by_name["nobody.png"]["alert"] in ("no", "none")
    assert by_name["http://127.0.0.1/private.jpg"]["status"] == "failed"
    html = volunteer.get(job_page).text
    assert "look-1.png" in html and 'value="3"' in html
    for secret in ("H&amp;M", "hm.com", "40.00", "licence"):
        assert secret not in html and secret not in json.dumps(progress), secret
    listing = volunteer.get("/console/submissions").text
    assert f'href="{job_page}"' in listing and "Earlier submissions (1)" in listing


def test_a_large_batch_page_shows_its_items_a_page_at_a_time(world: ConsoleWorld) -> None:
    world.ctx.settings.max_batch_items = 150
    volunteer = person(world, "monitor")
    urls = [f"http://127.0.0.1:9/look-{n}.jpg" for n in range(150)]
    response = submit(volunteer, [], urls="\n".join(urls), publisher="knockoff.example")
    assert response.status_code == 303, response.text
    job_page = response.headers["location"]
    first = volunteer.get(job_page).text
    assert "Items 1-100 of 150" in first and "look-99.jpg" in first
    assert "look-100.jpg" not in first and f"{job_page}?offset=100" in first
    second = volunteer.get(f"{job_page}?offset=100").text
    assert "Items 101-150 of 150" in second and "look-149.jpg" in second
    assert "look-99.jpg" not in second and f"{job_page}?offset=0" in second
    assert 'progress.json?offset=100"' in second  # the live update follows the page shown
    polled = volunteer.get(f"{job_page}/progress.json?offset=100").json()
    assert [item["position"] for item in polled["items"]] == list(range(100, 150))
    assert polled["total"] == 150
    assert volunteer.get(f"{job_page}?offset=-1").status_code == 422


def test_an_empty_or_oversized_batch_is_refused_as_a_page(world: ConsoleWorld) -> None:
    volunteer = person(world, "monitor")
    empty = submit(volunteer, [], publisher="knockoff.example", territory="US")
    assert empty.status_code == 422 and "at least one" in empty.text
    assert 'id="submission-problem"' in empty.text  # the form again, filled in
    assert 'value="knockoff.example"' in empty.text
    assert '<option value="US" selected>' in empty.text
    long_url = "https://example.com/" + "a" * 3000
    assert submit(volunteer, [], urls=long_url).status_code == 422


def test_a_monitor_never_reads_another_monitors_batch(world: ConsoleWorld) -> None:
    theirs = world.client.post(
        "/v1/scan-jobs",
        headers={"Authorization": f"Bearer {world.keys['other_monitor']}"},
        files=[("files", ("x.png", face_photo([(ADA, 90)], size=130, seed=61)))],
    )
    assert theirs.status_code == 202, theirs.text
    volunteer = person(world, "monitor")
    for suffix in ("", "/progress.json"):
        assert (
            volunteer.get(f"/console/submissions/{theirs.json()['id']}{suffix}").status_code == 404
        )


@pytest.mark.parametrize(
    ("who", "refused"),
    [
        (
            "brand",
            (
                "/console/alerts",
                "/console/talents",
                "/console/submissions",
                "/console/admin/status",
                "/console/admin/users",
            ),
        ),
        (
            "monitor",
            (
                "/console/alerts",
                "/console/talents",
                "/console/prechecks",
                "/console/admin/keys",
                "/console/admin/tenants",
            ),
        ),
        ("agency", ("/console/prechecks", "/console/submissions", "/console/admin/status")),
    ],
)
def test_each_role_is_refused_the_pages_of_the_others(
    world: ConsoleWorld, who: str, refused: tuple[str, ...]
) -> None:
    client = person(world, who)
    for path in refused:
        assert client.get(path).status_code == 403, path


def test_admin_creates_a_tenant_invites_a_user_who_signs_in(world: ConsoleWorld) -> None:
    admin = person(world, "admin")
    created = admin.post(
        "/console/admin/tenants",
        data={"csrf": csrf_of(admin), "kind": "brand", "name": "Maison Verte"},
    )
    assert created.status_code == 200 and "Maison Verte" in created.text
    duplicate = admin.post(
        "/console/admin/tenants",
        data={"csrf": csrf_of(admin), "kind": "brand", "name": "Maison Verte"},
    )
    assert duplicate.status_code == 409
    no_csrf = admin.post("/console/admin/tenants", data={"kind": "brand", "name": "X"})
    assert no_csrf.status_code == 403

    invited = admin.post(
        "/console/admin/users",
        data={
            "csrf": csrf_of(admin),
            "email": "Desk@MaisonVerte.example",
            "account_for": "brand:Maison Verte",
        },
    )
    assert invited.status_code == 200, invited.text
    link = re.search(
        r'<code id="invitation-link">[^<]*(/console/invite/[^<]+)</code>', invited.text
    )
    assert link is not None
    before = admin.get("/console/admin/users").text  # roles and states in words
    assert "<td>Maison Verte</td><td>invited, no password yet</td>" in before, before
    assert "<td>root@twinwatch.example</td><td>administrator</td>" in before, before
    newcomer = TestClient(world.client.app)
    newcomer.get(link.group(1))
    accepted = newcomer.post(
        link.group(1),
        data={"password": PASSWORD, "csrf": newcomer.cookies.get("twinwatch_login_csrf") or ""},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    assert sign_in(newcomer, "desk@maisonverte.example").status_code == 303
    assert newcomer.get("/console/").url.path == "/console/prechecks"

    users = admin.get("/console/admin/users").text
    row = re.search(
        r'id="user-(\d+)">\s*<td>desk@maisonverte.example</td><td>brand</td>'
        r"<td>Maison Verte</td><td>active</td>",
        users,
    )
    assert row is not None, users
    disabled = admin.post(
        f"/console/admin/users/{row.group(1)}/disable", data={"csrf": csrf_of(admin)}
    )
    assert (
        disabled.status_code == 200
        and newcomer.get("/console/prechecks", follow_redirects=False).status_code == 303
    )


def test_admin_creates_a_key_shown_once_and_revokes_it(world: ConsoleWorld) -> None:
    admin = person(world, "admin")
    created = admin.post(
        "/console/admin/keys",
        data={"csrf": csrf_of(admin), "key_for": "monitor:Model Alliance", "label": "crawler"},
    )
    key = re.search(r'<code id="new-key">(tw_[^<]+)</code>', created.text)
    assert key is not None
    plaintext = key.group(1)
    auth = {"Authorization": f"Bearer {plaintext}"}
    assert world.client.get("/v1/scans", headers=auth).status_code == 200
    listing = admin.get("/console/admin/keys").text
    assert plaintext not in listing and f"{plaintext[:10]}…" in listing and "crawler" in listing
    key_id = re.search(rf'id="key-(\d+)">\s*<td><code>{re.escape(plaintext[:10])}', listing)
    assert key_id is not None
    revoked = admin.post(
        f"/console/admin/keys/{key_id.group(1)}/revoke", data={"csrf": csrf_of(admin)}
    )
    assert revoked.status_code == 200 and "revoked" in revoked.text
    assert world.client.get("/v1/scans", headers=auth).status_code == 401
    bad = admin.post(
        "/console/admin/keys", data={"csrf": csrf_of(admin), "key_for": "brand:Nobody"}
    )
    assert bad.status_code == 404 and "Nobody" in bad.text


def test_status_page_shows_pack_index_queue_and_recent_errors(world: ConsoleWorld) -> None:
    RECENT_ERRORS.clear()
    world.client.post(
        "/v1/scan-jobs",
        headers={"Authorization": f"Bearer {world.keys['monitor']}"},
        files=[("files", ("x.png", face_photo([(ADA, 90)], size=130, seed=71)))],
    )
    logging.getLogger("twinwatch.test").error(
        "worker lost its lease on item 12", extra={"fields": {"request_id": "abc123"}}
    )
    status = person(world, "admin").get("/console/admin/status")
    assert status.status_code == 200
    text = status.text
    assert '<dd id="pack-name">fake-pack</dd>' in text
    assert '<dd id="index-vectors">2</dd>' in text and 'id="index-revision"' in text
    assert '<dd id="queue-queued">1</dd>' in text
    assert "worker lost its lease on item 12" in text and "abc123" in text


def test_recent_errors_are_a_bounded_ring_without_tracebacks() -> None:
    ring = RecentErrors(capacity=3)
    handler = RecentErrorsHandler(ring)
    logger = logging.getLogger("twinwatch.ring-test")
    logger.addHandler(handler)
    try:
        for n in range(5):
            logger.error("failure %d", n)
        try:
            raise ValueError("secret body bytes")
        except ValueError:
            logger.exception("unhandled error")
        logger.warning("not an error")
    finally:
        logger.removeHandler(handler)
    newest = ring.newest_first()
    assert [r.message for r in newest] == ["unhandled error", "failure 4", "failure 3"]
    assert newest[0].code == "ValueError"
    assert all("secret" not in r.message for r in newest)


def test_5xx_answers_are_recorded_but_a_crash_only_once() -> None:
    RECENT_ERRORS.clear()
    assert error_response(UrlFetchFailedError("The image URL answered 500.")).status_code == 502
    assert error_response(InternalError("Something went wrong.")).status_code == 500
    assert error_response(InvalidRequestError("bad field")).status_code == 422
    recorded = RECENT_ERRORS.newest_first()
    assert [(r.code, r.status) for r in recorded] == [("url_fetch_failed", 502)]


def test_an_admin_cannot_disable_their_own_account(world: ConsoleWorld) -> None:
    admin = person(world, "admin")
    users = admin.get("/console/admin/users").text
    own = re.search(r'id="user-(\d+)">\s*<td>root@twinwatch.example</td>', users)
    assert own is not None
    refused = admin.post(
        f"/console/admin/users/{own.group(1)}/disable", data={"csrf": csrf_of(admin)}
    )
    assert refused.status_code == 422
    assert admin.get("/console/admin/users").status_code == 200
