"""Every console page at phone width (issue 18): each GET page of every role, seeded with
realistic data (talents, alerts with thumbnails and long page URLs, licences, notices, batch
jobs with long file names and a failed item, pre-checks, consent records, users), opened in
headless Chromium at 390x844 must not scroll sideways. The pages are derived from the
console's own routes, so a new page is visited or excluded here with a reason, never
forgotten. A screenshot of each page lands in var/test-artefacts/console/phone-width/ (and
the main pages at 1280 px in .../desktop-width/)."""

from __future__ import annotations

import shutil
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from service.access import accounts, recovery
from service.console.links import PREFIX
from service.console.security import session_cookie_name
from service.core.principal import Role
from tests.browser.test_inbox_and_talents import (
    ARTEFACTS,
    AXE,
    SERIOUS,
    _missing,
    _settled,
    browser,
    served,
)
from tests.support.console import (
    PASSWORD,
    USERS,
    add_talents,
    add_users,
    console_context,
    console_page_routes,
)
from tests.support.fakes import face_photo
from tests.support.service import make_keys
from tests.support.takedowns import PROFILE

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the Chromium fixture of test_inbox_and_talents.py

PHONE = (390, 844)
DESKTOP = (1280, 900)
TALENT_EMAIL = "ada@talent.example"
ADA, GRACE = 7, 9
NOW = datetime.now(UTC)
LONG_PAGE = (
    "/collections/summer-2026/linen-wrap-dress-in-sand-with-tie-waist-and-pockets-"
    "ref-8837261?utm_source=newsletter&utm_campaign=summer_launch_week_one&variant=434212"
)
LONG_FILE = "campaign-2026-summer-lookbook-final-retouched-v3-export-for-web-4096px.png"

