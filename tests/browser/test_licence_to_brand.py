"""Issue 18 in a real browser (headless Chromium, a real uvicorn server, axe-core on every
page): an agency licenses a talent to a brand picked from the list, and that brand's
pre-check of a two-face asset then clears that talent, with the asset shown and each face
boxed and numbered as in the list; the brand's "My licences" shows its own licences only.
Every page is also checked at 390 px wide (no horizontal scroll). Screenshots land under
var/test-artefacts/console/licence-to-brand/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.browser.test_inbox_and_talents import (
    LiveConsole,
    Steps,
    _fetch_status,
    _keyboard_sign_in,
    _missing,
    _settled,
    browser,
    served,
)
from tests.support.console import USERS, add_talents, add_users, console_context
from tests.support.fakes import face_photo
from tests.support.service import make_keys

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.browser
__all__ = ["browser"]
ADA, GRACE = 7, 9  # identities of the fake faces (tests/support/console.py)
NOW = datetime.now(UTC)
NARROW = 390


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    """Ada (Demo Agency) and Grace (Other Agency); brands H&M and Zara. Grace is licensed to
    Zara only, so a brand's page that showed other brands' licences would show her."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    ctx = console_context(tmp_path_factory.mktemp("licence-to-brand"))
    talents = add_talents(ctx)
    keys = make_keys(ctx)
    add_users(ctx)
    try:
        with served(ctx) as base:
            world = LiveConsole(base, ctx, keys, talents)
            _api_licence(world, "other_agency", "Grace Hopper", "Zara")
            _api_licence(world, "agency", "Ada Lovelace", "Atelier Nord SAS")
            yield world
    finally:
        ctx.close()


