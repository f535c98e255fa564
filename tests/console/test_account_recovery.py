"""Issue 17 in the console, over HTTP with a real local SMTP server (aiosmtpd): a forgotten
password is reset by a link sent to the account's own address only (single-use, short-lived,
the same answer for any address, every other session ended); only the owner changes her
address, confirmed at the new one; the agency's talent page shows the account's state and
masked address and never a link; without SMTP the operator issues links; and no link or
token ever reaches the logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from indexer.db import utcnow
from service.access import recovery
from service.api.access_log import loggable_target
from service.core.principal import Role
from service.core.settings import SECRET_LINK_PATHS
from service.core.tables.access import AccountToken, User
from tests.console.test_pages import browser, page_csrf
from tests.support.console import PASSWORD, ConsoleWorld, console_world, sign_in
from tests.support.mail import link_path, mailing_console_world, messages_to, plain_text
from tests.support.takedowns import SmtpInbox

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

ADA = "ada@talent.example"
NEW_ADA = "ada.lovelace@elsewhere.example"
NEW_PASSWORD = "a different long passphrase"


@pytest.fixture
def mailed(tmp_path: Path) -> Iterator[tuple[ConsoleWorld, SmtpInbox]]:
    with mailing_console_world(tmp_path) as built:
        yield built


def talent_account(world: ConsoleWorld, password: str = PASSWORD) -> None:
    """Ada's own account, in use (made as the operator would, to keep the inbox empty)."""
    from service.access import accounts

    with world.ctx.db.session() as session:
        accounts.create_user(
            session, email=ADA, role=Role.TALENT, talent=world.talents["Ada Lovelace"]
        )
        token = accounts.issue_invitation(session, email=ADA, valid_hours=1)
        accounts.accept_invitation(session, token=token, password=password)


def signed_in(world: ConsoleWorld, email: str, password: str = PASSWORD) -> TestClient:
    client = TestClient(world.client.app)
    assert sign_in(client, email, password).status_code == 303
    return client


def ask_reset(world: ConsoleWorld, email: str) -> str:
    client = TestClient(world.client.app)
    client.get("/console/forgot")
    answer = client.post(
        "/console/forgot",
        data={"email": email, "csrf": client.cookies.get("twinwatch_login_csrf") or ""},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.text)


def same_page(html: str, address: str) -> str:
    """The answer less what must differ: the address typed and the form's fresh CSRF token."""
    return re.sub(r'name="csrf" value="[^"]+"', "", html.replace(address, "X"))


def set_password_at(world: ConsoleWorld, path: str, password: str) -> int:
    client = TestClient(world.client.app)
    form = client.get(path)
    if form.status_code != 200:
        return int(form.status_code)
    done = client.post(
        path,
        data={"password": password, "csrf": client.cookies.get("twinwatch_login_csrf") or ""},
        follow_redirects=False,
    )
    return int(done.status_code)


# --- forgotten passwords ------------------------------------------------------------------------
def test_forgot_password_mails_a_single_use_link_to_the_accounts_own_address_only(
    mailed: tuple[ConsoleWorld, SmtpInbox],
) -> None:
    world, inbox = mailed
    talent_account(world)
    laptop, phone = signed_in(world, ADA), signed_in(world, ADA)
    login = TestClient(world.client.app).get("/console/login").text
    assert 'href="/console/forgot"' in login

    known = ask_reset(world, ADA)
    unknown = ask_reset(world, "nobody@talent.example")
    assert same_page(known, ADA) == same_page(unknown, "nobody@talent.example")
    assert "/console/reset/" not in known  # the link is in the e-mail only
    [message] = inbox.messages
    assert inbox.envelopes == [[ADA]]
    path = link_path(message)
    assert path.startswith("/console/reset/") and "30 minutes" in plain_text(message)

    assert set_password_at(world, path, NEW_PASSWORD) == 303
    for client in (laptop, phone):  # every other session ended
        assert client.get("/console/me", follow_redirects=False).status_code == 303
    assert set_password_at(world, path, "yet another passphrase!") == 404  # once
    assert sign_in(TestClient(world.client.app), ADA, PASSWORD).status_code == 401
    assert signed_in(world, ADA, NEW_PASSWORD).get("/console/me").status_code == 200


def test_reset_links_expire_and_are_limited_per_account(
    mailed: tuple[ConsoleWorld, SmtpInbox],
) -> None:
    world, inbox = mailed
    talent_account(world)
    with world.ctx.db.session() as session:
        old = recovery.request_password_reset(
            session, email=ADA, valid_minutes=30, now=utcnow() - timedelta(minutes=31)
        )
    assert old is not None
    assert set_password_at(world, f"/console/reset/{old.token}", NEW_PASSWORD) == 404
    for _ in range(recovery.MAX_RESETS_PER_HOUR + 1):
        ask_reset(world, ADA)  # the same answer each time
    assert len(inbox.messages) == recovery.MAX_RESETS_PER_HOUR - 1  # the expired one counted
    *_, last = inbox.messages
    paths = [link_path(m) for m in inbox.messages]
    assert [set_password_at(world, p, NEW_PASSWORD) for p in paths[:-1]] == [404] * (
        len(paths) - 1
    )  # a newer link voids the older ones
    assert set_password_at(world, link_path(last), NEW_PASSWORD) == 303


