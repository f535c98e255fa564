"""A takedown notice in a real browser: from an inbox group to a final notice, keyboard and
mouse, axe-core on every page, a screenshot per step under
var/test-artefacts/console/takedowns/ (set-up and skips as in test_console_browser.py)."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.test_inbox_and_talents import (  # noqa: F401  (fixtures: browser, live)
    LiveConsole,
    Steps,
    _fetch_status,
    _keyboard_sign_in,
    _settled,
    browser,
    live,
)
from tests.support.console import USERS
from tests.support.takedowns import PROFILE, pdf_available

pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = pytest.mark.browser
NAVIGATING = (StaleElementReferenceException, NoSuchElementException)
STATUS_TEXT = "const e = document.getElementById('notice-status'); return e && e.innerText.trim();"


def test_agency_drafts_edits_and_finalises_a_notice_from_a_publisher_group(
    browser: WebDriver,  # noqa: F811
    live: LiveConsole,  # noqa: F811
) -> None:
    live.scan(7, publisher="notices.example", page="/look/1", seed=31)
    live.scan(7, publisher="notices.example", page="/look/2", seed=32)
    profile = httpx.put(
        f"{live.base}/v1/takedown-profile",
        json=PROFILE,
        timeout=30,
        headers={"Authorization": f"Bearer {live.keys['agency']}"},
    )
    assert profile.status_code == 200, profile.text
    steps = Steps(browser, "takedowns")
    _keyboard_sign_in(browser, live.base, USERS["agency"][0])
    browser.get(f"{live.base}/console/alerts?publisher=notices.example")
    _settled(browser)
    form = browser.find_element(By.CSS_SELECTOR, "form.draft-notice")
    assert "Ada Lovelace (2 URLs)" in form.text
    steps.check("inbox-group")
    Select(form.find_element(By.NAME, "kind")).select_by_value("dmca")
    form.find_element(By.TAG_NAME, "button").click()
    WebDriverWait(browser, 30).until(lambda d: "/console/notices/" in d.current_url)
    _settled(browser)
    assert "DMCA notice" in browser.find_element(By.TAG_NAME, "h1").text
    assert browser.find_element(By.ID, "notice-status").text == "draft"
    assert len(browser.find_elements(By.CSS_SELECTOR, "table tbody tr")) == 2  # the URLs
    steps.check("draft")

    description = browser.find_element(By.ID, "f-work_description")
    description.clear()
    description.send_keys("Campaign portraits of Ada Lovelace (agency ref. AL-77).")
    browser.find_element(By.CSS_SELECTOR, "#edit-form button[type=submit]").click()
    WebDriverWait(browser, 30).until(lambda d: d.current_url.endswith("#saved"))
    _settled(browser)
    assert "AL-77" in (
        browser.find_element(By.ID, "f-work_description").get_attribute("value") or ""
    )
    steps.check("edited")

    browser.find_element(By.ID, "confirm-notice").click()
    # the page is replaced: the status is read in one script call, never through an element
    # handle that the navigation can pull away (Chromium then answers "Node with given id
    # does not belong to the document", an unknown error, not a stale element)
    WebDriverWait(browser, 30, ignored_exceptions=NAVIGATING).until(
        lambda d: d.execute_script(STATUS_TEXT) == "final"
    )
    _settled(browser)
    assert not browser.find_elements(By.ID, "edit-form")  # final: no longer editable
    assert "AL-77" in browser.page_source
    notice_path = browser.current_url.removeprefix(live.base)
    if pdf_available() is None:
        assert _fetch_status(browser, f"{notice_path}/notice.pdf") == 200
    steps.check("final")

    browser.find_element(By.LINK_TEXT, "Notices").click()
    WebDriverWait(browser, 30).until(lambda d: d.current_url.endswith("/console/notices"))
    _settled(browser)
    assert "final" in browser.find_element(By.CSS_SELECTOR, "table tbody tr").text
    steps.check("notices")
