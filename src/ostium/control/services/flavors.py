"""Flavors (admin writes, everyone reads): named choices of a flavor profile that a
load balancer may be created with.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ostium.control.db import models as m
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import authorize
from ostium.control.schemas import admin as a
from ostium.control.services.catalogs import Catalog, delete_in_use
from ostium.control.services.context import ServiceContext
from ostium.control.services.flavor_profiles import FLAVOR_PROFILES
from ostium.control.services.writes import apply_fields
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import BadRequest, Conflict

FLAVORS = Catalog(
    m.Flavor,
    "Flavor",
    ["id", "name", "description", "enabled", "flavor_profile_id"],
    read_rule="read",
)


def create(svc: ServiceContext, ctx: RequestContext, body: a.FlavorCreate) -> dict[str, Any]:
    authorize(ctx, "admin")
    with svc.db.write() as session:
        FLAVOR_PROFILES.get(session, body.flavor_profile_id)
        if session.scalar(select(m.Flavor.id).where(m.Flavor.name == body.name)):
            raise Conflict(f"A flavor of {body.name} already exists.")
        return FLAVORS.add(session, body)


def update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: a.FlavorUpdate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    sent = set(body.model_fields_set)
    with svc.db.write() as session:
        row = FLAVORS.get(session, obj_id)
        if "name" in sent:
            if body.name is None:
                raise BadRequest(
                    "Invalid input for field/attribute name. Value: 'None'. "
                    "Mandatory field missing."
                )
            if session.scalar(
                select(m.Flavor.id).where(m.Flavor.name == body.name, m.Flavor.id != obj_id)
            ):
                raise Conflict(f"A flavor of {body.name} already exists.")
            row.name = body.name
        apply_fields(session, row, body, sent, ("description", "enabled"), {"enabled": False})
        session.flush()
        return FLAVORS.render(row)


def delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    authorize(ctx, "admin")
    delete_in_use(
        svc,
        FLAVORS,
        obj_id,
        select(m.LoadBalancer.id)
        .where(m.LoadBalancer.flavor_id == obj_id, m.LoadBalancer.provisioning_status != PS.DELETED)
        .exists(),
        f"Flavor {obj_id} is in use and cannot be modified.",
        lb_column=m.LoadBalancer.flavor_id,
    )


listing = FLAVORS.list

show = FLAVORS.show
