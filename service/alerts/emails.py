"""Agency e-mail: preferences, the outbox, and delivery over SMTP.

Messages are rows (the outbox), written in the transaction of the event they announce, one
per event (``event_key`` is unique per agency, so a retried transaction or a second worker
cannot send twice), claimed like webhook deliveries, retried with exponential backoff, and
every attempt is recorded. Each message is multipart: plain text and HTML. No image and no
biometric data is ever put in an e-mail: names, publishers, URLs, similarity and ids only.
"""

from __future__ import annotations

import hashlib
import html
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from email.message import EmailMessage as MimeMessage
from email.utils import make_msgid

from sqlalchemy import select
from sqlalchemy.orm import Session

from indexer.db import Database, Talent, utcnow
from indexer.errors import TwinwatchError
from service.alerts.evidence import EvidenceStore, latest_face_box
from service.alerts.schemas import EmailMessageOut, EmailPreferencesIn, EmailPreferencesOut
from service.alerts.states import AlertBand, EmailKind
from service.alerts.webhooks import claim_due_rows, count_attempt, retry_or_give_up
from service.core.errors import InvalidRequestError
from service.core.mail import SmtpResult, deliver, message_id_domain
from service.core.principal import Principal, Role
from service.core.settings import ServiceSettings
from service.core.tables.alerts import (
    Alert,
    EmailAttempt,
    EmailMessage,
    EmailPreference,
)
from service.core.thumbnails import face_thumbnail
from service.rules.dates import local_time

log = logging.getLogger(__name__)
DIGEST_MAX_ALERTS = 200


# --- preferences ----------------------------------------------------------------------------
def _agency_id(principal: Principal) -> int:
    principal.require(Role.AGENCY)
    if principal.agency_id is None:
        raise InvalidRequestError("E-mail preferences belong to an agency; use an agency key.")
    return principal.agency_id


def get_preferences(session: Session, *, principal: Principal) -> EmailPreferencesOut:
    agency_id = _agency_id(principal)
    row = session.scalar(select(EmailPreference).where(EmailPreference.agency_id == agency_id))
    if row is None:
        return EmailPreferencesOut(agency_id=agency_id, recipients=[])
    return _preferences_out(row)


def set_preferences(
    session: Session, *, principal: Principal, body: EmailPreferencesIn
) -> EmailPreferencesOut:
    agency_id = _agency_id(principal)
    row = session.scalar(select(EmailPreference).where(EmailPreference.agency_id == agency_id))
    if row is None:
        row = EmailPreference(agency_id=agency_id, recipients=[])
        session.add(row)
    row.recipients = list(dict.fromkeys(r.lower() for r in body.recipients))
    row.immediate_matches = body.immediate_matches
    row.daily_digest = body.daily_digest
    row.takedown_updates = body.takedown_updates
    row.updated_at = utcnow()
    session.flush()
    return _preferences_out(row)


def _preferences_out(row: EmailPreference) -> EmailPreferencesOut:
    return EmailPreferencesOut(
        agency_id=row.agency_id,
        recipients=row.recipients,
        immediate_matches=row.immediate_matches,
        daily_digest=row.daily_digest,
        takedown_updates=row.takedown_updates,
    )


_WANTS = {
    EmailKind.NEW_MATCH: "immediate_matches",
    EmailKind.DAILY_DIGEST: "daily_digest",
    EmailKind.REMOVAL_CONFIRMED: "takedown_updates",
    EmailKind.REAPPEARED: "takedown_updates",
}


# --- the outbox -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Composed:
    subject: str
    text: str
    html: str


def enqueue(
    session: Session,
    *,
    agency_id: int,
    kind: EmailKind,
    event_key: str,
    composed: Composed,
    talent_id: int | None = None,
) -> bool:
    """One outbox row for this event, if the agency wants this kind of e-mail and has not
    already got one for the event; True when a row was written."""
    prefs = session.scalar(select(EmailPreference).where(EmailPreference.agency_id == agency_id))
    if prefs is None or not prefs.recipients or not getattr(prefs, _WANTS[kind]):
        return False
    exists = session.scalar(
        select(EmailMessage.id).where(
            EmailMessage.agency_id == agency_id, EmailMessage.event_key == event_key
        )
    )
    if exists is not None:
        return False
    session.add(
        EmailMessage(
            agency_id=agency_id,
            talent_id=talent_id,
            event_key=event_key,
            kind=kind.value,
            recipients=list(prefs.recipients),
            subject=composed.subject,
            text_body=composed.text,
            html_body=composed.html,
        )
    )
    session.flush()
    return True


