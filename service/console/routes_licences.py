"""The agency's licence pages: the list, a licence (its terms, usage and amount owed), create
and edit with pickers for the closed vocabularies, revoke with a reason.

The form is turned into the API's own body (``LicenceCreate`` / ``LicenceTermsIn``) and
handed to the same service functions as ``/v1/.../licences``: every rule is checked there,
once; what fails is shown beside the field it concerns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from indexer.db import utcnow
from indexer.errors import TwinwatchError
from service.access.scoping import licence_in_scope, talent_in_scope
from service.access.sessions import SignedIn
from service.api.deps import BoundedId, Ctx, ObjectId
from service.console.deps import ConsoleRoute, FormUser, PageOffset, User, agency_of
from service.console.links import PREFIX
from service.console.once import FIELD as ONCE_FIELD
from service.console.once import once
from service.console.rendering import last_day, next_offset, page
from service.context import AppContext
from service.core.errors import InvalidRequestError
from service.core.principal import Principal
from service.crawl.licence_watches import ended_on
from service.licensing import licences
from service.licensing.schemas import (
    MAX_REASON_CHARS,
    LicenceCreate,
    LicenceOut,
    LicenceRevoke,
    LicenceTermsIn,
)
from service.licensing.usage import usage_report
from service.rules.vocabulary import (
    ANY,
    TERRITORY_GROUP_NAMES,
    Alterations,
    AssetScope,
    Channel,
    Medium,
    country_choices,
)
from service.scanning.uploads import read_upload
from service.talents import talents

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
LIST_PAGE = 100
UNLINKED_SHOWN = 50  # the newest unlinked licences listed above the rest
TEXT_FIELDS = (
    "licensee_brand_id",
    "licensee",
    "publishers",
    "valid_from",
    "valid_until",
    "flat_fee",
    "per_use",
    "currency",
    "asset_scope",
    "alterations_allowed",
    "talent_id",
)
COMPENSATION_FIELDS = ("flat_fee", "per_use", "currency")
AMOUNT_FIELDS = ("flat_fee", "per_use")
AMOUNT_HINT = "Write an amount like 40.00"
Terms = TypeVar("Terms", bound=LicenceTermsIn)


@dataclass
class LicenceForm:
    """What the form shows: the values as typed, and a message per field that failed."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    problem: str | None = None


def _vocabularies() -> dict[str, Any]:
    return {
        "channels": [ANY, *(c.value for c in Channel)],
        "groups": TERRITORY_GROUP_NAMES,
        "countries": country_choices(),
        "media": [m.value for m in Medium],
        "scopes": [s.value for s in AssetScope],
        "alterations": [a.value for a in Alterations],
    }


@router.get("/licences")
def licence_list(
    ctx: Ctx,
    user: User,
    talent_id: Annotated[BoundedId | None, Query()] = None,
    offset: PageOffset = 0,
) -> HTMLResponse:
    principal = agency_of(user)
    with ctx.db.session() as session:
        if talent_id is not None:
            talent_in_scope(session, principal=principal, talent_id=talent_id)
        rows, total = licences.list_agency_licences(
            session, principal=principal, talent_id=talent_id, offset=offset, limit=LIST_PAGE
        )
        items = [(licences.licence_out(licence), talent.name) for licence, talent in rows]
        unlinked_rows, unlinked_total = licences.list_unlinked_licences(
            session, principal=principal, limit=UNLINKED_SHOWN
        )
        unlinked = [(licence, talent.name) for licence, talent in unlinked_rows]
    return page(
        "licences.html",
        user=user,
        items=items,
        unlinked=unlinked,
        unlinked_total=unlinked_total,
        total=total,
        talent_id=talent_id,
        next_offset=next_offset(offset, LIST_PAGE, total),
    )


@router.get("/licences/new")
def new_licence(
    ctx: Ctx, user: User, talent_id: Annotated[BoundedId | None, Query()] = None
) -> HTMLResponse:
    agency_of(user)
    values: dict[str, Any] = {
        "talent_id": str(talent_id or ""),
        "channels": [ANY],
        "territories": ["WORLD"],
        "media": ["photo"],
        "ai_label_required": True,
        "asset_scope": "any_image",
        "alterations_allowed": Alterations.NONE.value,
    }
    return _form_page(ctx, user, LicenceForm(values), licence_id=None)


@router.post("/licences")
async def create(request: Request, ctx: Ctx, user: FormUser) -> Any:
    """Create the licence; the same form sent again creates nothing and leads to it."""
    principal = agency_of(user)
    form = await request.form()
    token = form.get(ONCE_FIELD)

    async def save() -> tuple[str | None, Response]:
        state = LicenceForm(_values(form))
        talent_id = _talent_id(state)
        body = _body(LicenceCreate, state)
        if body is None or talent_id is None:
            return None, _form_page(ctx, user, state, licence_id=None, status_code=422)
        try:
            licence_id = await run_in_threadpool(_create, ctx, principal, talent_id, body)
        except InvalidRequestError as exc:
            _service_problem(state, exc)
            return None, _form_page(ctx, user, state, licence_id=None, status_code=422)
        location = f"{PREFIX}/licences/{licence_id}"
        return location, RedirectResponse(location, status_code=303)

    return await once(
        ctx=ctx,
        user=user,
        token=token if isinstance(token, str) else "",
        path="/licences",
        handler=save,
    )


