"""The brand, monitor and admin flows in a real browser (headless Chromium, Selenium, a real
uvicorn server with its in-process batch worker): axe-core on every page and a screenshot
per step under var/test-artefacts/console/<flow>/. The set-up and helpers are
test_console_browser.py's."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
__all__ = ["browser"]  # the fixture, shared with test_console_browser.py
ADA = 7
NOW = datetime.now(UTC)
LICENSEE_TERMS = ("Zara", "999.00", "40.00")  # licence terms and another licensee: never shown


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    """Two agencies' talents, every role's user, and a worker inside the server (a monitor's
    batch finishes while the page watches)."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    ctx = console_context(tmp_path_factory.mktemp("console-roles"), run_worker_in_process=True)
    talents = add_talents(ctx)
    keys = make_keys(ctx)
    add_users(ctx)
    try:
        with served(ctx) as base:
            world = LiveConsole(base, ctx, keys, talents)
            _licence(world, "H&M", "hm.com", "FR")
            _licence(world, "Zara", "zara.com", "ES")
            yield world
    finally:
        ctx.close()


def _licence(live: LiveConsole, licensee: str, publisher: str, territory: str) -> None:
    response = httpx.post(
        f"{live.base}/v1/talents/{live.talents['Ada Lovelace']}/licences",
        timeout=30,
        headers={"Authorization": f"Bearer {live.keys['agency']}"},
        json={
            "licensee": licensee,
            "publishers": [publisher],
            "channels": ["social"],
            "territories": [territory],
            "media": ["photo"],
            "valid_from": (NOW - timedelta(days=30)).isoformat(),
            "valid_until": (NOW + timedelta(days=30)).isoformat(),
            "compensation": {"per_use": "40.00", "flat_fee": "999.00", "currency": "EUR"},
        },
    )
    assert response.status_code == 201, response.text


def _asset(folder: Path, name: str, seed: int, identity: int = ADA) -> Path:
    path = folder / name
    path.write_bytes(face_photo([(identity, 90)], size=130, seed=seed))
    return path


