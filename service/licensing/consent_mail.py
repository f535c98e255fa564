"""The talent's e-mail about each consent event: a licence awaiting her signature (or whose
terms changed), a document uploaded in her name, a signature, a confirmation or an admin's
verification, a withdrawal.

One row of the e-mail outbox (``email_messages``, delivered over SMTP by the worker like the
agency's e-mails, :mod:`service.alerts.emails`) per event, written in the event's
transaction (``event_key`` ``consent-event:<id>``, unique), addressed to the talent's own
active accounts (none: no e-mail; the event is on her console page all the same). Without
``TWINWATCH_SMTP_HOST`` the rows wait in the outbox. These e-mails are the talent's: the
agency's outbox listing leaves them out. They carry the licence's terms and their sha256,
never the uploaded document, and go with the talent when she is erased.
"""

from __future__ import annotations

import html
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from indexer.db import Talent
from service.core.principal import Role
from service.core.tables.access import User
from service.core.tables.alerts import EmailMessage, EmailPreference
from service.core.tables.licensing import ConsentEvent, Licence
from service.licensing.states import CONSENT_EMAIL_KIND, CONSENT_WITHDRAWN_KIND, ConsentEventKind

WHAT: dict[ConsentEventKind, tuple[str, str]] = {
    ConsentEventKind.TERMS_SET: (
        "Licence {id} ({licensee}) awaits your signature",
        "Your agency recorded licence {id} for {licensee}, or changed its terms. It is not in "
        "force until you read these exact terms and sign them in your twinwatch account "
        "(Licences). If you do not agree, do not sign.",
    ),
    ConsentEventKind.DOCUMENT_ATTESTED: (
        "A document signed in your name was uploaded for licence {id} ({licensee})",
        "Your agency uploaded a document it says you signed, consenting to licence {id} for "
        "{licensee}. It does not count until you confirm it in your twinwatch account "
        "(Licences), where you can see the document. If you did not sign it, do not confirm "
        "it, and withdraw your consent there.",
    ),
    ConsentEventKind.SIGNED: (
        "You signed licence {id} ({licensee})",
        "You consented to licence {id} for {licensee} by typing your name over these exact "
        "terms. If that was not you, withdraw your consent in your twinwatch account at once "
        "and tell your agency.",
    ),
    ConsentEventKind.CONFIRMED_BY_TALENT: (
        "You confirmed the signed document for licence {id} ({licensee})",
        "You confirmed the document your agency uploaded: licence {id} for {licensee} is in "
        "force for these terms from now on. You can withdraw at any time.",
    ),
    ConsentEventKind.VERIFIED_BY_ADMIN: (
        "An administrator verified the signed document for licence {id} ({licensee})",
        "A twinwatch administrator verified the document your agency uploaded: licence {id} "
        "for {licensee} is in force for these terms from now on. If you did not sign it, "
        "withdraw your consent in your twinwatch account.",
    ),
    ConsentEventKind.WITHDRAWN: (
        "You withdrew your consent to licence {id} ({licensee})",
        "Uses of your likeness seen from now on under licence {id} for {licensee} are "
        "unlicensed; uses seen before stay licensed and paid.",
    ),
}
FOOTER = (
    "Sent by twinwatch to the e-mail address of your own account. Every consent event of "
    "yours is listed in your account under Consent."
)


def recipients(session: Session, talent_id: int) -> list[str]:
    """The talent's own active accounts' addresses."""
    return list(
        session.scalars(
            select(User.email)
            .where(
                User.talent_id == talent_id,
                User.role == Role.TALENT.value,
                User.disabled_at.is_(None),
            )
            .order_by(User.id)
        )
    )


def enqueue(session: Session, *, event: ConsentEvent, licence: Licence) -> bool:
    """The event's e-mail to the talent, if she has an account; True when one was queued."""
    to = recipients(session, event.talent_id)
    talent = session.get(Talent, event.talent_id)
    if not to or talent is None:
        return False
    subject, text, rich = compose(event, licence)
    session.add(
        EmailMessage(
            agency_id=talent.agency_id,
            talent_id=talent.id,
            event_key=f"consent-event:{event.id}",
            kind=CONSENT_EMAIL_KIND,
            recipients=to,
            subject=subject,
            text_body=text,
            html_body=rich,
        )
    )
    session.flush()
    return True


