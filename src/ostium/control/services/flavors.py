"""Flavors and flavor profiles (admin only): what a load balancer's flavor may set."""

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
from ostium.control.services.providers import FLAVOR_CAPABILITIES, check_provider
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.enums import Topology
from ostium.model.errors import BadRequest, Conflict
from ostium.model.ids import new_id


def _check_flavor_data(value: str) -> None:
    data = json_object(value, "flavor_data")
    known = {n for n, _ in FLAVOR_CAPABILITIES}
    for key in data:
        if key not in known:
            from ostium.model.errors import NotImplementedByProvider

            raise NotImplementedByProvider(
                f"Provider 'amphora' does not support a requested option: {key}"
            )
    topo = data.get("loadbalancer_topology")
    if topo is not None and topo not in set(Topology):
        raise BadRequest(f"{topo} is not a valid option for loadbalancer_topology")


FLAVORS = Catalog(m.Flavor, "Flavor", responses.flavor)


FLAVOR_PROFILES = Catalog(m.FlavorProfile, "Flavor profile", responses.flavorprofile)


def flavor_create(svc: ServiceContext, ctx: RequestContext, body: a.FlavorCreate) -> dict[str, Any]:
    authorize(ctx, "admin")
    with svc.db.write() as session:
        FLAVOR_PROFILES.get(session, body.flavor_profile_id)
        if session.scalar(select(m.Flavor.id).where(m.Flavor.name == body.name)):
            raise Conflict(f"A flavor of {body.name} already exists.")
        row = m.Flavor(
            id=new_id(),
            name=body.name,
            description=body.description or "",
            enabled=body.enabled,
            flavor_profile_id=body.flavor_profile_id,
            created_at=m.utcnow(),
        )
        session.add(row)
        session.flush()
        return responses.flavor(row)


def flavor_update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: a.FlavorUpdate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    sent = body.model_fields_set
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
        if "description" in sent:
            row.description = body.description or ""
        if "enabled" in sent:
            row.enabled = bool(body.enabled)
        session.flush()
        return responses.flavor(row)


def flavor_delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    authorize(ctx, "admin")
    delete_in_use(
        svc,
        FLAVORS,
        obj_id,
        select(m.LoadBalancer.id)
        .where(m.LoadBalancer.flavor_id == obj_id, m.LoadBalancer.provisioning_status != PS.DELETED)
        .exists(),
        f"Flavor {obj_id} is in use and cannot be modified.",
    )


def flavorprofile_create(
    svc: ServiceContext, ctx: RequestContext, body: a.FlavorProfileCreate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    check_provider(body.provider_name)
    _check_flavor_data(body.flavor_data)
    with svc.db.write() as session:
        row = m.FlavorProfile(
            id=new_id(),
            name=body.name,
            provider_name=body.provider_name,
            flavor_data=body.flavor_data,
            created_at=m.utcnow(),
        )
        session.add(row)
        session.flush()
        return responses.flavorprofile(row)


def flavorprofile_update(
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
        return responses.flavorprofile(row)


def flavorprofile_delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    authorize(ctx, "admin")
    delete_in_use(
        svc,
        FLAVOR_PROFILES,
        obj_id,
        select(m.Flavor.id).where(m.Flavor.flavor_profile_id == obj_id).exists(),
        f"Flavor profile {obj_id} is in use and cannot be modified.",
    )
