"""A booker manages a talent's portfolio in a real browser (issue 22; headless Chromium,
Selenium, a real uvicorn server): from the talent's page to her portfolio, a real photo
chosen and added, listed with its thumbnail at phone width, removed after the confirmation
page. axe-core and a screenshot per step under var/test-artefacts/console/portfolio/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.test_inbox_and_talents import (
    LiveConsole,
    Steps,
    _keyboard_sign_in,
    _missing,
    _settled,
    _wait_for_images,
    browser,
    served,
)
from tests.browser.test_inbox_keyboard import _fits_a_phone
from tests.support.console import USERS, add_talents, add_users, console_context
from tests.support.service import make_keys

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.shared_faces]
__all__ = ["browser"]  # the Chromium fixture of test_inbox_and_talents.py
PHOTO = "scenes/Jack/img17.jpg"


def _shows(driver: WebDriver, words: str) -> None:
    """Wait for the page the click leads to (it says ``words``)."""
    WebDriverWait(driver, 30).until(lambda d: words in d.page_source)
    _settled(driver)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    ctx = console_context(tmp_path_factory.mktemp("console-portfolio"))
    talents = add_talents(ctx)
    keys = make_keys(ctx)
    add_users(ctx)
    try:
        with served(ctx) as base:
            yield LiveConsole(base, ctx, keys, talents)
    finally:
        ctx.close()


def test_a_booker_adds_a_portfolio_photo_sees_it_listed_and_removes_it(
    browser: WebDriver, live: LiveConsole, shared_faces: Path, tmp_path: Path
) -> None:
    photo = tmp_path / "summer-campaign-look-04.jpg"  # a name of the booker's own
    photo.write_bytes((shared_faces / PHOTO).read_bytes())
    steps = Steps(browser, "portfolio")
    _keyboard_sign_in(browser, live.base, USERS["agency"][0])
    browser.get(f"{live.base}/console/talents/{live.talents['Ada Lovelace']}")
    _settled(browser)
    browser.find_element(By.PARTIAL_LINK_TEXT, "portfolio").click()
    _shows(browser, "No portfolio images yet.")
    steps.check("empty-portfolio")

    browser.find_element(By.ID, "portfolio-files").send_keys(str(photo))
    browser.find_element(By.CSS_SELECTOR, "form[enctype] button[type=submit]").click()
    _shows(browser, "Images you just sent")
    outcome = browser.find_element(By.CSS_SELECTOR, ".outcomes li").text
    assert outcome == "summer-campaign-look-04.jpg: added"
    thumbnail = browser.find_element(By.CSS_SELECTOR, "ul.portfolio img")
    assert thumbnail.get_attribute("alt") == "Portfolio image summer-campaign-look-04.jpg"
    assert all(_wait_for_images(browser, "ul.portfolio img"))
    assert "Portfolio images (1 of at most" in browser.page_source
    steps.check("photo-added")
    _fits_a_phone(browser)
    steps.check("photo-added-at-phone-width")

    browser.find_element(By.CSS_SELECTOR, "ul.portfolio button").click()
    _shows(browser, "Remove portfolio image summer-campaign-look-04.jpg?")
    _fits_a_phone(browser)
    steps.check("confirm-removal")
    browser.find_element(By.CSS_SELECTOR, "button.danger").click()
    _shows(browser, "No portfolio images yet.")
    assert "removed" in browser.find_element(By.CSS_SELECTOR, "[role=status]").text
    steps.check("photo-removed")
