"""Normalising where an image was published, for deduplicating alerts and usage events."""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit


def publisher_key(publisher: str | None, page_url: str | None) -> str:
    """``host`` (lower case, no ``www.``, no port) plus the path for account URLs.

    A submitted publisher keeps its path (``instagram.com/hm``); a page URL contributes only
    its host, since every page of a site is the same publisher. Unknown gives "".
    """
    if publisher:
        return _normalise(publisher, keep_path=True)
    if page_url:
        return _normalise(page_url, keep_path=False)
    return ""


def _normalise(value: str, *, keep_path: bool) -> str:
    text = value.strip()
    parts = urlsplit(text if "://" in text else f"//{text}")
    host = (parts.hostname or "").rstrip(".").lower()
    host = host.removeprefix("www.")
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    path = parts.path.rstrip("/").lower() if keep_path else ""
    return f"{host}{path}"
