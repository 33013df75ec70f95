"""Availability zones (admin writes, everyone reads), each naming a zone profile."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ostium.control.db import models as m
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import authorize
from ostium.control.schemas import admin as a
from ostium.control.services.availability_zone_profiles import AZ_PROFILES
from ostium.control.services.catalogs import Catalog, delete_in_use
from ostium.control.services.context import ServiceContext
from ostium.control.services.writes import apply_fields
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import Conflict

AZS = Catalog(
    m.AvailabilityZone,
    "Availability Zone",
    ["name", "description", "enabled", "availability_zone_profile_id"],
    read_rule="read",
    key="name",
)


def create(
    svc: ServiceContext, ctx: RequestContext, body: a.AvailabilityZoneCreate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    with svc.db.write() as session:
        AZ_PROFILES.get(session, body.availability_zone_profile_id)
        if session.get(m.AvailabilityZone, body.name) is not None:
            raise Conflict(f"An availability zone of {body.name} already exists.")
        return AZS.add(session, body)


def update(
    svc: ServiceContext, ctx: RequestContext, name: str, body: a.AvailabilityZoneUpdate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    sent = set(body.model_fields_set)
    with svc.db.write() as session:
        row = AZS.get(session, name)
        apply_fields(session, row, body, sent, ("description", "enabled"), {"enabled": False})
        session.flush()
        return AZS.render(row)


def delete(svc: ServiceContext, ctx: RequestContext, name: str) -> None:
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
        lb_column=m.LoadBalancer.availability_zone,
    )


listing = AZS.list

show = AZS.show
