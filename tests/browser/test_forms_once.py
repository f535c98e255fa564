"""A create form sent twice from a real browser (headless Chromium, Selenium, a real uvicorn
server): a double click on the pre-check form's button, and the same form posted twice at
once from the page, each make one pre-check and end on its verdict. (Chromium merges a
synthetic double click into one request, so the second press comes 20 ms after the first,
while the first is on its way.) axe-core and a screenshot per step under
var/test-artefacts/console/once*/. The set-up and helpers are test_console_browser.py's and
test_console_browser_roles.py's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from service.core.tables.scanning import Scan
from service.rules.vocabulary import ScanKind
from tests.browser.test_brand_monitor_admin import _asset
from tests.browser.test_inbox_and_talents import (
    LiveConsole,
    Steps,
    _keyboard_sign_in,
    _missing,
    _settled,
    browser,
    served,
)
from tests.support.console import USERS, add_talents, add_users, console_context
from tests.support.service import make_keys

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with test_console_browser.py
FORM = "form[action$='/prechecks']"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    ctx = console_context(tmp_path_factory.mktemp("console-once"))
    talents = add_talents(ctx)
    keys = make_keys(ctx)
    add_users(ctx)
    try:
        with served(ctx) as base:
            yield LiveConsole(base, ctx, keys, talents)
    finally:
        ctx.close()


def _prechecks(live: LiveConsole) -> int:
    with live.ctx.db.session() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Scan).where(Scan.kind == ScanKind.PRECHECK)
            )
            or 0
        )


def _fill(driver: WebDriver, asset: Path) -> None:
    driver.find_element(By.ID, "files").send_keys(str(asset))
    driver.find_element(By.ID, "publisher").send_keys("hm.com")
    Select(driver.find_element(By.ID, "channel")).select_by_value("social")
    Select(driver.find_element(By.ID, "territory")).select_by_value("FR")


def test_pressing_the_precheck_button_twice_makes_one_precheck(
    browser: WebDriver, live: LiveConsole, tmp_path: Path
) -> None:
    steps = Steps(browser, "once")
    _keyboard_sign_in(browser, live.base, USERS["brand"][0])
    assert browser.current_url.endswith("/console/prechecks")
    before = _prechecks(live)
    _fill(browser, _asset(tmp_path, "lookbook.png", 81))
    steps.check("precheck-filled")
    old = browser.find_element(By.TAG_NAME, "html")
    browser.execute_script(  # two presses, the second while the first is on its way
        "const b = document.querySelector(arguments[0]);"
        "b.click(); setTimeout(() => b.click(), 20);",
        f"{FORM} button[type=submit]",
    )
    WebDriverWait(browser, 60).until(
        lambda d: (
            old.id != d.find_element(By.TAG_NAME, "html").id
            and d.find_elements(By.CSS_SELECTOR, "section.precheck")
        )
    )
    _settled(browser)
    assert len(browser.find_elements(By.CSS_SELECTOR, "section.precheck")) == 1
    # the page is the second press's answer: sent to the first press's verdict
    assert "/console/prechecks?checked=" in browser.current_url
    steps.check("precheck-double-clicked")
    assert _prechecks(live) == before + 1


def test_the_same_form_posted_twice_at_once_makes_one_precheck(
    browser: WebDriver, live: LiveConsole, tmp_path: Path
) -> None:
    """Two POSTs of one form in flight together (a retried request racing the first): the
    second waits for the first and lands on its verdict."""
    steps = Steps(browser, "once-twice")
    _keyboard_sign_in(browser, live.base, USERS["brand"][0])
    before = _prechecks(live)
    _fill(browser, _asset(tmp_path, "campaign.png", 83))
    answers: list[dict[str, Any]] = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const form = document.querySelector(arguments[0]);"
        "const send = () => fetch(form.action, {method: 'POST', credentials: 'same-origin',"
        " body: new FormData(form)}).then(r => r.text().then(t => ({status: r.status,"
        " url: r.url, verdicts: (t.match(/Open pre-check \\d+/g) || [])})));"
        "Promise.all([send(), send()]).then(done);",
        FORM,
    )
    assert [a["status"] for a in answers] == [200, 200], answers
    assert answers[0]["verdicts"] == answers[1]["verdicts"] != [], answers
    assert sorted("?checked=" in a["url"] for a in answers) == [False, True], answers
    assert _prechecks(live) == before + 1
    browser.get(next(a["url"] for a in answers if "?checked=" in a["url"]))
    _settled(browser)
    steps.check("precheck-repeat-shows-the-first")
