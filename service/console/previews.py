"""Reduced copies of the assets a brand has just pre-checked, so that its pages can show the
asset with each face's numbered box.

twinwatch keeps no image of a scan (docs/architecture.md, Privacy): these copies live only in
this process's memory, at most :data:`CAPACITY` of them and for :data:`KEPT_FOR`, and are
served only to the brand that uploaded them. Past that (or from another process), the page
shows the numbered boxes on a blank frame of the asset's shape."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from fastapi import Request

CAPACITY = 64  # at most 64 x ~100 KB
KEPT_FOR = 30 * 60.0  # seconds


class Previews:
    """(brand id, image sha256) -> a reduced JPEG, least recently used first out."""

    def __init__(self, *, capacity: int = CAPACITY, kept_for: float = KEPT_FOR) -> None:
        self._capacity, self._kept_for = capacity, kept_for
        self._items: OrderedDict[tuple[int, str], tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, brand_id: int, sha256: str, jpeg: bytes) -> None:
        with self._lock:
            self._items[(brand_id, sha256)] = (time.monotonic() + self._kept_for, jpeg)
            self._items.move_to_end((brand_id, sha256))
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def get(self, brand_id: int, sha256: str) -> bytes | None:
        with self._lock:
            found = self._items.get((brand_id, sha256))
            if found is None:
                return None
            if found[0] < time.monotonic():
                del self._items[(brand_id, sha256)]
                return None
            return found[1]


def previews_of(request: Request) -> Previews:
    """The app's one store (made by :func:`service.console.mount.install_console`)."""
    store = getattr(request.app.state, "console_previews", None)
    if not isinstance(store, Previews):
        store = request.app.state.console_previews = Previews()
    return store
