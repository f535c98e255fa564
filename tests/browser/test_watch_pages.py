"""The monitor's watch pages in a real browser (issue 19): create a watch with the keyboard,
read it, pause it; axe-core on every page, and at 390 px wide nothing is wider than the
screen. Set-up and helpers are test_brand_monitor_admin.py's."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_brand_monitor_admin import _go, _submit, live
from tests.browser.test_inbox_and_talents import LiveConsole, Steps, _keyboard_sign_in, browser
from tests.support.console import USERS

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

pytestmark = pytest.mark.browser
__all__ = ["browser", "live"]  # the fixtures


def _fits(driver: WebDriver) -> None:
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"{driver.current_url} is {width} px wide at 390 px"


def test_monitor_creates_reads_and_pauses_a_watch_at_390_px(
    browser: WebDriver, live: LiveConsole
) -> None:
    steps = Steps(browser, "watches")
    _keyboard_sign_in(browser, live.base, USERS["monitor"][0])
    browser.set_window_size(390, 844)
    try:
        browser.get(f"{live.base}/console/watches")
        steps.check("watch-form")
        _fits(browser)
        browser.find_element(By.ID, "url").send_keys(
            "https://www.knockoff-shop.example.com/collections/autumn-winter/sitemap_index.xml"
        )
        Select(browser.find_element(By.ID, "kind")).select_by_value("sitemap")
        Select(browser.find_element(By.ID, "channel")).select_by_value("ecommerce")
        _submit(browser, "#watch-form")
        assert re.search(r"/console/watches/\d+$", browser.current_url)
        assert "sitemap_index.xml" in browser.page_source
        steps.check("watch-page")
        _fits(browser)
        _submit(browser, "form[action$='/pause']")
        assert "paused" in browser.page_source
        steps.check("watch-paused")
        _go(browser, "All watches", "/console/watches")
        assert "Your watches (1)" in browser.page_source
        steps.check("watch-list")
        _fits(browser)
    finally:
        browser.set_window_size(1280, 900)
