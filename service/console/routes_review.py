"""The agency's review of a match, side by side: the face as it was seen beside the
talent's best-matching reference photo; "same person" or "not the same person". Calls the
same service function as ``POST /v1/alerts/{id}/review``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from indexer.db import utcnow
from service.alerts import alerts, review
from service.alerts.schemas import ReviewIn
from service.alerts.states import ReviewDecision
from service.api.deps import BoundedId, Ctx, ObjectId
from service.console.deps import ConsoleRoute, FormUser, User, agency_of
from service.console.inbox import alert_cards, undo_offer
from service.console.links import PREFIX, safe_return_path, with_marker
from service.console.rendering import page
from service.core.errors import InvalidRequestError

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
DECISIONS = tuple(decision.value for decision in ReviewDecision)


@router.get("/alerts/{alert_id}/review")
def review_page(
    alert_id: ObjectId, ctx: Ctx, user: User, done: BoundedId | None = None
) -> HTMLResponse:
    """``done``: the decision was just taken here; the page offers to undo it."""
    principal = agency_of(user)
    with ctx.db.session() as session:
        alert = alerts.get_alert(session, principal=principal, alert_id=alert_id)
        (card,) = alert_cards(session, [alert])
        offer = (
            undo_offer(session, principal=principal, alert=alert, now=utcnow())
            if done == alert_id
            else None
        )
    back = f"{PREFIX}/alerts/{alert_id}/review"
    return page("review.html", user=user, card=card, a=alert, offer=offer, back=back)


@router.post("/alerts/{alert_id}/review")
def submit_review(
    alert_id: ObjectId,
    ctx: Ctx,
    user: FormUser,
    decision: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> RedirectResponse:
    principal = agency_of(user)
    try:
        body = ReviewIn.model_validate({"decision": decision, "note": note.strip() or None})
    except ValidationError as exc:
        raise InvalidRequestError(
            f"Choose one of: {', '.join(DECISIONS)} (notes up to 4000 characters)."
        ) from exc
    with ctx.db.session() as session:
        review.review(
            session, principal=principal, alert_id=alert_id, decision=body.decision, note=body.note
        )
    return RedirectResponse(
        with_marker(safe_return_path(back, f"{PREFIX}/alerts/{alert_id}/review"), "done", alert_id),
        status_code=303,
    )
