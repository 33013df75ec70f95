"""Routes for quotas, providers, flavors, flavor profiles, AZs, AZ profiles, amphorae."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ostium.control.api import openapi as oa
from ostium.control.api.body import parse
from ostium.control.api.deps import Ctx, Raw, Svc, base_url, empty, listing, query_items, show
from ostium.control.api.routes import crud
from ostium.control.schemas import admin as a
from ostium.control.services import (
    amphorae,
    availability_zone_profiles,
    availability_zones,
    flavor_profiles,
    flavors,
    quotas,
)
from ostium.control.services import providers as provider_drivers
from ostium.control.services.listing import select_fields

router = APIRouter()


# ---- quotas -------------------------------------------------------------------------


@router.get("/lbaas/quotas", openapi_extra=oa.listing("quotas"))
def quota_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return listing("quotas", quotas.quota_list(svc, ctx, query_items(request), base_url(request)))


@router.get("/lbaas/quotas/defaults", openapi_extra=oa.show("quota"))
def quota_defaults(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return show(request, "quota", quotas.quota_defaults_view(svc, ctx))


@router.get("/lbaas/quotas/{project_id}", openapi_extra=oa.show("quota"))
def quota_show(request: Request, svc: Svc, ctx: Ctx, project_id: str) -> Response:
    return show(request, "quota", quotas.quota_show(svc, ctx, project_id))


@router.get("/lbaas/quotas/{project_id}/default", openapi_extra=oa.show("quota"))
def quota_default(request: Request, svc: Svc, ctx: Ctx, project_id: str) -> Response:
    return show(request, "quota", quotas.quota_default_for(svc, ctx, project_id))


@router.put(
    "/lbaas/quotas/{project_id}", openapi_extra=oa.update("quota", a.QuotaUpdate, status=202)
)
def quota_update(request: Request, svc: Svc, ctx: Ctx, raw: Raw, project_id: str) -> Response:
    body = parse(raw, "quota", a.QuotaUpdate, "quotas")
    return show(request, "quota", quotas.quota_update(svc, ctx, project_id, body), 202)


@router.delete("/lbaas/quotas/{project_id}", openapi_extra=oa.delete(202))
def quota_delete(svc: Svc, ctx: Ctx, project_id: str) -> Response:
    quotas.quota_delete(svc, ctx, project_id)
    return empty(202)


# ---- providers ------------------------------------------------------------------------


@router.get("/lbaas/providers", openapi_extra=oa.array("providers"))
def providers(request: Request, ctx: Ctx) -> Response:
    fields = [v for k, v in request.query_params.multi_items() if k == "fields"]
    return JSONResponse(
        {"providers": [select_fields(p, fields) for p in provider_drivers.providers(ctx)]}
    )


@router.get(
    "/lbaas/providers/{provider}/flavor_capabilities",
    openapi_extra=oa.array("flavor_capabilities"),
)
def flavor_caps(request: Request, ctx: Ctx, provider: str) -> Response:
    return JSONResponse(
        {
            "flavor_capabilities": provider_drivers.capabilities(
                ctx, provider, "flavor", query_items(request)
            )
        }
    )


@router.get(
    "/lbaas/providers/{provider}/availability_zone_capabilities",
    openapi_extra=oa.array("availability_zone_capabilities"),
)
def az_caps(request: Request, ctx: Ctx, provider: str) -> Response:
    return JSONResponse(
        {
            "availability_zone_capabilities": provider_drivers.capabilities(
                ctx, provider, "az", query_items(request)
            )
        }
    )


# ---- flavors, flavor profiles, availability zones and their profiles --------------------

crud.top_level(
    router,
    crud.Shape("/lbaas/flavors", "flavor", "flavors", "flavor_", a.FlavorCreate, a.FlavorUpdate),
    flavors,
)
crud.top_level(
    router,
    crud.Shape(
        "/lbaas/flavorprofiles",
        "flavorprofile",
        "flavorprofiles",
        "flavorprofile_",
        a.FlavorProfileCreate,
        a.FlavorProfileUpdate,
        links="flavorprofile_links",
    ),
    flavor_profiles,
)
crud.top_level(
    router,
    crud.Shape(
        "/lbaas/availabilityzones",
        "availability_zone",
        "availability_zones",
        "availability_zone_",
        a.AvailabilityZoneCreate,
        a.AvailabilityZoneUpdate,
    ),
    availability_zones,
)
crud.top_level(
    router,
    crud.Shape(
        "/lbaas/availabilityzoneprofiles",
        "availability_zone_profile",
        "availability_zone_profiles",
        "availability_zone_profile_",
        a.AvailabilityZoneProfileCreate,
        a.AvailabilityZoneProfileUpdate,
        links="availability_zone_profile_links",
    ),
    availability_zone_profiles,
)


# ---- amphorae ---------------------------------------------------------------------------


@router.get("/octavia/amphorae", openapi_extra=oa.listing("amphorae"))
def amp_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return listing(
        "amphorae", amphorae.amphora_list(svc, ctx, query_items(request), base_url(request))
    )


@router.get("/octavia/amphorae/{amp_id}", openapi_extra=oa.show("amphora"))
def amp_show(request: Request, svc: Svc, ctx: Ctx, amp_id: str) -> Response:
    return show(request, "amphora", amphorae.amphora_show(svc, ctx, amp_id))


@router.delete("/octavia/amphorae/{amp_id}", openapi_extra=oa.delete())
def amp_delete(svc: Svc, ctx: Ctx, amp_id: str) -> Response:
    amphorae.amphora_delete(svc, ctx, amp_id)
    return empty(204)


@router.put("/octavia/amphorae/{amp_id}/failover", openapi_extra=oa.action())
def amp_failover(svc: Svc, ctx: Ctx, amp_id: str) -> Response:
    amphorae.amphora_failover(svc, ctx, amp_id)
    return empty(202)


@router.put("/octavia/amphorae/{amp_id}/config", openapi_extra=oa.action())
def amp_config(svc: Svc, ctx: Ctx, amp_id: str) -> Response:
    amphorae.amphora_config(svc, ctx, amp_id)
    return empty(202)


@router.get(
    "/octavia/amphorae/{amp_id}/stats",
    openapi_extra=oa.fetch("amphora_stats", {"type": "array", "items": {"type": "object"}}),
)
def amp_stats(svc: Svc, ctx: Ctx, amp_id: str) -> Response:
    return JSONResponse({"amphora_stats": amphorae.amphora_stats(svc, ctx, amp_id)})
