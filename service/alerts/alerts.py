"""Agency alerts: listing, triage, and the evidence an agency sends with a takedown."""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indexer.db import Talent, utcnow
from indexer.matching import Band
from service.access.scoping import alert_in_scope, scoped_to_agency
from service.alerts.derived_evidence import derived_source
from service.alerts.errors import TriageNotAllowedError
from service.alerts.schemas import (
    AlertOut,
    AlertTalentOut,
    EvidenceImageOut,
    EvidenceSightingOut,
    EvidenceTalentOut,
    InternalEvidenceOut,
    ThirdPartyEvidenceOut,
)
from service.alerts.states import (
    UNDO_ACTION,
    AlertBand,
    AlertStatus,
    EvidenceForm,
    ReviewDecision,
    TriageAction,
    needs_review,
)
from service.core.principal import Principal
from service.core.schemas import ModelPackOut, Page
from service.core.tables.alerts import Alert, AlertEvent, AlertSighting
from service.core.tables.scanning import Finding, Scan
from service.licensing import billing
from service.licensing.evaluate import Verdict
from service.licensing.publishers import publisher_key
from service.licensing.verdicts import third_party_statement

STATUS_AFTER: dict[TriageAction, AlertStatus] = {
    TriageAction.ACKNOWLEDGE: AlertStatus.ACKNOWLEDGED,
    TriageAction.DISMISS_FALSE_MATCH: AlertStatus.DISMISSED_FALSE_MATCH,
    TriageAction.LICENSED_ELSEWHERE: AlertStatus.LICENSED_ELSEWHERE,
    TriageAction.CONFIRM_VIOLATION: AlertStatus.CONFIRMED_VIOLATION,
    TriageAction.REOPEN: AlertStatus.OPEN,
}
_DECIDED = frozenset(
    {
        AlertStatus.DISMISSED_FALSE_MATCH,
        AlertStatus.LICENSED_ELSEWHERE,
        AlertStatus.CONFIRMED_VIOLATION,
    }
)
# The statuses each action applies to: decide from open or acknowledged; reopen a decision.
ALLOWED_FROM: dict[TriageAction, frozenset[AlertStatus]] = {
    TriageAction.ACKNOWLEDGE: frozenset({AlertStatus.OPEN}),
    TriageAction.DISMISS_FALSE_MATCH: frozenset({AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED}),
    TriageAction.LICENSED_ELSEWHERE: frozenset({AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED}),
    TriageAction.CONFIRM_VIOLATION: frozenset({AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED}),
    TriageAction.REOPEN: _DECIDED | {AlertStatus.ACKNOWLEDGED},
}


