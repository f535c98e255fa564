"""The console over HTTP: security headers, CSRF, sign-in, tenant isolation, the agency's
pages and triage (browser flows are in test_console_browser.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.alerts.states import AlertStatus
from tests.support.console import ConsoleWorld, console_world, sign_in

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as built:
        yield built


def browser(world: ConsoleWorld, who: str | None = None) -> TestClient:
    """A separate cookie jar on the same app (one 'browser' per person)."""
    client = TestClient(world.client.app)
    if who is not None:
        response = sign_in(client, world.email(who))
        assert response.status_code == 303, response.text
    return client


def page_csrf(client: TestClient, path: str = "/console/account") -> str:
    match = CSRF_FIELD.search(client.get(path).text)
    assert match is not None
    return match.group(1)


def test_console_pages_carry_a_strict_content_security_policy(world: ConsoleWorld) -> None:
    for path in ("/console/login", "/console/alerts"):
        response = world.client.get(path)
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
    html = world.client.get("/console/login").text
    assert "<script" not in html and "style=" not in html and "<style" not in html


def test_session_cookie_is_httponly_samesite_and_secure_when_configured(tmp_path: Path) -> None:
    with console_world(tmp_path, console_secure_cookies=True) as world:
        client = TestClient(world.client.app, base_url="https://testserver")
        response = sign_in(client, world.email("agency"))
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Host-twinwatch_session=")
        for flag in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
            assert flag in cookie


def test_sign_in_lands_the_agency_in_its_inbox(world: ConsoleWorld) -> None:
    client = browser(world)
    response = sign_in(client, world.email("agency"))
    assert response.status_code == 303
    assert client.get("/console/").url.path == "/console/alerts"


def test_wrong_password_shows_the_form_again_with_one_message(world: ConsoleWorld) -> None:
    client = browser(world)
    response = sign_in(client, world.email("agency"), password="wrong password guess")
    assert response.status_code == 401
    assert "Wrong e-mail or password." in response.text and 'name="password"' in response.text
    assert (
        "set-cookie" not in response.headers
        or "twinwatch_session" not in response.headers["set-cookie"]
    )


def test_repeated_failures_are_throttled_with_a_clear_message(world: ConsoleWorld) -> None:
    client = browser(world)
    for _ in range(world.ctx.settings.login_max_failures_per_email):
        assert sign_in(client, world.email("agency"), password="nope nope nope").status_code == 401
    response = sign_in(client, world.email("agency"))
    assert response.status_code == 429
    assert "Too many failed sign-ins for this account" in response.text
    assert int(response.headers["retry-after"]) > 0


def test_sign_in_form_without_its_csrf_token_is_refused(world: ConsoleWorld) -> None:
    client = browser(world)
    response = client.post(
        "/console/login",
        data={
            "email": world.email("agency"),
            "password": "correct horse battery staple",
            "csrf": "forged",
        },
        follow_redirects=False,
    )
    assert response.status_code == 403 and "csrf_failed" not in response.headers.get("location", "")
    assert "did not come from twinwatch" in response.text


def test_triage_without_the_session_csrf_token_changes_nothing(world: ConsoleWorld) -> None:
    world.scan(7)
    (alert_id,) = world.alert_ids()
    client = browser(world, "agency")
    response = client.post(
        f"/console/alerts/{alert_id}/triage", data={"action": "confirm_violation", "csrf": "forged"}
    )
    assert response.status_code == 403
    assert "csrf_failed" in response.text
    assert _status(world, alert_id) == "open"


def test_triage_from_the_inbox_goes_through_the_alerts_service(world: ConsoleWorld) -> None:
    world.scan(7)
    (alert_id,) = world.alert_ids()
    client = browser(world, "agency")
    csrf = page_csrf(client, "/console/alerts")
    response = client.post(
        f"/console/alerts/{alert_id}/triage",
        follow_redirects=False,
        data={
            "action": "confirm_violation",
            "note": "sent takedown",
            "csrf": csrf,
            "back": "/console/alerts?status=open",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/alerts?status=open&done={alert_id}"
    alert = world.client.get(
        f"/v1/alerts/{alert_id}", headers={"Authorization": f"Bearer {world.keys['agency']}"}
    ).json()
    assert alert["status"] == "confirmed_violation" and alert["triage_note"] == "sent takedown"
    assert f'id="alert-{alert_id}"' not in client.get("/console/alerts").text  # no longer open
    assert f'id="alert-{alert_id}"' in client.get("/console/alerts?status=").text


@pytest.mark.parametrize("action", ["delete", "", "CONFIRM_VIOLATION"])
def test_unknown_triage_action_is_a_4xx_page(world: ConsoleWorld, action: str) -> None:
    world.scan(7)
    (alert_id,) = world.alert_ids()
    client = browser(world, "agency")
    response = client.post(
        f"/console/alerts/{alert_id}/triage", data={"action": action, "csrf": page_csrf(client)}
    )
    assert response.status_code == 422 and "invalid_request" in response.text
    assert _status(world, alert_id) == "open"


def test_inbox_shows_the_sighting_beside_the_reference_with_its_facts(world: ConsoleWorld) -> None:
    world.scan(7, publisher="shop.example", page="/p/1", seed=3)
    world.scan(7, publisher="shop.example", page="/p/2", seed=4)
    world.scan(7, publisher="blog.example", page="/post", seed=5)
    client = browser(world, "agency")
    html = client.get("/console/alerts").text
    groups = re.findall(r'<h2 id="group-\d+">([^ <]+) <span class="muted">· (\d) alert', html)
    assert groups == [("blog.example", "1"), ("shop.example", "2")]  # newest group first
    for src in re.findall(r'<img class="(?:face|reference)" src="([^"]+)"', html):
        image = client.get(src)
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert image.content[:3] == b"\xff\xd8\xff" and len(image.content) < 50_000
    assert "unlicensed" in html and "https://shop.example/p/1" in html
    assert "AI label: none" in html


def test_inbox_filters_by_publisher_band_talent_and_date(world: ConsoleWorld) -> None:
    world.scan(7, publisher="shop.example")
    world.scan(7, publisher="blog.example", seed=5)
    client = browser(world, "agency")
    only_blog = client.get("/console/alerts?publisher=www.BLOG.example").text
    assert only_blog.count('class="alert"') == 1 and "blog.example" in only_blog
    assert client.get("/console/alerts?band=possible").text.count('class="alert"') == 0
    talent = world.talents["Ada Lovelace"]
    assert client.get(f"/console/alerts?talent_id={talent}").text.count('class="alert"') == 2
    assert client.get("/console/alerts?since=2999-01-01").text.count('class="alert"') == 0
    everything = "/console/alerts?status=&talent_id=&publisher=&since=&until=&band="
    assert client.get(everything).text.count('class="alert"') == 2


@pytest.mark.parametrize(
    "query", ["status=bogus", "talent_id=abc", "since=yesterday", "band=maybe", "offset=-1"]
)
def test_bad_filters_are_a_4xx_page_not_a_500(world: ConsoleWorld, query: str) -> None:
    response = browser(world, "agency").get(f"/console/alerts?{query}")
    assert response.status_code == 422
    assert "invalid_request" in response.text and "text/html" in response.headers["content-type"]


def test_another_agency_gets_nothing_of_this_agency(world: ConsoleWorld) -> None:
    world.scan(7)
    (alert_id,) = world.alert_ids()
    talent = world.talents["Ada Lovelace"]
    other = browser(world, "other_agency")
    assert f"alert-{alert_id}" not in other.get("/console/alerts?status=").text
    assert "Ada Lovelace" not in other.get("/console/talents").text
    for path in (
        f"/console/alerts/{alert_id}/face.jpg",
        f"/console/alerts/{alert_id}/image.jpg",
        f"/console/alerts/{alert_id}/evidence",
        f"/console/alerts/{alert_id}/evidence.json",
        f"/console/talents/{talent}",
        f"/console/talents/{talent}/references/1.jpg",
    ):
        response = other.get(path)
        assert response.status_code == 404, path
        assert "Ada" not in response.text
    response = other.post(
        f"/console/alerts/{alert_id}/triage",
        data={"action": "dismiss_false_match", "csrf": page_csrf(other)},
    )
    assert response.status_code == 404
    assert _status(world, alert_id) == "open"


@pytest.mark.parametrize("who", ["brand", "monitor"])
def test_brands_and_monitors_are_refused_agency_pages(world: ConsoleWorld, who: str) -> None:
    world.scan(7)
    (alert_id,) = world.alert_ids()
    client = browser(world, who)
    for path in ("/console/alerts", f"/console/alerts/{alert_id}/face.jpg", "/console/talents"):
        assert client.get(path).status_code == 403, path
    assert client.get("/console/").status_code == 200


def test_signed_out_visitors_are_sent_to_sign_in_and_images_refused(world: ConsoleWorld) -> None:
    world.scan(7)
    (alert_id,) = world.alert_ids()
    client = browser(world)
    response = client.get("/console/alerts?status=open", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=/console/alerts"
    assert client.get(f"/console/alerts/{alert_id}/face.jpg").status_code == 401


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/console/..//evil.example",
        "javascript:alert(1)",
    ],
)
def test_sign_in_never_redirects_off_the_console(world: ConsoleWorld, target: str) -> None:
    client = browser(world)
    client.get("/console/login")
    response = client.post(
        "/console/login",
        follow_redirects=False,
        data={
            "email": world.email("agency"),
            "password": "correct horse battery staple",
            "csrf": client.cookies.get("twinwatch_login_csrf") or "",
            "next": target,
        },
    )
    assert response.headers["location"] == "/console/"


def test_sign_out_and_sign_out_everywhere(world: ConsoleWorld) -> None:
    laptop, phone = browser(world, "agency"), browser(world, "agency")
    response = laptop.post(
        "/console/logout", data={"csrf": page_csrf(laptop)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert laptop.get("/console/alerts", follow_redirects=False).status_code == 303
    assert phone.get("/console/alerts").status_code == 200
    desk = browser(world, "agency")
    desk.post("/console/logout-everywhere", data={"csrf": page_csrf(desk)})
    for client in (phone, desk):
        assert client.get("/console/alerts", follow_redirects=False).status_code == 303


def test_invitation_link_sets_the_password_once(world: ConsoleWorld) -> None:
    from service.access import accounts
    from service.core.principal import Role

    with world.ctx.db.session() as session:
        accounts.create_user(
            session, email="new@demo.example", role=Role.AGENCY, agency="Demo Agency"
        )
        token = accounts.issue_invitation(session, email="new@demo.example", valid_hours=1)
    client = browser(world)
    form = client.get(f"/console/invite/{token}")
    assert form.status_code == 200 and "new@demo.example" in form.text
    csrf = client.cookies.get("twinwatch_login_csrf") or ""
    too_short = client.post(f"/console/invite/{token}", data={"password": "short", "csrf": csrf})
    assert too_short.status_code == 422 and "at least 12 characters" in too_short.text
    done = client.post(
        f"/console/invite/{token}",
        follow_redirects=False,
        data={"password": "a brand new passphrase", "csrf": csrf},
    )
    assert done.status_code == 303
    assert client.get(f"/console/invite/{token}").status_code == 404
    assert sign_in(client, "new@demo.example", "a brand new passphrase").status_code == 303


def test_talent_pages_show_references_with_quality_figures(world: ConsoleWorld) -> None:
    world.scan(7)
    client = browser(world, "agency")
    talent = world.talents["Ada Lovelace"]
    listing = client.get("/console/talents").text
    assert "Ada Lovelace" in listing and "Grace Hopper" not in listing
    assert f'href="/console/alerts?talent_id={talent}">1<' in listing
    detail = client.get(f"/console/talents/{talent}").text
    assert "Face size" in detail and "120 px" in detail and "0.950" in detail
    assert "<title>Ada Lovelace · twinwatch</title>" in detail  # the page's title, only
    assert detail.count("Erase for good") == 1
    src = re.search(r'<img class="reference" src="([^"]+)"', detail)
    assert src is not None and client.get(src.group(1)).status_code == 200


def test_evidence_opens_in_the_browser_with_cookie_auth(world: ConsoleWorld) -> None:
    world.scan(7)
    (alert_id,) = world.alert_ids()
    client = browser(world, "agency")
    html = client.get(f"/console/alerts/{alert_id}/evidence").text
    assert "Unlicensed use of Ada Lovelace" in html and "Sightings (1)" in html
    assert f"/console/alerts/{alert_id}/image.jpg" in html
    download = client.get(f"/console/alerts/{alert_id}/evidence.json")
    assert "attachment" in download.headers["content-disposition"]
    third_party = download.json()  # the default download is the one sent to a publisher
    assert third_party["form"] == "third_party" and third_party["alert_id"] == alert_id
    assert "licences_checked" not in third_party and "why_unlicensed" not in third_party
    internal = client.get(f"/console/alerts/{alert_id}/evidence.json?form=internal").json()
    assert internal["form"] == "internal" and internal["alert"]["id"] == alert_id


def test_the_api_still_answers_json_with_keys(world: ConsoleWorld) -> None:
    response = world.client.get(
        "/v1/alerts", headers={"Authorization": f"Bearer {world.keys['agency']}"}
    )
    assert response.status_code == 200 and "content-security-policy" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert browser(world, "agency").get("/v1/alerts").status_code == 401  # no cookie auth


def _status(world: ConsoleWorld, alert_id: int) -> str:
    response = world.client.get(
        f"/v1/alerts/{alert_id}", headers={"Authorization": f"Bearer {world.keys['agency']}"}
    )
    return str(response.json()["status"])


def _bulk(client: TestClient, **data: object) -> int:
    response = client.post(
        "/console/alerts/bulk-triage",
        follow_redirects=False,
        data={"csrf": page_csrf(client), "back": "/console/alerts", **data},
    )
    return int(response.status_code)


def test_bulk_triage_changes_the_selected_alerts_only(world: ConsoleWorld) -> None:
    for seed in (3, 4, 5):
        world.scan(7, page=f"/p/{seed}", seed=seed)
    first, second, third = sorted(world.alert_ids())
    client = browser(world, "agency")
    assert _bulk(client, action="acknowledge", note="batch", alert_id=[first, third]) == 303
    assert [_status(world, a) for a in (first, second, third)] == [
        "acknowledged",
        "open",
        "acknowledged",
    ]


def test_triage_of_a_whole_publisher_group(world: ConsoleWorld) -> None:
    world.scan(7, publisher="shop.example", seed=3)
    world.scan(7, publisher="shop.example", page="/p/2", seed=4)
    world.scan(7, publisher="blog.example", seed=5)
    client = browser(world, "agency")
    html = client.get("/console/alerts").text
    shop = html[html.index('<h2 id="group-2">') :]
    members = [
        int(i)
        for i in re.findall(r'name="group_alert_id" value="(\d+)"', shop[: shop.index("</form>")])
    ]
    assert len(members) == 2
    assert _bulk(client, action="dismiss_false_match", scope="group", group_alert_id=members) == 303
    statuses = {a: _status(world, a) for a in world.alert_ids()}
    assert sorted(statuses.values()) == ["dismissed_false_match", "dismissed_false_match", "open"]
    assert all(statuses[m] == "dismissed_false_match" for m in members)


def test_bulk_triage_including_another_agencys_alert_changes_nothing(world: ConsoleWorld) -> None:
    world.scan(7)
    world.scan(9, publisher="other.example", seed=6)  # Grace Hopper, the other agency's
    (ours,) = world.alert_ids()
    (theirs,) = world.alert_ids("other_agency")
    client = browser(world, "agency")
    assert _bulk(client, action="confirm_violation", alert_id=[ours, theirs]) == 404
    assert _status(world, ours) == "open"
    assert _bulk(client, action="confirm_violation") == 422  # nothing selected


def test_triage_history_names_who_changed_what_from_which_state(world: ConsoleWorld) -> None:
    world.scan(7)
    (alert_id,) = world.alert_ids()
    client = browser(world, "agency")
    client.post(
        f"/console/alerts/{alert_id}/triage",
        data={"action": "acknowledge", "note": "looking into it", "csrf": page_csrf(client)},
    )
    response = world.client.post(
        f"/v1/alerts/{alert_id}/triage",
        json={"action": "confirm_violation", "note": "lawyer agrees"},
        headers={"Authorization": f"Bearer {world.keys['agency']}"},
    )
    assert response.status_code == 200
    html = client.get("/console/alerts?status=").text
    history = re.findall(r"<li>[^<]*UTC: ([^<]*)</li>", html)
    key_prefix = world.keys["agency"][:10]
    assert history == [
        "booker@demo.example changed open → acknowledged (“looking into it”)",
        f"API key {key_prefix}… changed acknowledged → confirmed violation (“lawyer agrees”)",
    ]


def test_only_allowed_transitions_are_offered_and_accepted(world: ConsoleWorld) -> None:
    world.scan(7)
    (alert_id,) = world.alert_ids()
    client = browser(world, "agency")
    options = re.findall(
        r'<option value="([a-z_]+)">',
        client.get("/console/alerts")
        .text.split(f'id="action-{alert_id}"')[1]
        .split("</select>")[0],
    )
    assert "reopen" not in options and "confirm_violation" in options
    csrf = page_csrf(client)
    for action, expected in (
        ("dismiss_false_match", 303),
        ("confirm_violation", 409),
        ("acknowledge", 409),
        ("reopen", 303),
        ("reopen", 409),
    ):
        response = client.post(
            f"/console/alerts/{alert_id}/triage",
            follow_redirects=False,
            data={"action": action, "csrf": csrf},
        )
        assert response.status_code == expected, (action, response.text)
    api = world.client.post(
        f"/v1/alerts/{alert_id}/triage",
        json={"action": "reopen"},
        headers={"Authorization": f"Bearer {world.keys['agency']}"},
    )
    assert api.status_code == 409 and api.json()["error"]["code"] == "triage_not_allowed"
    assert "is open; reopen applies only to" in api.json()["error"]["message"]


def test_adding_photos_shows_the_quality_gate_verdict_per_photo(world: ConsoleWorld) -> None:
    from tests.support.fakes import face_photo

    talent = world.talents["Ada Lovelace"]
    client = browser(world, "agency")
    response = client.post(
        f"/console/talents/{talent}/photos",
        data={"csrf": page_csrf(client)},
        files=[
            ("files", ("good.png", face_photo([(7, 120)], size=200, seed=9), "image/png")),
            ("files", ("tiny.png", face_photo([(7, 20)], size=200, seed=10), "image/png")),
            ("files", ("nobody.png", face_photo([], size=200, seed=11), "image/png")),
        ],
    )
    assert response.status_code == 200
    outcomes = re.findall(
        r'<li class="(accepted|rejected)"><strong>([^<]+)</strong>', response.text
    )
    assert outcomes == [
        ("accepted", "good.png"),
        ("rejected", "tiny.png"),
        ("rejected", "nobody.png"),
    ]
    assert "Reference photos (2)" in response.text
    assert "no face" in response.text.lower() and "px" in response.text


def test_removing_a_reference_photo(world: ConsoleWorld) -> None:
    talent = world.talents["Ada Lovelace"]
    client = browser(world, "agency")
    html = client.get(f"/console/talents/{talent}").text
    reference = re.search(rf"/console/talents/{talent}/references/(\d+)/remove", html)
    assert reference is not None
    response = client.post(
        reference.group(0), data={"csrf": page_csrf(client)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert "Reference photos (0)" in client.get(f"/console/talents/{talent}").text


def test_erasing_a_talent_needs_their_name_typed(world: ConsoleWorld) -> None:
    world.scan(7)
    talent = world.talents["Ada Lovelace"]
    client = browser(world, "agency")
    page = client.get(f"/console/talents/{talent}").text
    assert "every licence, scan finding, alert" in page and "1 reference" in page
    wrong = client.post(
        f"/console/talents/{talent}/erase",
        data={"csrf": page_csrf(client), "confirm": "ada lovelace"},
    )
    assert wrong.status_code == 422 and "nothing was deleted" in wrong.text
    assert client.get(f"/console/talents/{talent}").status_code == 200
    other = browser(world, "other_agency")
    assert (
        other.post(
            f"/console/talents/{talent}/erase",
            data={"csrf": page_csrf(other), "confirm": "Ada Lovelace"},
        ).status_code
        == 404
    )
    done = client.post(
        f"/console/talents/{talent}/erase",
        follow_redirects=False,
        data={"csrf": page_csrf(client), "confirm": "Ada Lovelace"},
    )
    assert done.status_code == 303
    assert client.get(f"/console/talents/{talent}").status_code == 404
    assert world.alert_ids() == []


def test_inbox_offers_every_status_filter_and_the_actions_each_alert_allows(
    world: ConsoleWorld,
) -> None:
    world.scan(7)
    html = browser(world, "agency").get("/console/alerts").text
    for status in AlertStatus:
        assert f'<option value="{status.value}"' in html, status
    assert '<option value="open" selected>' in html  # the inbox opens on open alerts
    for action in ("acknowledge", "confirm_violation", "dismiss_false_match", "licensed_elsewhere"):
        assert f'<option value="{action}">' in html, action


@pytest.mark.parametrize(
    "url",
    [
        "/console/alerts/9223372036854775808/evidence",
        "/console/alerts/99999999999999999999/face.jpg",
        "/console/talents/9223372036854775808",
        "/console/talents/1/references/9223372036854775808.jpg",
        "/console/alerts?talent_id=9223372036854775808",
    ],
)
def test_ids_beyond_the_64_bit_keys_are_a_4xx_page_not_a_500(world: ConsoleWorld, url: str) -> None:
    response = browser(world, "agency").get(url)
    assert response.status_code == 422, response.text
    assert "invalid_request" in response.text


def test_an_unknown_console_url_answers_the_console_error_page(world: ConsoleWorld) -> None:
    response = world.client.get("/console/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "There is no endpoint at /console/no/such/page." in response.text
    assert "<code>route_not_found</code>" in response.text
    assert 'href="/console/"' in response.text
    api = world.client.get("/v1/no/such/route")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "route_not_found"
