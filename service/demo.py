"""`twinwatch demo`: the main job on the embedded defaults, end to end.

Registers the demo talents, records the demo licences, scans the demo sightings through
the same service functions the API uses, and prints the verdicts and the agency's alerts.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from rich.console import Console
from sqlalchemy import func, select

from indexer.db import Agency, Talent, utcnow
from indexer.demo_fixtures import DEMO_FIXTURE, enrol_demo_talents, load_demo_fixture
from service.access.keys import TenantKind, authenticate, create_key, create_tenant
from service.context import AppContext
from service.core.principal import Principal, Role
from service.core.tables.access import ApiKey, Monitor
from service.core.tables.alerts import Alert
from service.core.tables.licensing import Licence
from service.licensing.licences import create_licence
from service.licensing.schemas import Compensation, LicenceCreate
from service.licensing.verdicts import Audience, Viewer
from service.rules.vocabulary import ScanKind
from service.scanning.scan import run_scan
from service.scanning.types import ImageSource, UseContext
from service.scanning.views import scan_out

DEMO_MONITOR = "Demo Watchdog"


@dataclass(frozen=True)
class Sighting:
    image: int
    page_url: str
    publisher: str
    channel: str
    territory: str


def run_demo(ctx: AppContext, console: Console) -> None:
    fixture = load_demo_fixture()
    raw = json.loads(DEMO_FIXTURE.read_text(encoding="utf-8"))
    console.print(
        f"[bold]1. Registering {len(fixture.talents)} demo talents[/bold] with "
        f"{fixture.agency!r} (model pack {ctx.analyser.pack.name}@"
        f"{ctx.analyser.pack.version})"
    )
    talents = {}
    for name, talent_id, outcome in enrol_demo_talents(
        ctx.registry, fixture, max_pixels=ctx.settings.max_image_pixels
    ):
        state = (
            "already enrolled"
            if outcome.already_enrolled
            else "accepted"
            if outcome.accepted
            else "rejected: " + "; ".join(outcome.reasons)
        )
        console.print(f"   {name}: reference photo {state}", highlight=False)
        talents[name] = talent_id
    _record_licences(ctx, console, raw["licences"], talents)
    principal = _demo_monitor(ctx)
    for number, item in enumerate(raw["sightings"], start=3):
        sighting = Sighting(**item)
        console.print(
            f"[bold]{number}. Scanning {fixture.scan[sighting.image].name}[/bold] as "
            f"seen on {sighting.page_url} ({sighting.channel}, {sighting.territory})",
            soft_wrap=True,
        )
        _print_scan(
            ctx,
            console,
            asyncio.run(_scan(ctx, principal, fixture.scan[sighting.image].read_bytes(), sighting)),
        )
    _print_alerts(ctx, console, fixture.agency)


def _record_licences(
    ctx: AppContext, console: Console, specs: list[dict[str, Any]], talents: dict[str, int]
) -> None:
    console.print("[bold]2. Licences[/bold]")
    admin = Principal(key_id=0, key_prefix="demo", role=Role.ADMIN)
    now = utcnow()
    with ctx.db.session() as session:
        for spec in specs:
            for name in spec["talents"]:
                talent_id = talents[name]
                if session.scalar(
                    select(func.count()).select_from(Licence).where(Licence.talent_id == talent_id)
                ):
                    continue
                create_licence(
                    session,
                    principal=admin,
                    talent_id=talent_id,
                    body=LicenceCreate(
                        licensee=spec["licensee"],
                        publishers=spec["publishers"],
                        channels=spec["channels"],
                        territories=spec["territories"],
                        media=spec["media"],
                        ai_label_required=spec["ai_label_required"],
                        valid_from=now - timedelta(days=1),
                        valid_until=now + timedelta(days=spec["valid_days"]),
                        compensation=Compensation(
                            per_use=Decimal(spec["per_use"]), currency=spec["currency"]
                        ),
                    ),
                )
            console.print(
                f"   {', '.join(spec['talents'])}: licensed to {spec['licensee']} on "
                f"{', '.join(spec['publishers'])} ({', '.join(spec['channels'])}, "
                f"{', '.join(spec['media'])}, {spec['per_use']} {spec['currency']} "
                "per use)",
                soft_wrap=True,
                highlight=False,
            )


def _demo_monitor(ctx: AppContext) -> Principal:
    """The demo's monitor key (created once; scans need an owner)."""
    with ctx.db.session() as session:
        key = session.scalar(
            select(ApiKey)
            .join(Monitor, Monitor.id == ApiKey.monitor_id)
            .where(Monitor.name == DEMO_MONITOR, ApiKey.revoked_at.is_(None))
        )
        if key is None:
            if session.scalar(select(Monitor).where(Monitor.name == DEMO_MONITOR)) is None:
                create_tenant(session, kind=TenantKind.MONITOR, name=DEMO_MONITOR)
            created = create_key(session, role=Role.MONITOR, monitor=DEMO_MONITOR, label="demo")
            return authenticate(session, presented=created.key)
        return Principal(
            key_id=key.id, key_prefix=key.prefix, role=Role.MONITOR, monitor_id=key.monitor_id
        )


async def _scan(ctx: AppContext, principal: Principal, data: bytes, sighting: Sighting) -> int:
    context = UseContext(
        page_url=sighting.page_url,
        publisher=sighting.publisher,
        observed_at=utcnow(),
        channel=sighting.channel,
        territory=sighting.territory,
    )
    return await run_scan(
        pipeline=ctx.pipeline(),
        principal=principal,
        kind=ScanKind.SCAN,
        source=ImageSource(data=data),
        context=context,
    )


def _print_scan(ctx: AppContext, console: Console, scan_id: int) -> None:
    from service.core.tables.scanning import Scan

    with ctx.db.session() as session:
        scan = session.get(Scan, scan_id)
        assert scan is not None
        result = scan_out(session, scan, Viewer(Audience.TALENT_SIDE))
    console.print(
        f"   scan {result.id}: {len(result.faces)} face(s), model pack {result.model_pack.name}"
    )
    for face in result.faces:
        who = (
            f"{face.talent.name} ({face.talent.similarity:.2f}, {face.band})"
            if (face.talent)
            else "no registered talent"
        )
        verdict = face.licence.verdict.upper() if face.licence else "-"
        why = face.licence.reasons[0] if face.licence and face.licence.reasons else ""
        console.print(
            f"   face {face.index + 1}: {who:<36} {verdict:<11} {why}",
            soft_wrap=True,
            highlight=False,
        )


def _print_alerts(ctx: AppContext, console: Console, agency_name: str) -> None:
    with ctx.db.session() as session:
        rows = session.execute(
            select(Alert, Talent.name)
            .join(Talent, Talent.id == Alert.talent_id)
            .join(Agency, Agency.id == Alert.agency_id)
            .where(Agency.name == agency_name)
            .order_by(Alert.id)
        ).all()
    console.print(
        f"[bold]Alerts for {agency_name}: {len(rows)}[/bold] (deduplicated by "
        "talent + image + publisher; re-running the demo adds sightings)",
        soft_wrap=True,
    )
    for alert, name in rows:
        console.print(
            f"   alert {alert.id}: {name} on {alert.publisher}, {alert.verdict}, "
            f"{alert.sightings} sighting(s), {alert.status}",
            soft_wrap=True,
            highlight=False,
        )
