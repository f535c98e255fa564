"""The agency's inbox as a compact list triaged with the keyboard, in a real browser
(Debian's headless Chromium, a real uvicorn server, axe-core on every page, screenshots under
var/test-artefacts/console/inbox-keyboard/): j/k move between alerts, s/n answer the review,
c/d confirm and dismiss, u undoes; after every key the page and the API say the same."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser.test_agency_review import _alerts, _api, _scan, _stale, live  # noqa: F401
from tests.browser.test_inbox_and_talents import (
    LiveConsole,
    Steps,
    _keyboard_sign_in,
    _settled,
    _wait_for_images,
    browser,  # noqa: F401  (the fixture)
)
from tests.support.agency import lookalike_photo
from tests.support.console import USERS
from tests.support.fakes import face_photo

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.browser
ROW = "ol.rows article.alert"


def _key(driver: WebDriver, key: str, *, navigates: bool) -> None:
    old = driver.find_element(By.TAG_NAME, "html")
    ActionChains(driver).send_keys(key).perform()
    if navigates:
        WebDriverWait(driver, 30).until(lambda d: _stale(old))
        _settled(driver)


def _row_ids(driver: WebDriver) -> list[int]:
    return [
        int(str(row.get_attribute("id")).removeprefix("alert-"))
        for row in driver.find_elements(By.CSS_SELECTOR, ROW)
    ]


def _current(driver: WebDriver) -> int | None:
    active = str(driver.switch_to.active_element.get_attribute("id") or "")
    return int(active.removeprefix("alert-")) if active.startswith("alert-") else None


def _move_to(driver: WebDriver, alert_id: int) -> None:
    """j (or k) until the alert's row has the focus."""
    ids = _row_ids(driver)
    target = ids.index(alert_id)
    if _current(driver) is None:
        _key(driver, "j", navigates=False)
    for _ in range(len(ids) + 1):
        at = _current(driver)
        if at == alert_id:
            return
        assert at is not None
        _key(driver, "j" if ids.index(at) < target else "k", navigates=False)
    raise AssertionError(f"could not reach alert {alert_id}: {ids}")


def _row_says(driver: WebDriver, alert_id: int) -> dict[str, Any]:
    row = driver.find_element(By.ID, f"alert-{alert_id}")
    badges = [b.text for b in row.find_elements(By.CSS_SELECTOR, ".badges .badge")]
    keys = [b.get_attribute("data-key") for b in row.find_elements(By.CSS_SELECTOR, "button")]
    return {"badges": badges, "keys": [k for k in keys if k]}


def _toast(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "toast").text)


def _api_alert(world: LiveConsole, alert_id: int) -> dict[str, Any]:
    return dict(_api(world, "GET", f"/v1/alerts/{alert_id}").json())


def _page_and_api_agree(driver: WebDriver, world: LiveConsole) -> None:
    for alert_id in _row_ids(driver):
        says = _row_says(driver, alert_id)
        alert = _api_alert(world, alert_id)
        assert ("needs review" in says["badges"]) is alert["needs_review"], (says, alert)
        assert alert["status"].replace("_", " ") in says["badges"], (says, alert)


def test_agency_triages_with_the_keyboard_and_undoes_and_page_and_api_agree(
    browser: WebDriver,  # noqa: F811
    live: LiveConsole,  # noqa: F811
) -> None:
    _scan(live, lookalike_photo(7), publisher="lookalike.example", page="/a")
    for seed in (11, 12):
        _scan(
            live,
            face_photo([(7, 90)], size=130, seed=seed),
            publisher="shop.example",
            page=f"/look/{seed}",
        )
    (possible,) = (a["id"] for a in _alerts(live, "&needs_review=true"))
    sure = [a["id"] for a in _alerts(live, "&needs_review=false")]
    assert len(sure) == 2
    steps = Steps(browser, "inbox-keyboard")

    _keyboard_sign_in(browser, live.base, USERS["agency"][0])
    assert browser.current_url.endswith("/console/alerts")
    widths = _wait_for_images(browser, f"{ROW} img.face, {ROW} img.reference")
    assert len(widths) == 6 and all(w > 0 for w in widths), widths  # crop beside reference
    heights = browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(r => r.offsetHeight);",
        ROW,
    )
    steps.check("inbox")
    assert all(h <= 150 for h in heights), heights  # a compact row, not a 570-px card
    assert _row_says(browser, possible)["keys"] == ["s", "n", "c", "d"]
    _page_and_api_agree(browser, live)

    _move_to(browser, possible)
    _key(browser, "s", navigates=True)  # same person
    assert "reviewed: same person" in _toast(browser)
    alert = _api_alert(live, possible)
    assert (alert["status"], alert["needs_review"]) == ("open", False)
    says = _row_says(browser, possible)
    assert "same person (confirmed)" in says["badges"] and "possible match" not in says["badges"]
    assert says["keys"] == ["c", "d"]  # the face question is answered: no s/n any more
    _page_and_api_agree(browser, live)
    steps.check("after-same-person")

    _key(browser, "u", navigates=True)  # undo
    assert "Undone" in _toast(browser)
    assert _api_alert(live, possible)["needs_review"] is True
    assert _row_says(browser, possible)["keys"] == ["s", "n", "c", "d"]
    history = _api(live, "GET", f"/v1/alerts/{possible}/history").json()
    assert [h["action"] for h in history] == ["review_same_person", "undo"]
    _page_and_api_agree(browser, live)
    steps.check("after-undo")

    _move_to(browser, possible)
    _key(browser, "n", navigates=True)  # not the same person: dismissed, off the open list
    assert "reviewed: not the same person" in _toast(browser)
    alert = _api_alert(live, possible)
    assert (alert["status"], alert["needs_review"]) == ("dismissed_false_match", False)
    assert possible not in _row_ids(browser)
    assert not _alerts(live, "&needs_review=true")
    steps.check("after-not-same-person")
    _key(browser, "u", navigates=True)
    alert = _api_alert(live, possible)
    assert (alert["status"], alert["needs_review"]) == ("open", True)
    assert possible in _row_ids(browser)

    _move_to(browser, sure[0])
    _key(browser, "c", navigates=True)
    assert _api_alert(live, sure[0])["status"] == "confirmed_violation"
    assert "confirmed as a violation" in _toast(browser)
    assert _current(browser) is not None  # the focus stays in the list for the next key
    _move_to(browser, sure[1])
    _key(browser, "d", navigates=True)
    assert _api_alert(live, sure[1])["status"] == "dismissed_false_match"
    assert _row_ids(browser) == [possible]
    _page_and_api_agree(browser, live)
    steps.check("after-confirm-and-dismiss")

    _fits_a_phone(browser)
    steps.check("inbox-390px")
    browser.get(f"{live.base}/console/alerts/{possible}/review")
    _settled(browser)
    _fits_a_phone(browser)
    steps.check("review-390px")


#: Elements of the page's <main> reaching past the viewport's right edge (the navigation
#: above it is styled for phones elsewhere).
TOO_WIDE = """
const width = document.documentElement.clientWidth;
return Array.from(document.querySelectorAll('main *'))
  .filter(e => e.getBoundingClientRect().right > width + 1)
  .slice(0, 5)
  .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
"""


def _fits_a_phone(driver: WebDriver) -> None:
    """At 390 px wide nothing in the page's main part needs a horizontal scroll."""
    driver.set_window_size(390, 900)
    time.sleep(0.3)
    assert driver.execute_script("return window.innerWidth;") <= 390
    assert driver.execute_script(TOO_WIDE) == []
