"""The agency's review, group triage and licences in a real browser (Debian's headless
Chromium, Selenium, a real uvicorn server), axe-core on every page and a screenshot per
step under var/test-artefacts/console/ (see tests/browser/test_inbox_and_talents.py, whose helpers
this reuses): a `possible` match reviewed side by side and marked "not the same person"
does not come back on a re-scan; a publisher group is triaged; a licence created through
the form turns the next sighting licensed; another agency's user gets 404s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.startup import start
from tests.browser.test_inbox_and_talents import (
    LiveConsole,
    Steps,
    _fetch_status,
    _keyboard_sign_in,
    _missing,
    _settled,
    _wait_for_images,
    browser,  # noqa: F401  (the fixture)
    served,
)
from tests.support.agency import LookalikeAnalyser, lookalike_photo
from tests.support.console import USERS, add_talents, add_users
from tests.support.fakes import face_photo
from tests.support.service import make_keys, service_settings

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.browser
ADA = "Ada Lovelace"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    settings = service_settings(tmp_path_factory.mktemp("agency"), console_secure_cookies=False)
    ctx = start(settings, analyser=LookalikeAnalyser())
    talents = add_talents(ctx)
    keys = make_keys(ctx)
    add_users(ctx)
    try:
        with served(ctx) as base:
            yield LiveConsole(base, ctx, keys, talents)
    finally:
        ctx.close()


def _api(
    live: LiveConsole, method: str, path: str, who: str = "agency", **kwargs: Any
) -> httpx.Response:
    return httpx.request(
        method,
        f"{live.base}{path}",
        timeout=60,
        **kwargs,
        headers={"Authorization": f"Bearer {live.keys[who]}"},
    )


def _scan(live: LiveConsole, data: bytes, *, publisher: str, page: str) -> dict[str, Any]:
    response = _api(
        live,
        "POST",
        "/v1/scans",
        "monitor",
        files={"file": ("seen.png", data)},
        data={
            "page_url": f"https://{publisher}{page}",
            "publisher": publisher,
            "channel": "ecommerce",
            "territory": "SE",
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _alerts(live: LiveConsole, query: str = "") -> list[dict[str, Any]]:
    response = _api(live, "GET", f"/v1/alerts?limit=200{query}")
    return list(response.json()["items"])


def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _go(driver: WebDriver, link_text: str) -> None:
    """Follow a link with the keyboard (focus it, press Enter) and wait for the page."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.LINK_TEXT, link_text).send_keys(Keys.ENTER)
    WebDriverWait(driver, 30).until(lambda d: _stale(old))
    _settled(driver)


