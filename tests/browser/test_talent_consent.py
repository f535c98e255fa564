"""Issue 9 in a real browser with the real model pack: a talent signs in, sees a sighting
of their likeness, signs an AI-replica licence, and the next AI-labelled sighting on the
licensee's site is licensed and appears in their pay; withdrawing consent turns the
following one unlicensed. axe-core on every page, a screenshot per step under
var/test-artefacts/console/talent/ (set up like tests/browser/test_inbox_and_talents.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from indexer.demo_fixtures import load_demo_fixture
from indexer.engine import FaceEngine
from service.access import accounts
from service.core.principal import Role
from service.startup import start
from tests.browser.test_inbox_and_talents import (  # noqa: F401  (browser: the Chromium fixture)
    Steps,
    _keyboard_sign_in,
    _settled,
    browser,
    served,
)
from tests.models.test_api_scans import ai_labelled
from tests.support.console import PASSWORD, USERS, add_talents, add_users, console_context
from tests.support.mail import link_path, smtp_settings
from tests.support.service import (
    face_crop_jpeg,
    make_keys,
    register_demo_talents,
    service_settings,
)
from tests.support.takedowns import SmtpInbox, smtp_server

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.browser
TALENT_EMAIL = "talent@models.example"
SHOP = "shop.maisonverte.example"


def _scan(base: str, key: str, image: bytes, *, page: str) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/v1/scans",
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
        files={"file": ("seen.jpg", image, "image/jpeg")},
        data={
            "page_url": f"https://{SHOP}{page}",
            "publisher": SHOP,
            "channel": "ecommerce",
            "territory": "FR",
            "observed_at": datetime.now(UTC).isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _verdict_of(result: dict[str, Any], talent_id: int) -> str:
    faces = [f for f in result["faces"] if f["talent"] and f["talent"]["id"] == talent_id]
    assert len(faces) == 1, result["faces"]
    return str(faces[0]["licence"]["verdict"])


def _open(driver: WebDriver, link_text: str, url_part: str) -> None:
    driver.find_element(By.LINK_TEXT, link_text).click()
    WebDriverWait(driver, 30).until(lambda d: url_part in d.current_url)
    _settled(driver)


@pytest.mark.model
def test_a_talent_signs_a_replica_licence_sees_it_paid_and_withdraws_it(
    tmp_path: Path,
    real_engine: FaceEngine,
    browser: WebDriver,  # noqa: F811
) -> None:
    ctx = start(service_settings(tmp_path, console_secure_cookies=False), analyser=real_engine)
    try:
        fixture = load_demo_fixture()
        talents = register_demo_talents(ctx, fixture)
        name = fixture.talents[0].name
        talent_id = talents[name]
        keys = make_keys(ctx)
        with ctx.db.session() as session:
            accounts.create_user(session, email=TALENT_EMAIL, role=Role.TALENT, talent=talent_id)
            token = accounts.issue_invitation(session, email=TALENT_EMAIL, valid_hours=1)
            accounts.accept_invitation(session, token=token, password=PASSWORD)
        photo = face_crop_jpeg(fixture, name, quality=92)
        with served(ctx) as base:
            licence = httpx.post(
                f"{base}/v1/talents/{talent_id}/licences",
                timeout=30,
                headers={"Authorization": f"Bearer {keys['agency']}"},
                json={
                    "licensee": "Maison Verte",
                    "publishers": [SHOP],
                    "channels": ["ecommerce"],
                    "territories": ["EU"],
                    "media": ["ai_replica"],
                    "ai_label_required": True,
                    "valid_from": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                    "compensation": {"per_use": "25.00", "currency": "EUR"},
                },
            ).json()
            before = _scan(base, keys["monitor"], ai_labelled(photo), page="/twin/1")
            assert _verdict_of(before, talent_id) == "unlicensed"

            steps = Steps(browser, "talent")
            _keyboard_sign_in(browser, base, TALENT_EMAIL)
            assert browser.current_url.endswith("/console/me")
            rows = browser.find_elements(By.CSS_SELECTOR, "li[id^=sighting-]")
            assert len(rows) == 1 and SHOP in rows[0].text
            assert "replica consent not signed by the talent" in rows[0].text
            steps.check("sightings")

            _open(browser, "Licences", "/console/me/licences")
            assert "awaiting signature" in browser.page_source
            steps.check("licences")
            _open(browser, f"Licence {licence['id']}", f"/console/me/licences/{licence['id']}")
            assert licence["consent"]["terms_sha256"] in browser.page_source
            steps.check("licence-to-sign")
            browser.find_element(By.ID, "signature_name").send_keys(name, Keys.ENTER)
            WebDriverWait(browser, 30).until(lambda d: "You signed this licence" in d.page_source)
            _settled(browser)
            steps.check("signed")

            signed = _scan(
                base,
                keys["monitor"],
                ai_labelled(face_crop_jpeg(fixture, name, quality=90)),
                page="/twin/2",
            )
            assert _verdict_of(signed, talent_id) == "licensed"
            _open(browser, "Pay", "/console/me/ledger")
            owed = browser.find_element(By.ID, "owed").text
            assert "25.00 EUR for 1 use" in owed, owed
            assert "Maison Verte" in browser.page_source
            steps.check("pay")

            _open(browser, "Licences", "/console/me/licences")
            _open(browser, f"Licence {licence['id']}", f"/console/me/licences/{licence['id']}")
            withdraw = browser.find_element(By.CSS_SELECTOR, "button.danger")
            assert withdraw.text == "Withdraw consent"
            withdraw.send_keys(Keys.ENTER)  # keyboard only: first the page that explains it
            WebDriverWait(browser, 30).until(lambda d: "/withdraw" in d.current_url)
            _settled(browser)
            steps.check("withdraw-confirmation")
            browser.find_element(By.ID, "confirm-withdraw").send_keys(Keys.ENTER)
            WebDriverWait(browser, 30).until(lambda d: "You withdrew your consent" in d.page_source)
            _settled(browser)
            steps.check("withdrawn")

            after = _scan(
                base,
                keys["monitor"],
                ai_labelled(face_crop_jpeg(fixture, name, quality=88)),
                page="/twin/3",
            )
            assert _verdict_of(after, talent_id) == "unlicensed"
            _open(browser, "Sightings", "/console/me")
            rows = browser.find_elements(By.CSS_SELECTOR, "li[id^=sighting-]")
            assert len(rows) == 3
            assert "replica consent withdrawn by the talent" in rows[0].text, rows[0].text
            assert "licensed" in rows[1].text and "covers this use" in rows[1].text
            steps.check("sightings-after-withdrawal")
            _open(browser, "Pay", "/console/me/ledger")
            assert "25.00 EUR for 1 use" in browser.find_element(By.ID, "owed").text
            steps.check("pay-after-withdrawal")
            _open(browser, "Consent", "/console/me/consent")
            events = browser.find_elements(By.CSS_SELECTOR, "tbody tr[id^=event-]")
            assert [e.get_attribute("id") for e in events] == ["event-3", "event-2", "event-1"]
            assert "withdrawn" in events[0].text and "terms set" in events[2].text
            steps.check("consent-events")
    finally:
        ctx.close()


def test_the_agency_invites_the_talent_and_records_an_offline_signature(
    tmp_path: Path,
    browser: WebDriver,  # noqa: F811
) -> None:
    """The agency's side, keyboard and axe included: invite the talent from their page (the
    link goes to the talent's address; the page names it masked), see the licence awaiting a
    signature, upload the signed document (which then awaits the talent's confirmation)."""
    with smtp_server() as inbox:
        _agency_invites_and_records(tmp_path, browser, inbox)


def _agency_invites_and_records(tmp_path: Path, driver: WebDriver, inbox: SmtpInbox) -> None:
    ctx = console_context(tmp_path, **smtp_settings(inbox))
    try:
        talents = add_talents(ctx)
        keys = make_keys(ctx)
        add_users(ctx)
        talent_id = talents["Ada Lovelace"]
        with served(ctx) as base:
            licence = httpx.post(
                f"{base}/v1/talents/{talent_id}/licences",
                timeout=30,
                headers={"Authorization": f"Bearer {keys['agency']}"},
                json={
                    "licensee": "Maison Verte",
                    "publishers": [SHOP],
                    "media": ["ai_replica"],
                    "valid_from": "2026-01-01",
                },
            ).json()
            steps = Steps(driver, "agency-consent")
            _keyboard_sign_in(driver, base, USERS["agency"][0])
            driver.get(f"{base}/console/talents/{talent_id}")
            _settled(driver)
            _open(
                driver,
                "Invite Ada Lovelace to see their sightings, licences and pay, and to sign",
                "/access",
            )
            steps.check("talent-access")
            driver.find_element(By.ID, "email").send_keys("ada@talent.example", Keys.ENTER)
            WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "invitation-sent"))
            _settled(driver)
            sent = driver.find_element(By.ID, "invitation-sent").text
            assert "a***@talent.example" in sent
            assert "/console/invite/" not in driver.page_source
            assert inbox.envelopes == [["ada@talent.example"]]
            assert "/console/invite/" in link_path(inbox.messages[0])
            steps.check("invitation-sent")

            _open(driver, "Awaiting signature", "/console/consent")
            steps.check("awaiting")
            _open(driver, f"Licence {licence['id']}", f"/licences/{licence['id']}/consent")
            steps.check("licence-consent")
            document = tmp_path / "signed-consent.pdf"
            document.write_bytes(b"%PDF-1.4\n%%EOF\n")
            driver.find_element(By.ID, "signer_name").send_keys("Ada Lovelace")
            driver.find_element(By.ID, "document").send_keys(str(document))
            driver.find_element(By.CSS_SELECTOR, "form[enctype] button").click()
            WebDriverWait(driver, 30).until(lambda d: "signed-consent.pdf" in d.page_source)
            _settled(driver)
            assert "awaiting signature" not in driver.page_source
            assert "awaiting the talent's confirmation" in driver.page_source
            steps.check("document-recorded")
            _open(driver, "Awaiting signature", "/console/consent")
            assert "awaiting the talent's confirmation" in driver.page_source  # her act next
    finally:
        ctx.close()


