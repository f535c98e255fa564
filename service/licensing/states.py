"""The states of the talent's consent: a record's standing, who confirmed a document, and
the kinds of events in the consent ledger (domain enums of licensing).

Where a *licence* stands with consent (``ConsentStatus``) and how a record was made
(``ConsentMethod``) are shared vocabulary: :mod:`service.rules.vocabulary`."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class RecordStatus(StrEnum):
    """Whether a consent record counts (puts the licence in force for its terms).

    ``signed``: the talent typed her name in her own account: counts from ``signed_at``.
    ``attested_by_agency``: the agency uploaded a document it says she signed: the agency's
    statement only, it does not count. ``confirmed``: such a document that the talent
    confirmed in her own account, or an admin verified: counts from ``confirmed_at``."""

    SIGNED = "signed"
    ATTESTED_BY_AGENCY = "attested_by_agency"
    CONFIRMED = "confirmed"


class ConfirmedBy(StrEnum):
    """Who turned an attested document into consent."""

    TALENT = "talent"
    ADMIN = "admin"


class ConsentEventKind(StrEnum):
    """One entry of the consent ledger (:mod:`service.licensing.consent_ledger`)."""

    TERMS_SET = "terms_set"  # a licence needing consent recorded, or its terms changed
    DOCUMENT_ATTESTED = "document_attested"  # the agency uploaded a signed document
    SIGNED = "signed"  # the talent typed her name over the terms
    CONFIRMED_BY_TALENT = "confirmed_by_talent"  # she confirmed an attested document
    VERIFIED_BY_ADMIN = "verified_by_admin"  # an admin verified an attested document
    WITHDRAWN = "withdrawn"  # the talent withdrew consent to the licence


#: The outbox kind of the e-mail that tells the talent of a consent event
#: (``service.alerts.states.EmailKind`` lists it beside the agency's kinds).
CONSENT_EMAIL_KIND: Final = "consent_event"
#: The outbox kind of the e-mail that tells the agency its talent withdrew her consent.
CONSENT_WITHDRAWN_KIND: Final = "consent_withdrawn"
