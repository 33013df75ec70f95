"""Routes for quotas, providers, flavors, flavor profiles, AZs, AZ profiles, amphorae."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ostium.control.api.body import parse
from ostium.control.api.deps import Ctx, Raw, Svc, base_url, empty, listing, query_items, show
from ostium.control.schemas import admin as a
from ostium.control.services import amphorae, availability_zones, flavors, quotas
from ostium.control.services import providers as provider_drivers
from ostium.control.services.listing import select_fields

router = APIRouter()


# ---- quotas -------------------------------------------------------------------------


@router.get("/lbaas/quotas")
def quota_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return listing("quotas", quotas.quota_list(svc, ctx, query_items(request), base_url(request)))


@router.get("/lbaas/quotas/defaults")
def quota_defaults(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return show(request, "quota", quotas.quota_defaults_view(svc, ctx))


@router.get("/lbaas/quotas/{project_id}")
def quota_show(request: Request, svc: Svc, ctx: Ctx, project_id: str) -> Response:
    return show(request, "quota", quotas.quota_show(svc, ctx, project_id))


@router.get("/lbaas/quotas/{project_id}/default")
def quota_default(request: Request, svc: Svc, ctx: Ctx, project_id: str) -> Response:
    return show(request, "quota", quotas.quota_default_for(svc, ctx, project_id))


@router.put("/lbaas/quotas/{project_id}")
def quota_update(request: Request, svc: Svc, ctx: Ctx, raw: Raw, project_id: str) -> Response:
    body = parse(raw, "quota", a.QuotaUpdate, "quotas")
    return show(request, "quota", quotas.quota_update(svc, ctx, project_id, body), 202)


@router.delete("/lbaas/quotas/{project_id}")
def quota_delete(svc: Svc, ctx: Ctx, project_id: str) -> Response:
    quotas.quota_delete(svc, ctx, project_id)
    return empty(202)


# ---- providers ------------------------------------------------------------------------


@router.get("/lbaas/providers")
def providers(request: Request, ctx: Ctx) -> Response:
    fields = [v for k, v in request.query_params.multi_items() if k == "fields"]
    return JSONResponse(
        {"providers": [select_fields(p, fields) for p in provider_drivers.providers(ctx)]}
    )


@router.get("/lbaas/providers/{provider}/flavor_capabilities")
def flavor_caps(request: Request, ctx: Ctx, provider: str) -> Response:
    return JSONResponse(
        {
            "flavor_capabilities": provider_drivers.capabilities(
                ctx, provider, "flavor", query_items(request)
            )
        }
    )


@router.get("/lbaas/providers/{provider}/availability_zone_capabilities")
def az_caps(request: Request, ctx: Ctx, provider: str) -> Response:
    return JSONResponse(
        {
            "availability_zone_capabilities": provider_drivers.capabilities(
                ctx, provider, "az", query_items(request)
            )
        }
    )


# ---- flavors -------------------------------------------------------------------------


@router.get("/lbaas/flavors")
def flavor_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return listing(
        "flavors",
        flavors.FLAVORS.list(
            svc,
            ctx,
            "read",
            query_items(request),
            base_url(request),
            ["id", "name", "description", "enabled", "flavor_profile_id"],
        ),
    )


@router.post("/lbaas/flavors")
def flavor_create(request: Request, svc: Svc, ctx: Ctx, raw: Raw) -> Response:
    body = parse(raw, "flavor", a.FlavorCreate, "flavor_")
    return show(request, "flavor", flavors.flavor_create(svc, ctx, body), 201)


@router.get("/lbaas/flavors/{obj_id}")
def flavor_show(request: Request, svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    return show(request, "flavor", flavors.FLAVORS.show(svc, ctx, "read", obj_id))


@router.put("/lbaas/flavors/{obj_id}")
def flavor_update(request: Request, svc: Svc, ctx: Ctx, raw: Raw, obj_id: str) -> Response:
    body = parse(raw, "flavor", a.FlavorUpdate, "flavor_")
    return show(request, "flavor", flavors.flavor_update(svc, ctx, obj_id, body))


@router.delete("/lbaas/flavors/{obj_id}")
def flavor_delete(svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    flavors.flavor_delete(svc, ctx, obj_id)
    return empty(204)


@router.get("/lbaas/flavorprofiles")
def fp_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return listing(
        "flavorprofiles",
        flavors.FLAVOR_PROFILES.list(
            svc,
            ctx,
            "admin",
            query_items(request),
            base_url(request),
            ["id", "name", "provider_name", "flavor_data"],
        ),
        "flavorprofile_links",
    )


@router.post("/lbaas/flavorprofiles")
def fp_create(request: Request, svc: Svc, ctx: Ctx, raw: Raw) -> Response:
    body = parse(raw, "flavorprofile", a.FlavorProfileCreate, "flavorprofile_")
    return show(request, "flavorprofile", flavors.flavorprofile_create(svc, ctx, body), 201)


@router.get("/lbaas/flavorprofiles/{obj_id}")
def fp_show(request: Request, svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    return show(request, "flavorprofile", flavors.FLAVOR_PROFILES.show(svc, ctx, "admin", obj_id))


@router.put("/lbaas/flavorprofiles/{obj_id}")
def fp_update(request: Request, svc: Svc, ctx: Ctx, raw: Raw, obj_id: str) -> Response:
    body = parse(raw, "flavorprofile", a.FlavorProfileUpdate, "flavorprofile_")
    return show(request, "flavorprofile", flavors.flavorprofile_update(svc, ctx, obj_id, body))


@router.delete("/lbaas/flavorprofiles/{obj_id}")
def fp_delete(svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    flavors.flavorprofile_delete(svc, ctx, obj_id)
    return empty(204)


# ---- availability zones ------------------------------------------------------------------


@router.get("/lbaas/availabilityzones")
def az_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return listing(
        "availability_zones",
        availability_zones.AZS.list(
            svc,
            ctx,
            "read",
            query_items(request),
            base_url(request),
            ["name", "description", "enabled", "availability_zone_profile_id"],
        ),
    )


@router.post("/lbaas/availabilityzones")
def az_create(request: Request, svc: Svc, ctx: Ctx, raw: Raw) -> Response:
    body = parse(raw, "availability_zone", a.AvailabilityZoneCreate, "availability_zone_")
    return show(request, "availability_zone", availability_zones.az_create(svc, ctx, body), 201)


@router.get("/lbaas/availabilityzones/{name}")
def az_show(request: Request, svc: Svc, ctx: Ctx, name: str) -> Response:
    return show(request, "availability_zone", availability_zones.AZS.show(svc, ctx, "read", name))


@router.put("/lbaas/availabilityzones/{name}")
def az_update(request: Request, svc: Svc, ctx: Ctx, raw: Raw, name: str) -> Response:
    body = parse(raw, "availability_zone", a.AvailabilityZoneUpdate, "availability_zone_")
    return show(request, "availability_zone", availability_zones.az_update(svc, ctx, name, body))


@router.delete("/lbaas/availabilityzones/{name}")
def az_delete(svc: Svc, ctx: Ctx, name: str) -> Response:
    availability_zones.az_delete(svc, ctx, name)
    return empty(204)


@router.get("/lbaas/availabilityzoneprofiles")
def azp_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return listing(
        "availability_zone_profiles",
        availability_zones.AZ_PROFILES.list(
            svc,
            ctx,
            "admin",
            query_items(request),
            base_url(request),
            ["id", "name", "provider_name", "availability_zone_data"],
        ),
        "availability_zone_profile_links",
    )


@router.post("/lbaas/availabilityzoneprofiles")
def azp_create(request: Request, svc: Svc, ctx: Ctx, raw: Raw) -> Response:
    body = parse(
        raw,
        "availability_zone_profile",
        a.AvailabilityZoneProfileCreate,
        "availability_zone_profile_",
    )
    return show(
        request,
        "availability_zone_profile",
        availability_zones.azprofile_create(svc, ctx, body),
        201,
    )


@router.get("/lbaas/availabilityzoneprofiles/{obj_id}")
def azp_show(request: Request, svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    return show(
        request,
        "availability_zone_profile",
        availability_zones.AZ_PROFILES.show(svc, ctx, "admin", obj_id),
    )


@router.put("/lbaas/availabilityzoneprofiles/{obj_id}")
def azp_update(request: Request, svc: Svc, ctx: Ctx, raw: Raw, obj_id: str) -> Response:
    body = parse(
        raw,
        "availability_zone_profile",
        a.AvailabilityZoneProfileUpdate,
        "availability_zone_profile_",
    )
    return show(
        request,
        "availability_zone_profile",
        availability_zones.azprofile_update(svc, ctx, obj_id, body),
    )


@router.delete("/lbaas/availabilityzoneprofiles/{obj_id}")
def azp_delete(svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    availability_zones.azprofile_delete(svc, ctx, obj_id)
    return empty(204)


# ---- amphorae ---------------------------------------------------------------------------


@router.get("/octavia/amphorae")
def amp_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return listing(
        "amphorae", amphorae.amphora_list(svc, ctx, query_items(request), base_url(request))
    )


@router.get("/octavia/amphorae/{amp_id}")
def amp_show(request: Request, svc: Svc, ctx: Ctx, amp_id: str) -> Response:
    return show(request, "amphora", amphorae.amphora_show(svc, ctx, amp_id))


@router.delete("/octavia/amphorae/{amp_id}")
def amp_delete(svc: Svc, ctx: Ctx, amp_id: str) -> Response:
    amphorae.amphora_delete(svc, ctx, amp_id)
    return empty(204)


@router.put("/octavia/amphorae/{amp_id}/failover")
def amp_failover(svc: Svc, ctx: Ctx, amp_id: str) -> Response:
    amphorae.amphora_failover(svc, ctx, amp_id)
    return empty(202)


@router.put("/octavia/amphorae/{amp_id}/config")
def amp_config(svc: Svc, ctx: Ctx, amp_id: str) -> Response:
    amphorae.amphora_config(svc, ctx, amp_id)
    return empty(202)


@router.get("/octavia/amphorae/{amp_id}/stats")
def amp_stats(svc: Svc, ctx: Ctx, amp_id: str) -> Response:
    return JSONResponse({"amphora_stats": amphorae.amphora_stats(svc, ctx, amp_id)})