# Who opens each page (``None``: signed out). Every GET console route is here or below.
PAGES: dict[str, tuple[str | None, ...]] = {
    f"{PREFIX}/login": (None,),
    f"{PREFIX}/forgot": (None,),
    f"{PREFIX}/invite/{{token}}": (None,),
    f"{PREFIX}/reset/{{token}}": (None,),
    f"{PREFIX}/email/confirm/{{token}}": (None,),
    f"{PREFIX}/account": ("agency", "brand", "monitor", "admin", "talent"),
    f"{PREFIX}/alerts": ("agency", "admin"),
    f"{PREFIX}/alerts/{{alert_id}}/evidence": ("agency", "admin"),
    f"{PREFIX}/alerts/{{alert_id}}/review": ("agency",),
    f"{PREFIX}/talents": ("agency", "admin"),
    f"{PREFIX}/talents/new": ("agency",),
    f"{PREFIX}/talents/{{talent_id}}": ("agency", "admin"),
    f"{PREFIX}/talents/{{talent_id}}/access": ("agency",),
    f"{PREFIX}/talents/{{talent_id}}/portfolio": ("agency", "admin"),
    f"{PREFIX}/licences": ("agency", "admin"),
    f"{PREFIX}/licences/new": ("agency",),
    f"{PREFIX}/licences/{{licence_id}}": ("agency", "admin"),
    f"{PREFIX}/licences/{{licence_id}}/edit": ("agency",),
    f"{PREFIX}/licences/{{licence_id}}/consent": ("agency",),
    f"{PREFIX}/consent": ("agency",),
    f"{PREFIX}/usage": ("agency", "admin"),
    f"{PREFIX}/notices": ("agency",),
    f"{PREFIX}/notices/{{notice_id}}": ("agency",),
    f"{PREFIX}/takedown-profile": ("agency",),
    f"{PREFIX}/email": ("agency",),
    f"{PREFIX}/prechecks": ("brand", "admin"),
    f"{PREFIX}/prechecks/{{precheck_id}}": ("brand",),
    f"{PREFIX}/brand/licences": ("brand",),
    f"{PREFIX}/submissions": ("monitor", "admin"),
    f"{PREFIX}/submissions/{{job_id}}": ("monitor",),
    f"{PREFIX}/admin/tenants": ("admin",),
    f"{PREFIX}/admin/users": ("admin",),
    f"{PREFIX}/admin/keys": ("admin",),
    f"{PREFIX}/admin/status": ("admin",),
    f"{PREFIX}/me": ("talent",),
    f"{PREFIX}/me/licences": ("talent",),
    f"{PREFIX}/me/portfolio": ("talent",),
    f"{PREFIX}/me/licences/{{licence_id}}": ("talent",),
    f"{PREFIX}/me/licences/{{licence_id}}/withdraw": ("talent",),
    f"{PREFIX}/watches": ("monitor", "agency"),
    f"{PREFIX}/watches/{{watch_id}}": ("monitor",),
    f"{PREFIX}/me/consent": ("talent",),
    f"{PREFIX}/me/ledger": ("talent",),
}
_IMAGE = "an image, not a page"
_DOWNLOAD = "a file to download (attachment), not a page"
EXCLUDED: dict[str, str] = {
    f"{PREFIX}/": "redirects to the role's home page",
    f"{PREFIX}/alerts/{{alert_id}}/face.jpg": _IMAGE,
    f"{PREFIX}/alerts/{{alert_id}}/image.jpg": _IMAGE,
    f"{PREFIX}/alerts/{{alert_id}}/derived.jpg": _IMAGE,
    f"{PREFIX}/talents/{{talent_id}}/references/{{reference_id}}.jpg": _IMAGE,
    f"{PREFIX}/talents/{{talent_id}}/portfolio/{{image_id}}.jpg": _IMAGE,
    f"{PREFIX}/me/sightings/{{finding_id}}/face.jpg": _IMAGE,
    f"{PREFIX}/me/portfolio/{{image_id}}.jpg": _IMAGE,
    f"{PREFIX}/prechecks/{{precheck_id}}/preview.jpg": _IMAGE,
    f"{PREFIX}/alerts/{{alert_id}}/evidence.json": _DOWNLOAD,
    f"{PREFIX}/prechecks/{{precheck_id}}/record.json": _DOWNLOAD,
    f"{PREFIX}/prechecks/{{precheck_id}}/record.html": _DOWNLOAD,
    f"{PREFIX}/licences/{{licence_id}}/consent/certificate.html": _DOWNLOAD,
    f"{PREFIX}/licences/{{licence_id}}/consent/certificate.pdf": _DOWNLOAD,
    f"{PREFIX}/licences/{{licence_id}}/consent/records/{{record_id}}/document": _DOWNLOAD,
    f"{PREFIX}/notices/{{notice_id}}/notice.html": _DOWNLOAD,
    f"{PREFIX}/notices/{{notice_id}}/notice.pdf": _DOWNLOAD,
    f"{PREFIX}/usage/statements": _DOWNLOAD,
    f"{PREFIX}/me/statements": _DOWNLOAD,
    f"{PREFIX}/submissions/{{job_id}}/progress.json": "JSON the batch page polls",
}
# The element that sticks out furthest: an element wider than its (non-overflowing) parent.
OVERFLOWING = """
const width = document.documentElement.clientWidth;
const scrolls = el => { for (let p = el.parentElement; p; p = p.parentElement) {
  const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden')
  return p !== document.documentElement && p !== document.body; } return false; };
const classes = el => typeof el.className === 'string' && el.className.trim()
  ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + classes(el);
const out = [];
for (const el of document.body.querySelectorAll('*')) {
  const right = el.getBoundingClientRect().right + window.scrollX;
  const parent = el.parentElement.getBoundingClientRect().right + window.scrollX;
  if (right > width + 0.5 && parent <= width + 0.5 && !scrolls(el))
    out.push(name(el) + ' in ' + name(el.parentElement) + ': right edge at ' + Math.round(right));
}
return {scrollWidth: document.documentElement.scrollWidth, clientWidth: width,
        innerWidth: window.innerWidth, culprits: out.slice(0, 8)};
"""


@dataclass
class Seeded:
    base: str
    ids: dict[str, Any] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)  # role -> session cookie value


def _answers_html(route: APIRoute) -> bool:
    hints = typing.get_type_hints(route.endpoint)
    return hints.get("return") is HTMLResponse


def test_every_console_get_route_is_visited_at_phone_width_or_excluded_with_a_reason() -> None:
    routes = console_page_routes()
    paths = {route.path for route in routes}
    assert not paths - PAGES.keys() - EXCLUDED.keys(), "new console pages: add them to PAGES"
    assert not PAGES.keys() - paths and not EXCLUDED.keys() - paths, "gone: remove them here"
    assert not PAGES.keys() & EXCLUDED.keys()
    pages = {route.path for route in routes if _answers_html(route)}
    assert pages <= PAGES.keys(), f"HTML pages excluded: {sorted(pages - PAGES.keys())}"
    assert len(pages) >= 30  # the derivation found the console's pages


def _api(seeded: Seeded, who: str, keys: dict[str, str]) -> httpx.Client:
    return httpx.Client(
        base_url=seeded.base, headers={"Authorization": f"Bearer {keys[who]}"}, timeout=60
    )


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201, 202), response.text
    body: dict[str, Any] = response.json()
    return body


