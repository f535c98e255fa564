"""Wire types of takedown notices: the agency's profile, notices, their items and events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from service.alerts.schemas import EvidenceTalentOut
from service.core.schemas import EMAIL_PATTERN, FIELD_MAX, NOTE_MAX, SHORT_MAX, bounded_text
from service.rules.dates import StartInstant
from service.takedowns.states import ItemState, NoticeKind, NoticeStatus

#: A notice's e-mail field as an edit may set it: the profile's rule (it is drafted from the
#: profile), or empty while the draft lacks it (confirming then says it is missing).
NOTICE_EMAIL_PATTERN = rf"^$|{EMAIL_PATTERN}"


class AgencyProfileIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rights_holder": "Lumen Models Ltd, agent for its represented models",
                    "address": "1 Example Street, London",
                    "email": "legal@lumen.example",
                    "phone": "+44 20 0000 0000",
                    "signature_name": "Jane Booker",
                }
            ]
        }
    )

    rights_holder: str = bounded_text(200, min_length=1)
    address: str = bounded_text(FIELD_MAX, min_length=1)
    email: str = Field(min_length=3, max_length=SHORT_MAX, pattern=EMAIL_PATTERN)
    phone: str | None = bounded_text(50, default=None)
    signature_name: str = bounded_text(200, min_length=1)


class AgencyProfileOut(AgencyProfileIn):
    agency_id: int
    updated_at: datetime


class NoticeFields(BaseModel):
    """The texts of a notice the agency may edit before confirming it. Which are required
    depends on the kind (see ``service.takedowns.notices.REQUIRED``)."""

    recipient: str = bounded_text(FIELD_MAX, default="")
    notifier_name: str = bounded_text(FIELD_MAX, default="")
    notifier_address: str = bounded_text(FIELD_MAX, default="")
    notifier_email: str = bounded_text(FIELD_MAX, default="")
    notifier_phone: str = bounded_text(FIELD_MAX, default="")
    work_description: str = bounded_text(FIELD_MAX, default="")
    reasons: str = bounded_text(FIELD_MAX, default="")
    good_faith_statement: str = bounded_text(FIELD_MAX, default="")
    accuracy_statement: str = bounded_text(FIELD_MAX, default="")
    signature: str = bounded_text(FIELD_MAX, default="")
    additional_information: str = bounded_text(FIELD_MAX, default="")


class NoticeFieldsEdit(BaseModel):
    """A partial edit: only the fields given change. Its rules are also what a draft's
    stored fields must meet before it is confirmed (``notices.invalid_elements``)."""

    model_config = ConfigDict(extra="forbid")

    recipient: str | None = bounded_text(FIELD_MAX, default=None)
    notifier_name: str | None = bounded_text(FIELD_MAX, default=None)
    notifier_address: str | None = bounded_text(FIELD_MAX, default=None)
    notifier_email: str | None = Field(
        default=None, max_length=SHORT_MAX, pattern=NOTICE_EMAIL_PATTERN
    )
    notifier_phone: str | None = bounded_text(FIELD_MAX, default=None)
    work_description: str | None = bounded_text(FIELD_MAX, default=None)
    reasons: str | None = bounded_text(FIELD_MAX, default=None)
    good_faith_statement: str | None = bounded_text(FIELD_MAX, default=None)
    accuracy_statement: str | None = bounded_text(FIELD_MAX, default=None)
    signature: str | None = bounded_text(FIELD_MAX, default=None)
    additional_information: str | None = bounded_text(FIELD_MAX, default=None)


MAX_NOTICE_ALERTS = 200


class NoticeCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"kind": "dmca", "alert_ids": [41, 42]}]}
    )

    kind: NoticeKind
    alert_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        min_length=1,
        max_length=MAX_NOTICE_ALERTS,
        description="One alert, or a group of alerts of one talent on one publisher.",
    )


class NoticeSend(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"sent_to": "copyright@shop.example", "note": "via the shop's web form"}]
        }
    )

    sent_to: str = bounded_text(500, min_length=1)
    sent_at: StartInstant | None = Field(
        default=None,
        description="Default: now. A date alone is its start (UTC); no zone means UTC.",
    )
    note: str | None = bounded_text(NOTE_MAX, default=None)


class NoticeItemOut(BaseModel):
    alert_id: int
    page_url: str | None
    image_url: str | None
    image_sha256: str
    image_phash: str | None
    state: ItemState
    checked_at: datetime | None
    check_detail: str | None


class NoticeEventOut(BaseModel):
    at: datetime
    from_status: NoticeStatus | None
    to_status: NoticeStatus
    actor: str
    note: str | None


class NoticeOut(BaseModel):
    id: int
    kind: NoticeKind
    status: NoticeStatus
    talent_id: int = Field(
        description="The talent named (a stored idempotent answer is "
        "forgotten when that talent is erased)."
    )
    talent: EvidenceTalentOut
    publisher: str | None
    fields: NoticeFields
    missing: list[str] = Field(description="Required elements still empty (draft only).")
    items: list[NoticeItemOut]
    final_sha256: str | None
    finalized_at: datetime | None
    sent_at: datetime | None
    sent_to: str | None
    due_at: datetime | None
    overdue: bool
    last_checked_at: datetime | None
    created_at: datetime
    history: list[NoticeEventOut]
