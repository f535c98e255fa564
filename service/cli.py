"""The `twinwatch` console command: the indexer's commands plus the service's."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress

from indexer import runtime as indexer_runtime
from indexer.cli import (
    HELP,
    CliState,
    Verbose,
    add_indexer_commands,
    configure_logging,
    err,
    operational_errors,
    out,
)
from indexer.db import Database
from indexer.listing import add_plain_row, counted, listing, print_listing, summary_line
from indexer.settings import IndexerSettings
from service.access.keys import (
    TenantKind,
    create_key,
    create_tenant,
    list_keys,
    list_tenants,
    revoke_key,
)
from service.core.logs import configure_json_logging
from service.core.principal import Role
from service.core.settings import ServiceSettings
from service.migrations import startup
from service.talents.portfolio_cli import portfolio_app

__all__ = ["app", "main"]

# The composition root of the `twinwatch` command: the indexer's commands and the service's,
# every command that opens the database (the indexer's too) with its schema made by the
# migrations (upgraded in place on SQLite, required to be current on a server database).
app = typer.Typer(help=HELP, no_args_is_help=True, pretty_exceptions_enable=False)
add_indexer_commands(app)


@app.callback()
def _configure(context: typer.Context, verbose: Verbose = False) -> None:
    configure_logging(verbose)
    context.obj = CliState(prepare_schema=startup.prepare_schema)


keys_app = typer.Typer(help="API keys (shown once, stored as hashes).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
TENANT_HELP = {
    TenantKind.AGENCY: "Agencies (they own talents, licences and alerts).",
    TenantKind.BRAND: "Brands (they pre-check their own assets).",
    TenantKind.MONITOR: "Monitors (they submit scans and batch jobs).",
}

app.add_typer(portfolio_app, name="portfolio")

db_app = typer.Typer(help="The database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")


def open_database(settings: IndexerSettings) -> Database:
    """The indexer's ``open_database``, with the schema made by the migrations."""
    return indexer_runtime.open_database(settings, prepare_schema=startup.prepare_schema)