def _seed_scans_and_alerts(seeded: Seeded, keys: dict[str, str]) -> None:
    with _api(seeded, "monitor", keys) as monitor:
        for seed, (identity, publisher) in enumerate(
            [
                (ADA, "shop.example"),
                (ADA, "knockoff-fashion-outlet.example.net"),
                (GRACE, "blog.example"),
            ],
            start=31,
        ):
            _created(
                monitor.post(
                    "/v1/scans",
                    files={"file": (LONG_FILE, face_photo([(identity, 90)], size=130, seed=seed))},
                    data={"page_url": f"https://{publisher}{LONG_PAGE}", "publisher": publisher},
                )
            )
        files = [
            ("files", (LONG_FILE, face_photo([(ADA, 90)], size=130, seed=41), "image/png")),
            ("files", ("stranger.png", face_photo([(60, 90)], size=130, seed=42), "image/png")),
            ("files", ("not-an-image.png", b"this is not an image", "image/png")),
        ]
        job = _created(
            monitor.post("/v1/scan-jobs", files=files, data={"publisher": "shop.example"})
        )
        seeded.ids["job_id"] = job["id"]
        watch = monitor.post(
            "/v1/watches",
            json={
                "url": f"https://shop.example{LONG_PAGE}",
                "kind": "site",
                "every_hours": 24,
                "channel": "ecommerce",
                "territory": "FR",
            },
        )
        seeded.ids["watch_id"] = _created(watch)["id"]
    with _api(seeded, "agency", keys) as agency:
        alerts = agency.get("/v1/alerts").json()["items"]
        assert alerts, "the seeded scans raise alerts"
        seeded.ids["alert_id"] = alerts[0]["id"]
        _created(agency.put("/v1/takedown-profile", json=PROFILE))
        notice = agency.post("/v1/takedowns", json={"kind": "dsa", "alert_ids": [alerts[0]["id"]]})
        seeded.ids["notice_id"] = _created(notice)["id"]


def _seed_licence(seeded: Seeded, keys: dict[str, str], talent_id: int) -> None:
    body = {
        "licensee": "Maison Verte Internationale (Europe) S.A.R.L.",
        "publishers": ["shop.example", "maison-verte-international-boutique.example.com"],
        "channels": ["social", "ecommerce"],
        "territories": ["FR", "ES", "DE", "IT", "SE"],
        "media": ["photo", "ai_replica"],
        "valid_from": (NOW - timedelta(days=30)).isoformat(),
        "valid_until": (NOW + timedelta(days=300)).isoformat(),
        "compensation": {"per_use": "40.00", "flat_fee": "999.00", "currency": "EUR"},
    }
    with _api(seeded, "agency", keys) as agency:
        licence = _created(agency.post(f"/v1/talents/{talent_id}/licences", json=body))
        seeded.ids["licence_id"] = licence["id"]
        record = agency.post(
            f"/v1/licences/{licence['id']}/consent/documents",
            data={"signer_name": "Ada Lovelace"},
            files={"file": ("signed-consent.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")},
        )
        _created(record)
    with _api(seeded, "brand", keys) as brand:
        precheck = brand.post(
            "/v1/prechecks",
            data={"publisher": "shop.example", "channel": "social", "territory": "FR"},
            files={"file": (LONG_FILE, face_photo([(ADA, 90)], size=130, seed=51), "image/png")},
        )
        seeded.ids["precheck_id"] = _created(precheck)["id"]
    with _api(seeded, "agency", keys) as agency:  # her portfolio, a long file name among them
        shoot = [
            (
                "files",
                (name, face_photo([(ADA, 120)], size=200, seed=seed, textured=True), "image/png"),
            )
            for seed, name in ((61, LONG_FILE), (62, "look-02.png"))
        ]
        added = _created(agency.post(f"/v1/talents/{talent_id}/portfolio", files=shoot))
        assert all(f["accepted"] for f in added["files"]), added


def _seed_accounts(ctx: Any, seeded: Seeded, talent_id: int) -> None:
    with ctx.db.session() as session:
        accounts.create_user(session, email=TALENT_EMAIL, role=Role.TALENT, talent=talent_id)
        token = accounts.issue_invitation(session, email=TALENT_EMAIL, valid_hours=1)
        accounts.accept_invitation(session, token=token, password=PASSWORD)
        accounts.create_user(
            session, email="new.booker@demo.example", role=Role.AGENCY, agency="Demo Agency"
        )
        seeded.ids["invite"] = accounts.issue_invitation(
            session, email="new.booker@demo.example", valid_hours=1
        )
        seeded.ids["reset"] = recovery.issue_password_reset(
            session, email=USERS["agency"][0], valid_minutes=60
        ).token
        user = accounts.find_user(session, email=USERS["monitor"][0])
        change = recovery.request_email_change(
            session,
            user_id=user.id,
            new_email="volunteer@new.example",
            password=PASSWORD,
            valid_hours=1,
        )
        assert change.link is not None
        seeded.ids["confirm"] = change.link.token


