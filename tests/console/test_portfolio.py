"""An agency's booker manages a talent's portfolio in the console (issue 22): adds real
photos (each file's outcome in plain words: added, already registered, refused with the
reason), sees them listed with thumbnails and whether her face was found, removes one after
a confirmation step, and pages through the copies monitors found. Nobody else (another
agency, a brand, a monitor) reaches the page, the forms or the thumbnails. The talent herself
sees her own portfolio and its copies (console and API), and changes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from indexer.blobs.layout import PORTFOLIO
from service.access import accounts
from service.access.keys import create_key
from service.console import routes_portfolio, routes_talent_self
from service.core.principal import Role
from service.talents import portfolio
from tests.console.test_pages import browser, page_csrf
from tests.support import copies as edits
from tests.support.console import PASSWORD, ConsoleWorld, console_world, sign_in
from tests.support.fakes import face_photo

pytestmark = pytest.mark.shared_faces

TALENT = "Ada Lovelace"
FIRST, SECOND = "scenes/Jack/img17.jpg", "scenes/Jack/img16.jpg"
OUTCOME = re.compile(r'<li class="(accepted|rejected)"><strong>([^<]+)</strong>: ([^<]+)</li>')


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as built:
        yield built


def _url(world: ConsoleWorld, tail: str = "") -> str:
    return f"/console/talents/{world.talents[TALENT]}/portfolio{tail}"


def _upload(
    world: ConsoleWorld, client: TestClient, *files: tuple[str, bytes, str]
) -> tuple[int, list[tuple[str, str, str]], str]:
    response = client.post(
        _url(world),
        data={"csrf": page_csrf(client)},
        files=[("files", f) for f in files],
    )
    return response.status_code, OUTCOME.findall(response.text), response.text


def _held(world: ConsoleWorld) -> list[portfolio.PortfolioEntry]:
    entries, _ = portfolio.list_images(world.ctx.copies, talent_id=world.talents[TALENT])
    return entries


def test_a_booker_adds_real_photos_sees_them_with_thumbnails_and_each_files_outcome(
    world: ConsoleWorld, shared_faces: Path
) -> None:
    client = browser(world, "agency")
    talent_page = client.get(f"/console/talents/{world.talents[TALENT]}").text
    assert f'href="{_url(world)}"' in talent_page
    first, second = (shared_faces / FIRST).read_bytes(), (shared_faces / SECOND).read_bytes()
    status, outcomes, html = _upload(
        world,
        client,
        ("campaign-a.jpg", first, "image/jpeg"),
        ("campaign-b.jpg", second, "image/jpeg"),
        ("notes.txt", b"call the photographer on monday", "text/plain"),
    )
    assert status == 200, html
    assert [o[:2] for o in outcomes] == [
        ("accepted", "campaign-a.jpg"),
        ("accepted", "campaign-b.jpg"),
        ("rejected", "notes.txt"),
    ]
    assert outcomes[0][2].strip() == outcomes[1][2].strip() == "added"
    assert outcomes[2][2].startswith("refused (") and len(outcomes[2][2]) > 12  # the reason
    limit = world.ctx.settings.max_portfolio_images
    assert f"Portfolio images (2 of at most {limit})" in html
    assert 'alt="Portfolio image campaign-a.jpg"' in html
    assert 'alt="Portfolio image campaign-b.jpg"' in html
    assert html.count("no face found") + html.count("face found: the face-replaced") == 2
    for entry in _held(world):
        thumbnail = client.get(_url(world, f"/{entry.id}.jpg"))
        assert thumbnail.status_code == 200
        assert thumbnail.headers["content-type"] == "image/jpeg"
        assert thumbnail.content[:2] == b"\xff\xd8" and thumbnail.content != first

    status, outcomes, html = _upload(world, client, ("again.jpg", first, "image/jpeg"))
    assert status == 200 and outcomes == [("accepted", "again.jpg", "already registered")]
    assert len(_held(world)) == 2


def test_a_full_portfolio_refuses_the_files_with_the_reason(
    tmp_path: Path, shared_faces: Path
) -> None:
    with console_world(tmp_path, max_portfolio_images=1) as world:
        client = browser(world, "agency")
        photo = (shared_faces / FIRST).read_bytes()
        assert _upload(world, client, ("a.jpg", photo, "image/jpeg"))[0] == 200
        status, outcomes, html = _upload(
            world, client, ("b.jpg", (shared_faces / SECOND).read_bytes(), "image/jpeg")
        )
        assert status == 409, html
        [(kind, name, said)] = outcomes
        assert (kind, name) == ("rejected", "b.jpg") and "at most 1 images" in said
        nothing = client.post(_url(world), data={"csrf": page_csrf(client)})
        assert nothing.status_code == 422 and "Choose at least one image" in nothing.text


def test_a_file_over_the_size_limit_is_refused_and_the_others_still_go_in(
    tmp_path: Path,
) -> None:
    with console_world(tmp_path, max_upload_bytes=60_000) as world:
        client = browser(world, "agency")
        small = face_photo([(7, 120)], size=200, seed=21, textured=True)
        assert len(small) < 30_000
        status, outcomes, html = _upload(
            world,
            client,
            ("huge.jpg", b"\xff" * 60_001, "image/jpeg"),
            ("small.png", small, "image/png"),
        )
        assert status == 200, html
        (huge, added) = outcomes
        assert huge[:2] == ("rejected", "huge.jpg") and "over the limit of 60,000 bytes" in huge[2]
        assert added == ("accepted", "small.png", "added")
        assert [e.name for e in _held(world)] == ["small.png"]


def test_removing_asks_first_then_the_row_and_the_file_are_gone(
    world: ConsoleWorld, shared_faces: Path
) -> None:
    client = browser(world, "agency")
    _upload(world, client, ("campaign-a.jpg", (shared_faces / FIRST).read_bytes(), "image/jpeg"))
    [entry] = _held(world)
    csrf = page_csrf(client)
    asked = client.post(_url(world, f"/{entry.id}/remove"), data={"csrf": csrf})
    assert asked.status_code == 200
    assert "Remove portfolio image campaign-a.jpg?" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert len(_held(world)) == 1 and list(world.ctx.blobs.list(f"{PORTFOLIO}/"))
    without_csrf = client.post(_url(world, f"/{entry.id}/remove"), data={"confirm": "yes"})
    assert without_csrf.status_code == 403 and len(_held(world)) == 1

    done = client.post(
        _url(world, f"/{entry.id}/remove"),
        data={"csrf": csrf, "confirm": "yes"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].startswith(_url(world))
    assert _held(world) == []
    assert not list(world.ctx.blobs.list(f"{PORTFOLIO}/"))
    after = client.get(done.headers["location"])
    assert "Portfolio images (0 of" in after.text and "campaign-a.jpg" not in after.text
    assert client.get(_url(world, f"/{entry.id}.jpg")).status_code == 404


@pytest.mark.parametrize("who", ["other_agency", "brand", "monitor"])
def test_another_agency_a_brand_and_a_monitor_reach_nothing(
    world: ConsoleWorld, shared_faces: Path, who: str
) -> None:
    owner = browser(world, "agency")
    _upload(world, owner, ("secret-shoot.jpg", (shared_faces / FIRST).read_bytes(), "image/jpeg"))
    [entry] = _held(world)
    client = browser(world, who)
    csrf = page_csrf(client)
    answers = [
        client.get(_url(world)),
        client.get(_url(world, f"/{entry.id}.jpg")),
        client.post(
            _url(world),
            data={"csrf": csrf},
            files=[("files", ("x.jpg", (shared_faces / SECOND).read_bytes(), "image/jpeg"))],
        ),
        client.post(_url(world, f"/{entry.id}/remove"), data={"csrf": csrf}),
        client.post(_url(world, f"/{entry.id}/remove"), data={"csrf": csrf, "confirm": "yes"}),
    ]
    for answer in answers:
        assert answer.status_code in (403, 404), (who, answer.status_code)
        assert b"secret-shoot" not in answer.content
    assert [e.id for e in _held(world)] == [entry.id]
    own = world.talents["Grace Hopper"]
    if who == "other_agency":  # her own talent's portfolio page works, and holds nothing
        assert client.get(f"/console/talents/{own}/portfolio").status_code == 200


def _monitor_finds_two_copies(world: ConsoleWorld, original: bytes) -> None:
    """A monitor scans two cropped, recoloured copies of the original, on pages /p/1 then
    /p/2 of shop.example; each is found derived from it."""
    bgr = edits.decode(original)
    for n, share in enumerate((0.6, 0.5), start=1):
        copy = edits.jpeg(edits.recolour(edits.crop_area(bgr, share)), 75)
        scanned = world.client.post(
            "/v1/scans",
            headers={"Authorization": f"Bearer {world.keys['monitor']}"},
            files={"file": (f"copy-{n}.jpg", copy)},
            data={"page_url": f"https://shop.example/p/{n}", "publisher": "shop.example"},
        )
        assert scanned.status_code == 201, scanned.text
        assert scanned.json()["image"]["derived_from"], scanned.json()


def test_copies_found_are_listed_a_page_at_a_time_each_with_its_alert(
    world: ConsoleWorld, shared_faces: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes_portfolio, "COPIES_PAGE", 1)
    client = browser(world, "agency")
    original = (shared_faces / FIRST).read_bytes()
    _upload(world, client, ("campaign-a.jpg", original, "image/jpeg"))
    _monitor_finds_two_copies(world, original)
    newest = client.get(_url(world)).text
    assert "Copies found (2)" in newest and "https://shop.example/p/2" in newest
    assert "https://shop.example/p/1" not in newest
    older = re.search(r'href="\?copies_offset=(\d+)">Older copies', newest)
    assert older is not None
    page_two = client.get(_url(world, f"?copies_offset={older.group(1)}")).text
    assert "https://shop.example/p/1" in page_two and "Newer copies" in page_two
    evidence = re.findall(r'href="(/console/alerts/\d+/evidence)"', newest + page_two)
    assert evidence, "each copy links to the alert it raised"
    assert client.get(evidence[0]).status_code == 200


def _talent_browser(world: ConsoleWorld, name: str) -> TestClient:
    email = f"{name.split()[0].lower()}@talent.example"
    with world.ctx.db.session() as session:
        accounts.create_user(session, email=email, role=Role.TALENT, talent=world.talents[name])
        token = accounts.issue_invitation(session, email=email, valid_hours=1)
        accounts.accept_invitation(session, token=token, password=PASSWORD)
    client = TestClient(world.client.app)
    assert sign_in(client, email).status_code == 303
    return client


def test_the_talent_sees_her_own_portfolio_and_its_copies_but_changes_nothing(
    world: ConsoleWorld, shared_faces: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes_talent_self, "COPIES_PAGE", 1)
    original = (shared_faces / FIRST).read_bytes()
    _upload(world, browser(world, "agency"), ("ada-campaign.jpg", original, "image/jpeg"))
    [entry] = _held(world)
    _monitor_finds_two_copies(world, original)
    ada = _talent_browser(world, TALENT)

    sightings = ada.get("/console/me").text
    assert 'href="/console/me/portfolio"' in sightings  # the nav, and the copies' full list
    mine = ada.get("/console/me/portfolio")
    assert mine.status_code == 200
    assert "ada-campaign.jpg" in mine.text and "Photos (1)" in mine.text
    assert "Copies found (2)" in mine.text and "https://shop.example/p/2" in mine.text
    assert "https://shop.example/p/1" not in mine.text  # one copy a page here
    older = re.search(r'href="(/console/me/portfolio\?copies_offset=\d+)">Older copies', mine.text)
    assert older is not None
    assert "https://shop.example/p/1" in ada.get(older.group(1)).text
    assert "/alerts/" not in mine.text  # the alerts are her agency's work, not links for her
    assert "<form" not in mine.text.split("<main", 1)[1]  # nothing to add or remove here
    thumbnail = ada.get(f"/console/me/portfolio/{entry.id}.jpg")
    assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"
    assert len(thumbnail.content) < len(original)  # a reduced copy, never the file

    assert ada.get(_url(world)).status_code in (403, 404)  # the agency's page and forms
    csrf = page_csrf(ada)
    removed = ada.post(_url(world, f"/{entry.id}/remove"), data={"csrf": csrf, "confirm": "yes"})
    assert removed.status_code in (403, 404)
    assert [e.id for e in _held(world)] == [entry.id]


def test_another_talent_and_the_agency_staff_never_reach_her_portfolio_through_me(
    world: ConsoleWorld, shared_faces: Path
) -> None:
    original = (shared_faces / FIRST).read_bytes()
    _upload(world, browser(world, "agency"), ("ada-campaign.jpg", original, "image/jpeg"))
    [entry] = _held(world)
    grace = _talent_browser(world, "Grace Hopper")
    own = grace.get("/console/me/portfolio")
    assert own.status_code == 200 and "ada-campaign" not in own.text and "Photos (0)" in own.text
    assert grace.get(f"/console/me/portfolio/{entry.id}.jpg").status_code == 404
    for who in ("agency", "brand", "monitor"):
        client = browser(world, who)
        for url in ("/console/me/portfolio", f"/console/me/portfolio/{entry.id}.jpg"):
            assert client.get(url).status_code == 403, (who, url)


def test_the_talent_api_lists_her_own_portfolio_images_only(
    world: ConsoleWorld, shared_faces: Path
) -> None:
    original = (shared_faces / FIRST).read_bytes()
    _upload(world, browser(world, "agency"), ("ada-campaign.jpg", original, "image/jpeg"))
    with world.ctx.db.session() as session:
        keys = {
            name: create_key(session, role=Role.TALENT, talent=world.talents[name]).key
            for name in (TALENT, "Grace Hopper")
        }
    listed = {
        name: world.client.get("/v1/me/portfolio", headers={"Authorization": f"Bearer {key}"})
        for name, key in keys.items()
    }
    assert listed[TALENT].status_code == 200, listed[TALENT].text
    assert [i["name"] for i in listed[TALENT].json()["items"]] == ["ada-campaign.jpg"]
    assert listed["Grace Hopper"].json()["total"] == 0
    agency = world.client.get(
        "/v1/me/portfolio", headers={"Authorization": f"Bearer {world.keys['agency']}"}
    )
    assert agency.status_code == 403 and agency.json()["error"]["code"] == "forbidden"
