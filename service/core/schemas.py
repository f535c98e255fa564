"""Wire types every capability shares: pages, the error envelope, the model pack, and the
bounds on input text (one owner, read from the columns the text is stored in)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy.orm import InstrumentedAttribute

from indexer.db import Talent
from service.core.tables.alerts import Webhook
from service.core.tables.jobs import JobItem
from service.core.tables.scanning import Scan

T = TypeVar("T")


# --- bounds on input text: one owner, read from the columns the text is stored in ---------
def column_length(column: InstrumentedAttribute[Any]) -> int:
    """The declared length of a ``String(n)`` column (what PostgreSQL enforces)."""
    length = getattr(column.property.columns[0].type, "length", None)
    if not isinstance(length, int):
        raise TypeError(f"{column} has no declared length")
    return length


#: PostgreSQL refuses the NUL character in text; so does every text field of the API.
NO_NUL = r"^[^\x00]*$"


#: Names people read (talents): no control characters at all.
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


NAME_MAX = column_length(Talent.name)


PUBLISHER_MAX = column_length(Scan.publisher)


CHANNEL_MAX = column_length(Scan.channel)


UPLOAD_NAME_MAX = column_length(JobItem.upload_name)


SECRET_MAX = column_length(Webhook.secret)


URL_MAX = 2048  # page, image and webhook URLs (stored as text; browsers' practical limit)


NOTE_MAX = 4000


def bounded_text(max_length: int, *, min_length: int = 0, **kwargs: Any) -> Any:
    """A ``Field`` for text of at most ``max_length`` characters and no NUL."""
    return Field(min_length=min_length, max_length=max_length, pattern=NO_NUL, **kwargs)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class ErrorBody(BaseModel):
    code: str = Field(examples=["talent_not_found"], description="Stable; one per error kind.")
    message: str = Field(examples=["No talent with id 42."])
    details: dict[str, Any] | None = Field(
        default=None,
        description="Facts about the error (limits, offending fields), when there are any.",
    )


class ErrorResponse(BaseModel):
    error: ErrorBody


class ModelPackOut(BaseModel):
    name: str
    version: str


FIELD_MAX = 4000


SHORT_MAX = 320


#: An e-mail address as a header may carry it: one @, no spaces, controls or separators.
EMAIL_PATTERN = r"^[^\s@\x00-\x1f<>,;]+@[^\s@\x00-\x1f<>,;]+$"


# --- the talent's own view and consent (issue 9) ---------------------------------------------
SHA256_HEX = r"^[0-9a-f]{64}$"
