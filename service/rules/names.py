"""When two written names are the same tenant: "Atelier  Nord" and "atelier nord" are,
"Atelier Nord SAS" and "Atelier Nord" are not (a legal form is part of the name; the agency
links such a licence to the brand by hand)."""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[\W_]+")


def name_key(name: str) -> str:
    """A name as it is compared: Unicode-normalised (NFKC), case-folded, every run of
    punctuation and spaces one space, trimmed ("H&M" and "h & m" are both "h m")."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return _NOT_WORD.sub(" ", folded).strip()