def _fetch_text(driver: WebDriver, path: str) -> dict[str, Any]:
    """A download as the signed-in page would get it: status, headers and body."""
    got: dict[str, Any] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text().then(t => done("
        "{status: r.status, type: r.headers.get('content-type'),"
        " disposition: r.headers.get('content-disposition'), body: t})));",
        path,
    )
    return got


def _go(driver: WebDriver, link_text: str, path: str) -> None:
    driver.find_element(By.LINK_TEXT, link_text).click()
    WebDriverWait(driver, 30).until(lambda d: d.current_url.split("?")[0].endswith(path))
    _settled(driver)


def _submit(driver: WebDriver, selector: str) -> None:
    """Submit a form with the keyboard (Enter on its button), then wait for the next page."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, f"{selector} button[type=submit]").send_keys("\n")
    WebDriverWait(driver, 60).until(lambda d: old.id != d.find_element(By.TAG_NAME, "html").id)
    _settled(driver)


def _never_agency_pages(driver: WebDriver, live: LiveConsole) -> None:
    talent = live.talents["Ada Lovelace"]
    for path in (
        "/console/alerts",
        "/console/talents",
        f"/console/talents/{talent}",
        f"/console/talents/{talent}/references/1.jpg",
        "/console/admin/status",
    ):
        assert _fetch_status(driver, path) in (403, 404), path


def test_brand_prechecks_an_asset_and_downloads_its_clearance_record(
    browser: WebDriver, live: LiveConsole, tmp_path: Path
) -> None:
    steps = Steps(browser, "brand")
    _keyboard_sign_in(browser, live.base, USERS["brand"][0])
    assert browser.current_url.endswith("/console/prechecks")
    steps.check("precheck-form")

    browser.find_element(By.ID, "files").send_keys(str(_asset(tmp_path, "lookbook.png", 81)))
    browser.find_element(By.ID, "publisher").send_keys("hm.com")
    Select(browser.find_element(By.ID, "channel")).select_by_value("social")
    Select(browser.find_element(By.ID, "territory")).select_by_value("FR")
    steps.check("precheck-filled")
    _submit(browser, "form[action$='/prechecks']")
    verdict = browser.find_element(By.CSS_SELECTOR, "section.precheck").text
    assert "cleared" in verdict and "not cleared" not in verdict, verdict
    assert "Ada Lovelace" in verdict and "your licence" in verdict
    steps.check("precheck-cleared")

    browser.find_element(By.ID, "files").send_keys(str(_asset(tmp_path, "spain.png", 82)))
    publisher = browser.find_element(By.ID, "publisher")
    assert publisher.get_attribute("value") == "hm.com"  # the form keeps the intended use
    publisher.clear()
    publisher.send_keys("zara.com")
    Select(browser.find_element(By.ID, "territory")).select_by_value("ES")
    _submit(browser, "form[action$='/prechecks']")
    refused = browser.find_element(By.CSS_SELECTOR, "section.precheck").text
    assert "not cleared" in refused and "publisher zara.com not in hm.com" in refused
    assert not any(term in refused for term in ("Zara", "999.00")), refused
    steps.check("precheck-refused")

    link = browser.find_element(By.PARTIAL_LINK_TEXT, "Open pre-check")
    precheck_id = int(re.sub(r"\D", "", str(link.text)))
    link.click()
    WebDriverWait(browser, 30).until(
        lambda d: d.current_url.endswith(f"/console/prechecks/{precheck_id}")
    )
    _settled(browser)
    steps.check("precheck-page")
    for kind, media in (("json", "application/json"), ("html", "text/html")):
        download = _fetch_text(browser, f"/console/prechecks/{precheck_id}/record.{kind}")
        assert download["status"] == 200 and download["type"].startswith(media)
        assert download["disposition"].startswith("attachment")
        assert "Ada Lovelace" in download["body"]
        assert not any(term in download["body"] for term in LICENSEE_TERMS)
    _go(browser, "Pre-checks", "/console/prechecks")
    assert "Your pre-checks (2)" in browser.page_source
    steps.check("precheck-history")
    _never_agency_pages(browser, live)


def test_monitor_submits_a_batch_of_files_and_watches_it_finish(
    browser: WebDriver, live: LiveConsole, tmp_path: Path
) -> None:
    steps = Steps(browser, "monitor")
    _keyboard_sign_in(browser, live.base, USERS["monitor"][0])
    assert browser.current_url.endswith("/console/submissions")
    steps.check("submission-form")

    dropped = [
        base64.b64encode(face_photo([(ADA, 90)], size=130, seed=91)).decode(),
        base64.b64encode(face_photo([(60, 90)], size=130, seed=92)).decode(),
    ]
    count = browser.execute_script(  # drag and drop: a real drop event with two files
        "const files = arguments[0].map((b64, n) => new File("
        "[Uint8Array.from(atob(b64), c => c.charCodeAt(0))], ['look-' + (n + 1) + '.png',"
        " 'stranger.png'][n], {type: 'image/png'}));"
        "const data = new DataTransfer(); files.forEach(f => data.items.add(f));"
        "const zone = document.getElementById('dropzone');"
        "zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: data, bubbles: true,"
        " cancelable: true}));"
        "zone.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true,"
        " cancelable: true}));"
        "return document.getElementById('files').files.length;",
        dropped,
    )
    assert count == 2
    assert browser.find_element(By.ID, "dropped").text == "2 files chosen"
    Select(browser.find_element(By.ID, "channel")).select_by_value("ecommerce")
    browser.find_element(By.ID, "publisher").send_keys("knockoff.example")
    steps.check("files-dropped")
    _submit(browser, "#submit-form")
    assert re.search(r"/console/submissions/\d+$", browser.current_url)
    steps.check("batch-page")

    WebDriverWait(browser, 90).until(  # the script polls and updates the page in place
        lambda d: d.find_element(By.ID, "job-status").text == "finished"
    )
    bar = browser.find_element(By.ID, "job-progress")
    assert bar.get_attribute("value") == bar.get_attribute("max") == "2"
    assert not browser.find_element(By.ID, "refresh").is_displayed()  # live, no refresh
    rows = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#items tr")]
    assert len(rows) == 2, rows
    assert "look-1.png scanned 1 raised an alert" in rows[0], rows  # codes in words
    assert "stranger.png scanned 1 no alert" in rows[1], rows
    assert browser.find_element(By.ID, "count-raised").text == "1"  # the job's counts, live
    assert browser.find_element(By.ID, "count-done").text == "2"
    assert not any(term in browser.page_source for term in ("H&amp;M", "hm.com", "licence"))
    steps.check("batch-finished")

    _go(browser, "All submissions", "/console/submissions")
    assert "Earlier submissions (1)" in browser.page_source
    steps.check("earlier-submissions")
    _never_agency_pages(browser, live)
    assert _fetch_status(browser, "/console/prechecks") == 403


def test_admin_manages_tenants_users_and_keys_and_reads_the_status(
    browser: WebDriver, live: LiveConsole
) -> None:
    steps = Steps(browser, "admin")
    _keyboard_sign_in(browser, live.base, USERS["admin"][0])
    assert browser.current_url.endswith("/console/admin/status")
    assert browser.find_element(By.ID, "pack-name").text == "fake-pack"
    steps.check("status")

    _go(browser, "Tenants", "/console/admin/tenants")
    Select(browser.find_element(By.ID, "kind")).select_by_value("agency")
    browser.find_element(By.ID, "name").send_keys("Lumen Models")
    _submit(browser, "form[action$='/admin/tenants']")
    assert "Lumen Models" in browser.find_element(By.TAG_NAME, "main").text
    steps.check("tenant-created")

    _go(browser, "Users", "/console/admin/users")
    browser.find_element(By.ID, "email").send_keys("booker@lumen.example")
    Select(browser.find_element(By.ID, "account_for")).select_by_value("agency:Lumen Models")
    _submit(browser, "form[action$='/admin/users']")
    link = browser.find_element(By.ID, "invitation-link").text
    assert "/console/invite/" in link
    steps.check("user-invited")

    _go(browser, "API keys", "/console/admin/keys")
    Select(browser.find_element(By.ID, "key_for")).select_by_value("monitor:Model Alliance")
    browser.find_element(By.ID, "label").send_keys("crawler")
    _submit(browser, "form[action$='/admin/keys']")
    key = browser.find_element(By.ID, "new-key").text
    auth = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{live.base}/v1/scans", headers=auth, timeout=30).status_code == 200
    steps.check("key-created")
    browser.find_element(By.CSS_SELECTOR, f"button[aria-label='Revoke key {key[:10]}']").click()
    WebDriverWait(browser, 30).until(
        lambda d: key[:10] in d.page_source and "new-key" not in d.page_source
    )
    _settled(browser)
    assert httpx.get(f"{live.base}/v1/scans", headers=auth, timeout=30).status_code == 401
    steps.check("key-revoked")

    _go(browser, "Status", "/console/admin/status")
    assert browser.find_element(By.ID, "index-vectors").text == "2"
    steps.check("status-again")


def test_brand_and_monitor_never_see_agency_pages_nor_licence_terms(
    browser: WebDriver, live: LiveConsole
) -> None:
    steps = Steps(browser, "roles-refused")
    for who in ("brand", "monitor"):
        _keyboard_sign_in(browser, live.base, USERS[who][0])
        _never_agency_pages(browser, live)
        browser.get(f"{live.base}/console/alerts")
        WebDriverWait(browser, 30).until(lambda d: "forbidden" in d.page_source)
        _settled(browser)
        assert not any(term in browser.page_source for term in (*LICENSEE_TERMS, "Ada"))
        steps.check(f"{who}-refused")
        browser.delete_all_cookies()