def list_alerts(
    session: Session,
    *,
    principal: Principal,
    status: AlertStatus | None,
    talent_id: int | None,
    publisher: str | None,
    since: datetime | None,
    until_before: datetime | None,
    needs_review: bool | None,
    offset: int,
    limit: int,
    band: AlertBand | None = None,
) -> Page[AlertOut]:
    """Alerts seen in [since, until_before): last seen at/after ``since`` and first seen
    before ``until_before`` (an exclusive end, see service.rules.dates)."""
    query = scoped_to_agency(select(Alert), Alert.agency_id, principal)
    if status:
        query = query.where(Alert.status == status.value)
    if talent_id is not None:
        query = query.where(Alert.talent_id == talent_id)
    if publisher:
        query = query.where(Alert.publisher_key == publisher_key(publisher, None))
    if since is not None:
        query = query.where(Alert.last_seen_at >= since)
    if until_before is not None:
        query = query.where(Alert.first_seen_at < until_before)
    if needs_review is not None:
        query = query.where(Alert.needs_review.is_(needs_review))
    if band:
        query = query.where(Alert.band == band)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.add_columns(Talent)
        .join(Talent, Talent.id == Alert.talent_id)
        .order_by(Alert.last_seen_at.desc(), Alert.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return Page[AlertOut](
        items=[alert_out(alert, talent) for alert, talent in rows],
        total=total,
        offset=offset,
        limit=limit,
    )


def get_alert(session: Session, *, principal: Principal, alert_id: int) -> AlertOut:
    alert = alert_in_scope(session, principal=principal, alert_id=alert_id)
    talent = session.get(Talent, alert.talent_id)
    assert talent is not None
    return alert_out(alert, talent)


def triage(
    session: Session,
    *,
    principal: Principal,
    alert_id: int,
    action: TriageAction,
    note: str | None,
    recorded_as: str | None = None,
) -> AlertOut:
    """Apply an allowed action; the history names ``recorded_as`` (e.g. a review's
    decision) or else the action."""
    alert = alert_in_scope(session, principal=principal, alert_id=alert_id)
    if alert.status not in ALLOWED_FROM[action]:
        raise TriageNotAllowedError(
            f"Alert {alert_id} is {alert.status.replace('_', ' ')}; "
            f"{action.replace('_', ' ')} applies only to "
            f"{' or '.join(sorted(s.replace('_', ' ') for s in ALLOWED_FROM[action]))} alerts."
        )
    record_event(
        session,
        alert,
        principal=principal,
        action=recorded_as or action,
        to_status=STATUS_AFTER[action],
        note=note,
    )
    alert.status = STATUS_AFTER[action].value
    alert.triage_note = note
    alert.triaged_at = utcnow()
    if action is TriageAction.DISMISS_FALSE_MATCH:
        billing.reverse_confirmed(session, alert.id)  # not the talent: not a paid use
    if action is TriageAction.REOPEN:
        alert.triaged_at = None
    session.flush()
    refresh_needs_review(session, alert)
    return get_alert(session, principal=principal, alert_id=alert_id)


#: The history entries that decide whether an alert's face is the talent, newest first wins.
DECIDING_ACTIONS = (
    f"review_{ReviewDecision.SAME_PERSON.value}",
    f"review_{ReviewDecision.NOT_SAME_PERSON.value}",
    TriageAction.DISMISS_FALSE_MATCH.value,
)


class _Acted(Protocol):
    @property
    def action(self) -> str: ...


Acted = TypeVar("Acted", bound=_Acted)


def standing(events: Iterable[Acted]) -> list[Acted]:
    """A history (oldest first) without what was undone: an undo takes back the newest
    change still standing, and is itself not a change that stands."""
    kept: list[Acted] = []
    for event in events:
        if event.action == UNDO_ACTION:
            if kept:
                kept.pop()
        else:
            kept.append(event)
    return kept


def standing_events(session: Session, alert_id: int) -> list[AlertEvent]:
    """The alert's changes that still stand, oldest first."""
    return standing(
        session.scalars(
            select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
        )
    )


def face_confirmed(status: str, history: Iterable[_Acted]) -> bool:
    """A person said the alert's face is the talent, and nobody has dismissed it as a false
    match since (a reopened alert needs a new "same person"; an undone one too)."""
    if status == AlertStatus.DISMISSED_FALSE_MATCH.value:
        return False
    deciding = [e.action for e in standing(history) if e.action in DECIDING_ACTIONS]
    return bool(deciding) and deciding[-1] == DECIDING_ACTIONS[0]


def confirmed_same_person(session: Session, alert: Alert) -> bool:
    """:func:`face_confirmed` for an alert, from its stored history."""
    return face_confirmed(alert.status, standing_events(session, alert.id))


def refresh_needs_review(session: Session, alert: Alert) -> None:
    """Store the one rule's answer (service.alerts.states.needs_review) after any change,
    so that the API, its ``needs_review`` filter and every page say the same."""
    alert.needs_review = needs_review(
        status=AlertStatus(alert.status),
        band=AlertBand(alert.band),
        verdict_is_review=alert.verdict == Verdict.REVIEW.value,
        face_confirmed=confirmed_same_person(session, alert),
    )


def allowed_actions(status: str) -> list[str]:
    return [action for action, statuses in ALLOWED_FROM.items() if status in statuses]


def record_event(
    session: Session,
    alert: Alert,
    *,
    principal: Principal,
    action: str,
    to_status: AlertStatus,
    note: str | None,
) -> None:
    """The history row: the acting user or key (id 0 is the demo's in-process admin)."""
    session.add(
        AlertEvent(
            alert_id=alert.id,
            user_id=principal.user_id,
            key_id=principal.key_id or None,
            action=action,
            from_status=alert.status,
            to_status=to_status.value,
            note=note,
        )
    )


Evidence = InternalEvidenceOut | ThirdPartyEvidenceOut


def evidence(
    session: Session, *, principal: Principal, alert_id: int, form: EvidenceForm
) -> Evidence:
    """Everything needed for a takedown request: the agency's internal copy, or the
    third-party form (the facts of the use; no licence terms, fees or notes)."""
    alert = alert_in_scope(session, principal=principal, alert_id=alert_id)
    talent = session.get(Talent, alert.talent_id)
    assert talent is not None
    image = EvidenceImageOut(
        sha256=alert.image_sha256,
        perceptual_hash=alert.image_phash,
        copy_kept=alert.evidence_path is not None,
        copy_kept_until=alert.evidence_expires_at,
    )
    pack = ModelPackOut(name=alert.pack_name, version=alert.pack_version)
    sightings = _sightings(session, alert)
    copied = derived_source(session, alert)
    if form is EvidenceForm.THIRD_PARTY:
        verdict = Verdict(alert.verdict)
        return ThirdPartyEvidenceOut(
            alert_id=alert.id,
            talent=EvidenceTalentOut(name=talent.name),
            verdict=verdict.value,
            statement=third_party_statement(verdict),
            needs_review=alert.needs_review,
            publisher=alert.publisher,
            image=image,
            sightings=sightings,
            model_pack=pack,
            generated_at=utcnow(),
            copied_from=copied.notice_words(talent.name) if copied else None,
        )
    out = alert_out(alert, talent)
    return InternalEvidenceOut(
        alert=out,
        talent=out.talent,
        publisher=alert.publisher,
        image=image,
        sightings=sightings,
        licences_checked=alert.licence_checks,
        why_unlicensed=alert.reasons,
        model_pack=pack,
        generated_at=utcnow(),
        copied_from=copied.words if copied else None,
    )


def _sightings(session: Session, alert: Alert) -> list[EvidenceSightingOut]:
    rows = session.execute(
        select(AlertSighting, Scan, Finding)
        .join(Scan, Scan.id == AlertSighting.scan_id)
        .join(Finding, Finding.id == AlertSighting.finding_id)
        .where(AlertSighting.alert_id == alert.id)
        .order_by(AlertSighting.observed_at)
    )
    return [
        EvidenceSightingOut(
            observed_at=sighting.observed_at,
            recorded_at=sighting.seen_at,
            page_url=sighting.page_url,
            source_url=scan.source_url,
            channel=scan.channel,
            territory=scan.territory,
            face_box=finding.box,
            detection_score=finding.detection_score,
            similarity=finding.similarity,
            band=Band(finding.band),
            model_pack=f"{scan.pack_name}@{scan.pack_version}",
            provenance=scan.provenance,
        )
        for sighting, scan, finding in rows
    ]


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def evidence_html(report: Evidence) -> str:
    """A human-readable, self-contained evidence report (all values escaped)."""
    rows = "".join(
        f"<tr><td>{_esc(s.observed_at.isoformat())}</td><td>{_esc(s.page_url)}</td>"
        f"<td>{_esc(s.territory)}</td><td>{_esc(s.channel)}</td>"
        f"<td>{_esc(s.face_box)}</td><td>{_esc(s.similarity)}</td>"
        f"<td>{_esc(s.model_pack)}</td><td>{_ai_signals_html(s.provenance)}</td></tr>"
        for s in report.sightings
    )
    if isinstance(report, ThirdPartyEvidenceOut):
        title, summary, licence_part = report.alert_id, _third_party_summary(report), ""
    else:
        title, summary = report.alert.id, _internal_summary(report.alert)
        licence_part = _licence_html(report)
    heading = f"Unlicensed use of {_esc(report.talent.name)}'s likeness"
    return f"""<!doctype html><html lang="en"><meta charset="utf-8">
<title>Evidence: {_esc(title)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{border:1px solid #999;
padding:4px}}table{{border-collapse:collapse}}</style>
<h1>{heading}</h1>{summary}
<h2>The image</h2><p>Publisher: {_esc(report.publisher)}<br>
SHA-256: <code>{_esc(report.image.sha256)}</code><br>
Perceptual hash: <code>{_esc(report.image.perceptual_hash)}</code><br>
Copy kept: {_esc(report.image.copy_kept)} (until {_esc(report.image.copy_kept_until)})<br>
Model pack: {_esc(report.model_pack.name)} {_esc(report.model_pack.version)}
</p><h2>Sightings ({len(report.sightings)})</h2>
<table><tr><th>seen</th><th>page</th><th>territory</th><th>channel</th><th>face box</th>
<th>similarity</th><th>model pack</th><th>AI-generation signals</th></tr>{rows}</table>
{licence_part}
<p><small>Generated {_esc(report.generated_at.isoformat())} by twinwatch.</small></p></html>"""


def _ai_signals_html(provenance: dict[str, Any]) -> str:
    """The sighting's AI label and generation signals, as the JSON's ``provenance`` has them
    (metadata and invisible watermarks: facts about the image, fit for a third party)."""
    signals = [
        f"{_esc(s.get('detail'))} ({_esc(s.get('strength'))})"
        for s in provenance.get("ai_signals") or []
        if isinstance(s, dict)
    ]
    label = provenance.get("ai_label")
    return "; ".join([*([f"AI label: {_esc(label)}"] if label else []), *signals]) or "none"


def _third_party_summary(report: ThirdPartyEvidenceOut) -> str:
    review = " &middot; <strong>to be confirmed</strong>" if report.needs_review else ""
    return f"<p>Reference {_esc(report.alert_id)} &middot; {_esc(report.statement)}{review}</p>"


def _internal_summary(alert: AlertOut) -> str:
    review = " &middot; <strong>needs human review</strong>" if alert.needs_review else ""
    return (
        f"<p>Alert {_esc(alert.id)} &middot; status {_esc(alert.status.value)} &middot; "
        f"verdict {_esc(alert.verdict)} ({_esc(alert.band.value)}, similarity "
        f"{_esc(alert.similarity)}){review}</p>"
        f"<p>Triage note: {_esc(alert.triage_note)}</p>"
    )


def _licence_html(report: InternalEvidenceOut) -> str:
    reasons = "".join(f"<li>{_esc(r)}</li>" for r in report.why_unlicensed)
    licences = "".join(
        f"<li>Licence {_esc(c.licence_id)} ({_esc(c.licensee)}): "
        + (
            "; ".join(_esc(f.message) for f in c.failures)
            or "needs: " + _esc(", ".join(c.unknowns))
        )
        + "</li>"
        for c in report.licences_checked
    )
    return (
        f"<h2>Why it is not licensed</h2><ul>{reasons}</ul><h2>Licences checked</h2>"
        f"<ul>{licences or '<li>No licence on record.</li>'}</ul>"
    )


def alert_out(alert: Alert, talent: Talent) -> AlertOut:
    return AlertOut(
        id=alert.id,
        agency_id=alert.agency_id,
        talent=AlertTalentOut(id=talent.id, name=talent.name, external_id=talent.external_id),
        status=AlertStatus(alert.status),
        needs_review=alert.needs_review,
        verdict=Verdict(alert.verdict).value,
        band=AlertBand(alert.band),
        similarity=alert.similarity,
        model_pack=ModelPackOut(name=alert.pack_name, version=alert.pack_version),
        publisher=alert.publisher,
        page_url=alert.page_url,
        image_sha256=alert.image_sha256,
        image_phash=alert.image_phash,
        sightings=alert.sightings,
        first_seen_at=alert.first_seen_at,
        last_seen_at=alert.last_seen_at,
        reasons=alert.reasons,
        evidence_image_kept=alert.evidence_path is not None,
        triage_note=alert.triage_note,
        triaged_at=alert.triaged_at,
    )