def test_a_disabled_account_gets_no_reset_link(mailed: tuple[ConsoleWorld, SmtpInbox]) -> None:
    from service.access import accounts

    world, inbox = mailed
    talent_account(world)
    with world.ctx.db.session() as session:
        accounts.disable_user(session, email=ADA)
    ask_reset(world, ADA)
    assert inbox.messages == []


def test_without_smtp_the_forgot_page_says_to_ask_the_operator_who_issues_the_link(
    tmp_path: Path,
) -> None:
    with console_world(tmp_path) as world:
        talent_account(world)
        page = TestClient(world.client.app).get("/console/forgot")
        assert page.status_code == 200 and 'id="ask-operator"' in page.text
        assert "<form" not in page.text
        assert 'id="ask-operator"' in ask_reset(world, ADA)
        with world.ctx.db.session() as session:
            assert session.scalar(select(func.count()).select_from(AccountToken)) == 0
        agency = browser(world, "agency")
        with world.ctx.db.session() as session:
            ada_id = session.scalar(select(User.id).where(User.email == ADA))
        forged = agency.post(
            f"/console/admin/users/{ada_id}/reset", data={"csrf": page_csrf(agency)}
        )
        assert forged.status_code == 403 and "/console/reset/" not in forged.text
        admin = browser(world, "admin")
        csrf = page_csrf(admin, "/console/admin/users")
        reinvite = admin.post(f"/console/admin/users/{ada_id}/invite", data={"csrf": csrf})
        assert reinvite.status_code == 409 and "account_active" in reinvite.text
        shown = admin.post(f"/console/admin/users/{ada_id}/reset", data={"csrf": csrf})
        assert shown.status_code == 200
        link = re.search(
            r'<code id="invitation-link">[^<]*(/console/reset/[^<]+)</code>', shown.text
        )
        assert link is not None and "Password reset link for ada@talent.example" in shown.text
        assert set_password_at(world, link.group(1), NEW_PASSWORD) == 303
        assert signed_in(world, ADA, NEW_PASSWORD).get("/console/me").status_code == 200


# --- a new address ------------------------------------------------------------------------------
def change_email(client: TestClient, new: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/console/account/email",
        data={"csrf": page_csrf(client), "new_email": new, "password": password},
        follow_redirects=False,
    )


def test_the_talent_changes_her_address_only_once_the_new_one_confirms_it(
    mailed: tuple[ConsoleWorld, SmtpInbox],
) -> None:
    world, inbox = mailed
    talent_account(world)
    ada = signed_in(world, ADA)
    page = ada.get("/console/account")
    assert 'id="change-email"' in page.text and 'action="/console/account/email"' in page.text

    wrong = change_email(ada, NEW_ADA, password="not my password at all")
    assert wrong.status_code == 403 and "not your current password" in wrong.text
    assert inbox.messages == []
    asked = change_email(ada, NEW_ADA)
    assert asked.status_code == 303
    assert "email_change_sent" in asked.headers["location"]
    [confirmation] = inbox.messages
    assert inbox.envelopes == [[NEW_ADA]]  # only the new address gets the link
    assert ada.get("/console/account").text.count(ADA) >= 1  # nothing changed yet
    assert signed_in(world, ADA).get("/console/me").status_code == 200

    path = link_path(confirmation)
    stranger = TestClient(world.client.app)  # not signed in: the token alone confirms
    shown = stranger.get(path)
    assert shown.status_code == 200 and NEW_ADA in shown.text
    assert sign_in(stranger, ADA).status_code == 303  # a GET changes nothing
    done = stranger.post(
        path,
        data={"csrf": stranger.cookies.get("twinwatch_login_csrf") or ""},
        follow_redirects=False,
    )
    assert done.status_code == 303 and "email_changed" in done.headers["location"]
    notice = messages_to(inbox, ADA)
    assert len(notice) == 1 and "a***@elsewhere.example" in plain_text(notice[0])
    assert "/console/" not in plain_text(notice[0])  # no link to the old address
    assert sign_in(TestClient(world.client.app), ADA).status_code == 401
    moved = signed_in(world, NEW_ADA)
    assert NEW_ADA in moved.get("/console/account").text
    assert stranger.get(path).status_code == 404  # once


def test_a_new_address_that_has_an_account_changes_nothing_and_tells_only_its_owner(
    mailed: tuple[ConsoleWorld, SmtpInbox],
) -> None:
    world, inbox = mailed
    talent_account(world)
    ada = signed_in(world, ADA)
    taken = world.email("agency")
    asked = change_email(ada, taken)
    assert asked.status_code == 303  # the same answer as any address
    [message] = inbox.messages
    assert inbox.envelopes == [[taken]]
    assert "has a twinwatch account already" in plain_text(message)
    assert "/console/" not in plain_text(message)
    with world.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(AccountToken)) == 0
    assert signed_in(world, ADA).get("/console/me").status_code == 200


