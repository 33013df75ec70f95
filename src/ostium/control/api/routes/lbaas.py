"""Routes for load balancers, listeners, pools, members, health monitors and L7 (thin)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ostium.control.api import openapi as oa
from ostium.control.api.body import parse
from ostium.control.api.deps import (
    Ctx,
    Raw,
    Svc,
    base_url,
    empty,
    listing,
    query_items,
    show,
    truthy,
)
from ostium.control.api.routes import crud
from ostium.control.schemas import resources as s
from ostium.control.services import (
    access_logs,
    healthmonitors,
    l7policies,
    l7rules,
    listeners,
    loadbalancers,
    members,
    pools,
    responses,
    status_tree,
)
from ostium.control.services import collections as col
from ostium.control.services.audit import Audited

router = APIRouter()
lbs = Audited(loadbalancers, "loadbalancer")  # one INFO line per change


# ---- load balancers -----------------------------------------------------------------


@router.get("/lbaas/loadbalancers", openapi_extra=oa.listing("loadbalancers"))
def lb_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return listing(
        "loadbalancers",
        col.list_lbaas(
            svc,
            ctx,
            col.LOADBALANCERS,
            query_items(request),
            base_url(request),
            responses.loadbalancer,
        ),
    )


@router.post("/lbaas/loadbalancers", openapi_extra=oa.create("loadbalancer", s.LoadBalancerCreate))
def lb_create(request: Request, svc: Svc, ctx: Ctx, raw: Raw) -> Response:
    body = parse(raw, "loadbalancer", s.LoadBalancerCreate, "load_balancer")
    return show(request, "loadbalancer", lbs.create(svc, ctx, body), 201)


@router.get("/lbaas/loadbalancers/{lb_id}", openapi_extra=oa.show("loadbalancer"))
def lb_show(request: Request, svc: Svc, ctx: Ctx, lb_id: str) -> Response:
    return show(request, "loadbalancer", lbs.show(svc, ctx, lb_id))


@router.put(
    "/lbaas/loadbalancers/{lb_id}",
    openapi_extra=oa.update("loadbalancer", s.LoadBalancerUpdate),
)
def lb_update(request: Request, svc: Svc, ctx: Ctx, raw: Raw, lb_id: str) -> Response:
    body = parse(raw, "loadbalancer", s.LoadBalancerUpdate, "load_balancer")
    return show(request, "loadbalancer", lbs.update(svc, ctx, lb_id, body))


@router.delete("/lbaas/loadbalancers/{lb_id}", openapi_extra=oa.delete(flag="cascade"))
def lb_delete(request: Request, svc: Svc, ctx: Ctx, lb_id: str) -> Response:
    lbs.delete(svc, ctx, lb_id, truthy(request.query_params.get("cascade")))
    return empty(204)


@router.get("/lbaas/loadbalancers/{lb_id}/status", openapi_extra=oa.fetch("statuses"))
@router.get("/lbaas/loadbalancers/{lb_id}/statuses", openapi_extra=oa.fetch("statuses"))
def lb_status(svc: Svc, ctx: Ctx, lb_id: str) -> Response:
    from fastapi.responses import JSONResponse

    return JSONResponse({"statuses": status_tree.status_tree(svc, ctx, lb_id)})


@router.get("/lbaas/loadbalancers/{lb_id}/logs", openapi_extra=oa.show("logs"))
def lb_logs(request: Request, svc: Svc, ctx: Ctx, lb_id: str) -> Response:
    """ostium's extension: the access log lines received for this load balancer."""
    return show(request, "logs", access_logs.lines(svc, ctx, lb_id, dict(request.query_params)))


@router.get("/lbaas/loadbalancers/{lb_id}/stats", openapi_extra=oa.show("stats"))
def lb_stats(request: Request, svc: Svc, ctx: Ctx, lb_id: str) -> Response:
    return show(request, "stats", lbs.stats(svc, ctx, lb_id))


@router.put("/lbaas/loadbalancers/{lb_id}/failover", openapi_extra=oa.action())
def lb_failover(svc: Svc, ctx: Ctx, lb_id: str) -> Response:
    lbs.failover(svc, ctx, lb_id)
    return empty(202)


# ---- listeners, pools, health monitors, L7 policies, members, L7 rules -------------------

crud.top_level(
    router,
    crud.Shape(
        "/lbaas/listeners", "listener", "listeners", "listener_", s.ListenerCreate, s.ListenerUpdate
    ),
    listeners,
)
crud.top_level(
    router, crud.Shape("/lbaas/pools", "pool", "pools", "pool_", s.PoolCreate, s.PoolUpdate), pools
)
crud.top_level(
    router,
    crud.Shape(
        "/lbaas/healthmonitors",
        "healthmonitor",
        "healthmonitors",
        "health_monitor_",
        s.HealthMonitorCreate,
        s.HealthMonitorUpdate,
    ),
    healthmonitors,
)
crud.top_level(
    router,
    crud.Shape(
        "/lbaas/l7policies",
        "l7policy",
        "l7policies",
        "l7policy_",
        s.L7PolicyCreate,
        s.L7PolicyUpdate,
    ),
    l7policies,
)
crud.nested(
    router,
    crud.Shape(
        "/lbaas/pools/{parent_id}/members",
        "member",
        "members",
        "member_",
        s.MemberCreate,
        s.MemberUpdate,
    ),
    members,
)
crud.nested(
    router,
    crud.Shape(
        "/lbaas/l7policies/{parent_id}/rules",
        "rule",
        "rules",
        "rule_",
        s.L7RuleCreate,
        s.L7RuleUpdate,
    ),
    l7rules,
)


@router.get("/lbaas/listeners/{obj_id}/stats", openapi_extra=oa.show("stats"))
def listener_stats(request: Request, svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    return show(request, "stats", listeners.stats(svc, ctx, obj_id))


# `{parent_id}` as in the member routes of `crud.nested`: one path template per URL.
@router.put(
    "/lbaas/pools/{parent_id}/members",
    openapi_extra=oa.batch(s.MemberBatch, "additive_only"),
)
def member_batch(request: Request, svc: Svc, ctx: Ctx, raw: Raw, parent_id: str) -> Response:
    from ostium.control.api.body import load_json, validate

    body = validate(load_json(raw), "members", s.MemberBatch)
    members.batch(svc, ctx, parent_id, body, truthy(request.query_params.get("additive_only")))
    return empty(202)