AGENCY_WITHDRAWN = (
    "{talent} withdrew consent to licence {id} ({licensee})",
    "{talent} withdrew her consent to licence {id} for {licensee} in her twinwatch account. "
    "Uses of her likeness seen from now on under this licence are unlicensed; uses seen "
    "before stay licensed and paid. Tell {licensee}, and ask her for a new signature if the "
    "licence should go on.",
)


def enqueue_agency_withdrawal(session: Session, *, event: ConsentEvent, licence: Licence) -> bool:
    """The agency's e-mail that its talent withdrew her consent (to the addresses of its
    e-mail preferences, whatever kinds they chose: it changes what is licensed). Listed on
    the agency's E-mail page; True when one was queued."""
    talent = session.get(Talent, event.talent_id)
    if talent is None:
        return False
    prefs = session.scalar(
        select(EmailPreference).where(EmailPreference.agency_id == talent.agency_id)
    )
    if prefs is None or not prefs.recipients:
        return False
    title, paragraph = AGENCY_WITHDRAWN
    values = {"talent": talent.name, "id": licence.id, "licensee": licence.licensee}
    subject, body = title.format(**values), paragraph.format(**values)
    rows = _rows(event)
    text = "\n".join([subject, "=" * len(subject), "", body, "", *(f"{k}: {v}" for k, v in rows)])
    session.add(
        EmailMessage(
            agency_id=talent.agency_id,
            talent_id=talent.id,
            event_key=f"consent-withdrawn:{event.id}",
            kind=CONSENT_WITHDRAWN_KIND,
            recipients=list(prefs.recipients),
            subject=subject[:300],
            text_body=text + "\n",
            html_body=_page(subject, body, rows),
        )
    )
    session.flush()
    return True


def _page(subject: str, body: str, rows: list[tuple[str, str]]) -> str:
    esc = html.escape
    table = "".join(f"<tr><th align='left'>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return (
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{esc(subject)}</title>"
        f"<body><h1>{esc(subject)}</h1><p>{esc(body)}</p><table>{table}</table></body></html>"
    )


def _rows(event: ConsentEvent) -> list[tuple[str, str]]:
    terms: dict[str, Any] = json.loads(event.terms)
    money = terms.get("compensation") or {}
    listed = ("publishers", "channels", "territories", "media")
    return [
        ("Licence", str(event.licence_id)),
        ("Event", f"{event.kind}, {event.at.isoformat()}, by {event.actor_role}"),
        *((name.capitalize(), ", ".join(terms.get(name) or []) or "none") for name in listed),
        ("AI label required", "yes" if terms.get("ai_label_required") else "no"),
        ("Valid", f"{terms.get('valid_from')} to {terms.get('valid_until') or 'open-ended'}"),
        (
            "Compensation",
            f"{money.get('per_use') or '-'} per use, {money.get('flat_fee') or '-'} flat fee "
            f"({money.get('currency') or 'no currency'})",
        ),
        ("Terms sha256", event.terms_sha256),
        ("Ledger entry sha256", event.sha256),
    ]


def compose(event: ConsentEvent, licence: Licence) -> tuple[str, str, str]:
    """Subject, plain text and HTML (everything escaped) of the event's e-mail."""
    title, paragraph = WHAT[ConsentEventKind(event.kind)]
    values = {"id": licence.id, "licensee": licence.licensee}
    subject, body = title.format(**values), paragraph.format(**values)
    rows = _rows(event)
    text = "\n".join(
        [subject, "=" * len(subject), "", body, "", *(f"{k}: {v}" for k, v in rows), "", FOOTER]
    )
    rich = _page(subject, body, rows).replace(
        "</body>", f"<p><small>{html.escape(FOOTER)}</small></p></body>", 1
    )
    return subject[:300], text + "\n", rich
