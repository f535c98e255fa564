"""Agency alerts: listing, triage, and the evidence an agency sends with a takedown."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indexer.db import Talent, utcnow
from service.access.keys import Principal
from service.access.scoping import alert_in_scope, scoped_to_agency
from service.errors import TriageNotAllowedError
from service.licensing.publishers import publisher_key
from service.models import Alert, AlertEvent, AlertSighting, Finding, Scan
from service.schemas import AlertOut, Page, TriageAction

STATUS_AFTER = {"acknowledge": "acknowledged", "dismiss_false_match": "dismissed_false_match",
                "licensed_elsewhere": "licensed_elsewhere",
                "confirm_violation": "confirmed_violation", "reopen": "open"}
_DECIDED = frozenset({"dismissed_false_match", "licensed_elsewhere", "confirmed_violation"})
# The statuses each action applies to: decide from open or acknowledged; reopen a decision.
ALLOWED_FROM = {"acknowledge": frozenset({"open"}),
                "dismiss_false_match": frozenset({"open", "acknowledged"}),
                "licensed_elsewhere": frozenset({"open", "acknowledged"}),
                "confirm_violation": frozenset({"open", "acknowledged"}),
                "reopen": _DECIDED | {"acknowledged"}}


def list_alerts(session: Session, *, principal: Principal, status: str | None,
                talent_id: int | None, publisher: str | None, since: datetime | None,
                until: datetime | None, needs_review: bool | None, offset: int, limit: int,
                band: str | None = None) -> Page[AlertOut]:
    query = scoped_to_agency(select(Alert), Alert.agency_id, principal)
    if status:
        query = query.where(Alert.status == status)
    if talent_id is not None:
        query = query.where(Alert.talent_id == talent_id)
    if publisher:
        query = query.where(Alert.publisher_key == publisher_key(publisher, None))
    if since is not None:
        query = query.where(Alert.last_seen_at >= since)
    if until is not None:
        query = query.where(Alert.first_seen_at <= until)
    if needs_review is not None:
        query = query.where(Alert.needs_review.is_(needs_review))
    if band:
        query = query.where(Alert.band == band)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.add_columns(Talent).join(Talent, Talent.id == Alert.talent_id)
                           .order_by(Alert.last_seen_at.desc(), Alert.id.desc())
                           .offset(offset).limit(limit))
    return Page[AlertOut](items=[alert_out(alert, talent) for alert, talent in rows],
                          total=total, offset=offset, limit=limit)


def get_alert(session: Session, *, principal: Principal, alert_id: int) -> AlertOut:
    alert = alert_in_scope(session, principal=principal, alert_id=alert_id)
    talent = session.get(Talent, alert.talent_id)
    assert talent is not None
    return alert_out(alert, talent)


def triage(session: Session, *, principal: Principal, alert_id: int, action: TriageAction,
           note: str | None) -> AlertOut:
    alert = alert_in_scope(session, principal=principal, alert_id=alert_id)
    if alert.status not in ALLOWED_FROM[action]:
        raise TriageNotAllowedError(
            f"Alert {alert_id} is {alert.status.replace('_', ' ')}; "
            f"{action.replace('_', ' ')} applies only to "
            f"{' or '.join(sorted(s.replace('_', ' ') for s in ALLOWED_FROM[action]))} alerts.")
    _record_triage(session, alert, principal=principal, action=action, note=note)
    alert.status = STATUS_AFTER[action]
    alert.triage_note = note
    alert.triaged_at = utcnow()
    if action == "reopen":
        alert.triaged_at = None
    return get_alert(session, principal=principal, alert_id=alert_id)


def allowed_actions(status: str) -> list[str]:
    return [action for action, statuses in ALLOWED_FROM.items() if status in statuses]


def _record_triage(session: Session, alert: Alert, *, principal: Principal, action: str,
                   note: str | None) -> None:
    """The history row: the acting user or key (id 0 is the demo's in-process admin)."""
    session.add(AlertEvent(alert_id=alert.id, user_id=principal.user_id,
                           key_id=principal.key_id or None, action=action,
                           from_status=alert.status, to_status=STATUS_AFTER[action], note=note))


def evidence(session: Session, *, principal: Principal, alert_id: int) -> dict[str, Any]:
    """Everything needed for a takedown request, as JSON."""
    alert = alert_in_scope(session, principal=principal, alert_id=alert_id)
    talent = session.get(Talent, alert.talent_id)
    assert talent is not None
    sightings = session.execute(
        select(AlertSighting, Scan, Finding).join(Scan, Scan.id == AlertSighting.scan_id)
        .join(Finding, Finding.id == AlertSighting.finding_id)
        .where(AlertSighting.alert_id == alert.id).order_by(AlertSighting.observed_at))
    return {
        "alert": alert_out(alert, talent).model_dump(mode="json"),
        "talent": {"id": talent.id, "name": talent.name, "external_id": talent.external_id},
        "image": {"sha256": alert.image_sha256, "perceptual_hash": alert.image_phash,
                  "copy_kept": alert.evidence_path is not None,
                  "copy_kept_until": alert.evidence_expires_at.isoformat()
                  if alert.evidence_expires_at else None},
        "publisher": alert.publisher,
        "sightings": [{
            "observed_at": sighting.observed_at.isoformat(), "recorded_at":
            sighting.seen_at.isoformat(), "page_url": sighting.page_url,
            "scan_id": scan.id, "source_url": scan.source_url, "channel": scan.channel,
            "territory": scan.territory, "face_box": finding.box,
            "detection_score": finding.detection_score, "similarity": finding.similarity,
            "band": finding.band, "model_pack": f"{scan.pack_name}@{scan.pack_version}",
            "provenance": scan.provenance,
        } for sighting, scan, finding in sightings],
        "licences_checked": alert.licence_checks,
        "why_unlicensed": alert.reasons,
        "generated_at": utcnow().isoformat(),
    }


def evidence_html(report: dict[str, Any]) -> str:
    """A human-readable, self-contained evidence report (all values escaped)."""
    alert, talent = report["alert"], report["talent"]

    def esc(value: object) -> str:
        return html.escape("" if value is None else str(value))
    rows = "".join(
        f"<tr><td>{esc(s['observed_at'])}</td><td>{esc(s['page_url'])}</td>"
        f"<td>{esc(s['territory'])}</td><td>{esc(s['channel'])}</td>"
        f"<td>{esc(s['face_box'])}</td><td>{esc(s['similarity'])}</td>"
        f"<td>{esc(s['model_pack'])}</td></tr>" for s in report["sightings"])
    licences = "".join(
        f"<li>Licence {esc(c['licence_id'])} ({esc(c['licensee'])}): "
        + ("; ".join(esc(f["message"]) for f in c["failures"]) or "needs: "
           + esc(", ".join(c["unknowns"]))) + "</li>" for c in report["licences_checked"])
    reasons = "".join(f"<li>{esc(r)}</li>" for r in report["why_unlicensed"])
    return f"""<!doctype html><html lang="en"><meta charset="utf-8">
<title>Evidence: alert {esc(alert['id'])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{border:1px solid #999;
padding:4px}}table{{border-collapse:collapse}}</style>
<h1>Unlicensed use of {esc(talent['name'])}'s likeness</h1>
<p>Alert {esc(alert['id'])} &middot; status {esc(alert['status'])} &middot; verdict
{esc(alert['verdict'])} ({esc(alert['band'])}, similarity {esc(alert['similarity'])})
{' &middot; <strong>needs human review</strong>' if alert['needs_review'] else ''}</p>
<h2>The image</h2><p>Publisher: {esc(report['publisher'])}<br>
SHA-256: <code>{esc(report['image']['sha256'])}</code><br>
Perceptual hash: <code>{esc(report['image']['perceptual_hash'])}</code><br>
Copy kept: {esc(report['image']['copy_kept'])} (until {esc(report['image']['copy_kept_until'])})
</p><h2>Sightings ({len(report['sightings'])})</h2>
<table><tr><th>seen</th><th>page</th><th>territory</th><th>channel</th><th>face box</th>
<th>similarity</th><th>model pack</th></tr>{rows}</table>
<h2>Why it is not licensed</h2><ul>{reasons}</ul>
<h2>Licences checked</h2><ul>{licences or '<li>No licence on record.</li>'}</ul>
<p><small>Generated {esc(report['generated_at'])} by twinwatch.</small></p></html>"""


def alert_out(alert: Alert, talent: Talent) -> AlertOut:
    return AlertOut(
        id=alert.id, agency_id=alert.agency_id,
        talent={"id": talent.id, "name": talent.name, "external_id": talent.external_id},
        status=alert.status, needs_review=alert.needs_review, verdict=alert.verdict,
        band=alert.band, similarity=alert.similarity, publisher=alert.publisher,
        page_url=alert.page_url, image_sha256=alert.image_sha256, image_phash=alert.image_phash,
        sightings=alert.sightings, first_seen_at=alert.first_seen_at,
        last_seen_at=alert.last_seen_at, reasons=alert.reasons,
        evidence_image_kept=alert.evidence_path is not None, triage_note=alert.triage_note,
        triaged_at=alert.triaged_at)
