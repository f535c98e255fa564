"""The kinds and states of takedown notices and their items (domain enums of takedowns)."""

from __future__ import annotations

from enum import StrEnum


# --- takedown notices and e-mail (service/takedowns, service/alerts/emails.py) --------------
class NoticeKind(StrEnum):
    """``dmca``: 17 U.S.C. §512(c)(3); ``dsa``: EU Digital Services Act Art. 16(2)."""

    DMCA = "dmca"
    DSA = "dsa"


class NoticeStatus(StrEnum):
    DRAFT = "draft"
    FINAL = "final"
    SENT = "sent"
    REMOVED = "removed"
    STILL_UP = "still_up"
    REAPPEARED = "reappeared"


class ItemState(StrEnum):
    """One URL of a notice: as reported, or what the last re-check (or a sighting) found."""

    REPORTED = "reported"
    REMOVED = "removed"
    STILL_UP = "still_up"
    UNREACHABLE = "unreachable"
    REAPPEARED = "reappeared"