def test_a_talent_resets_her_password_and_changes_her_address_by_keyboard(
    tmp_path: Path,
    browser: WebDriver,  # noqa: F811
) -> None:
    """Issue 17's pages, axe included: 'Forgot your password?' from the sign-in page, the
    link from her own inbox, a new password; then 'Change e-mail' on her account page."""
    with smtp_server() as inbox:
        ctx = console_context(tmp_path, **smtp_settings(inbox))
        try:
            talent_id = add_talents(ctx)["Ada Lovelace"]
            with ctx.db.session() as session:
                accounts.create_user(
                    session, email=TALENT_EMAIL, role=Role.TALENT, talent=talent_id
                )
                token = accounts.issue_invitation(session, email=TALENT_EMAIL, valid_hours=1)
                accounts.accept_invitation(session, token=token, password="an old passphrase")
            with served(ctx) as base:
                steps = Steps(browser, "talent-account")
                browser.get(f"{base}/console/login")
                _settled(browser)
                _open(browser, "Forgot your password?", "/console/forgot")
                steps.check("forgot")
                browser.find_element(By.ID, "email").send_keys(TALENT_EMAIL, Keys.ENTER)
                WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "reset-sent"))
                _settled(browser)
                steps.check("reset-sent")
                WebDriverWait(browser, 30).until(lambda _: inbox.messages)
                browser.get(base + link_path(inbox.messages[0]))
                _settled(browser)
                steps.check("reset-form")
                browser.find_element(By.ID, "password").send_keys(PASSWORD, Keys.ENTER)
                WebDriverWait(browser, 30).until(lambda d: "/console/login" in d.current_url)
                _keyboard_sign_in(browser, base, TALENT_EMAIL)
                browser.get(f"{base}/console/account")
                _settled(browser)
                steps.check("account")
                browser.find_element(By.ID, "new_email").send_keys("ada@elsewhere.example")
                browser.find_element(By.ID, "password").send_keys(PASSWORD, Keys.ENTER)
                WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "account-notice"))
                _settled(browser)
                steps.check("email-change-sent")
                WebDriverWait(browser, 30).until(lambda _: len(inbox.messages) == 2)
                browser.get(base + link_path(inbox.messages[1]))
                _settled(browser)
                steps.check("email-confirm")
                browser.find_element(By.CSS_SELECTOR, "main form button").click()
                WebDriverWait(browser, 30).until(
                    lambda d: (
                        "ada@elsewhere.example" in d.page_source
                        and d.find_elements(By.ID, "account-email")
                    )
                )
                assert browser.find_element(By.ID, "account-email").text == "ada@elsewhere.example"
        finally:
            ctx.close()