def _sign_in(seeded: Seeded, email: str) -> str:
    with httpx.Client(base_url=seeded.base, timeout=60) as client:
        client.get(f"{PREFIX}/login")
        csrf = client.cookies.get("twinwatch_login_csrf") or ""
        answer = client.post(
            f"{PREFIX}/login", data={"email": email, "password": PASSWORD, "csrf": csrf}
        )
        assert answer.status_code in (200, 303), answer.text
        return str(client.cookies[session_cookie_name(False)])


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    ctx = console_context(tmp_path_factory.mktemp("phone-width"), run_worker_in_process=True)
    talents = add_talents(ctx)
    keys = make_keys(ctx)
    add_users(ctx)
    try:
        with served(ctx) as base:
            world = Seeded(base, {"talent_id": talents["Ada Lovelace"]})
            _seed_licence(world, keys, talents["Ada Lovelace"])
            _seed_scans_and_alerts(world, keys)
            _seed_accounts(ctx, world, talents["Ada Lovelace"])
            emails = {role: email for role, (email, _, _) in USERS.items()} | {
                "talent": TALENT_EMAIL
            }
            for role in ("agency", "brand", "monitor", "admin", "talent"):
                world.cookies[role] = _sign_in(world, emails[role])
            yield world
    finally:
        ctx.close()


def _visits() -> list[tuple[str | None, str]]:
    return [(role, path) for path, roles in PAGES.items() for role in roles]


def _url(seeded: Seeded, path: str) -> str:
    ids = seeded.ids
    filled = path.format(
        token=ids["invite"]
        if "/invite/" in path
        else ids["reset"]
        if "/reset/" in path
        else ids.get("confirm"),
        alert_id=ids.get("alert_id"),
        talent_id=ids["talent_id"],
        licence_id=ids.get("licence_id"),
        notice_id=ids.get("notice_id"),
        precheck_id=ids.get("precheck_id"),
        job_id=ids.get("job_id"),
        watch_id=ids.get("watch_id"),
    )
    return seeded.base + filled


def _as(driver: WebDriver, seeded: Seeded, role: str | None) -> None:
    driver.get(seeded.base + "/console/static/console.css")
    driver.delete_all_cookies()
    if role is not None:
        driver.add_cookie(
            {"name": session_cookie_name(False), "value": seeded.cookies[role], "path": "/"}
        )


def _size(driver: WebDriver, width: int, height: int) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def _full_page_shot(driver: WebDriver, width: int, height: int, path: Path) -> None:
    """A screenshot of the whole page (the viewport stretched to its height, then back)."""
    full = int(driver.execute_script("return document.documentElement.scrollHeight"))
    _size(driver, width, min(max(full, height), 6000))
    driver.save_screenshot(str(path))
    _size(driver, width, height)


def _axe(driver: WebDriver) -> list[dict[str, Any]]:
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    violations: list[dict[str, Any]] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,"
        " nodes: v.nodes.map(n => n.target.join(' '))}))));"
    )
    return [v for v in violations if v["impact"] in SERIOUS]


def _shot_name(role: str | None, path: str) -> str:
    trimmed = path.removeprefix(PREFIX).strip("/").replace("/", "-")
    trimmed = trimmed.replace("{", "").replace("}", "")
    return f"{role or 'signed-out'}--{trimmed or 'home'}.png"


def _check_every_page(driver: WebDriver, seeded: Seeded, size: tuple[int, int]) -> list[str]:
    """Open every page at ``size``: what is wrong on each (an error page, sideways
    scrolling with the elements that stick out, serious axe findings); a screenshot each."""
    folder = ARTEFACTS / f"{'phone' if size == PHONE else 'desktop'}-width"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _size(driver, *size)
    failures: list[str] = []
    current: str | bool | None = False
    for role, path in _visits():
        if role != current:
            _as(driver, seeded, role)
            current = role
        driver.get(_url(seeded, path))
        _settled(driver)
        where = f"{role or 'signed out'} {path}"
        if driver.title.startswith("Error") or (role and "/login" in driver.current_url):
            failures.append(f"{where}: not the page ({driver.title}, {driver.current_url})")
        measured = driver.execute_script(OVERFLOWING)
        if measured["scrollWidth"] > measured["clientWidth"]:
            failures.append(f"{where}: {measured}")
        failures.extend(f"{where}: axe {v}" for v in _axe(driver))
        _full_page_shot(driver, *size, folder / _shot_name(role, path))
    return failures


def test_every_console_page_fits_a_390_px_phone_without_sideways_scrolling(
    browser: WebDriver, seeded: Seeded
) -> None:
    failures = _check_every_page(browser, seeded, PHONE)
    assert not failures, "at 390 px:\n" + "\n".join(failures)


def test_every_console_page_still_fits_1280_px(browser: WebDriver, seeded: Seeded) -> None:
    failures = _check_every_page(browser, seeded, DESKTOP)
    assert not failures, "at 1280 px:\n" + "\n".join(failures)
