"""The version document, `GET /metrics` (Prometheus), `GET /v2`, the read-only
Neutron-shaped calls that the openstack CLI, openstacksdk and Ansible make to resolve
subnet and network names and to look at a load balancer's VIP port, its floating IPs
and security groups (ostium has none of the last two: empty lists), and a 403 for the
Keystone project lookups of `--project`/`quota <project>` (see `projects`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ostium.control.api import openapi as oa
from ostium.control.api.deps import Ctx, Svc, query_items
from ostium.control.api.routes import keymanager
from ostium.control.services import networks, observability
from ostium.control.services import ports as vip_ports
from ostium.model.errors import Forbidden

router = APIRouter()

VERSIONS = [
    ("v2.0", "2016-12-11T00:00:00Z"),
    ("v2.1", "2018-04-20T00:00:00Z"),
    ("v2.2", "2018-07-31T00:00:00Z"),
    ("v2.3", "2018-12-18T00:00:00Z"),
    ("v2.4", "2018-12-19T00:00:00Z"),
    ("v2.5", "2019-01-21T00:00:00Z"),
    ("v2.6", "2019-01-25T00:00:00Z"),
    ("v2.7", "2018-01-25T12:00:00Z"),
    ("v2.8", "2019-02-12T00:00:00Z"),
    ("v2.9", "2019-03-04T00:00:00Z"),
    ("v2.10", "2019-03-05T00:00:00Z"),
    ("v2.11", "2019-06-24T00:00:00Z"),
    ("v2.12", "2019-09-11T00:00:00Z"),
    ("v2.13", "2019-09-13T00:00:00Z"),
    ("v2.14", "2019-11-10T00:00:00Z"),
    ("v2.15", "2020-03-10T00:00:00Z"),
    ("v2.16", "2020-03-15T00:00:00Z"),
    ("v2.17", "2020-04-29T00:00:00Z"),
    ("v2.18", "2020-04-29T01:00:00Z"),
    ("v2.19", "2020-05-12T00:00:00Z"),
    ("v2.20", "2020-08-02T00:00:00Z"),
    ("v2.21", "2020-09-03T00:00:00Z"),
    ("v2.22", "2020-09-04T00:00:00Z"),
    ("v2.23", "2020-09-07T00:00:00Z"),
    ("v2.24", "2020-10-15T00:00:00Z"),
    ("v2.25", "2021-10-02T00:00:00Z"),
    ("v2.26", "2022-08-29T00:00:00Z"),
    ("v2.27", "2023-05-05T00:00:00Z"),
    ("v2.28", "2023-11-08T00:00:00Z"),
    ("v2.29", "2024-10-15T00:00:00Z"),
    ("v2.30", "2025-02-26T00:00:00Z"),
]


@router.get("/", openapi_extra=oa.operation(200, oa.rooted("versions", oa.ARRAY), ()))
def versions(request: Request, svc: Svc) -> Response:
    if keymanager.asked(request):
        return keymanager.discovery(request, svc)
    base = str(request.base_url).rstrip("/")
    href = f"{base}/v2"
    last = len(VERSIONS) - 1
    return JSONResponse(
        {
            "versions": [
                {
                    "id": vid,
                    "status": "CURRENT" if i == last else "SUPPORTED",
                    "updated": updated,
                    "links": [{"href": href, "rel": "self"}],
                }
                for i, (vid, updated) in enumerate(VERSIONS)
            ]
        }
    )


@router.get("/metrics", openapi_extra=oa.text("Prometheus text format"))
def prometheus(svc: Svc) -> Response:
    """Prometheus text format; like a scrape target, it asks for no credentials."""
    return Response(observability.render(svc), media_type=observability.CONTENT_TYPE)


@router.get("/v2", openapi_extra=oa.operation(200, {"const": "v2"}, (401,)))
def v2(ctx: Ctx) -> Response:
    return JSONResponse("v2")


@router.get("/v2/subnets", openapi_extra=oa.array("subnets"))
def subnets(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return JSONResponse({"subnets": networks.listing(svc, ctx, "subnet", query_items(request))})


@router.get("/v2/subnets/{subnet_id}", openapi_extra=oa.fetch("subnet"))
def subnet(svc: Svc, ctx: Ctx, subnet_id: str) -> Response:
    return JSONResponse({"subnet": networks.show(svc, ctx, "subnet", subnet_id)})


@router.get("/v2/networks", openapi_extra=oa.array("networks"))
def network_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return JSONResponse({"networks": networks.listing(svc, ctx, "network", query_items(request))})


@router.get("/v2/networks/{network_id}", openapi_extra=oa.fetch("network"))
def network(svc: Svc, ctx: Ctx, network_id: str) -> Response:
    return JSONResponse({"network": networks.show(svc, ctx, "network", network_id)})


@router.get("/v2/ports")
def ports(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return JSONResponse({"ports": vip_ports.port_listing(svc, ctx, query_items(request))})


@router.get("/v2/ports/{port_id}")
def port(svc: Svc, ctx: Ctx, port_id: str) -> Response:
    return JSONResponse({"port": vip_ports.port_show(svc, ctx, port_id)})


@router.get("/v2/floatingips")
def floatingips(request: Request, ctx: Ctx) -> Response:
    return JSONResponse(
        {"floatingips": vip_ports.empty_listing(ctx, "floatingip", query_items(request))}
    )


@router.get("/v2/security-groups")
def security_groups(request: Request, ctx: Ctx) -> Response:
    return JSONResponse(
        {"security_groups": vip_ports.empty_listing(ctx, "security_group", query_items(request))}
    )


@router.get("/projects", openapi_extra=oa.refused(403))
@router.get("/projects/{project_id}", openapi_extra=oa.refused(403))
def projects(project_id: str | None = None) -> Response:
    """ostium has no identity service: project ids are free strings. The openstack CLI
    resolves `--project X` and `quota show/set X` through Keystone `GET /projects/X`
    (at the same endpoint when `--os-endpoint` is used) and, on 403 only, uses X as
    given -- so answer 403 here instead of a 404 that makes the command fail."""
    raise Forbidden("ostium does not serve the identity API; use the project ID.")
