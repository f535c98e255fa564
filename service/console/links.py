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


def with_marker(path: str, name: str, value: int, anchor: str = "") -> str:
    """A console path with one more query parameter (``done=12``: the page offers to undo
    what was just done to alert 12), any earlier value of it replaced."""
    base, _, query = path.partition("?")
    kept = [part for part in query.split("&") if part and not part.startswith(f"{name}=")]
    return f"{base}?{'&'.join([*kept, f'{name}={value}'])}{anchor}"