def _create(ctx: AppContext, principal: Principal, talent_id: int, body: LicenceCreate) -> int:
    with ctx.db.session() as session:
        return licences.create_licence(
            session, principal=principal, talent_id=talent_id, body=body
        ).id


@router.get("/licences/{licence_id}")
def licence_page(licence_id: ObjectId, ctx: Ctx, user: User) -> HTMLResponse:
    principal = agency_of(user)
    with ctx.db.session() as session:
        licence = licence_in_scope(session, principal=principal, licence_id=licence_id)
        out = licences.licence_out(licence)
        ended = ended_on(licence, now=utcnow())
        talent = talent_in_scope(session, principal=principal, talent_id=licence.talent_id)
        brand_name = licences.brand_name(session, licence.brand_id)
        usage = usage_report(
            session,
            principal=principal,
            talent_id=None,
            licence_id=licence_id,
            period_from=None,
            period_to=None,
        )
    return page(
        "licence.html",
        user=user,
        licence=out,
        talent_name=talent.name,
        brand_name=brand_name,
        usage=usage,
        total=next(iter(usage.totals), None),
        reason_max=MAX_REASON_CHARS,
        ended=ended,
    )


@router.get("/licences/{licence_id}/edit")
def edit_licence(licence_id: ObjectId, ctx: Ctx, user: User) -> HTMLResponse:
    principal = agency_of(user)
    with ctx.db.session() as session:
        out = licences.licence_out(
            licence_in_scope(session, principal=principal, licence_id=licence_id)
        )
    return _form_page(ctx, user, LicenceForm(_shown(out)), licence_id=licence_id)


@router.post("/licences/{licence_id}/edit")
async def update(licence_id: ObjectId, request: Request, ctx: Ctx, user: FormUser) -> Any:
    principal = agency_of(user)
    state = LicenceForm(_values(await request.form()))
    body = _body(LicenceTermsIn, state)
    if body is None:
        return _form_page(ctx, user, state, licence_id=licence_id, status_code=422)
    try:
        with ctx.db.session() as session:
            licences.update_licence(session, principal=principal, licence_id=licence_id, body=body)
    except InvalidRequestError as exc:
        _service_problem(state, exc)
        return _form_page(ctx, user, state, licence_id=licence_id, status_code=422)
    return RedirectResponse(f"{PREFIX}/licences/{licence_id}", status_code=303)


@router.post("/licences/{licence_id}/revoke")
def revoke(
    licence_id: ObjectId,
    ctx: Ctx,
    user: FormUser,
    reason: Annotated[str, Form(max_length=MAX_REASON_CHARS)] = "",
) -> RedirectResponse:
    principal = agency_of(user)
    try:
        body = LicenceRevoke.model_validate({"reason": reason.strip()})
    except ValidationError as exc:
        raise InvalidRequestError(
            "Give the reason for revoking (up to "
            f"{MAX_REASON_CHARS} characters); nothing was changed.",
            field="reason",
        ) from exc
    with ctx.db.session() as session:
        licences.revoke_licence(
            session, principal=principal, licence_id=licence_id, reason=body.reason, revoked_at=None
        )
    return RedirectResponse(f"{PREFIX}/licences/{licence_id}", status_code=303)


@router.post("/licences/{licence_id}/assets")
async def add_asset(
    licence_id: ObjectId, ctx: Ctx, user: FormUser, file: Annotated[UploadFile, File()]
) -> RedirectResponse:
    """Approve one image under the licence (its fingerprints are kept, not the image), as
    ``POST /v1/licences/{id}/assets`` does: decoded in the bounded inference pool."""
    principal = agency_of(user)
    data = await read_upload(file, max_bytes=ctx.settings.max_upload_bytes)

    def add() -> None:
        with ctx.db.session() as session:
            licences.add_approved_asset(
                session,
                principal=principal,
                licence_id=licence_id,
                data=data,
                max_pixels=ctx.settings.max_image_pixels,
            )

    with ctx.gate.admitted(principal.key_id):
        await ctx.gate.run(add)
    return RedirectResponse(f"{PREFIX}/licences/{licence_id}#assets", status_code=303)


@router.post("/licences/{licence_id}/assets/{asset_id}/remove")
def remove_asset(
    licence_id: ObjectId, asset_id: ObjectId, ctx: Ctx, user: FormUser
) -> RedirectResponse:
    with ctx.db.session() as session:
        licences.remove_approved_asset(
            session, principal=agency_of(user), licence_id=licence_id, asset_id=asset_id
        )
    return RedirectResponse(f"{PREFIX}/licences/{licence_id}#assets", status_code=303)