def _html_page(title: str, paragraphs: list[str], rows: list[tuple[str, str]]) -> str:
    esc = html.escape
    body = "".join(f"<p>{esc(p)}</p>" for p in paragraphs)
    table = "".join(f"<tr><th align='left'>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return (
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{esc(title)}</title>"
        f"<body><h1>{esc(title)}</h1>{body}<table>{table}</table>"
        "<p><small>Sent by twinwatch. Change what you receive under E-mail in the "
        "console.</small></p></body></html>"
    )


def _text(title: str, paragraphs: list[str], rows: list[tuple[str, str]]) -> str:
    lines = [title, "=" * len(title), "", *(p + "\n" for p in paragraphs)]
    lines += [f"{k}: {v}" for k, v in rows]
    lines += ["", "Sent by twinwatch. Change what you receive under E-mail in the console."]
    return "\n".join(lines) + "\n"


def compose(title: str, paragraphs: list[str], rows: list[tuple[str, str]]) -> Composed:
    return Composed(title, _text(title, paragraphs, rows), _html_page(title, paragraphs, rows))


def enqueue_new_match(session: Session, alert: Alert, talent: Talent, *, zone: str = "UTC") -> bool:
    """The immediate e-mail for a new unlicensed ``match`` alert (in the alert's transaction)."""
    if alert.verdict != "unlicensed" or alert.band != AlertBand.MATCH.value:
        return False
    where = alert.publisher or "an unknown publisher"
    composed = compose(
        f"Unlicensed use of {talent.name} on {where}",
        [
            f"twinwatch found {talent.name}'s likeness on {where}, and no licence on record "
            "covers this use. Review it in the console's inbox (alert "
            f"{alert.id}) and draft a takedown notice if it is a violation."
        ],
        [
            ("Alert", str(alert.id)),
            ("Talent", talent.name),
            ("Publisher", where),
            ("Page", alert.page_url or "unknown"),
            ("Similarity", f"{alert.similarity:.3f}"),
            ("First seen", local_time(alert.first_seen_at, zone)),
        ],
    )
    return enqueue(
        session,
        agency_id=alert.agency_id,
        kind=EmailKind.NEW_MATCH,
        event_key=f"alert:{alert.id}",
        composed=composed,
        talent_id=alert.talent_id,
    )


def queue_daily_digests(db: Database, *, day: date) -> int:
    """One digest per agency that wants it, of the ``possible`` alerts first recorded on
    ``day`` (UTC); an agency with none gets none. Safe to run again: one per day."""
    start = datetime.combine(day, day_time(0), tzinfo=UTC)
    end = start + timedelta(days=1)
    queued = 0
    with db.session() as session:
        agencies = list(
            session.scalars(
                select(EmailPreference.agency_id).where(EmailPreference.daily_digest.is_(True))
            )
        )
        for agency_id in agencies:
            rows = list(
                session.scalars(
                    select(Alert)
                    .where(
                        Alert.agency_id == agency_id,
                        Alert.band == AlertBand.POSSIBLE.value,
                        Alert.created_at >= start,
                        Alert.created_at < end,
                    )
                    .order_by(Alert.id)
                    .limit(DIGEST_MAX_ALERTS)
                )
            )
            if not rows:
                continue
            # No talent names: a digest outlives no erasure (the alert ids lead to them).
            composed = compose(
                f"{len(rows)} possible match(es) to review, {day.isoformat()}",
                [
                    "These sightings look like your talents but are below the match threshold: "
                    "review them in the console's inbox (band: possible)."
                ],
                [
                    (
                        f"Alert {alert.id}",
                        f"on {alert.publisher or 'an unknown publisher'} "
                        f"(similarity {alert.similarity:.3f})",
                    )
                    for alert in rows
                ],
            )
            queued += enqueue(
                session,
                agency_id=agency_id,
                kind=EmailKind.DAILY_DIGEST,
                event_key=f"digest:{day.isoformat()}",
                composed=composed,
            )
    return queued