def service_settings() -> ServiceSettings:
    return ServiceSettings()


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs) with the embedded batch worker."""
    import uvicorn

    from service.api.app import create_app
    from service.context import build_context

    settings = service_settings()
    with operational_errors():  # a schema behind, a missing model pack: one line each
        ctx = build_context(settings)
    configure_json_logging()
    try:
        uvicorn.run(create_app(context=ctx), **server_options(settings, host=host, port=port))
    finally:
        ctx.close()


def server_options(
    settings: ServiceSettings, *, host: str | None = None, port: int | None = None
) -> dict[str, Any]:
    """How `serve` runs uvicorn (``uvicorn.run``/``uvicorn.Config`` keywords). Its access log
    is off (the app writes its own, redacted). ``X-Forwarded-For``/``-Proto`` are believed
    only from ``settings.trusted_proxies`` (none by default): uvicorn's own default believes
    them from 127.0.0.1, which let any local client choose its address, and so its sign-in
    throttling bucket."""
    return {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_config": None,
        "access_log": False,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies),
    }


@app.command("worker")
def worker(
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Healthcheck: exit 0 if this container's worker loop ran lately."
        ),
    ] = False,
) -> None:
    """Run batch-job and webhook workers without the HTTP API (add as many as needed)."""
    from service.crawl.runner import WatchRunner
    from service.jobs.worker import HEARTBEAT_MAX_AGE_S, BackgroundWorkers, heartbeat_age
    from service.startup import start

    if check:
        age = heartbeat_age()
        if age is None or age > HEARTBEAT_MAX_AGE_S:
            err.print(
                "worker loop not running"
                if age is None
                else f"worker loop stalled: last pass {age:.0f} s ago"
            )
            raise typer.Exit(1)
        out.print(f"worker loop ran {age:.0f} s ago")
        return

    configure_json_logging()
    with operational_errors():
        ctx = start(service_settings())
    try:
        runner = WatchRunner(ctx)
        asyncio.run(BackgroundWorkers(ctx, more={"watches": runner.run_once}).run_forever())
    finally:
        ctx.close()


@app.command("demo")
def demo() -> None:
    """Register the demo talents and licences, scan the demo sightings, print verdicts."""
    from service.demo import run_demo
    from service.startup import start

    with operational_errors():
        ctx = start(service_settings())
        try:
            run_demo(ctx, out)
        finally:
            ctx.close()


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="admin, agency, monitor, brand or talent.")],
    agency: Annotated[
        str | None,
        typer.Option(help="Existing agency the key acts for (`twinwatch agencies create`)."),
    ] = None,
    brand: Annotated[
        str | None,
        typer.Option(help="Existing brand the key acts for (`twinwatch brands create`)."),
    ] = None,
    monitor: Annotated[
        str | None,
        typer.Option(help="Existing monitor organisation (`twinwatch monitors create`)."),
    ] = None,
    label: Annotated[str | None, typer.Option(help="A note to recognise the key by.")] = None,
    talent: Annotated[
        int | None,
        typer.Option(
            help="With --role talent: the talent's id (their own sightings, licences, pay)."
        ),
    ] = None,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    import service.core.tables  # noqa: F401  (service tables)

    with operational_errors():
        db = open_database(service_settings())
        with db.session() as session:
            created = create_key(
                session,
                role=role,
                agency=agency,
                brand=brand,
                monitor=monitor,
                label=label,
                talent=talent,
            )
        db.dispose()
    err.print(
        f"created {created.role.value} key {created.id} for {created.scope}; store it "
        "now, it is not shown again:"
    )
    out.print(created.key, soft_wrap=True)


@keys_app.command("list")
def keys_list() -> None:
    """Keys by id, prefix, role and scope (never the key itself)."""
    import service.core.tables  # noqa: F401

    with operational_errors():
        db = open_database(service_settings())
        with db.session() as session:
            rows = [
                (
                    k.id,
                    k.prefix,
                    k.role,
                    k.agency_id or k.brand_id or k.monitor_id or k.talent_id,
                    k.label,
                    k.revoked_at,
                )
                for k in list_keys(session)
            ]
        db.dispose()
    table = listing("id", "prefix", "role", "tenant id", "label", "revoked")
    for key_id, prefix, role, tenant, label, revoked in rows:
        add_plain_row(
            table,
            (
                str(key_id),
                prefix + "…",  # the key's first characters, never the key
                role,
                str(tenant or "-"),
                label or "",
                revoked.isoformat() if revoked else "",
            ),
        )
    revoked_count = sum(1 for row in rows if row[5] is not None)
    print_listing(out, table, summary_line(counted(len(rows), "key"), (revoked_count, "revoked")))


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke a key at once."""
    import service.core.tables  # noqa: F401

    with operational_errors():
        db = open_database(service_settings())
        with db.session() as session:
            revoke_key(session, key_id=key_id)
        db.dispose()
    out.print(f"revoked key {key_id}")


def _tenant_commands(kind: TenantKind) -> typer.Typer:
    """`twinwatch agencies|brands|monitors create NAME` and `… list`: tenants are only ever
    created here, never as a side effect of creating a key."""
    group = typer.Typer(help=TENANT_HELP[kind], no_args_is_help=True)

    @group.command("create", help=f"Create a {kind.value}.")
    def create(name: str) -> None:
        import service.core.tables  # noqa: F401

        with operational_errors():
            db = open_database(service_settings())
            with db.session() as session:
                row = create_tenant(session, kind=kind, name=name)
            db.dispose()
        out.print(f"created {kind.value} {row.id} {row.name!r}", highlight=False)

    @group.command("list", help=f"All {kind.plural}.")
    def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        import service.core.tables  # noqa: F401

        with operational_errors():
            db = open_database(service_settings())
            with db.session() as session:
                rows = list_tenants(session, kind=kind)
            db.dispose()
        if as_json:
            out.print_json(
                data=[
                    {"id": r.id, "name": r.name, "created_at": r.created_at.isoformat()}
                    for r in rows
                ]
            )
            return
        table = listing("id", "name", "created")
        for row in rows:
            add_plain_row(table, (str(row.id), row.name, row.created_at.isoformat()))
        print_listing(out, table, counted(len(rows), kind.value, kind.plural))

    return group


for _kind in TenantKind:
    app.add_typer(_tenant_commands(_kind), name=_kind.plural)


# --- users: people who sign in to the web console --------------------------------------------
users_app = typer.Typer(help="Console users (people; machines use API keys).", no_args_is_help=True)
app.add_typer(users_app, name="users")


