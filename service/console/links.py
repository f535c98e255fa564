"""Where the console lives, and the links it hands out."""

from __future__ import annotations

from service.settings import ServiceSettings

PREFIX = "/console"
LOGIN = f"{PREFIX}/login"
HOME = f"{PREFIX}/"
STATIC = f"{PREFIX}/static"


def invitation_url(settings: ServiceSettings, token: str) -> str:
    return f"{settings.console_url()}{PREFIX}/invite/{token}"


def safe_return_path(candidate: str | None, default: str) -> str:
    """Only same-site console paths are followed after a form (no open redirect)."""
    if (candidate and candidate.startswith(PREFIX + "/") and "//" not in candidate
            and "\\" not in candidate):
        return candidate
    return default
