"""The consent certificate of a licence: what the talent consented to and how, for the
agency, the talent and admins (a brand holding the licence gets it from the agency).

One self-contained HTML document (the PDF is the same document through WeasyPrint, as the
takedown notices): the licence's canonical terms and their sha256, the talent, every
consent record with its signer, method, times, the account or key that acted and the
document's sha256, the confirmation or verification, the licence's ledger events, and the
head of the talent's chain with the outcome of verifying it when the certificate was made.
Keep the certificate: a chain head recorded outside twinwatch is what shows a later
rewrite of the ledger (docs/consent.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from indexer.db import Agency, Talent, utcnow
from service.core.principal import Principal
from service.core.tables.access import ApiKey, User
from service.licensing import consent, consent_ledger, consent_mail, talent_view
from service.licensing.consent_schemas import ConsentEventOut, ConsentRecordOut


@dataclass(frozen=True)
class CertifiedRecord:
    record: ConsentRecordOut
    acted_by: str  # the account or key that signed or uploaded
    confirmed_by: str | None


@dataclass(frozen=True)
class Certificate:
    licence_id: int
    licensee: str
    talent: str
    agency: str
    talent_accounts: list[str]
    status: str
    terms: dict[str, Any]
    terms_text: str
    terms_sha256: str
    records: list[CertifiedRecord]
    events: list[ConsentEventOut]
    chain_length: int
    chain_head: str | None
    chain_check: str
    issued_at: datetime

    @property
    def file_name(self) -> str:
        return f"twinwatch-consent-certificate-licence-{self.licence_id}"


def _account(session: Session, user_id: int | None, key_id: int | None) -> str:
    if user_id is not None:
        user = session.get(User, user_id)
        return f"{user.role} account {user.email}" if user else f"user {user_id} (deleted)"
    if key_id is not None:
        key = session.get(ApiKey, key_id)
        return f"{key.role} API key {key.prefix}…" if key else f"API key {key_id} (deleted)"
    return "unknown (made before accounts were recorded)"


def certificate(session: Session, *, principal: Principal, licence_id: int) -> Certificate:
    licence = consent.licence_for_consent(session, principal=principal, licence_id=licence_id)
    talent = session.get(Talent, licence.talent_id)
    assert talent is not None
    agency = session.get(Agency, talent.agency_id)
    detail = talent_view.consent_detail(licence)
    records = [
        CertifiedRecord(
            record=out,
            acted_by=_account(session, row.user_id, row.key_id),
            confirmed_by=_account(session, row.confirmed_by_user_id, row.confirmed_by_key_id)
            if row.confirmed_at is not None
            else None,
        )
        for row, out in zip(licence.consents, detail.records, strict=True)
    ]
    head = consent_ledger.chain_head(session, talent.id)
    check = consent_ledger.verify(session, talent_id=talent.id)
    return Certificate(
        licence_id=licence.id,
        licensee=licence.licensee,
        talent=talent.name,
        agency=agency.name if agency else "",
        talent_accounts=consent_mail.recipients(session, talent.id),
        status=detail.status.value,
        terms=detail.terms,
        terms_text=consent.canonical_terms(licence),
        terms_sha256=detail.terms_sha256,
        records=records,
        events=talent_view.licence_events(session, principal=principal, licence_id=licence.id),
        chain_length=head.length if head else 0,
        chain_head=head.head_sha256 if head else None,
        chain_check="intact" if check.ok else f"BROKEN: {check.broken}",
        issued_at=utcnow(),
    )


_templates = Environment(
    loader=PackageLoader("service.licensing", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"
_templates.filters["pretty"] = lambda value: json.dumps(
    value, indent=2, sort_keys=True, ensure_ascii=False
)


def render_html(cert: Certificate) -> str:
    return _templates.get_template("consent_certificate.html").render(cert=cert)