# --- the form <-> the API's body ------------------------------------------------------------
def _values(form: FormData) -> dict[str, Any]:
    """The submitted form as the page shows it again (texts, and the picked lists)."""
    values: dict[str, Any] = {name: str(form.get(name) or "") for name in TEXT_FIELDS}
    values["channels"] = [str(v) for v in form.getlist("channels")]
    values["territories"] = [
        str(v) for v in (*form.getlist("territory_groups"), *form.getlist("countries"))
    ]
    values["media"] = [str(v) for v in form.getlist("media")]
    values["ai_label_required"] = form.get("ai_label_required") == "on"
    values["requires_talent_consent"] = form.get("requires_talent_consent") == "on"
    return values


def _talent_id(state: LicenceForm) -> int | None:
    raw = str(state.values.get("talent_id") or "").strip()
    if not raw.isdigit() or not 0 < int(raw) < 2**63:
        state.errors["talent_id"] = "Choose the talent this licence is for."
        return None
    return int(raw)


def _body(model: type[Terms], state: LicenceForm) -> Terms | None:
    """The API's body from the form, or None with each failing field's message kept."""
    values = state.values
    raw: dict[str, Any] = {
        "licensee": values["licensee"].strip(),
        "licensee_brand_id": values["licensee_brand_id"].strip() or None,
        "publishers": [line.strip() for line in values["publishers"].splitlines() if line.strip()],
        "channels": values["channels"],
        "territories": values["territories"],
        "media": values["media"],
        "ai_label_required": values["ai_label_required"],
        "requires_talent_consent": values.get("requires_talent_consent", False),
        "asset_scope": values["asset_scope"] or AssetScope.ANY_IMAGE.value,
        "alterations_allowed": values["alterations_allowed"] or Alterations.NONE.value,
    }
    for name in ("valid_from", "valid_until"):
        if values[name].strip():
            raw[name] = values[name].strip()
    money = {name: values[name].strip() for name in COMPENSATION_FIELDS if values[name].strip()}
    for name in AMOUNT_FIELDS:
        if name in money:
            amount = form_amount(money[name])
            if amount is None:
                state.errors[name] = AMOUNT_HINT
            else:
                money[name] = amount
    if money:
        raw["compensation"] = {"currency": "", **money}
    try:
        body = model.model_validate(raw)
    except ValidationError as exc:
        for problem in exc.errors():
            location = [str(part) for part in problem["loc"]]
            name = (
                location[1] if location[0] == "compensation" and len(location) > 1 else location[0]
            )
            message = str(problem["msg"]).removeprefix("Value error, ")
            state.errors.setdefault(name, message)
        return None
    return None if state.errors.keys() & AMOUNT_FIELDS else body


def form_amount(text: str) -> str | None:
    """An amount as typed in the form, as the API reads it: a decimal comma is a decimal
    point ("40,00" is 40.00); None when it is still not a number."""
    candidate = text.strip().replace(" ", "")
    if candidate.count(",") == 1 and "." not in candidate:
        candidate = candidate.replace(",", ".")
    try:
        number = Decimal(candidate)
    except InvalidOperation:
        return None
    return candidate if number.is_finite() else None


def _service_problem(state: LicenceForm, exc: TwinwatchError) -> None:
    name = exc.details.get("field")
    if isinstance(name, str) and name in state.values:
        state.errors[name] = exc.message
    else:
        state.problem = exc.message


def _shown(licence: LicenceOut) -> dict[str, Any]:
    """A licence's terms as the form shows them: dates as the days people picked (an
    exclusive end at midnight is the day before)."""
    compensation = licence.compensation
    return {
        "talent_id": str(licence.talent_id),
        "licensee_brand_id": str(licence.licensee_brand_id or ""),
        "licensee": licence.licensee,
        "publishers": "\n".join(licence.publishers),
        "channels": licence.channels,
        "territories": licence.territories,
        "media": licence.media,
        "ai_label_required": licence.ai_label_required,
        "requires_talent_consent": licence.requires_talent_consent,
        "asset_scope": licence.asset_scope.value,
        "alterations_allowed": licence.alterations_allowed.value,
        "valid_from": licence.valid_from.date().isoformat(),
        "valid_until": _last_day(licence.valid_until),
        "flat_fee": str(compensation.flat_fee or "") if compensation else "",
        "per_use": str(compensation.per_use or "") if compensation else "",
        "currency": compensation.currency if compensation else "",
    }


def _last_day(end: datetime | None) -> str:
    return "" if end is None else last_day(end).isoformat()


def _form_page(
    ctx: AppContext,
    user: SignedIn,
    state: LicenceForm,
    *,
    licence_id: int | None,
    status_code: int = 200,
) -> HTMLResponse:
    roster = talents.list_talents(ctx=ctx, principal=agency_of(user), offset=0, limit=200).items
    with ctx.db.session() as session:
        brands = licences.brand_choices(session)
    return page(
        "licence_form.html",
        status_code=status_code,
        user=user,
        form=state,
        licence_id=licence_id,
        roster=roster,
        brands=brands,
        **_vocabularies(),
    )
