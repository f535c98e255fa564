"""How deeply JSON from outside may nest: one bound for every JSON document twinwatch reads
from a submitter or a crawled page (job manifests, a page's JSON-LD).

Python's ``json`` decoder recurses once per level and, on hostile nesting such as
``"[" * 50000``, raises ``RecursionError`` (not ``ValueError``), which no caller expects. So
the depth is checked before decoding, in one pass over the text's brackets (strings skipped)
that stops at the first level past the bound: a hostile document costs only the bytes up to
there. Real documents are shallow: a manifest is an object of objects (depth 2), a schema.org
JSON-LD block rarely goes past 6.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: The deepest nesting of arrays and objects read from outside.
MAX_JSON_DEPTH = 64
_OPENING = frozenset("[{")
_CLOSING = frozenset("]}")
# A string (escapes included) or one bracket: strings are skipped whole, so a bracket inside
# one is not counted.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class JsonTooDeepError(ValueError):
    """The document nests arrays and objects deeper than the bound (a ``ValueError``, like
    any other text that is not acceptable JSON)."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"nested deeper than {max_depth} levels")
        self.max_depth = max_depth


def nests_deeper_than(text: str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``text`` opens more than ``max_depth`` arrays/objects inside one another."""
    depth = 0
    for token in _TOKENS.finditer(text):
        bracket = token.group()
        if bracket in _OPENING:
            depth += 1
            if depth > max_depth:
                return True
        elif bracket in _CLOSING:
            depth = max(0, depth - 1)
    return False


def loads_bounded(text: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads``, but :class:`JsonTooDeepError` for nesting deeper than ``max_depth``
    (other malformed text raises ``ValueError`` as usual)."""
    if nests_deeper_than(text, max_depth):
        raise JsonTooDeepError(max_depth)
    try:
        return json.loads(text)
    except RecursionError:  # only if the caller's own stack was already nearly full
        raise JsonTooDeepError(max_depth) from None
