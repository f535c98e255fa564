"""Undo: take back the newest change of an alert (a triage or a review), as the one who made
it did it, within :data:`UNDO_WINDOW`. The status, note and billing go back to what they
were, a "not the same person" stops keeping that face from the talent, and the history
records the undo (the change itself stays in the history, marked undone by it)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from indexer.db import utcnow
from service.access.scoping import alert_in_scope
from service.alerts.alerts import (
    confirmed_same_person,
    get_alert,
    record_event,
    refresh_needs_review,
    standing_events,
)
from service.alerts.errors import UndoNotAllowedError
from service.alerts.schemas import AlertOut
from service.alerts.states import UNDO_ACTION, AlertStatus, ReviewDecision, TriageAction
from service.core.principal import Principal
from service.core.tables.alerts import Alert, AlertEvent, FaceRejection
from service.licensing import billing

log = logging.getLogger(__name__)

UNDO_WINDOW = timedelta(minutes=15)
_SAME_PERSON = f"review_{ReviewDecision.SAME_PERSON.value}"
_FALSE_MATCH = frozenset(
    {f"review_{ReviewDecision.NOT_SAME_PERSON.value}", TriageAction.DISMISS_FALSE_MATCH.value}
)


def undo(session: Session, *, principal: Principal, alert_id: int) -> AlertOut:
    """Take back the alert's newest standing change (409 ``undo_not_allowed`` when there is
    none, it is someone else's, or it is older than the undo window)."""
    alert = alert_in_scope(session, principal=principal, alert_id=alert_id)
    session.refresh(alert, with_for_update=True)
    standing = standing_events(session, alert.id)
    last = standing[-1] if standing else None
    _check_undoable(last, principal, alert_id)
    assert last is not None
    record_event(
        session,
        alert,
        principal=principal,
        action=UNDO_ACTION,
        to_status=AlertStatus(last.from_status),
        note=None,
    )
    alert.status = last.from_status
    before = standing[-2] if len(standing) > 1 else None
    alert.triage_note = before.note if before else None
    alert.triaged_at = before.at if before and alert.status != AlertStatus.OPEN else None
    session.flush()
    _undo_effects(session, alert, last)
    refresh_needs_review(session, alert)
    log.info("alert %d: %s undone", alert.id, last.action)
    return get_alert(session, principal=principal, alert_id=alert_id)


def _check_undoable(last: AlertEvent | None, principal: Principal, alert_id: int) -> None:
    if last is None:
        raise UndoNotAllowedError(f"Alert {alert_id} has no change to undo.")
    mine = last.user_id == principal.user_id and last.key_id == (principal.key_id or None)
    if not mine:
        raise UndoNotAllowedError(
            f"Alert {alert_id} was last changed by someone else; only they can undo it."
        )
    if utcnow() - last.at > UNDO_WINDOW:
        minutes = int(UNDO_WINDOW.total_seconds() // 60)
        raise UndoNotAllowedError(
            f"Alert {alert_id}'s last change is more than {minutes} minutes old; "
            "change it again instead of undoing."
        )


def _undo_effects(session: Session, alert: Alert, undone: AlertEvent) -> None:
    """What the change did beside the status: a "same person" billed its licensed uses;
    a dismissal as a false match took billing off and (a review) remembered the face (the
    rows it wrote after the event before it)."""
    if undone.action == _SAME_PERSON:
        billing.reverse_confirmed(session, alert.id)
        return
    if undone.action not in _FALSE_MATCH:
        return
    previous = session.scalar(
        select(func.max(AlertEvent.at)).where(
            AlertEvent.alert_id == alert.id, AlertEvent.id < undone.id
        )
    )
    remembered = delete(FaceRejection).where(FaceRejection.alert_id == alert.id)
    if previous is not None:
        remembered = remembered.where(FaceRejection.created_at > previous)
    session.execute(remembered)
    if confirmed_same_person(session, alert):
        billing.bill_confirmed(session, alert)