def list_messages(
    session: Session, *, principal: Principal, offset: int, limit: int
) -> list[EmailMessageOut]:
    agency_id = _agency_id(principal)
    rows = list(
        session.scalars(
            select(EmailMessage)
            # e-mails to a talent about her own consent are hers, not the agency's to read
            .where(
                EmailMessage.agency_id == agency_id,
                EmailMessage.kind != EmailKind.CONSENT_EVENT.value,
            )
            .order_by(EmailMessage.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )
    attempts: dict[int, list[EmailAttempt]] = {}
    for attempt in session.scalars(
        select(EmailAttempt)
        .where(EmailAttempt.message_id.in_([m.id for m in rows]))
        .order_by(EmailAttempt.id)
    ):
        attempts.setdefault(attempt.message_id, []).append(attempt)
    return [
        EmailMessageOut(
            id=m.id,
            kind=EmailKind(m.kind),
            subject=m.subject,
            recipients=m.recipients,
            status=m.status,
            attempts=m.attempts,
            last_error=m.last_error,
            created_at=m.created_at,
            sent_at=m.sent_at,
            attempt_log=[
                {
                    "at": a.attempted_at.isoformat(),
                    "smtp_code": a.smtp_code,
                    "error": a.error,
                    "ms": round(a.duration_ms, 1),
                }
                for a in attempts.get(m.id, [])
            ],
        )
        for m in rows
    ]


# --- delivery -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DueEmail:
    id: int
    recipients: list[str]
    subject: str
    text: str
    html: str
    agency_id: int = 0
    event_key: str = ""
    created_at: datetime | None = None

    def message_key(self) -> str:
        """The unique part of this row's Message-ID, the same on every attempt: derived from
        the row (its id, agency, event and creation instant to the microsecond), so two
        installs or a data reset that reuse a row id still give different ids."""
        made = self.created_at.isoformat() if self.created_at is not None else ""
        seed = f"{self.id}|{self.agency_id}|{self.event_key}|{made}"
        return hashlib.sha256(seed.encode()).hexdigest()[:32]


def claim_due_emails(db: Database, *, limit: int, lease_s: float) -> list[DueEmail]:
    """Claim up to ``limit`` due messages for ``lease_s`` (safe with several dispatchers)."""
    with db.session() as session:
        return [
            DueEmail(
                row.id,
                list(row.recipients),
                row.subject,
                row.text_body,
                row.html_body,
                agency_id=row.agency_id,
                event_key=row.event_key,
                created_at=row.created_at,
            )
            for row in claim_due_rows(session, EmailMessage, limit=limit, lease_s=lease_s)
        ]


def alert_face(
    db: Database, evidence: EvidenceStore, message: DueEmail, *, max_pixels: int
) -> bytes | None:
    """The face crop a new-match e-mail shows inline: the kept image of the alert it
    announces, cut to the latest sighting's face, only when that alert is the addressed
    agency's own (None: no alert, another agency's, no image kept, or it cannot be read)."""
    alert_id = _announced_alert(message)
    if alert_id is None:
        return None
    with db.session() as session:
        alert = session.get(Alert, alert_id)
        if alert is None or alert.agency_id != message.agency_id or not alert.evidence_path:
            return None
        path = alert.evidence_path
        box = latest_face_box(session, alert_id)
    if box is None:
        return None
    try:
        return face_thumbnail(evidence.read(path), box, max_pixels=max_pixels)
    except (OSError, TwinwatchError) as exc:
        log.warning("e-mail %d: no face picture (%s)", message.id, type(exc).__name__)
        return None


def _announced_alert(message: DueEmail) -> int | None:
    prefix, _, alert_id = message.event_key.partition(":")
    return int(alert_id) if prefix == "alert" and alert_id.isdigit() else None


def mime_message(
    message: DueEmail, *, settings: ServiceSettings, face: bytes | None = None
) -> MimeMessage:
    """The message as sent: plain text and HTML; with ``face`` (a JPEG) the HTML shows it
    inline (multipart/related, a ``cid:`` image), so no picture is fetched from anywhere."""
    mime = MimeMessage()
    mime["From"] = settings.smtp_from
    mime["To"] = ", ".join(message.recipients)
    mime["Subject"] = message.subject
    # The same id on every attempt: a receiver can drop a copy resent after a lost answer.
    # (The Date header is set per attempt by service.core.mail.)
    domain = message_id_domain(settings)
    mime["Message-ID"] = f"<twinwatch-email.{message.message_key()}@{domain}>"
    mime["X-Twinwatch-Message"] = str(message.id)
    text, page = message.text, message.html
    link = _alert_link(message, settings)
    if link is not None:  # added at send time: the public URL of today, not of the event
        text += f"\nOpen the alert in the console: {link}\n"
        esc = html.escape
        anchor = f"<p><a href='{esc(link, quote=True)}'>Open the alert in the console</a></p>"
        page = page.replace("</body>", anchor + "</body>", 1)
    cid = make_msgid("face", domain=domain) if face else None
    if cid is not None:
        picture = (
            f"<p><img src='cid:{cid[1:-1]}' alt='The face as it was seen' width='160' "
            "height='160'></p>"
        )
        page = page.replace("</h1>", "</h1>" + picture, 1)
    mime.set_content(text)
    mime.add_alternative(page, subtype="html")
    if face is not None and cid is not None:
        rich = mime.get_body(("html",))
        assert isinstance(rich, MimeMessage)
        rich.add_related(face, maintype="image", subtype="jpeg", cid=cid, filename="face.jpg")
    return mime


def _alert_link(message: DueEmail, settings: ServiceSettings) -> str | None:
    """The console link of the alert a new-match e-mail announces (``alert:<id>``), when a
    public URL is set."""
    alert_id = _announced_alert(message)
    return None if alert_id is None else settings.alert_url(alert_id)


def smtp_send(
    message: DueEmail, *, settings: ServiceSettings, face: bytes | None = None
) -> SmtpResult:
    """One attempt over SMTP (blocking: run it in a thread). Any refusal is an error."""
    return deliver(mime_message(message, settings=settings, face=face), settings=settings)


def send_test_email(*, to: str, settings: ServiceSettings) -> SmtpResult:
    """One test message to ``to`` (the signed-in person's own address), at once and never
    stored: it shows whether the configured SMTP server takes mail from twinwatch."""
    mime = MimeMessage()
    mime["From"] = settings.smtp_from
    mime["To"] = to
    mime["Subject"] = "twinwatch test e-mail"
    text = (
        "This is a test e-mail from twinwatch, sent from the console's E-mail page to your "
        "own address. If you can read it, alert e-mails can reach you."
    )
    mime.set_content(text + "\n")
    mime.add_alternative(
        "<!doctype html><html lang='en'><meta charset='utf-8'><title>twinwatch test e-mail"
        f"</title><body><p>{html.escape(text)}</p></body></html>",
        subtype="html",
    )
    return deliver(mime, settings=settings)


def record_email_attempt(
    db: Database, *, message: DueEmail, result: SmtpResult, settings: ServiceSettings
) -> None:
    now = utcnow()
    with db.session() as session:
        row = session.get(EmailMessage, message.id)
        if row is None:
            return
        session.add(
            EmailAttempt(
                message_id=row.id,
                attempted_at=now,
                smtp_code=result.smtp_code,
                error=result.error,
                duration_ms=result.duration_ms,
            )
        )
        count_attempt(row)
        if result.sent:
            row.status, row.sent_at, row.last_error = "sent", now, None
            return
        if retry_or_give_up(
            row,
            error=result.error,
            now=now,
            max_attempts=settings.email_max_attempts,
            backoff_base_s=settings.email_backoff_base_s,
        ):
            log.warning("e-mail %d failed for good after %d attempts", row.id, row.attempts)
