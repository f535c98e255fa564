"""The console in a real browser: Debian's headless Chromium driven by Selenium against a
real uvicorn server, axe-core on every page, keyboard-only sign-in and triage, a screenshot
per step under var/test-artefacts/console/.

Set up by ``scripts/ensure-browser-tests.sh`` (``make test`` runs it); skipped with the
reason when Chromium, its driver or axe-core is missing.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from rich.console import Console

from indexer.demo_fixtures import load_demo_fixture
from indexer.engine import FaceEngine
from indexer.settings import PROJECT_ROOT
from service.access import accounts
from service.api.app import create_app
from service.context import AppContext
from service.core.principal import Role
from service.demo import run_demo
from service.startup import start
from tests.support.console import PASSWORD, USERS, add_talents, add_users, console_context
from tests.support.fakes import face_photo
from tests.support.service import make_keys, service_settings

CHROMIUM = Path(os.environ.get("TWINWATCH_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("TWINWATCH_CHROMEDRIVER", "/usr/bin/chromedriver"))
AXE = PROJECT_ROOT / "var" / "vendor" / "axe.min.js"
ARTEFACTS = PROJECT_ROOT / "var" / "test-artefacts" / "console"
SERIOUS = {"serious", "critical"}

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.browser


def _missing() -> str | None:
    for path, what in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{what} not found at {path} (run scripts/ensure-browser-tests.sh)"
    if not AXE.is_file():
        return f"axe-core not found at {AXE} (run scripts/ensure-browser-tests.sh)"
    return None


@dataclass
class LiveConsole:
    base: str
    ctx: AppContext
    keys: dict[str, str]
    talents: dict[str, int]

    def scan(self, identity: int, *, publisher: str, page: str, seed: int) -> None:
        response = httpx.post(
            f"{self.base}/v1/scans",
            headers={"Authorization": f"Bearer {self.keys['monitor']}"},
            files={"file": ("seen.png", face_photo([(identity, 90)], size=130, seed=seed))},
            data={"page_url": f"https://{publisher}{page}", "publisher": publisher},
            timeout=60,
        )
        assert response.status_code == 201, response.text

    def alert(self, alert_id: int) -> dict[str, Any]:
        response = httpx.get(
            f"{self.base}/v1/alerts/{alert_id}",
            timeout=30,
            headers={"Authorization": f"Bearer {self.keys['agency']}"},
        )
        return dict(response.json())


@contextmanager
def served(ctx: AppContext) -> Iterator[str]:
    """The app in a real uvicorn server on 127.0.0.1; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(context=ctx), host="127.0.0.1", port=port, log_config=None, access_log=False
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    ctx = console_context(tmp_path_factory.mktemp("console"))
    talents = add_talents(ctx)
    keys = make_keys(ctx)
    add_users(ctx)
    try:
        with served(ctx) as base:
            yield LiveConsole(base, ctx, keys, talents)
    finally:
        ctx.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download anything
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


class Steps:
    """Screenshots (one per step) and axe-core on every page visited."""

    def __init__(self, driver: WebDriver, name: str) -> None:
        self.driver = driver
        self.folder = ARTEFACTS / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    def check(self, step: str) -> None:
        self.count += 1
        self.driver.save_screenshot(str(self.folder / f"{self.count:02d}-{step}.png"))
        self.driver.execute_script(AXE.read_text(encoding="utf-8"))
        violations = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']})"
            ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,"
            " nodes: v.nodes.map(n => n.target.join(' '))}))));"
        )
        bad = [v for v in violations if v["impact"] in SERIOUS]
        assert not bad, f"axe on {self.driver.current_url} ({step}): {bad}"


def _images_loaded(driver: WebDriver, selector: str) -> list[int]:
    widths: list[int] = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(i => i.complete ? i.naturalWidth : 0);",
        selector,
    )
    return widths


def _wait_for_images(driver: WebDriver, selector: str) -> list[int]:
    deadline = time.monotonic() + 30
    widths = _images_loaded(driver, selector)
    while (not widths or 0 in widths) and time.monotonic() < deadline:
        time.sleep(0.2)
        widths = _images_loaded(driver, selector)
    return widths