def _invitation_line(settings: ServiceSettings, email: str) -> str:
    from service.access.accounts import issue_invitation

    db = open_database(settings)
    with db.session() as session:
        token = issue_invitation(session, email=email, valid_hours=settings.invitation_hours)
    db.dispose()
    return settings.invitation_url(token)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The person's e-mail (their sign-in name).")],
    role: Annotated[Role, typer.Option(help="admin, agency, monitor, brand or talent.")],
    agency: Annotated[str | None, typer.Option(help="Agency the user works for.")] = None,
    brand: Annotated[str | None, typer.Option(help="Brand the user works for.")] = None,
    monitor: Annotated[str | None, typer.Option(help="Monitor organisation.")] = None,
    talent: Annotated[
        int | None,
        typer.Option(help="With --role talent: the talent's id (the person whose likeness it is)."),
    ] = None,
) -> None:
    """Create a user and print the invitation link where they set their password."""
    import service.core.tables  # noqa: F401
    from service.access.accounts import create_user

    settings = service_settings()
    with operational_errors():
        db = open_database(settings)
        with db.session() as session:
            user = create_user(
                session,
                email=email,
                role=role,
                agency=agency,
                brand=brand,
                monitor=monitor,
                talent=talent,
            )
            address, role_name = user.email, user.role
        db.dispose()
        link = _invitation_line(settings, address)
    err.print(
        f"created {role_name} user {address}; send them this link (valid "
        f"{settings.invitation_hours:g} hours, once) to set their password:"
    )
    out.print(link, soft_wrap=True)


@users_app.command("invite")
def users_invite(email: str) -> None:
    """Print a new invitation link for a user who has never set a password (earlier links
    stop working); an account in use is refused: see `users reset-link`."""
    import service.core.tables  # noqa: F401

    settings = service_settings()
    with operational_errors():
        link = _invitation_line(settings, email)
    out.print(link, soft_wrap=True)


@users_app.command("reset-link")
def users_reset_link(email: str) -> None:
    """Print a one-time link to set a new password, for you to hand to the account's owner
    only (valid TWINWATCH_PASSWORD_RESET_MINUTES; using it ends the account's sessions)."""
    import service.core.tables  # noqa: F401
    from service.access.recovery import issue_password_reset

    settings = service_settings()
    with operational_errors():
        db = open_database(settings)
        with db.session() as session:
            link = issue_password_reset(
                session, email=email, valid_minutes=settings.password_reset_minutes
            )
        db.dispose()
    err.print(
        f"a link to set a new password for {link.to} (valid "
        f"{settings.password_reset_minutes:g} minutes, once); hand it to them only:"
    )
    out.print(settings.password_reset_url(link.token), soft_wrap=True)


@users_app.command("list")
def users_list() -> None:
    """Users by id, e-mail, role and tenant (never a password)."""
    import service.core.tables  # noqa: F401
    from service.access.accounts import list_users

    with operational_errors():
        db = open_database(service_settings())
        with db.session() as session:
            rows = [
                (
                    u.id,
                    u.email,
                    u.role,
                    u.agency_id or u.brand_id or u.monitor_id or u.talent_id,
                    u.password_hash is not None,
                    u.last_login_at,
                    u.disabled_at,
                )
                for u in list_users(session)
            ]
        db.dispose()
    table = listing("id", "e-mail", "role", "tenant id", "password set", "last sign-in", "disabled")
    for user_id, email, role, tenant, has_password, last, disabled in rows:
        add_plain_row(
            table,
            (
                str(user_id),
                email,
                role,
                str(tenant or "-"),
                "yes" if has_password else "no",
                last.isoformat() if last else "",
                disabled.isoformat() if disabled else "",
            ),
        )
    line = summary_line(
        counted(len(rows), "user"),
        (sum(1 for row in rows if not row[4]), "without a password yet"),
        (sum(1 for row in rows if row[6] is not None), "disabled"),
    )
    print_listing(out, table, line)


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Disable a user at once: their sessions and unused invitations end."""
    import service.core.tables  # noqa: F401
    from service.access.accounts import disable_user

    with operational_errors():
        db = open_database(service_settings())
        with db.session() as session:
            address = disable_user(session, email=email).email
        db.dispose()
    out.print(f"disabled {address}")


# --- consent: the ledger --------------------------------------------------------------------
consent_app = typer.Typer(help="The talents' consent ledger.", no_args_is_help=True)
app.add_typer(consent_app, name="consent")


@consent_app.command("verify")
def consent_verify(
    talent: Annotated[int | None, typer.Option(help="Only this talent's chain.")] = None,
) -> None:
    """Recompute every consent chain and check every consent record against it: names the
    first broken link (exit 1), or prints OK with the count and each chain's head."""
    import service.core.tables  # noqa: F401
    from service.licensing.consent_ledger import verify

    with operational_errors():
        db = open_database(service_settings())
        with db.session() as session:
            result = verify(session, talent_id=talent)
        db.dispose()
    if not result.ok:
        err.print(f"BROKEN: {result.broken}", soft_wrap=True)
        raise typer.Exit(1)
    out.print(
        f"OK: {result.events} consent event(s) in {len(result.chains)} chain(s)", soft_wrap=True
    )
    for chain in result.chains:
        out.print(
            f"talent {chain.talent_id}: {chain.length} event(s), head {chain.head_sha256}",
            soft_wrap=True,
        )


