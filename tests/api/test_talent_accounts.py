"""Issue 17, the talent's account is hers, through the real API and the `twinwatch users`
command, with a real local SMTP server (aiosmtpd): the agency's invitation goes to the
talent's address and its answer carries no link; the agency can obtain no link (and so no
session) for an account in use, nor a second account for the talent; without SMTP only an
operator (an admin, the command line) hands out a link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from service import cli as service_cli
from service.access import accounts
from service.access.keys import create_key
from service.core.principal import Role
from service.core.tables.access import Invitation, User
from tests.conftest import MODEL_CACHE, TEST_DATABASE_URL
from tests.support.console import PASSWORD, ConsoleWorld, console_world, sign_in
from tests.support.mail import link_path, mailing_console_world, messages_to, plain_text
from tests.support.takedowns import SmtpInbox

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

ADA_EMAIL = "Ada@Talent.example"
ADA = "ada@talent.example"


def invite(
    world: ConsoleWorld, who: str = "agency", email: str = ADA, talent: str = "Ada Lovelace"
) -> Any:
    return world.client.post(
        f"/v1/talents/{world.talents[talent]}/invitations",
        headers={"Authorization": f"Bearer {world.keys[who]}"},
        json={"email": email},
    )


def accept(world: ConsoleWorld, path: str, password: str = PASSWORD) -> TestClient:
    """The talent opens the link in her own browser, sets her password and signs in."""
    ada = TestClient(world.client.app)
    assert ada.get(path).status_code == 200
    done = ada.post(
        path,
        data={"password": password, "csrf": ada.cookies.get("twinwatch_login_csrf") or ""},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert sign_in(ada, ADA, password).status_code == 303
    return ada


def live_invitations(world: ConsoleWorld) -> int:
    with world.ctx.db.session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Invitation).where(Invitation.used_at.is_(None))
            )
            or 0
        )


@pytest.fixture
def mailed(tmp_path: Path) -> Iterator[tuple[ConsoleWorld, SmtpInbox]]:
    with mailing_console_world(tmp_path) as built:
        yield built


def test_an_agency_invitation_goes_to_the_talent_by_email_and_its_answer_has_no_link(
    mailed: tuple[ConsoleWorld, SmtpInbox],
) -> None:
    world, inbox = mailed
    answer = invite(world, email=f" {ADA_EMAIL} ")
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["invitation_url"] is None and "/console/invite/" not in answer.text
    assert body["sent_to"] == "a***@talent.example"
    assert body["email"] == ADA and body["talent_id"] == world.talents["Ada Lovelace"]
    [message] = inbox.messages
    assert inbox.envelopes == [[ADA]]
    assert "choose your password" in str(message["Subject"])
    assert "nobody at your agency sees it" in plain_text(message)
    ada = accept(world, link_path(message))
    assert ada.get("/console/", follow_redirects=False).headers["location"] == "/console/me"


def test_only_the_talents_agency_may_invite_and_an_address_names_one_account(
    mailed: tuple[ConsoleWorld, SmtpInbox],
) -> None:
    """(Moved from test_talent_consent.py, where it ran without SMTP.)"""
    world, _ = mailed
    agency_id = world.ctx.registry.ensure_agency(name="Demo Agency").id
    bea, _ = world.ctx.registry.ensure_talent(agency_id=agency_id, name="Bea Silva")
    with world.ctx.db.session() as session:
        world.keys["ada"] = create_key(
            session, role=Role.TALENT, talent=world.talents["Ada Lovelace"]
        ).key
    assert invite(world, "other_agency").status_code == 404
    for who in ("monitor", "brand", "ada"):
        assert invite(world, who).status_code == 403, who
    path = f"/v1/talents/{world.talents['Ada Lovelace']}/invitations"
    for bad in ({"email": "not an address"}, {"email": "a@" + "b" * 400 + ".example"}, {}):
        refused = world.client.post(
            path, headers={"Authorization": f"Bearer {world.keys['agency']}"}, json=bad
        )
        assert refused.status_code == 422 and "error" in refused.json(), bad
    assert invite(world).status_code == 201
    world.talents["Bea Silva"] = bea.id
    taken = invite(world, talent="Bea Silva")  # Ada's address, for another talent
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "user_exists"


def test_inviting_again_while_unused_mails_a_fresh_link_and_voids_the_first(
    mailed: tuple[ConsoleWorld, SmtpInbox],
) -> None:
    world, inbox = mailed
    assert invite(world).status_code == 201
    again = invite(world)
    assert again.status_code == 201, again.text
    first, second = (link_path(m) for m in messages_to(inbox, ADA))
    assert first != second and live_invitations(world) == 1
    assert world.client.get(first).status_code == 404
    accept(world, second)


def test_the_agency_can_obtain_no_link_or_session_for_an_active_talent_account(
    mailed: tuple[ConsoleWorld, SmtpInbox],
) -> None:
    world, inbox = mailed
    assert invite(world).status_code == 201
    ada = accept(world, link_path(inbox.messages[0]))
    for who in ("agency", "admin"):  # nobody, not even the operator, re-invites an account in use
        refused = invite(world, who)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "account_active"
        assert "/console/invite/" not in refused.text
    second = invite(world, email="ada.agency@demo.example")  # an address the agency owns
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "talent_has_account"
    assert "ada@" not in second.text  # the talent's address is named masked only
    assert len(inbox.messages) == 1 and live_invitations(world) == 0
    with world.ctx.db.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(User).where(User.email.like("ada%")))
            == 1
        )
    assert ada.get("/console/me").status_code == 200  # her session is untouched


def test_a_talent_has_one_account_a_second_address_is_refused_everywhere(
    mailed: tuple[ConsoleWorld, SmtpInbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, inbox = mailed
    assert invite(world).status_code == 201  # invited, not yet used
    for who in ("agency", "admin"):
        other = invite(world, who, email="someone.else@talent.example")
        assert other.status_code == 409, other.text
        assert other.json()["error"]["code"] == "talent_has_account"
        assert other.json()["error"]["details"]["state"] == "invited"
    code, output = _cli(
        tmp_path,
        monkeypatch,
        "users",
        "create",
        "--email",
        "third@talent.example",
        "--role",
        "talent",
        "--talent",
        str(world.talents["Ada Lovelace"]),
    )
    assert code == 1 and "talent_has_account" in output
    with world.ctx.db.session() as session:
        emails = session.scalars(select(User.email).where(User.talent_id.is_not(None))).all()
    assert emails == [ADA] and len(inbox.messages) == 1
    # Grace (another agency's talent) is unaffected by Ada's account
    assert (
        invite(
            world, "other_agency", email="grace@talent.example", talent="Grace Hopper"
        ).status_code
        == 201
    )


def test_without_smtp_an_agency_is_refused_and_only_an_operator_gets_the_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with console_world(tmp_path) as world:
        refused = invite(world)
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "invitation_needs_operator"
        assert "operator" in refused.json()["error"]["message"]
        with world.ctx.db.session() as session:
            assert session.scalar(select(User.id).where(User.email == ADA)) is None  # nothing made
        by_admin = invite(world, "admin")
        assert by_admin.status_code == 201, by_admin.text
        assert by_admin.json()["sent_to"] is None
        url = by_admin.json()["invitation_url"]
        assert "/console/invite/" in url
        code, output = _cli(tmp_path, monkeypatch, "users", "invite", ADA)
        assert code == 0 and "/console/invite/" in output  # a fresh link; the admin's is void
        assert world.client.get(url[url.index("/console/") :]).status_code == 404
        accept(world, output.strip().splitlines()[-1].removeprefix("https://watch.example"))
        code, output = _cli(tmp_path, monkeypatch, "users", "invite", ADA)
        assert code == 1 and "account_active" in output and "/console/" not in output


def test_an_unsent_invitation_answers_503_and_its_link_never_works(
    mailed: tuple[ConsoleWorld, SmtpInbox],
) -> None:
    world, inbox = mailed
    assert invite(world).status_code == 201
    inbox.replies = ["554 5.7.1 Rejected"]
    refused = invite(world)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "email_not_sent"
    assert live_invitations(world) == 0  # the unsent link is void (and the older one too)
    assert invite(world).status_code == 201
    assert live_invitations(world) == 1 and len(inbox.messages) == 2


def test_an_invitation_is_dead_once_the_talent_set_a_password_another_way(
    mailed: tuple[ConsoleWorld, SmtpInbox],
) -> None:
    """The agency's invitation (say, to an address it can read) stops working as soon as the
    talent has set a password by a reset link sent to her own address."""
    world, inbox = mailed
    assert invite(world).status_code == 201
    invitation = link_path(inbox.messages[0])
    talent = TestClient(world.client.app)
    talent.get("/console/forgot")
    asked = talent.post(
        "/console/forgot",
        data={"email": ADA, "csrf": talent.cookies.get("twinwatch_login_csrf") or ""},
    )
    assert asked.status_code == 200
    reset = link_path(messages_to(inbox, ADA)[-1])
    assert "/console/reset/" in reset
    accept(world, reset, password="her own new passphrase")
    assert world.client.get(invitation).status_code == 404
    with world.ctx.db.session() as session:
        token = invitation.rsplit("/", 1)[1]
        with pytest.raises(Exception, match="invitation link is unknown"):
            accounts.accept_invitation(session, token=token, password="the agency's password")


def _cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    """`twinwatch` on the same database as the world (its data folder, or PostgreSQL)."""
    if TEST_DATABASE_URL is not None:
        monkeypatch.setenv("TWINWATCH_DATABASE_URL", TEST_DATABASE_URL)
    monkeypatch.setenv("TWINWATCH_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TWINWATCH_MODEL_CACHE_DIR", str(MODEL_CACHE))
    monkeypatch.setenv("TWINWATCH_PUBLIC_URL", "https://watch.example")
    result = CliRunner().invoke(service_cli.app, list(args))
    return result.exit_code, result.output


def test_the_operator_hands_out_a_reset_link_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with console_world(tmp_path) as world:
        ada = TestClient(world.client.app)
        assert sign_in(ada, world.email("agency")).status_code == 303
        code, output = _cli(tmp_path, monkeypatch, "users", "reset-link", world.email("agency"))
        assert code == 0, output
        url = output.strip().splitlines()[-1]
        assert url.startswith("https://watch.example/console/reset/")
        path = url.removeprefix("https://watch.example")
        accept_as = TestClient(world.client.app)
        accept_as.get(path)
        done = accept_as.post(
            path,
            data={
                "password": "a fresh operator-given pass",
                "csrf": accept_as.cookies.get("twinwatch_login_csrf") or "",
            },
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert ada.get("/console/alerts", follow_redirects=False).status_code == 303  # ended
        assert world.client.get(path).status_code == 404  # once
        code, output = _cli(tmp_path, monkeypatch, "users", "reset-link", "nobody@demo.example")
        assert code == 1 and "not_found" in output


# --- another tenant's address is never revealed (issue 17, from h/harden) ---------------------
def test_inviting_another_tenants_address_answers_as_for_a_fresh_one_and_makes_nothing(
    mailed: tuple[ConsoleWorld, SmtpInbox],
) -> None:
    """An agency cannot learn which addresses have accounts elsewhere: the answer, and every
    answer after it, is the one a fresh address gets, and nothing usable is made (moved from
    test_talent_consent.py, where it ran without SMTP)."""
    world, inbox = mailed
    agency_id = world.ctx.registry.ensure_agency(name="Demo Agency").id
    with world.ctx.db.session() as session:
        grace = accounts.create_user(
            session,
            email="grace@talent.example",
            role=Role.TALENT,
            talent=world.talents["Grace Hopper"],
        )
        accounts.create_user(
            session, email="new.booker@other.example", role=Role.AGENCY, agency="Other Agency"
        )
        pending = accounts.issue_invitation(
            session, email="new.booker@other.example", valid_hours=1
        )
        grace_id = grace.id

    def talent(name: str) -> str:
        world.talents[name] = world.ctx.registry.ensure_talent(agency_id=agency_id, name=name)[0].id
        return name

    # each taken address beside a fresh one that is masked alike, each for a talent of its own
    pairs = [
        ("booker@other.example", "bob@other.example"),  # another agency's booker (in use)
        ("new.booker@other.example", "nina@other.example"),  # ... with a pending invitation
        ("desk@brand.example", "dan@brand.example"),  # a brand's account
        ("grace@talent.example", "gina@talent.example"),  # another agency's talent
    ]
    ids: list[int] = []
    for n, (taken, fresh) in enumerate(pairs):
        fresh_answer = invite(world, email=fresh, talent=talent(f"Fresh {n}"))
        answer = invite(world, email=taken.upper(), talent=talent(f"Taken {n}"))
        for got, address, name in ((fresh_answer, fresh, "Fresh"), (answer, taken, "Taken")):
            assert got.status_code == 201, got.text
            assert got.headers["cache-control"] == "no-store"
            body = got.json()
            assert body["email"] == address and body["talent_id"] == world.talents[f"{name} {n}"]
            assert body["invitation_url"] is None
            assert body["user_id"] > (ids[-1] if ids else 0)  # a new account's id
            ids.append(body["user_id"])
        assert answer.json()["sent_to"] == fresh_answer.json()["sent_to"]
        assert set(answer.json()) == set(fresh_answer.json())
        # and afterwards: the same address again, the same id; another, talent_has_account
        for name, address, first in (
            (f"Fresh {n}", fresh, fresh_answer),
            (f"Taken {n}", taken, answer),
        ):
            again = invite(world, email=address, talent=name)
            assert again.status_code == 201 and again.json()["user_id"] == first.json()["user_id"]
            other = invite(world, email=f"other.{n}@else.example", talent=name)
            assert other.status_code == 409, other.text
            assert other.json()["error"]["code"] == "talent_has_account"
            assert other.json()["error"]["details"]["state"] == "invited"
            assert first.json()["sent_to"] in other.json()["error"]["message"]
        # for another talent of the agency: user_exists, as for its own fresh account
        for address in (fresh, taken):
            elsewhere = invite(world, email=address, talent="Ada Lovelace")
            assert elsewhere.status_code == 409, elsewhere.text
            assert elsewhere.json()["error"]["code"] == "user_exists"
        # mail: the fresh address got its links; the taken one a note without a link
        assert [bool(link_path(m)) for m in messages_to(inbox, fresh)] == [True, True]
        notes = messages_to(inbox, taken)
        assert len(notes) == 2
        for note in notes:
            assert "/console/" not in plain_text(note) and "Demo Agency" not in plain_text(note)

    bea = invite(world, email="b@x.example", talent=talent("Bea"))
    assert bea.json()["user_id"] > ids[-1]  # ids are never handed out twice

    with world.ctx.db.session() as session:
        users = {u.email: u for u in session.scalars(select(User))}
        for taken, _ in pairs:  # untouched
            assert users[taken].talent_id in (None, world.talents["Grace Hopper"])
            assert users[taken].disabled_at is None
        assert users["grace@talent.example"].id == grace_id
        assert accounts.invitation_user(session, token=pending).email == "new.booker@other.example"
        held = [u for u in users.values() if accounts.is_held(u.email)]
        assert {u.talent_id for u in held} == {world.talents[f"Taken {n}"] for n in range(4)}
        assert all(u.password_hash is None for u in held)
        assert (
            session.scalar(
                select(func.count())
                .select_from(Invitation)
                .where(Invitation.user_id.in_([u.id for u in held]))
            )
            == 0
        )  # no link was ever made for a held account
    assert sign_in(TestClient(world.client.app), "booker@other.example").status_code == 303


def test_an_unsent_note_answers_as_an_unsent_invitation_and_a_held_account_gets_no_link(
    mailed: tuple[ConsoleWorld, SmtpInbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, inbox = mailed
    agency_id = world.ctx.registry.ensure_agency(name="Demo Agency").id
    bea, _ = world.ctx.registry.ensure_talent(agency_id=agency_id, name="Bea Silva")
    world.talents["Bea Silva"] = bea.id
    inbox.replies = ["554 5.7.1 Rejected", "554 5.7.1 Rejected"]
    fresh = invite(world, email="bob@other.example")
    taken = invite(world, email="booker@other.example", talent="Bea Silva")
    for refused in (fresh, taken):
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "email_not_sent"
    assert invite(world, email="booker@other.example", talent="Bea Silva").status_code == 201
    with world.ctx.db.session() as session:
        [held] = [u for u in session.scalars(select(User)) if accounts.is_held(u.email)]
        held_email = held.email
    assert held_email.endswith(":b***@other.example") and "booker" not in held_email
    # the operator gets no link for it either, and disabling it frees the talent
    for command in (("users", "invite", held_email), ("users", "reset-link", held_email)):
        code, output = _cli(tmp_path, monkeypatch, *command)
        assert code == 1 and "/console/" not in output, output
    assert invite(world, email="bea@talent.example", talent="Bea Silva").status_code == 409
    code, output = _cli(tmp_path, monkeypatch, "users", "disable", held_email)
    assert code == 0, output
    assert invite(world, email="bea@talent.example", talent="Bea Silva").status_code == 201


def test_inviting_an_address_of_the_agencys_own_accounts_is_still_a_conflict(
    mailed: tuple[ConsoleWorld, SmtpInbox],
) -> None:
    """(Moved from test_talent_consent.py, where it ran without SMTP.)"""
    world, inbox = mailed
    with world.ctx.db.session() as session:
        accounts.create_user(
            session, email="booker@lumen.example", role=Role.AGENCY, agency="Demo Agency"
        )
    for who in ("agency", "admin"):
        taken = invite(world, who, email="booker@lumen.example")
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "user_exists"
    assert invite(world, "admin", email="booker@other.example").status_code == 409  # admin knows
    assert inbox.messages == []
