"""When a derived image becomes an alert (issue 22): the one owner of that rule and of its
words. ``service.scanning.recording`` does the plumbing (licence evaluation at the
sighting, the alert row); this module says, from the finding and the verdict, whether to
alert and why.

The rule, per talent's portfolio image found in a scan:

- a copy with another person's face pasted on (``face_replaced``) always alerts, whatever
  the licence says: no licence may allow it;
- a use no licence covers (same publisher / channel / territory / date evaluation as a
  face sighting) alerts;
- a covered use alerts when the copy is altered beyond what the covering licence allows:
  a licence allowing ``none`` covers only copies shown whole (at least
  ``WHOLE_AREA_SHARE`` of the original), unmirrored and upright (within
  ``UPRIGHT_DEG``); resizing and re-encoding are never alterations. ``retouching`` allows
  cropping, mirroring, rotating and restyling (colour changes are not measured, so a
  restyled but whole copy counts as unaltered).
"""

from __future__ import annotations

from dataclasses import dataclass

from indexer.copies.detector import DerivedFinding
from service.rules.vocabulary import Alterations

WHOLE_AREA_SHARE = 0.95
UPRIGHT_DEG = 2.0
FACE_REPLACED = "face replaced: her photo with another person's face pasted on"


@dataclass(frozen=True)
class DerivedDecision:
    """Whether a derived finding alerts, and the plain-word reasons it carries."""

    alerts: bool
    reasons: tuple[str, ...]


def derived_words(found: DerivedFinding) -> str:
    """ "derived from portfolio image 12 (48% of it)"."""
    share = round(found.placement.area_share * 100)
    return f"derived from portfolio image {found.portfolio_image_id} ({share}% of it)"


def alterations_seen(found: DerivedFinding) -> list[str]:
    """The alterations of the original the finding shows, in words (empty: unaltered)."""
    placed = found.placement
    seen: list[str] = []
    if placed.area_share < WHOLE_AREA_SHARE:
        seen.append("cropped")
    if placed.mirrored:
        seen.append("mirrored")
    if abs(placed.rotation_deg) > UPRIGHT_DEG:
        seen.append(f"rotated {abs(placed.rotation_deg):.0f}°")
    return seen


def decide(
    found: DerivedFinding,
    *,
    licensed_by: str | None,
    allowed: Alterations | None,
    verdict_reasons: list[str],
) -> DerivedDecision:
    """``licensed_by``: the licensee of the licence covering the use (None: none covers it);
    ``allowed``: what that licence allows; ``verdict_reasons``: the evaluation's words."""
    words = derived_words(found)
    if found.face_replaced:
        return DerivedDecision(True, (f"{words}, {FACE_REPLACED}",))
    if licensed_by is None:
        return DerivedDecision(True, (words, *verdict_reasons))
    seen = alterations_seen(found)
    if seen and allowed is not Alterations.RETOUCHING:
        changed = ", ".join(seen)
        return DerivedDecision(
            True,
            (f"{words}, {changed}: the licence to {licensed_by} allows no alterations",),
        )
    return DerivedDecision(False, ())