def test_without_smtp_an_address_cannot_be_changed(tmp_path: Path) -> None:
    with console_world(tmp_path) as world:
        talent_account(world)
        ada = signed_in(world, ADA)
        assert 'id="email-change-unavailable"' in ada.get("/console/account").text
        refused = change_email(ada, NEW_ADA)
        assert refused.status_code == 409 and "email_not_configured" in refused.text


# --- the agency's view of the talent's account -------------------------------------------------
def test_the_agency_sees_the_accounts_state_and_masked_address_never_a_link(
    mailed: tuple[ConsoleWorld, SmtpInbox],
) -> None:
    world, inbox = mailed
    agency = browser(world, "agency")
    access = f"/console/talents/{world.talents['Ada Lovelace']}/access"
    assert "none: no account yet" in agency.get(access).text
    sent = agency.post(access, data={"csrf": page_csrf(agency, access), "email": ADA})
    assert sent.status_code == 200, sent.text
    assert "Invitation sent to a***@talent.example" in sent.text
    assert "/console/invite/" not in sent.text and ADA not in sent.text
    [message] = inbox.messages
    invited = agency.get(access).text
    assert "invited" in invited and "a***@talent.example" in invited and "<form" in invited

    assert set_password_at(world, link_path(message), PASSWORD) == 303
    active = agency.get(access).text
    assert 'id="account-active"' in active and "a***@talent.example" in active
    assert 'action="' + access + '"' not in active  # no invitation form for an account in use
    for address in (ADA, "ada@demo.example"):  # the form posted anyway
        refused = agency.post(access, data={"csrf": page_csrf(agency), "email": address})
        assert refused.status_code == 409
        assert "account_active" in refused.text or "talent_has_account" in refused.text
        assert "/console/invite/" not in refused.text
    assert len(inbox.messages) == 1


def test_without_smtp_the_agency_access_page_says_an_operator_must_invite(tmp_path: Path) -> None:
    with console_world(tmp_path) as world:
        agency = browser(world, "agency")
        access = f"/console/talents/{world.talents['Ada Lovelace']}/access"
        page = agency.get(access)
        assert 'id="invitation-needs-operator"' in page.text
        assert f'action="{access}"' not in page.text
        refused = agency.post(access, data={"csrf": page_csrf(agency), "email": ADA})
        assert refused.status_code == 409 and "invitation_needs_operator" in refused.text
        admin = browser(world, "admin")
        shown = admin.post(access, data={"csrf": page_csrf(admin), "email": ADA})
        assert shown.status_code == 200 and 'id="invitation-link"' in shown.text


def test_one_time_links_never_reach_the_logs(
    mailed: tuple[ConsoleWorld, SmtpInbox], caplog: pytest.LogCaptureFixture
) -> None:
    world, inbox = mailed
    caplog.set_level(logging.DEBUG)
    agency = browser(world, "agency")
    access = f"/console/talents/{world.talents['Ada Lovelace']}/access"
    agency.post(access, data={"csrf": page_csrf(agency, access), "email": ADA})
    assert set_password_at(world, link_path(inbox.messages[-1]), PASSWORD) == 303
    ask_reset(world, ADA)
    assert set_password_at(world, link_path(inbox.messages[-1]), NEW_PASSWORD) == 303
    ada = signed_in(world, ADA, NEW_PASSWORD)
    change_email(ada, NEW_ADA, password=NEW_PASSWORD)
    confirm = link_path(inbox.messages[-1])
    ada.get(confirm)
    ada.post(confirm, data={"csrf": ada.cookies.get("twinwatch_login_csrf") or ""})
    secrets = [
        link_path(m).rsplit("/", 1)[1] for m in inbox.messages if "/console/" in plain_text(m)
    ]
    assert len(secrets) == 3
    logged = "\n".join(  # twinwatch's own loggers (the test's SMTP server and client log all)
        f"{record.getMessage()} {getattr(record, 'fields', '')}"
        for record in caplog.records
        if record.name.startswith(("service", "twinwatch", "indexer", "uvicorn"))
    )
    for path in ("/console/invite/", "/console/reset/", "/console/email/confirm/"):
        assert f"{path}[redacted]" in logged, path  # the paths are logged, their secret not
    for secret in (*secrets, PASSWORD, NEW_PASSWORD):
        assert secret not in logged


@pytest.mark.parametrize("prefix", SECRET_LINK_PATHS)
def test_every_one_time_link_page_is_redacted_by_the_one_rule(prefix: str) -> None:
    secret = "s3cr3t-T0ken_value"
    target = loggable_target(f"{prefix}{secret}", f"next={prefix}{secret}".encode())
    assert target == {"path": f"{prefix}[redacted]", "query": f"next={prefix}[redacted]"}