def _keyboard_sign_in(driver: WebDriver, base: str, email: str) -> None:
    driver.get(f"{base}/console/login")
    try:  # the e-mail field takes the focus on arrival (autofocus) ...
        WebDriverWait(driver, 5).until(
            lambda d: d.switch_to.active_element.get_attribute("id") == "email"
        )
    except TimeoutException:  # ... or is reached by tabbing past the skip link and the logo
        for _ in range(4):
            if driver.switch_to.active_element.get_attribute("id") == "email":
                break
            ActionChains(driver).send_keys(Keys.TAB).perform()
    active = driver.switch_to.active_element
    assert active.get_attribute("id") == "email"
    active.send_keys(email, Keys.TAB)
    driver.switch_to.active_element.send_keys(PASSWORD, Keys.TAB)
    focused = driver.switch_to.active_element
    assert focused.tag_name == "button" and focused.text == "Sign in"
    focused.send_keys(Keys.ENTER)
    WebDriverWait(driver, 30).until(lambda d: "/console/login" not in d.current_url)
    _settled(driver)


def _settled(driver: WebDriver) -> None:
    """Wait until the page that is now loading has loaded (its <main> is there)."""
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete' && !!document.querySelector('main')"
        )
    )


def _fetch_status(driver: WebDriver, path: str) -> int:
    """A request from the page itself, with the signed-in user's cookie."""
    status: int = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'}).then(r => done(r.status));",
        path,
    )
    return status


def test_agency_finds_an_alert_sees_both_photos_triages_it_and_opens_evidence(
    browser: WebDriver, live: LiveConsole
) -> None:
    live.scan(7, publisher="shop.example", page="/summer/1", seed=11)
    live.scan(7, publisher="shop.example", page="/summer/2", seed=12)
    steps = Steps(browser, "agency")
    browser.get(f"{live.base}/console/alerts")
    assert "/console/login" in browser.current_url  # signed out: sent to sign in
    steps.check("sign-in-page")

    _keyboard_sign_in(browser, live.base, USERS["agency"][0])
    assert browser.current_url.endswith("/console/alerts")
    widths = _wait_for_images(browser, "img.face, img.reference")
    assert len(widths) == 4 and all(w > 0 for w in widths), widths
    group = browser.find_element(By.CSS_SELECTOR, "section.group h2").text
    assert group.startswith("shop.example") and "2 alerts" in group
    steps.check("inbox")

    first = browser.find_element(By.CSS_SELECTOR, "article.alert")
    alert_id = int(str(first.get_attribute("id")).removeprefix("alert-"))
    first.find_element(By.CSS_SELECTOR, "details.more summary").send_keys(Keys.ENTER)
    action = browser.find_element(By.ID, f"action-{alert_id}")  # the action with a note
    action.send_keys("confirm")  # keyboard only: type-ahead picks "confirm violation"
    assert Select(action).first_selected_option.get_attribute("value") == "confirm_violation"
    action.send_keys(Keys.TAB)
    browser.switch_to.active_element.send_keys("takedown sent", Keys.TAB)
    apply = browser.switch_to.active_element
    assert apply.text == "Apply"
    apply.send_keys(Keys.ENTER)
    deadline = time.monotonic() + 30
    while live.alert(alert_id)["status"] != "confirmed_violation":
        assert time.monotonic() < deadline, live.alert(alert_id)
        time.sleep(0.2)
    assert live.alert(alert_id)["triage_note"] == "takedown sent"
    WebDriverWait(browser, 30).until(  # back on the open inbox, which no longer lists it
        lambda d: (
            d.current_url.endswith(f"done={alert_id}")
            and not d.find_elements(By.ID, f"alert-{alert_id}")
        )
    )
    _settled(browser)
    steps.check("after-triage")

    group_action = browser.find_element(By.ID, "bulk-action-1")  # the rest of the group
    group_action.send_keys("ack")
    group_action.send_keys(Keys.TAB)
    browser.switch_to.active_element.send_keys("whole shop", Keys.TAB, Keys.TAB)
    whole_group = browser.switch_to.active_element
    assert whole_group.text == "Apply to all 1 in this group"
    whole_group.send_keys(Keys.ENTER)
    WebDriverWait(browser, 30).until(lambda d: "No alerts match" in d.page_source)
    _settled(browser)
    steps.check("after-group-triage")

    browser.get(f"{live.base}/console/alerts/{alert_id}/evidence")
    assert "Unlicensed use of Ada Lovelace" in browser.find_element(By.TAG_NAME, "h1").text
    widths = _wait_for_images(browser, "img.evidence-image, img.face")
    assert len(widths) == 2 and all(w > 0 for w in widths), widths
    steps.check("evidence")

    browser.find_element(By.LINK_TEXT, "Talents").click()
    WebDriverWait(browser, 30).until(lambda d: d.current_url.endswith("/console/talents"))
    _settled(browser)
    steps.check("talents")
    browser.find_element(By.LINK_TEXT, "Ada Lovelace").click()
    WebDriverWait(browser, 30).until(lambda d: "/console/talents/" in d.current_url)
    _settled(browser)
    assert all(w > 0 for w in _wait_for_images(browser, "img.reference"))
    steps.check("talent")

    browser.find_element(By.CSS_SELECTOR, "form.signout button").click()
    WebDriverWait(browser, 30).until(lambda d: "You are signed out." in d.page_source)
    _settled(browser)
    steps.check("signed-out")
    browser.get(f"{live.base}/console/alerts")
    assert "/console/login" in browser.current_url