def _api_licence(live: LiveConsole, key: str, talent: str, licensee: str) -> None:
    response = httpx.post(
        f"{live.base}/v1/talents/{live.talents[talent]}/licences",
        timeout=30,
        headers={"Authorization": f"Bearer {live.keys[key]}"},
        json={
            "licensee": licensee,
            "publishers": ["*"],
            "territories": ["WORLD"],
            "media": ["photo"],
            "valid_from": (NOW - timedelta(days=1)).isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    linked = response.json()["licensee_brand_id"] is not None
    assert linked is (licensee == "Zara")  # a brand's name links; any other name does not


def _submit(driver: WebDriver, selector: str) -> None:
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, f"{selector} button[type=submit]").send_keys("\n")
    WebDriverWait(driver, 60).until(lambda d: old.id != d.find_element(By.TAG_NAME, "html").id)
    _settled(driver)


def _narrow(driver: WebDriver, steps: Steps, step: str) -> None:
    """The page on a 390 px wide phone screen: nothing wider than the screen (no horizontal
    scroll), then back to the desktop size."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": NARROW, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        width = driver.execute_script("return document.documentElement.clientWidth")
        scroll = driver.execute_script("return document.documentElement.scrollWidth")
        wide = driver.execute_script(
            "const w = document.documentElement.clientWidth;"
            "return Array.from(document.querySelectorAll('body *'))"
            ".filter(e => e.getBoundingClientRect().right > w + 1)"
            ".slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className);"
        )
        assert width == NARROW and scroll <= width, (
            f"{driver.current_url} is {scroll}px wide at {width}px: {wide}"
        )
        steps.check(step)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _sign_out(driver: WebDriver) -> None:
    _submit(driver, "form.signout")


def _marks(driver: WebDriver) -> list[tuple[int, float]]:
    """The numbered boxes drawn on the asset: (number, left edge in image pixels)."""
    marks = driver.find_elements(By.CSS_SELECTOR, "section.precheck svg g.face-mark")
    return [
        (
            int(mark.find_element(By.CSS_SELECTOR, "text.face-number").text),
            float(mark.find_element(By.CSS_SELECTOR, "rect.face-box").get_attribute("x") or -1),
        )
        for mark in marks
    ]


def test_agency_licenses_a_picked_brand_whose_precheck_then_sees_it_with_numbered_faces(
    browser: WebDriver, live: LiveConsole, tmp_path: Path
) -> None:
    steps = Steps(browser, "licence-to-brand")
    _keyboard_sign_in(browser, live.base, USERS["agency"][0])
    browser.get(f"{live.base}/console/licences/new")
    _settled(browser)
    warning = browser.find_element(By.ID, "licensee-warning")
    assert warning.is_displayed() and "pre-checks will not see the licence" in warning.text
    brands = [o.text for o in Select(browser.find_element(By.ID, "licensee_brand_id")).options]
    assert "H&M" in brands and "Zara" in brands
    Select(browser.find_element(By.ID, "talent_id")).select_by_visible_text("Ada Lovelace")
    Select(browser.find_element(By.ID, "licensee_brand_id")).select_by_visible_text("H&M")
    browser.find_element(By.ID, "publishers").send_keys("hm.com")
    browser.find_element(By.CSS_SELECTOR, "input[name=channels][value='*']").click()  # off
    browser.find_element(By.CSS_SELECTOR, "input[name=channels][value=social]").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=territory_groups][value=WORLD]").click()
    Select(browser.find_element(By.ID, "countries")).select_by_value("FR")
    browser.execute_script(
        "document.getElementById('valid_from').value = arguments[0];",
        (NOW - timedelta(days=1)).date().isoformat(),
    )
    steps.check("licence-form-brand-picked")
    _narrow(browser, steps, "licence-form-390px")
    _submit(browser, "form[action$='/licences']")
    assert "/console/licences/" in browser.current_url
    terms = browser.find_element(By.CSS_SELECTOR, "dl.facts").text
    assert "on twinwatch: H&M" in terms
    assert "social media" in terms and "France" in terms and "photos of the talent" in terms
    assert not browser.find_elements(By.ID, "unlinked-warning")
    steps.check("licence-to-brand")
    _narrow(browser, steps, "licence-390px")
    browser.find_element(By.LINK_TEXT, "All licences").click()
    _settled(browser)
    unlinked = browser.find_element(By.ID, "unlinked").text
    assert "Not linked to a brand on twinwatch (1)" in unlinked and "Atelier Nord SAS" in unlinked
    steps.check("licences-with-unlinked")
    _narrow(browser, steps, "licences-390px")
    _sign_out(browser)

    _keyboard_sign_in(browser, live.base, USERS["brand"][0])
    asset = tmp_path / "two-faces.png"
    asset.write_bytes(face_photo([(ADA, 90), (GRACE, 90)], size=130, seed=5))
    browser.find_element(By.ID, "files").send_keys(str(asset))
    browser.find_element(By.ID, "publisher").send_keys("hm.com")
    Select(browser.find_element(By.ID, "channel")).select_by_value("social")
    Select(browser.find_element(By.ID, "territory")).select_by_value("FR")
    _submit(browser, "form[action$='/prechecks']")

    rows = browser.find_elements(By.CSS_SELECTOR, "section.precheck tr.face-row")
    by_number = {int(row.find_element(By.TAG_NAME, "td").text): row.text for row in rows}
    assert set(by_number) == {1, 2}, by_number
    marks = dict(_marks(browser))
    assert set(marks) == set(by_number)  # one numbered box per face in the list
    ada = next(n for n, text in by_number.items() if "Ada Lovelace" in text)
    grace = next(n for n, text in by_number.items() if "Grace Hopper" in text)
    assert marks[ada] < marks[grace]  # Ada's face is the left one in the asset
    assert "not cleared" not in by_number[ada] and "cleared" in by_number[ada]
    assert "not cleared" in by_number[grace]
    assert "contact the talent's agency: Other Agency" in by_number[grace]
    assert "Zara" not in browser.page_source  # another licensee's licence never shows
    figure = browser.find_element(By.CSS_SELECTOR, "section.precheck figure.asset")
    precheck_id = int(str(figure.get_attribute("id")).removeprefix("asset-"))
    assert _fetch_status(browser, f"/console/prechecks/{precheck_id}/preview.jpg") == 200
    assert browser.find_elements(By.CSS_SELECTOR, "section.precheck svg image")
    # the form keeps what was typed and picked
    assert browser.find_element(By.ID, "publisher").get_attribute("value") == "hm.com"
    assert Select(browser.find_element(By.ID, "channel")).first_selected_option.get_attribute(
        "value"
    ) == ("social")
    assert Select(browser.find_element(By.ID, "territory")).first_selected_option.get_attribute(
        "value"
    ) == ("FR")
    browser.execute_script("arguments[0].scrollIntoView()", figure)  # the picture and list
    steps.check("precheck-numbered-faces")
    _narrow(browser, steps, "precheck-390px")

    browser.find_element(By.LINK_TEXT, "My licences").click()
    WebDriverWait(browser, 30).until(lambda d: d.current_url.endswith("/console/brand/licences"))
    _settled(browser)
    mine = browser.find_elements(By.CSS_SELECTOR, "tr[id^=brand-licence-]")
    assert len(mine) == 1, [row.text for row in mine]
    assert "Ada Lovelace" in mine[0].text and "Demo Agency" in mine[0].text
    assert "hm.com" in mine[0].text and "France" in mine[0].text and "in force" in mine[0].text
    assert "Grace Hopper" not in browser.page_source and "Zara" not in browser.page_source
    steps.check("my-licences")
    _narrow(browser, steps, "my-licences-390px")
