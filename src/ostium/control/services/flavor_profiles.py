"""Flavor profiles (admin only): what a flavor sets for the provider driver, checked
against the provider's flavor capabilities.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ostium.control.db import models as m
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import authorize
from ostium.control.schemas import admin as a
from ostium.control.services.catalogs import Catalog, delete_in_use, json_object
from ostium.control.services.context import ServiceContext
from ostium.control.services.providers import (
    FLAVOR_CAPABILITIES,
    check_profile_data,
    check_provider,
)
from ostium.model.errors import BadRequest, Conflict


def _check_flavor_data(value: str) -> None:
    check_profile_data(json_object(value, "flavor_data"), FLAVOR_CAPABILITIES)


FLAVOR_PROFILES = Catalog(
    m.FlavorProfile,
    "Flavor profile",
    ["id", "name", "provider_name", "flavor_data"],
)


def create(svc: ServiceContext, ctx: RequestContext, body: a.FlavorProfileCreate) -> dict[str, Any]:
    authorize(ctx, "admin")
    check_provider(body.provider_name)
    _check_flavor_data(body.flavor_data)
    with svc.db.write() as session:
        return FLAVOR_PROFILES.add(session, body)


def update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: a.FlavorProfileUpdate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    sent = body.model_fields_set
    for f in sent:
        if getattr(body, f) is None:
            raise BadRequest(
                f"Invalid input for field/attribute {f}. Value: 'None'. Mandatory field missing."
            )
    with svc.db.write() as session:
        row = FLAVOR_PROFILES.get(session, obj_id)
        if sent & {"flavor_data", "provider_name"} and session.scalar(
            select(m.Flavor.id).where(m.Flavor.flavor_profile_id == obj_id).limit(1)
        ):
            raise Conflict(f"Flavor profile {obj_id} is in use and cannot be modified.")
        if "provider_name" in sent:
            check_provider(body.provider_name or "")
            row.provider_name = body.provider_name
        if "flavor_data" in sent:
            _check_flavor_data(body.flavor_data or "")
            row.flavor_data = body.flavor_data
        if "name" in sent:
            row.name = body.name
        session.flush()
        return FLAVOR_PROFILES.render(row)


def delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    authorize(ctx, "admin")
    delete_in_use(
        svc,
        FLAVOR_PROFILES,
        obj_id,
        select(m.Flavor.id).where(m.Flavor.flavor_profile_id == obj_id).exists(),
        f"Flavor profile {obj_id} is in use and cannot be modified.",
    )


listing = FLAVOR_PROFILES.list

show = FLAVOR_PROFILES.show
