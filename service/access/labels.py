"""Who someone is, in plain words: the one wording of roles and account states for every
page that shows them to a person (the API and the command line keep the codes)."""

from __future__ import annotations

from service.core.principal import Role

ROLES: dict[str, str] = {
    Role.ADMIN: "administrator",
    Role.AGENCY: "agency",
    Role.BRAND: "brand",
    Role.MONITOR: "monitor",
    Role.TALENT: "talent",
}
ACCOUNT_STATES: dict[str, str] = {  # service.access.accounts.account_state
    "invited": "invited, no password yet",
    "active": "active",
    "disabled": "disabled",
}
INDEX_KINDS: dict[str, str] = {  # indexer.vector_index.IndexKind
    "flat": "exact (every vector compared)",
    "ivf": "approximate (IVF clusters)",
}


def role(code: str) -> str:
    return ROLES.get(code, code)


def account_state(code: str) -> str:
    return ACCOUNT_STATES.get(code, code)


def index_kind(code: str) -> str:
    return INDEX_KINDS.get(code, code)
