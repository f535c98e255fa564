"""Who is calling: a role and the one tenant (or talent) it is scoped to. Every capability
takes a :class:`Principal`; API keys and console users (``service.access``) both become one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from service.core.errors import ForbiddenError


class Role(StrEnum):
    ADMIN = "admin"
    AGENCY = "agency"
    MONITOR = "monitor"
    BRAND = "brand"
    TALENT = "talent"  # a person whose likeness it is: their own sightings, licences, pay


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's (or console user's) role and the one tenant it is scoped to.

    Machines call with an API key (``key_id``); people sign in to the console as a user
    (``user_id``, no key). Both go through the same service functions and scoping.
    """

    key_id: int | None
    key_prefix: str
    role: Role
    agency_id: int | None = None
    brand_id: int | None = None
    monitor_id: int | None = None
    user_id: int | None = None
    talent_id: int | None = None  # a talent's own key or account: that talent only

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def require(self, *roles: Role) -> None:
        if self.role not in roles and not self.is_admin:
            allowed = ", ".join(r.value for r in roles)
            raise ForbiddenError(
                f"This endpoint is for {allowed} keys; this key is {self.role.value}."
            )
