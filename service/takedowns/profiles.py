"""The agency's profile: who its takedown notices come from and how to reach them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from indexer.db import utcnow
from service.core.errors import InvalidRequestError, ResourceNotFoundError
from service.core.principal import Principal, Role
from service.core.tables.takedowns import AgencyProfile
from service.takedowns.schemas import AgencyProfileIn, AgencyProfileOut


def agency_of(principal: Principal) -> int:
    principal.require(Role.AGENCY)
    if principal.agency_id is None:
        raise InvalidRequestError("Takedown notices belong to an agency; use an agency key.")
    return principal.agency_id


def find_profile(session: Session, agency_id: int) -> AgencyProfile | None:
    return session.scalar(select(AgencyProfile).where(AgencyProfile.agency_id == agency_id))


def get_profile(session: Session, *, principal: Principal) -> AgencyProfileOut:
    row = find_profile(session, agency_of(principal))
    if row is None:
        raise ResourceNotFoundError(
            "This agency has no takedown profile yet; set one with PUT /v1/takedown-profile."
        )
    return profile_out(row)


def set_profile(
    session: Session, *, principal: Principal, body: AgencyProfileIn
) -> AgencyProfileOut:
    agency_id = agency_of(principal)
    row = find_profile(session, agency_id)
    if row is None:
        row = AgencyProfile(agency_id=agency_id, **body.model_dump())
        session.add(row)
    else:
        for name, value in body.model_dump().items():
            setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    return profile_out(row)


def profile_out(row: AgencyProfile) -> AgencyProfileOut:
    return AgencyProfileOut(
        agency_id=row.agency_id,
        rights_holder=row.rights_holder,
        address=row.address,
        email=row.email,
        phone=row.phone,
        signature_name=row.signature_name,
        updated_at=row.updated_at,
    )
