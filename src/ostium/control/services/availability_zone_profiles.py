"""Availability zone profiles (admin only): what a zone means to the provider driver."""

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
    AZ_CAPABILITIES,
    check_profile_data,
    check_provider,
)
from ostium.model.errors import BadRequest, Conflict


def _check_data(value: str) -> None:
    check_profile_data(json_object(value, "availability_zone_data"), AZ_CAPABILITIES)


AZ_PROFILES = Catalog(
    m.AvailabilityZoneProfile,
    "Availability zone profile",
    ["id", "name", "provider_name", "availability_zone_data"],
)


def create(
    svc: ServiceContext, ctx: RequestContext, body: a.AvailabilityZoneProfileCreate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    check_provider(body.provider_name)
    _check_data(body.availability_zone_data)
    with svc.db.write() as session:
        return AZ_PROFILES.add(session, body)


def update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: a.AvailabilityZoneProfileUpdate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    sent = body.model_fields_set
    with svc.db.write() as session:
        row = AZ_PROFILES.get(session, obj_id)
        if sent & {"availability_zone_data", "provider_name"} and session.scalar(
            select(m.AvailabilityZone.name)
            .where(m.AvailabilityZone.availability_zone_profile_id == obj_id)
            .limit(1)
        ):
            raise Conflict(f"Availability zone profile {obj_id} is in use and cannot be modified.")
        for f in sent:
            value = getattr(body, f)
            if value is None:
                raise BadRequest(
                    f"Invalid input for field/attribute {f}. Value: 'None'. "
                    "Mandatory field missing."
                )
            if f == "provider_name":
                check_provider(value)
            if f == "availability_zone_data":
                _check_data(value)
            setattr(row, f, value)
        session.flush()
        return AZ_PROFILES.render(row)


def delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    authorize(ctx, "admin")
    delete_in_use(
        svc,
        AZ_PROFILES,
        obj_id,
        select(m.AvailabilityZone.name)
        .where(m.AvailabilityZone.availability_zone_profile_id == obj_id)
        .exists(),
        f"Availability zone profile {obj_id} is in use and cannot be modified.",
    )


listing = AZ_PROFILES.list

show = AZ_PROFILES.show