# --- db -------------------------------------------------------------------------------------
def _database_url() -> str:
    settings = service_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # the embedded SQLite file's folder
    return settings.resolved_database_url()


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision (default: the newest).")] = "head",
) -> None:
    """Upgrade the schema, in one transaction (a server database's one-shot deploy step).

    A database made before migrations (tables, no history) is adopted at revision 0001 if
    its tables are exactly 0001's, and refused otherwise."""
    from service.migrations import schema

    with operational_errors():
        outcome = schema.upgrade(_database_url(), revision)
    if outcome.adopted:
        out.print(f"adopted the existing tables as revision {schema.INITIAL_REVISION}")
    if outcome.before == outcome.after:
        out.print(f"database already at revision {outcome.after}")
    else:
        out.print(f"database upgraded from {outcome.before or 'empty'} to {outcome.after}")


@db_app.command("current")
def db_current() -> None:
    """The database's revision and the newest one this twinwatch knows."""
    from service.migrations import schema

    with operational_errors():
        state = schema.schema_state(_database_url())
    verdict = "up to date" if state.up_to_date else "run `twinwatch db upgrade`"
    out.print(f"database: {state.current or 'none'}; newest: {state.head} ({verdict})")


@db_app.command("check")
def db_check() -> None:
    """Exit 1 if the database is behind or its schema differs from the models (a model
    changed without a migration)."""
    from service.migrations import schema

    url = _database_url()
    with operational_errors():
        schema.require_head(url)
        found = schema.differences(url)
    for difference in found:
        err.print(f"  {difference}")
    if found:
        err.print(
            f"[red]error[/red]: {len(found)} differences between the migrations and the "
            "models: add a migration (`twinwatch db revision`)"
        )
        raise typer.Exit(1)
    out.print("the database matches the models")


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("--message", "-m", help="What the migration does.")],
) -> None:
    """Write the next migration, autogenerated from the models (review it before use)."""
    from service.migrations import schema

    with operational_errors():
        path = schema.new_revision(_database_url(), message)
    out.print(f"wrote {path}")


# --- crawl input ----------------------------------------------------------------------------
@app.command("scan-warc")
def scan_warc(
    path: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="A WARC archive (.warc or .warc.gz)."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Scan every image response in a WARC archive, each with its own URL, page and date.

    Streamed (records one at a time); malformed and truncated records are reported and
    skipped. Exit code 1 only if an image could not be scanned."""
    from indexer.cli import runtime
    from service.crawl.jobs import warc_limits
    from service.crawl.scanning import print_warc_table, scan_warc_file

    limits = warc_limits(service_settings())
    with runtime() as rt, Progress(console=err, transient=True) as progress:
        task = progress.add_task("scanning", total=path.stat().st_size)
        report = scan_warc_file(
            rt,
            path,
            limits=limits,
            on_position=lambda offset: progress.update(task, completed=offset),
        )
    for skipped in report.skipped:
        err.print(
            f"skipped record at offset {skipped['offset']} ({skipped['reason']}): "
            f"{skipped['uri'] or '-'}: {skipped['message']}",
            highlight=False,
        )
    if as_json:
        out.print_json(data=report.to_json())
    else:
        print_warc_table(out, report)
    if report.failed:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