def _press(driver: WebDriver, selector: str) -> None:
    """Press a button with the keyboard and wait for the next page."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, selector).send_keys(Keys.ENTER)
    WebDriverWait(driver, 30).until(lambda d: _stale(old))
    _settled(driver)


def _stale(element: Any) -> bool:
    try:
        element.tag_name  # noqa: B018  (raises once the page is replaced)
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:  # Chromium, mid-navigation, says it in its own words
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def test_agency_reviews_a_possible_match_triages_a_group_and_licenses_a_talent(
    browser: WebDriver,  # noqa: F811
    live: LiveConsole,
) -> None:
    ada = live.talents[ADA]
    lookalike = lookalike_photo(7)
    (face,) = _scan(live, lookalike, publisher="lookalike.example", page="/a")["faces"]
    assert face["band"] == "possible"
    for seed in (11, 12):
        _scan(
            live,
            face_photo([(7, 90)], size=130, seed=seed),
            publisher="shop.example",
            page=f"/look/{seed}",
        )
    (possible,) = _alerts(live, "&needs_review=true")
    steps = Steps(browser, "agency-review")

    _keyboard_sign_in(browser, live.base, USERS["agency"][0])
    assert browser.current_url.endswith("/console/alerts")
    steps.check("inbox")

    _go(browser, "Review this possible match")
    assert browser.current_url.endswith(f"/console/alerts/{possible['id']}/review")
    widths = _wait_for_images(browser, "img.face, img.reference")
    assert len(widths) == 2 and all(w > 0 for w in widths), widths  # both photos visible
    assert "Best-matching reference" in browser.page_source
    steps.check("review")
    browser.find_element(By.ID, "review-note").send_keys("a lookalike, not Ada")
    _press(browser, 'button[value="not_same_person"]')
    assert "there is nothing to review" in browser.page_source
    assert "reviewed: not the same person" in browser.page_source
    steps.check("after-review")

    (again,) = _scan(live, lookalike, publisher="lookalike.example", page="/b")["faces"]
    assert again["talent"] is None  # the same image does not bring her back
    assert [
        a["sightings"] for a in _alerts(live, f"&talent_id={ada}") if a["id"] == possible["id"]
    ] == [1]
    assert not _alerts(live, "&status=open&publisher=lookalike.example")

    browser.get(f"{live.base}/console/alerts")
    _settled(browser)
    group = browser.find_element(By.CSS_SELECTOR, "section.group")
    assert group.find_element(By.TAG_NAME, "h2").text.startswith("shop.example")
    first, second = (
        int(str(a.get_attribute("id")).removeprefix("alert-"))
        for a in group.find_elements(By.CSS_SELECTOR, "article.alert")
    )
    browser.find_element(By.ID, f"select-{first}").send_keys(Keys.SPACE)  # a selection
    Select(browser.find_element(By.ID, "bulk-action-1")).select_by_value("confirm_violation")
    browser.find_element(By.ID, "bulk-note-1").send_keys("takedown sent")
    _press(browser, '#bulk-1 button[value="selected"]')
    statuses = {a["id"]: a["status"] for a in _alerts(live)}
    assert (statuses[first], statuses[second]) == ("confirmed_violation", "open")
    steps.check("after-selection-triage")
    Select(browser.find_element(By.ID, "bulk-action-1")).select_by_value("acknowledge")
    _press(browser, '#bulk-1 button[value="group"]')  # the whole (remaining) group
    assert {a["id"]: a["status"] for a in _alerts(live)}[second] == "acknowledged"
    steps.check("after-group-triage")

    _go(browser, "Licences")
    steps.check("licences")
    _go(browser, "Record a new licence")
    steps.check("licence-form")
    Select(browser.find_element(By.ID, "talent_id")).select_by_visible_text(ADA)
    browser.find_element(By.ID, "licensee").send_keys("H&M")
    browser.find_element(By.ID, "publishers").send_keys("shop.example")
    valid_from = browser.find_element(By.ID, "valid_from")
    valid_from.send_keys("01012020")  # a date picker: typed as the locale shows it
    assert valid_from.get_attribute("value") == "2020-01-01"
    browser.find_element(By.ID, "per_use").send_keys("2.505")
    browser.find_element(By.ID, "currency").send_keys("EUR")
    _press(browser, "form.form-grid button[type=submit]")
    assert "The licence was not saved" in browser.page_source
    error = browser.find_element(By.ID, "per_use-error").text
    assert "2 decimal places" in error
    steps.check("licence-form-error")
    per_use = browser.find_element(By.ID, "per_use")
    per_use.clear()
    per_use.send_keys("2.50")
    _press(browser, "form.form-grid button[type=submit]")
    assert "/console/licences/" in browser.current_url
    assert "No licensed use seen yet." in browser.page_source
    steps.check("licence")

    # another picture of her (a different layout: the synthetic squares of one layout
    # share a pHash, and that face was rejected for her above)
    (face,) = _scan(
        live, face_photo([(7, 60)], size=200, seed=13), publisher="shop.example", page="/look/13"
    )["faces"]
    assert face["licence"]["verdict"] == "licensed"  # the next sighting is licensed
    browser.refresh()
    _settled(browser)
    assert "1 use: 2.50 EUR owed at 2.50 per use." in browser.find_element(By.ID, "owed").text
    steps.check("licence-usage")
    _go(browser, "Edit the terms")
    assert browser.find_element(By.ID, "valid_from").get_attribute("value") == "2020-01-01"
    steps.check("licence-edit")
    _go(browser, "Usage")  # what the agency's talents are owed, and monthly statements
    assert "2.50 EUR for 1 use" in browser.find_element(By.ID, "owed").text
    assert browser.find_element(By.ID, "statement-month").get_attribute("type") == "month"
    steps.check("usage")


def test_another_agency_gets_404s_for_review_and_licence_pages(
    browser: WebDriver,  # noqa: F811
    live: LiveConsole,
) -> None:
    ada = live.talents[ADA]
    _scan(live, face_photo([(7, 50)], size=220, seed=20), publisher="elsewhere.example", page="/x")
    alert_id = _alerts(live, "&publisher=elsewhere.example")[0]["id"]
    created = _api(
        live,
        "POST",
        f"/v1/talents/{ada}/licences",
        json={
            "licensee": "Zara",
            "publishers": ["zara.example"],
            "media": ["photo"],
            "valid_from": "2026-01-01",
        },
    )
    assert created.status_code == 201, created.text
    licence_id = created.json()["id"]
    steps = Steps(browser, "other-agency-review")
    _keyboard_sign_in(browser, live.base, USERS["other_agency"][0])
    for path in (
        f"/console/alerts/{alert_id}/review",
        f"/console/licences/{licence_id}",
        f"/console/licences/{licence_id}/edit",
        f"/console/licences?talent_id={ada}",
    ):
        assert _fetch_status(browser, path) == 404, path
    browser.get(f"{live.base}/console/licences")
    _settled(browser)
    assert "Zara" not in browser.page_source and ADA not in browser.page_source
    steps.check("licences-empty")
    browser.get(f"{live.base}/console/alerts/{alert_id}/review")
    _until(lambda: "not_found" in browser.page_source, "a not-found page")
    assert ADA not in browser.page_source
    steps.check("review-not-found")
