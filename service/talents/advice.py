"""Plain words for the quality gate's refusals: what is wrong with a reference photo and how
to fix it. The one owner of these words (the API's photo outcome and the console show them);
the gate's technical figures stay in the outcome's ``reasons``."""

from __future__ import annotations

from indexer.quality import BLURRED, NO_FACE, SEVERAL_FACES, SMALL_FACE, UNSURE_FACE, Refusal

# Keyed by the gate's reason codes (indexer/quality.py); {measured} and {limit} are its figures.
ADVICE: dict[str, str] = {
    NO_FACE: (
        "No face was found: use a photo where the talent's face is clearly visible, "
        "facing the camera and not covered or cut off."
    ),
    SEVERAL_FACES: (
        "The photo shows {measured:.0f} faces of similar size: use a photo of the talent "
        "alone, or crop it so that only the talent's face remains."
    ),
    SMALL_FACE: (
        "The face is small ({measured:.0f} px wide): use a photo where the face is at least "
        "{limit:.0f} px wide, such as a closer crop or a larger original."
    ),
    UNSURE_FACE: (
        "The face is hard to make out (partly hidden, turned away or not a real face): use a "
        "photo where the talent looks towards the camera with nothing covering the face."
    ),
    BLURRED: (
        "The face is blurred: use a sharp, in-focus photo, not an enlarged thumbnail or a "
        "screenshot."
    ),
}

# Shown for a talent with no usable reference photo, and below RECOMMENDED_PHOTOS photos.
NOT_FINDABLE = "cannot be found yet — add a reference photo"
RECOMMENDED_PHOTOS = 3
MORE_PHOTOS = "Three or more varied photos find a talent far more reliably than one."


def advice(refusals: tuple[Refusal, ...] | list[Refusal], reasons: list[str]) -> list[str]:
    """One plain sentence per refusal; a refusal from outside the gate (a file that cannot be
    read, say) is already in plain words, so its reason is the advice."""
    if not refusals:
        return list(reasons)
    return [
        ADVICE[r.code].format(measured=r.measured or 0.0, limit=r.limit or 0.0) for r in refusals
    ]
