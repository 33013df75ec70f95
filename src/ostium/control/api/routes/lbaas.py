"""Routes for load balancers, listeners, pools, members, health monitors and L7 (thin)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

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
from ostium.control.db import models as m
from ostium.control.schemas import resources as s
from ostium.control.services import collections as col
from ostium.control.services import (
    healthmonitors,
    l7policies,
    l7rules,
    listeners,
    members,
    pools,
    responses,
    status_tree,
)
from ostium.control.services import loadbalancers as lbs
from ostium.control.services.lookup import get_live

router = APIRouter()


# ---- load balancers -----------------------------------------------------------------


@router.get("/lbaas/loadbalancers")
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


@router.post("/lbaas/loadbalancers")
def lb_create(request: Request, svc: Svc, ctx: Ctx, raw: Raw) -> Response:
    body = parse(raw, "loadbalancer", s.LoadBalancerCreate, "load_balancer")
    return show(request, "loadbalancer", lbs.create(svc, ctx, body), 201)


@router.get("/lbaas/loadbalancers/{lb_id}")
def lb_show(request: Request, svc: Svc, ctx: Ctx, lb_id: str) -> Response:
    return show(request, "loadbalancer", lbs.show(svc, ctx, lb_id))


@router.put("/lbaas/loadbalancers/{lb_id}")
def lb_update(request: Request, svc: Svc, ctx: Ctx, raw: Raw, lb_id: str) -> Response:
    body = parse(raw, "loadbalancer", s.LoadBalancerUpdate, "load_balancer")
    return show(request, "loadbalancer", lbs.update(svc, ctx, lb_id, body))


@router.delete("/lbaas/loadbalancers/{lb_id}")
def lb_delete(request: Request, svc: Svc, ctx: Ctx, lb_id: str) -> Response:
    lbs.delete(svc, ctx, lb_id, truthy(request.query_params.get("cascade")))
    return empty(204)


@router.get("/lbaas/loadbalancers/{lb_id}/status")
@router.get("/lbaas/loadbalancers/{lb_id}/statuses")
def lb_status(svc: Svc, ctx: Ctx, lb_id: str) -> Response:
    from fastapi.responses import JSONResponse

    return JSONResponse({"statuses": status_tree.status_tree(svc, ctx, lb_id)})


@router.get("/lbaas/loadbalancers/{lb_id}/stats")
def lb_stats(request: Request, svc: Svc, ctx: Ctx, lb_id: str) -> Response:
    return show(request, "stats", lbs.stats(svc, ctx, lb_id))


@router.put("/lbaas/loadbalancers/{lb_id}/failover")
def lb_failover(svc: Svc, ctx: Ctx, lb_id: str) -> Response:
    lbs.failover(svc, ctx, lb_id)
    return empty(202)


# ---- listeners ------------------------------------------------------------------------


@router.get("/lbaas/listeners")
def listener_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return listing(
        "listeners",
        col.list_lbaas(
            svc, ctx, col.LISTENERS, query_items(request), base_url(request), responses.listener
        ),
    )


@router.post("/lbaas/listeners")
def listener_create(request: Request, svc: Svc, ctx: Ctx, raw: Raw) -> Response:
    body = parse(raw, "listener", s.ListenerCreate, "listener_")
    return show(request, "listener", listeners.listener_create(svc, ctx, body), 201)


@router.get("/lbaas/listeners/{obj_id}")
def listener_show(request: Request, svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    return show(request, "listener", listeners.listener_show(svc, ctx, obj_id))


@router.put("/lbaas/listeners/{obj_id}")
def listener_update(request: Request, svc: Svc, ctx: Ctx, raw: Raw, obj_id: str) -> Response:
    body = parse(raw, "listener", s.ListenerUpdate, "listener_")
    return show(request, "listener", listeners.listener_update(svc, ctx, obj_id, body))


@router.delete("/lbaas/listeners/{obj_id}")
def listener_delete(svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    listeners.listener_delete(svc, ctx, obj_id)
    return empty(204)


@router.get("/lbaas/listeners/{obj_id}/stats")
def listener_stats(request: Request, svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    return show(request, "stats", listeners.listener_stats(svc, ctx, obj_id))


# ---- pools ----------------------------------------------------------------------------


@router.get("/lbaas/pools")
def pool_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return listing(
        "pools",
        col.list_lbaas(
            svc, ctx, col.POOLS, query_items(request), base_url(request), responses.pool
        ),
    )


@router.post("/lbaas/pools")
def pool_create(request: Request, svc: Svc, ctx: Ctx, raw: Raw) -> Response:
    body = parse(raw, "pool", s.PoolCreate, "pool_")
    return show(request, "pool", pools.pool_create(svc, ctx, body), 201)


@router.get("/lbaas/pools/{obj_id}")
def pool_show(request: Request, svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    return show(request, "pool", pools.pool_show(svc, ctx, obj_id))


@router.put("/lbaas/pools/{obj_id}")
def pool_update(request: Request, svc: Svc, ctx: Ctx, raw: Raw, obj_id: str) -> Response:
    body = parse(raw, "pool", s.PoolUpdate, "pool_")
    return show(request, "pool", pools.pool_update(svc, ctx, obj_id, body))


@router.delete("/lbaas/pools/{obj_id}")
def pool_delete(svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    pools.pool_delete(svc, ctx, obj_id)
    return empty(204)


# ---- members --------------------------------------------------------------------------


@router.get("/lbaas/pools/{pool_id}/members")
def member_list(request: Request, svc: Svc, ctx: Ctx, pool_id: str) -> Response:
    with svc.db.read() as session:
        get_live(session, m.Pool, pool_id, ctx)
    return listing(
        "members",
        col.list_lbaas(
            svc,
            ctx,
            col.MEMBERS,
            query_items(request),
            base_url(request),
            responses.member,
            where=m.Member.pool_id == pool_id,
            scoped=False,
        ),
    )


@router.post("/lbaas/pools/{pool_id}/members")
def member_create(request: Request, svc: Svc, ctx: Ctx, raw: Raw, pool_id: str) -> Response:
    body = parse(raw, "member", s.MemberCreate, "member_")
    return show(request, "member", members.member_create(svc, ctx, pool_id, body), 201)


@router.put("/lbaas/pools/{pool_id}/members")
def member_batch(request: Request, svc: Svc, ctx: Ctx, raw: Raw, pool_id: str) -> Response:
    from ostium.control.api.body import load_json, validate

    body = validate(load_json(raw), "members", s.MemberBatch)
    members.member_batch(svc, ctx, pool_id, body, truthy(request.query_params.get("additive_only")))
    return empty(202)


@router.get("/lbaas/pools/{pool_id}/members/{member_id}")
def member_show(request: Request, svc: Svc, ctx: Ctx, pool_id: str, member_id: str) -> Response:
    return show(request, "member", members.member_show(svc, ctx, pool_id, member_id))


@router.put("/lbaas/pools/{pool_id}/members/{member_id}")
def member_update(
    request: Request, svc: Svc, ctx: Ctx, raw: Raw, pool_id: str, member_id: str
) -> Response:
    body = parse(raw, "member", s.MemberUpdate, "member_")
    return show(request, "member", members.member_update(svc, ctx, pool_id, member_id, body))


@router.delete("/lbaas/pools/{pool_id}/members/{member_id}")
def member_delete(svc: Svc, ctx: Ctx, pool_id: str, member_id: str) -> Response:
    members.member_delete(svc, ctx, pool_id, member_id)
    return empty(204)


# ---- health monitors ---------------------------------------------------------------------


@router.get("/lbaas/healthmonitors")
def hm_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return listing(
        "healthmonitors",
        col.list_lbaas(
            svc,
            ctx,
            col.HEALTHMONITORS,
            query_items(request),
            base_url(request),
            responses.healthmonitor,
        ),
    )


@router.post("/lbaas/healthmonitors")
def hm_create(request: Request, svc: Svc, ctx: Ctx, raw: Raw) -> Response:
    body = parse(raw, "healthmonitor", s.HealthMonitorCreate, "health_monitor_")
    return show(request, "healthmonitor", healthmonitors.hm_create(svc, ctx, body), 201)


@router.get("/lbaas/healthmonitors/{obj_id}")
def hm_show(request: Request, svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    return show(request, "healthmonitor", healthmonitors.hm_show(svc, ctx, obj_id))


@router.put("/lbaas/healthmonitors/{obj_id}")
def hm_update(request: Request, svc: Svc, ctx: Ctx, raw: Raw, obj_id: str) -> Response:
    body = parse(raw, "healthmonitor", s.HealthMonitorUpdate, "health_monitor_")
    return show(request, "healthmonitor", healthmonitors.hm_update(svc, ctx, obj_id, body))


@router.delete("/lbaas/healthmonitors/{obj_id}")
def hm_delete(svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    healthmonitors.hm_delete(svc, ctx, obj_id)
    return empty(204)


# ---- L7 policies and rules ---------------------------------------------------------------


@router.get("/lbaas/l7policies")
def l7policy_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return listing(
        "l7policies",
        col.list_lbaas(
            svc, ctx, col.L7POLICIES, query_items(request), base_url(request), responses.l7policy
        ),
    )


@router.post("/lbaas/l7policies")
def l7policy_create(request: Request, svc: Svc, ctx: Ctx, raw: Raw) -> Response:
    body = parse(raw, "l7policy", s.L7PolicyCreate, "l7policy_")
    return show(request, "l7policy", l7policies.l7policy_create(svc, ctx, body), 201)


@router.get("/lbaas/l7policies/{obj_id}")
def l7policy_show(request: Request, svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    return show(request, "l7policy", l7policies.l7policy_show(svc, ctx, obj_id))


@router.put("/lbaas/l7policies/{obj_id}")
def l7policy_update(request: Request, svc: Svc, ctx: Ctx, raw: Raw, obj_id: str) -> Response:
    body = parse(raw, "l7policy", s.L7PolicyUpdate, "l7policy_")
    return show(request, "l7policy", l7policies.l7policy_update(svc, ctx, obj_id, body))


@router.delete("/lbaas/l7policies/{obj_id}")
def l7policy_delete(svc: Svc, ctx: Ctx, obj_id: str) -> Response:
    l7policies.l7policy_delete(svc, ctx, obj_id)
    return empty(204)


@router.get("/lbaas/l7policies/{pol_id}/rules")
def rule_list(request: Request, svc: Svc, ctx: Ctx, pol_id: str) -> Response:
    with svc.db.read() as session:
        get_live(session, m.L7Policy, pol_id, ctx)
    return listing(
        "rules",
        col.list_lbaas(
            svc,
            ctx,
            col.L7RULES,
            query_items(request),
            base_url(request),
            responses.l7rule,
            where=m.L7Rule.l7policy_id == pol_id,
            scoped=False,
        ),
    )


@router.post("/lbaas/l7policies/{pol_id}/rules")
def rule_create(request: Request, svc: Svc, ctx: Ctx, raw: Raw, pol_id: str) -> Response:
    body = parse(raw, "rule", s.L7RuleCreate, "rule_")
    return show(request, "rule", l7rules.rule_create(svc, ctx, pol_id, body), 201)


@router.get("/lbaas/l7policies/{pol_id}/rules/{rule_id}")
def rule_show(request: Request, svc: Svc, ctx: Ctx, pol_id: str, rule_id: str) -> Response:
    return show(request, "rule", l7rules.rule_show(svc, ctx, pol_id, rule_id))


@router.put("/lbaas/l7policies/{pol_id}/rules/{rule_id}")
def rule_update(
    request: Request, svc: Svc, ctx: Ctx, raw: Raw, pol_id: str, rule_id: str
) -> Response:
    body = parse(raw, "rule", s.L7RuleUpdate, "rule_")
    return show(request, "rule", l7rules.rule_update(svc, ctx, pol_id, rule_id, body))


@router.delete("/lbaas/l7policies/{pol_id}/rules/{rule_id}")
def rule_delete(svc: Svc, ctx: Ctx, pol_id: str, rule_id: str) -> Response:
    l7rules.rule_delete(svc, ctx, pol_id, rule_id)
    return empty(204)
