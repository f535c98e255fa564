"""An alert's history: every triage and review, who made it (a console user or an API key),
when, from which status to which, with the note. Oldest first."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.scoping import alert_in_scope
from service.alerts.schemas import AlertEventOut
from service.alerts.states import AlertStatus
from service.core.principal import Principal
from service.core.tables.access import ApiKey, User
from service.core.tables.alerts import AlertEvent

REMOVED_ACTOR = "someone since removed"


def actor_label(email: str | None, key_prefix: str | None) -> str:
    """Who acted, as every history shows it: a user by e-mail, an API key by its prefix (a
    user or key deleted since is "someone since removed")."""
    if email:
        return email
    return f"API key {key_prefix}…" if key_prefix else REMOVED_ACTOR


def alert_history(session: Session, *, principal: Principal, alert_id: int) -> list[AlertEventOut]:
    """One alert's history, for its agency (another tenant's alert answers 404)."""
    alert_in_scope(session, principal=principal, alert_id=alert_id)
    return histories(session, [alert_id]).get(alert_id, [])


def histories(session: Session, alert_ids: Iterable[int]) -> dict[int, list[AlertEventOut]]:
    """The histories of alerts the caller has already scoped (the inbox's page of them)."""
    ids = list(alert_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(AlertEvent, User.email, ApiKey.prefix)
        .outerjoin(User, User.id == AlertEvent.user_id)
        .outerjoin(ApiKey, ApiKey.id == AlertEvent.key_id)
        .where(AlertEvent.alert_id.in_(ids))
        .order_by(AlertEvent.id)
    )
    found: dict[int, list[AlertEventOut]] = {}
    for event, email, prefix in rows:
        found.setdefault(event.alert_id, []).append(
            AlertEventOut(
                at=event.at,
                action=event.action,
                from_status=AlertStatus(event.from_status),
                to_status=AlertStatus(event.to_status),
                note=event.note,
                user_email=email,
                key_prefix=prefix,
            )
        )
    return found
