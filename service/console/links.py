"""Where the console lives, and the links it hands out."""

from __future__ import annotations

from service.core.settings import CONSOLE_PREFIX

PREFIX = CONSOLE_PREFIX
LOGIN = f"{PREFIX}/login"
HOME = f"{PREFIX}/"
STATIC = f"{PREFIX}/static"


def safe_return_path(candidate: str | None, default: str) -> str:
    """Only same-site console paths are followed after a form (no open redirect)."""
    if (
        candidate
        and candidate.startswith(PREFIX + "/")
        and "//" not in candidate
        and "\\" not in candidate
    ):
        return candidate
    return default
