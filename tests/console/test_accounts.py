"""Console accounts: users, invitations, sessions, throttling, and the `users` commands."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from typer.testing import CliRunner

from indexer import cli as indexer_cli
from indexer.db import Database, utcnow
from service import cli as service_cli
from service.access import accounts, sessions
from service.access.errors import (
    InvitationInvalidError,
    LoginFailedError,
    LoginThrottledError,
    PasswordRejectedError,
    UserExistsError,
)
from service.access.keys import TenantKind, create_tenant
from service.core.errors import InvalidRequestError, UnauthorizedError
from service.core.logs import JsonFormatter
from service.core.principal import Role
from service.core.tables.access import LoginAttempt, User, UserSession
from tests.conftest import MODEL_CACHE
from tests.support.console import ConsoleWorld, console_world, served_like_serve

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

PASSWORD = "a long enough passphrase"
POLICY = sessions.LoginPolicy(
    session_hours=1, window_minutes=15, max_failures_per_email=3, max_failures_per_ip=5
)


@pytest.fixture
def database(db: Database) -> Iterator[Database]:
    with db.session() as session:  # tenants are explicit: the users below join these
        create_tenant(session, kind=TenantKind.AGENCY, name="Demo Agency")
        create_tenant(session, kind=TenantKind.BRAND, name="H&M")
    yield db


def _user(db: Database, email: str = "Booker@Demo.example", password: str | None = PASSWORD) -> str:
    with db.session() as session:
        address = accounts.create_user(
            session, email=email, role=Role.AGENCY, agency="Demo Agency"
        ).email
        if password is not None:
            token = accounts.issue_invitation(session, email=address, valid_hours=1)
            accounts.accept_invitation(session, token=token, password=password)
    return address


def _sign_in(
    db: Database, email: str, password: str = PASSWORD, ip: str = "10.0.0.1"
) -> sessions.NewSession:
    return sessions.sign_in(db, email=email, password=password, ip=ip, policy=POLICY)


def test_password_is_kept_only_as_an_argon2_hash(database: Database) -> None:
    address = _user(database)
    with database.session() as session:
        stored = session.scalar(select(User.password_hash).where(User.email == address))
    assert stored is not None and stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert _sign_in(database, address).token


@given(
    variant=st.lists(
        st.booleans(), min_size=len("booker@demo.example"), max_size=len("booker@demo.example")
    )
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_email_case_never_makes_a_second_account(database: Database, variant: list[bool]) -> None:
    with database.session() as session:
        if session.scalar(select(User.id)) is None:
            accounts.create_user(
                session, email="booker@demo.example", role=Role.AGENCY, agency="Demo Agency"
            )
    spelled = "".join(
        c.upper() if up else c for c, up in zip("booker@demo.example", variant, strict=True)
    )
    with pytest.raises(UserExistsError), database.session() as session:
        accounts.create_user(session, email=f"  {spelled} ", role=Role.AGENCY, agency="Demo Agency")


@pytest.mark.parametrize(
    "bad", ["", "no-at-sign", "two@@example.com", "a@b@c.example", "spaces in@example.com"]
)
def test_malformed_email_is_refused(database: Database, bad: str) -> None:
    with pytest.raises(InvalidRequestError), database.session() as session:
        accounts.create_user(session, email=bad, role=Role.ADMIN)


def test_user_is_scoped_like_an_api_key(database: Database) -> None:
    with pytest.raises(InvalidRequestError), database.session() as session:
        accounts.create_user(session, email="x@demo.example", role=Role.AGENCY)
    with pytest.raises(InvalidRequestError), database.session() as session:
        accounts.create_user(session, email="y@demo.example", role=Role.ADMIN, brand="H&M")
    with database.session() as session:
        user = accounts.create_user(session, email="z@demo.example", role=Role.BRAND, brand="H&M")
        principal = accounts.principal_for(user)
    assert principal.role is Role.BRAND and principal.brand_id is not None
    assert principal.key_id is None and principal.user_id == user.id


def test_invitation_is_single_use(database: Database) -> None:
    address = _user(database, password=None)
    with database.session() as session:
        token = accounts.issue_invitation(session, email=address, valid_hours=1)
        accounts.accept_invitation(session, token=token, password=PASSWORD)
    with pytest.raises(InvitationInvalidError), database.session() as session:
        accounts.accept_invitation(session, token=token, password="another long password")
    assert _sign_in(database, address).token  # the first password stands


def test_invitation_expires(database: Database) -> None:
    address = _user(database, password=None)
    issued = utcnow() - timedelta(hours=2)
    with database.session() as session:
        token = accounts.issue_invitation(session, email=address, valid_hours=1, now=issued)
    with pytest.raises(InvitationInvalidError), database.session() as session:
        accounts.accept_invitation(session, token=token, password=PASSWORD)


def test_a_new_invitation_voids_the_previous_link(database: Database) -> None:
    address = _user(database, password=None)
    with database.session() as session:
        first = accounts.issue_invitation(session, email=address, valid_hours=1)
        second = accounts.issue_invitation(session, email=address, valid_hours=1)
    with pytest.raises(InvitationInvalidError), database.session() as session:
        accounts.accept_invitation(session, token=first, password=PASSWORD)
    with database.session() as session:
        accounts.accept_invitation(session, token=second, password=PASSWORD)


@pytest.mark.parametrize("weak", ["short", "booker@demo.example", "x" * 1025])
def test_weak_passwords_are_refused(database: Database, weak: str) -> None:
    address = _user(database, password=None)
    with database.session() as session:
        token = accounts.issue_invitation(session, email=address, valid_hours=1)
    with pytest.raises(PasswordRejectedError), database.session() as session:
        accounts.accept_invitation(session, token=token, password=weak)


def test_user_without_a_password_cannot_sign_in(database: Database) -> None:
    address = _user(database, password=None)
    with pytest.raises(LoginFailedError):
        _sign_in(database, address, password="")


def test_wrong_password_and_unknown_user_get_the_same_answer(database: Database) -> None:
    address = _user(database)
    with pytest.raises(LoginFailedError) as wrong:
        _sign_in(database, address, password="not the password at all")
    with pytest.raises(LoginFailedError) as unknown:
        _sign_in(database, "nobody@demo.example")
    assert wrong.value.message == unknown.value.message


def test_failed_sign_ins_throttle_the_account_even_for_the_right_password(
    database: Database,
) -> None:
    address = _user(database)
    for attempt in range(POLICY.max_failures_per_email):
        with pytest.raises(LoginFailedError):
            _sign_in(database, address, password=f"wrong guess {attempt}", ip=f"10.0.1.{attempt}")
    with pytest.raises(LoginThrottledError) as throttled:
        _sign_in(database, address, ip="10.0.2.1")
    assert "try again in 15 minutes" in throttled.value.message
    assert throttled.value.retry_after_s > 0


def test_failed_sign_ins_throttle_the_address_across_accounts(database: Database) -> None:
    _user(database)
    for attempt in range(POLICY.max_failures_per_ip):
        with pytest.raises(LoginFailedError):
            _sign_in(database, f"guess{attempt}@demo.example", ip="203.0.113.9")
    with pytest.raises(LoginThrottledError):
        _sign_in(database, "booker@demo.example", ip="203.0.113.9")
    assert _sign_in(database, "booker@demo.example", ip="203.0.113.10").token


def test_session_lookup_and_expiry(database: Database) -> None:
    address = _user(database)
    opened = _sign_in(database, address)
    with database.session() as session:
        user = sessions.signed_in(session, token=opened.token)
        assert user.email == address and user.principal.role is Role.AGENCY
        with pytest.raises(UnauthorizedError):
            sessions.signed_in(
                session, token=opened.token, now=opened.expires_at + timedelta(seconds=1)
            )
        with pytest.raises(UnauthorizedError):
            sessions.signed_in(session, token=opened.token + "x")


def test_logout_everywhere_ends_every_session_of_the_user_only(database: Database) -> None:
    address = _user(database)
    other = _user(database, email="other@demo.example")
    laptop, phone, theirs = (
        _sign_in(database, address),
        _sign_in(database, address),
        _sign_in(database, other),
    )
    with database.session() as session:
        user = sessions.signed_in(session, token=laptop.token)
        assert user.principal.user_id is not None
        assert sessions.logout_everywhere(session, user_id=user.principal.user_id) == 2
    with database.session() as session:
        for token in (laptop.token, phone.token):
            with pytest.raises(UnauthorizedError):
                sessions.signed_in(session, token=token)
        assert sessions.signed_in(session, token=theirs.token).email == other


def test_disabling_a_user_ends_their_sessions_and_sign_ins(database: Database) -> None:
    address = _user(database)
    opened = _sign_in(database, address)
    with database.session() as session:
        accounts.disable_user(session, email=address)
    with database.session() as session:
        assert session.scalar(select(UserSession.id)) is None
        with pytest.raises(UnauthorizedError):
            sessions.signed_in(session, token=opened.token)
    with pytest.raises(LoginFailedError):
        _sign_in(database, address)


def test_users_commands_create_invite_list_and_disable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWINWATCH_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TWINWATCH_MODEL_CACHE_DIR", str(MODEL_CACHE))
    monkeypatch.setenv("TWINWATCH_PUBLIC_URL", "https://watch.example")
    monkeypatch.setattr(indexer_cli.out, "width", 200)  # the table is not cut to the terminal
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(service_cli.app, list(args))
        return result.exit_code, result.output

    code, output = run(
        "users",
        "create",
        "--email",
        "Booker@Demo.example",
        "--role",
        "agency",
        "--agency",
        "Demo Agency",
    )
    assert code == 1 and "tenant_not_found" in output  # users join tenants, never make them
    assert run("agencies", "create", "Demo Agency")[0] == 0
    code, output = run(
        "users",
        "create",
        "--email",
        "Booker@Demo.example",
        "--role",
        "agency",
        "--agency",
        "Demo Agency",
    )
    assert code == 0, output
    link = output.strip().splitlines()[-1]
    assert link.startswith("https://watch.example/console/invite/")
    code, output = run("users", "create", "--email", "booker@demo.example", "--role", "admin")
    assert code == 1 and "user_exists" in output
    code, output = run("users", "invite", "booker@demo.example")
    assert code == 0 and output.strip() != link
    code, output = run("users", "list")
    assert code == 0 and "booker@demo.example" in output and "agency" in output
    code, output = run("users", "disable", "booker@demo.example")
    assert code == 0 and "disabled booker@demo.example" in output
    code, output = run("users", "invite", "booker@demo.example")
    assert code == 1 and "disabled" in output


def test_housekeeping_forgets_expired_sessions_and_attempts_outside_the_window(
    database: Database,
) -> None:
    address = _user(database)
    opened = _sign_in(database, address)
    with pytest.raises(LoginFailedError):
        _sign_in(database, address, password="not the password at all")
    later = opened.expires_at + timedelta(seconds=1)
    window = timedelta(minutes=POLICY.window_minutes)

    assert sessions.purge_expired(database, login_window=window, now=utcnow()) == 0
    removed = sessions.purge_expired(database, login_window=window, now=later)

    assert removed == 3  # the one session, the successful and the failed attempt
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(UserSession)) == 0
        assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 0
    assert _sign_in(database, address).token  # the account itself is untouched


# --- hostile findings, second round (issue 17): logs, throttling races, forwarded headers ----
@pytest.fixture
def console(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as world:
        yield world


def test_the_access_log_never_carries_an_invitation_token(
    console: ConsoleWorld, caplog: pytest.LogCaptureFixture
) -> None:
    with console.ctx.db.session() as session:
        address = accounts.create_user(
            session, email="new@demo.example", role=Role.AGENCY, agency="Demo Agency"
        ).email
        token = accounts.issue_invitation(session, email=address, valid_hours=1)
    caplog.set_level(logging.INFO, logger="twinwatch.http")
    client = console.client
    assert client.get(f"/console/invite/{token}").status_code == 200
    accepted = client.post(
        f"/console/invite/{token}",
        data={"password": PASSWORD, "csrf": client.cookies.get("twinwatch_login_csrf") or ""},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    assert client.get(f"/console/invite/{token}").status_code == 404  # spent: still redacted
    login = client.get("/console/login", params={"next": f"/console/invite/{token}", "notice": "x"})
    assert login.status_code == 200
    assert client.get("/console/login", params={"reset_token": token}).status_code == 200

    requests = [r for r in caplog.records if r.getMessage() == "request"]
    lines = [JsonFormatter().format(r) for r in requests]
    assert len(lines) == 5 and all(token not in line for line in lines), lines
    fields = [r.fields for r in requests]  # type: ignore[attr-defined]
    assert {f["path"] for f in fields[:3]} == {"/console/invite/[redacted]"}
    assert fields[3]["query"] == "next=/console/invite/[redacted]&notice=x"
    assert fields[4]["query"] == "reset_token=[redacted]"


def test_concurrent_wrong_guesses_reach_at_most_the_limit_of_password_checks(
    console: ConsoleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = console.ctx.settings.login_max_failures_per_email
    guesses = 32
    checked: list[str] = []
    verify = accounts.password_matches

    def counted(user: User | None, password: str) -> bool:
        checked.append(password)  # list.append is atomic: no lock needed
        return verify(user, password)

    monkeypatch.setattr(sessions, "password_matches", counted)  # what sign_in calls
    browsers = [TestClient(console.client.app) for _ in range(guesses)]
    for browser in browsers:
        browser.get("/console/login")  # its sign-in form's CSRF cookie
    start_together = threading.Barrier(guesses)

    def guess(n: int) -> int:
        browser = browsers[n]
        start_together.wait()
        answer = browser.post(
            "/console/login",
            data={
                "email": console.email("agency"),
                "password": f"wrong guess number {n}",
                "csrf": browser.cookies.get("twinwatch_login_csrf") or "",
            },
            follow_redirects=False,
        )
        return int(answer.status_code)

    with ThreadPoolExecutor(guesses) as pool:
        statuses = list(pool.map(guess, range(guesses)))

    assert len(checked) == limit, f"{len(checked)} password checks for a limit of {limit}"
    assert sorted(statuses) == [401] * limit + [429] * (guesses - limit)
    with console.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(LoginAttempt)) == limit


@pytest.mark.parametrize(
    ("trusted", "separate_buckets"), [([], False), (["127.0.0.1"], True)], ids=["default", "proxy"]
)
def test_forwarded_for_chooses_the_throttled_address_only_from_a_trusted_proxy(
    tmp_path: Path, trusted: list[str], separate_buckets: bool
) -> None:
    per_ip = 3
    with (
        console_world(tmp_path, login_max_failures_per_ip=per_ip, trusted_proxies=trusted) as world,
        served_like_serve(world.ctx) as base,
    ):
        statuses = []
        for n in range(per_ip + 2):  # a different account and a different claimed address each
            # httpx's default 5-s read timeout is no browser's: a loaded CI machine once
            # took longer than that to answer one of these requests
            with httpx.Client(base_url=base, timeout=60) as browser:
                browser.get("/console/login")
                statuses.append(
                    browser.post(
                        "/console/login",
                        headers={"X-Forwarded-For": f"198.51.100.{n}"},
                        data={
                            "email": f"guess{n}@demo.example",
                            "password": "wrong guess",
                            "csrf": browser.cookies.get("twinwatch_login_csrf") or "",
                        },
                    ).status_code
                )
        with world.ctx.db.session() as session:
            recorded = set(session.scalars(select(LoginAttempt.ip)))
    if separate_buckets:
        assert statuses == [401] * (per_ip + 2)
        assert recorded == {f"198.51.100.{n}" for n in range(per_ip + 2)}
    else:
        assert statuses == [401] * per_ip + [429] * 2
        assert recorded == {"127.0.0.1"}
