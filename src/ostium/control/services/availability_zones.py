"""Availability zones and their profiles (admin only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ostium.control.db import models as m
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import authorize
from ostium.control.schemas import admin as a
from ostium.control.services import responses
from ostium.control.services.catalogs import Catalog, delete_in_use, json_object
from ostium.control.services.context import ServiceContext
from ostium.control.services.providers import check_provider
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import BadRequest, Conflict
from ostium.model.ids import new_id

AZS = Catalog(m.AvailabilityZone, "Availability Zone", responses.availability_zone, key="name")


AZ_PROFILES = Catalog(
    m.AvailabilityZoneProfile, "Availability zone profile", responses.availability_zone_profile
)


def az_create(
    svc: ServiceContext, ctx: RequestContext, body: a.AvailabilityZoneCreate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    with svc.db.write() as session:
        AZ_PROFILES.get(session, body.availability_zone_profile_id)
        if session.get(m.AvailabilityZone, body.name) is not None:
            raise Conflict(f"An availability zone of {body.name} already exists.")
        row = m.AvailabilityZone(
            name=body.name,
            description=body.description or "",
            enabled=body.enabled,
            availability_zone_profile_id=body.availability_zone_profile_id,
            created_at=m.utcnow(),
        )
        session.add(row)
        session.flush()
        return responses.availability_zone(row)


def az_update(
    svc: ServiceContext, ctx: RequestContext, name: str, body: a.AvailabilityZoneUpdate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    sent = body.model_fields_set
    with svc.db.write() as session:
        row = AZS.get(session, name)
        if "description" in sent:
            row.description = body.description or ""
        if "enabled" in sent:
            row.enabled = bool(body.enabled)
        session.flush()
        return responses.availability_zone(row)


def az_delete(svc: ServiceContext, ctx: RequestContext, name: str) -> None:
    authorize(ctx, "admin")
    delete_in_use(
        svc,
        AZS,
        name,
        select(m.LoadBalancer.id)
        .where(
            m.LoadBalancer.availability_zone == name,
            m.LoadBalancer.provisioning_status != PS.DELETED,
        )
        .exists(),
        f"Availability Zone {name} is in use and cannot be modified.",
    )


def azprofile_create(
    svc: ServiceContext, ctx: RequestContext, body: a.AvailabilityZoneProfileCreate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    check_provider(body.provider_name)
    json_object(body.availability_zone_data, "availability_zone_data")
    with svc.db.write() as session:
        row = m.AvailabilityZoneProfile(
            id=new_id(),
            name=body.name,
            provider_name=body.provider_name,
            availability_zone_data=body.availability_zone_data,
            created_at=m.utcnow(),
        )
        session.add(row)
        session.flush()
        return responses.availability_zone_profile(row)


def azprofile_update(
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
                json_object(value, f)
            setattr(row, f, value)
        session.flush()
        return responses.availability_zone_profile(row)


def azprofile_delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
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