def test_a_user_of_another_agency_gets_nothing_through_the_browser(
    browser: WebDriver, live: LiveConsole
) -> None:
    live.scan(7, publisher="blog.example", page="/post", seed=21)
    agency_alerts = httpx.get(
        f"{live.base}/v1/alerts?status=open",
        timeout=30,
        headers={"Authorization": f"Bearer {live.keys['agency']}"},
    ).json()["items"]
    alert_id = agency_alerts[0]["id"]
    talent_id = live.talents["Ada Lovelace"]
    steps = Steps(browser, "other-agency")
    _keyboard_sign_in(browser, live.base, USERS["other_agency"][0])
    assert "Ada Lovelace" not in browser.page_source
    assert "No alerts match" in browser.page_source
    steps.check("empty-inbox")
    for path in (
        f"/console/alerts/{alert_id}/face.jpg",
        f"/console/alerts/{alert_id}/image.jpg",
        f"/console/alerts/{alert_id}/evidence",
        f"/console/talents/{talent_id}",
        f"/console/talents/{talent_id}/references/1.jpg",
    ):
        assert _fetch_status(browser, path) == 404, path
    browser.get(f"{live.base}/console/alerts/{alert_id}/evidence")
    WebDriverWait(browser, 30).until(lambda d: "not_found" in d.page_source)
    assert "Ada" not in browser.page_source
    steps.check("not-found")


def test_the_accessibility_check_catches_serious_violations(browser: WebDriver) -> None:
    """The axe step is not a formality: an image without a text alternative fails it."""
    browser.get(
        "data:text/html,<html lang=en><title>t</title><main><img src=x.png>"
        "<button></button></main></html>"
    )
    with pytest.raises(AssertionError, match=r"image-alt|button-name"):
        Steps(browser, "axe-self-check").check("violations")


@pytest.mark.model
def test_the_readme_walkthrough_on_the_demo_with_the_real_model_pack(
    tmp_path: Path, real_engine: FaceEngine, browser: WebDriver
) -> None:
    """README: `twinwatch demo`, `twinwatch users create`, open the link, set a password,
    sign in, see the demo's alerts with real faces. Its screenshots illustrate the README."""
    ctx = start(service_settings(tmp_path, console_secure_cookies=False), analyser=real_engine)
    try:
        run_demo(ctx, Console(file=io.StringIO()))
        with ctx.db.session() as session:
            accounts.create_user(
                session,
                email="booker@agency.example",
                role=Role.AGENCY,
                agency=load_demo_fixture().agency,
            )
            token = accounts.issue_invitation(session, email="booker@agency.example", valid_hours=1)
        with served(ctx) as base:
            steps = Steps(browser, "readme")
            browser.get(f"{base}/console/invite/{token}")
            steps.check("set-password")
            browser.find_element(By.ID, "password").send_keys(PASSWORD, Keys.ENTER)
            WebDriverWait(browser, 30).until(lambda d: "password is set" in d.page_source)
            _settled(browser)
            browser.find_element(By.ID, "email").send_keys("booker@agency.example")
            steps.check("sign-in")
            _keyboard_sign_in(browser, base, "booker@agency.example")
            widths = _wait_for_images(browser, "img.face, img.reference")
            assert widths and all(w > 0 for w in widths), widths
            assert "Demo Talent" in browser.page_source
            steps.check("inbox")
    finally:
        ctx.close()
