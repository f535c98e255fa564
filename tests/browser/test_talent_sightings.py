"""The talent's side in a real browser (Debian's headless Chromium, a real uvicorn server,
axe-core on every page, screenshots under var/test-artefacts/console/talent-sightings/):
she sees her sightings with her face and a status each, the ones her agency rejected hidden
until she asks, at phone width too; she withdraws her consent after a confirmation step and
her agency sees the notice in its console."""

from __future__ import annotations

from typing import Any

import pytest

from indexer.db import utcnow
from service.access import accounts
from service.core.principal import Role
from tests.browser.test_agency_review import _api, _go, _press, _scan, live  # noqa: F401
from tests.browser.test_inbox_and_talents import (
    LiveConsole,
    Steps,
    _keyboard_sign_in,
    _settled,
    _wait_for_images,
    browser,  # noqa: F401  (the fixture)
)
from tests.browser.test_inbox_keyboard import _fits_a_phone
from tests.support.agency import lookalike_photo
from tests.support.console import PASSWORD, USERS
from tests.support.fakes import face_photo

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.browser
ADA_EMAIL = "ada@talent.example"
ROW = "ol.sightings li.sighting"


def _ada_account(world: LiveConsole) -> None:
    with world.ctx.db.session() as session:
        talent = world.talents["Ada Lovelace"]
        accounts.create_user(session, email=ADA_EMAIL, role=Role.TALENT, talent=talent)
        token = accounts.issue_invitation(session, email=ADA_EMAIL, valid_hours=1)
        accounts.accept_invitation(session, token=token, password=PASSWORD)


def _by_publisher(world: LiveConsole) -> dict[str, int]:
    items = _api(world, "GET", "/v1/alerts?limit=50").json()["items"]
    return {a["publisher"]: a["id"] for a in items}


def _replica_licence(world: LiveConsole) -> int:
    response = _api(
        world,
        "POST",
        f"/v1/talents/{world.talents['Ada Lovelace']}/licences",
        json={
            "licensee": "Maison Verte",
            "publishers": ["maison.example"],
            "media": ["ai_replica"],
            "ai_label_required": False,
            "valid_from": utcnow().date().isoformat(),
            "compensation": {"per_use": "25.00", "currency": "EUR"},
        },
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _statuses(driver: WebDriver) -> dict[str, str]:
    found: dict[str, str] = {}
    for row in driver.find_elements(By.CSS_SELECTOR, ROW):
        status = row.find_element(By.CSS_SELECTOR, ".sighting-status").text
        publisher = next(p for p in ("open", "confirmed", "lookalike") if p in row.text)
        found[publisher] = status
    return found


def test_talent_sees_her_sightings_and_withdraws_with_confirmation_and_her_agency_is_told(
    browser: WebDriver,  # noqa: F811
    live: LiveConsole,  # noqa: F811
) -> None:
    _ada_account(live)
    for publisher, seed in (("open.example", 21), ("confirmed.example", 22)):
        photo = face_photo([(7, 90)], size=130, seed=seed)
        _scan(live, photo, publisher=publisher, page="/p")
    _scan(live, lookalike_photo(7, seed=47), publisher="lookalike.example", page="/p")
    alerts = _by_publisher(live)
    for path, body in (
        (f"/v1/alerts/{alerts['confirmed.example']}/triage", {"action": "confirm_violation"}),
        (f"/v1/alerts/{alerts['lookalike.example']}/review", {"decision": "not_same_person"}),
    ):
        assert _api(live, "POST", path, json=body).status_code == 200
    licence = _replica_licence(live)
    steps = Steps(browser, "talent-sightings")

    _keyboard_sign_in(browser, live.base, ADA_EMAIL)
    browser.get(f"{live.base}/console/me")
    _settled(browser)
    widths = _wait_for_images(browser, f"{ROW} img.crop")
    assert len(widths) == 2 and all(w > 0 for w in widths), widths  # her face, twice
    assert _statuses(browser) == {
        "open": "under review by your agency",
        "confirmed": "confirmed unlicensed by your agency",
    }
    assert "Your agency said 1 sighting is not you" in browser.page_source
    steps.check("sightings")
    _go(browser, "Show it")
    assert _statuses(browser)["lookalike"] == "rejected by your agency: not you"
    assert len(_wait_for_images(browser, f"{ROW} img.crop")) == 2  # no picture of that face
    steps.check("sightings-with-rejected")
    _fits_a_phone(browser)
    steps.check("sightings-390px")
    browser.set_window_size(1280, 1000)

    browser.get(f"{live.base}/console/me/licences/{licence}")
    _settled(browser)
    browser.find_element(By.ID, "signature_name").send_keys("Ada Lovelace", Keys.ENTER)
    WebDriverWait(browser, 30).until(lambda d: "You signed this licence" in d.page_source)
    _settled(browser)
    _press(browser, "button.danger")  # "Withdraw consent": first the page that explains it
    assert f"/console/me/licences/{licence}/withdraw" in browser.current_url
    assert "your agency, Demo Agency, is told" in browser.page_source
    assert _licence_consent(live, licence) == "signed"  # nothing withdrawn yet
    _fits_a_phone(browser)
    steps.check("withdraw-confirmation-390px")
    browser.set_window_size(1280, 1000)
    _press(browser, "#confirm-withdraw")
    assert "You withdrew your consent" in browser.page_source
    assert _licence_consent(live, licence) == "withdrawn"
    steps.check("withdrawn")

    browser.delete_all_cookies()
    _keyboard_sign_in(browser, live.base, USERS["agency"][0])
    browser.get(f"{live.base}/console/consent")
    _settled(browser)
    notice = browser.find_element(By.CSS_SELECTOR, "ul.withdrawals li").text
    assert "Ada Lovelace withdrew her consent to licence" in notice and str(licence) in notice
    steps.check("agency-sees-the-withdrawal")
    _fits_a_phone(browser)
    steps.check("agency-consent-page-390px")


def _licence_consent(world: LiveConsole, licence: int) -> Any:
    response = _api(world, "GET", f"/v1/licences/{licence}")
    return response.json()["consent"]["status"]
