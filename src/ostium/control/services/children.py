"""Listener, pool, member, health monitor, L7 policy and L7 rule operations.

Every write follows one order: look up (404), authorize (403), validate (400/409), take
the load balancer lock (409), mark the parents PENDING_UPDATE, write, bump generation
(done by the lock), commit, wake the worker.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.db.locking import lock_lb
from ostium.control.identity.context import RequestContext
from ostium.control.schemas import resources as s
from ostium.control.services import builders, rules, views
from ostium.control.services.common import (
    ServiceContext,
    check_quota,
    get_live,
    load_tags,
    mark_pending,
    require_active,
    set_tags,
)
from ostium.model.errors import BadRequest, Conflict, NotFound

PENDING_UPDATE = "PENDING_UPDATE"
PENDING_DELETE = "PENDING_DELETE"


def _tags(session: Session, row: Any) -> list[str]:
    return load_tags(session, [row.id])[row.id]


def _show(
    svc: ServiceContext, ctx: RequestContext, model: Any, obj_id: str, view: Any
) -> dict[str, Any]:
    with svc.db.read() as session:
        row = get_live(session, model, obj_id, ctx)
        return dict(view(row, _tags(session, row)))


def _apply_simple(
    row: Any,
    body: Any,
    sent: set[str],
    names: tuple[str, ...],
    resets: dict[str, Any] | None = None,
) -> None:
    for f in names:
        if f in sent:
            value = getattr(body, f)
            if value is None and resets and f in resets:
                value = resets[f]
            if f in ("name", "description") and value is None:
                value = ""
            setattr(row, f, value)


# ---- listeners --------------------------------------------------------------------------


def listener_show(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> dict[str, Any]:
    return _show(svc, ctx, m.Listener, obj_id, views.listener)


def _attach_default_pool(session: Session, li: m.Listener, pool_id: str | None) -> None:
    if pool_id is None:
        li.default_pool_id = None
        return
    p = session.get(m.Pool, pool_id)
    if p is None or p.load_balancer_id != li.load_balancer_id or p.provisioning_status == "DELETED":
        raise NotFound(f"Pool {pool_id} not found.")
    rules.pool_compat(p.protocol, li.protocol, p.session_persistence)
    li.default_pool_id = p.id


def listener_create(
    svc: ServiceContext, ctx: RequestContext, body: s.ListenerCreate
) -> dict[str, Any]:
    with svc.db.write() as session:
        lb = get_live(session, m.LoadBalancer, body.loadbalancer_id, ctx, "write")
        row = builders.listener(session, lb, body, lb.project_id)
        session.flush()
        if body.default_pool_id:
            _attach_default_pool(session, row, body.default_pool_id)
        check_quota(session, svc, ctx, lb.project_id, {"listener": 1})
        lock_lb(session, lb.id)
        session.flush()
        out = views.listener(row, _tags(session, row))
    svc.wake()
    return out


def listener_update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: s.ListenerUpdate
) -> dict[str, Any]:
    sent = set(body.model_fields_set)
    with svc.db.write() as session:
        li = get_live(session, m.Listener, obj_id, ctx, "write")
        data = {f: getattr(body, f) for f in sent}
        rules.listener_tls_fields(li.protocol, data)
        if "insert_headers" in sent:
            rules.insert_headers(body.insert_headers or {}, li.protocol)
        if "allowed_cidrs" in sent:
            li.allowed_cidrs = rules.allowed_cidrs(
                body.allowed_cidrs or [], li.load_balancer.vip_address
            )
        if "default_pool_id" in sent:
            _attach_default_pool(session, li, body.default_pool_id)
        _apply_simple(
            li,
            body,
            sent,
            (
                "name",
                "description",
                "admin_state_up",
                "connection_limit",
                "insert_headers",
                "timeout_client_data",
                "timeout_member_connect",
                "timeout_member_data",
                "timeout_tcp_inspect",
            ),
            resets={
                "connection_limit": -1,
                "insert_headers": {},
                "timeout_client_data": 50000,
                "timeout_member_connect": 5000,
                "timeout_member_data": 50000,
                "timeout_tcp_inspect": 0,
            },
        )
        if "tags" in sent:
            set_tags(session, li.id, body.tags)
        lock_lb(session, li.load_balancer_id)
        mark_pending(session, [li])
        session.flush()
        out = views.listener(li, _tags(session, li))
    svc.wake()
    return out


def listener_delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    with svc.db.write() as session:
        li = get_live(session, m.Listener, obj_id, ctx, "write")
        lock_lb(session, li.load_balancer_id)
        li.provisioning_status = PENDING_DELETE
    svc.wake()


def listener_stats(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> dict[str, int]:
    from ostium.control.services.loadbalancers import sum_stats

    with svc.db.read() as session:
        get_live(session, m.Listener, obj_id, ctx)
        return sum_stats(session, m.ListenerStatistics.listener_id == obj_id)


# ---- pools -----------------------------------------------------------------------------


def pool_show(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> dict[str, Any]:
    return _show(svc, ctx, m.Pool, obj_id, views.pool)


def pool_create(svc: ServiceContext, ctx: RequestContext, body: s.PoolCreate) -> dict[str, Any]:
    if not body.loadbalancer_id and not body.listener_id:
        raise BadRequest(
            "Validation failure: Must provide at least one of: loadbalancer_id, listener_id"
        )
    with svc.db.write() as session:
        li: m.Listener | None = None
        if body.listener_id:
            li = get_live(session, m.Listener, body.listener_id, ctx, "write")
            if body.loadbalancer_id and body.loadbalancer_id != li.load_balancer_id:
                raise BadRequest(
                    "Validation failure: The listener is not on load balancer "
                    f"{body.loadbalancer_id}."
                )
            lb = li.load_balancer
        else:
            assert body.loadbalancer_id is not None
            lb = get_live(session, m.LoadBalancer, body.loadbalancer_id, ctx, "write")
        if li is not None:
            if li.protocol == "PROMETHEUS":
                raise BadRequest("Protocol PROMETHEUS listeners cannot have child objects.")
            rules.pool_compat(
                body.protocol,
                li.protocol,
                body.session_persistence.model_dump() if body.session_persistence else None,
            )
            if li.default_pool_id:
                raise Conflict("This listener already has a default pool")
        row = builders.pool(session, lb, body, body.protocol, body.lb_algorithm, lb.project_id)
        session.flush()
        check_quota(session, svc, ctx, lb.project_id, {"pool": 1})
        lock_lb(session, lb.id)
        if li is not None:
            li.default_pool_id = row.id
            mark_pending(session, [li])
        session.flush()
        session.refresh(row)
        out = views.pool(row, _tags(session, row))
    svc.wake()
    return out


def pool_update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: s.PoolUpdate
) -> dict[str, Any]:
    sent = set(body.model_fields_set)
    with svc.db.write() as session:
        p = get_live(session, m.Pool, obj_id, ctx, "write")
        rules.pool_tls_fields({f: getattr(body, f) for f in sent})
        if "lb_algorithm" in sent:
            if body.lb_algorithm is None:
                raise BadRequest(
                    "Invalid input for field/attribute lb_algorithm. Value: "
                    "'None'. Mandatory field missing."
                )
            rules.lb_algorithm(body.lb_algorithm)
        if "session_persistence" in sent:
            sp = body.session_persistence
            if sp is None:
                p.session_persistence = None
            else:
                merged = sp.model_dump()
                if merged.get("type") is None and p.session_persistence:
                    merged["type"] = p.session_persistence.get("type")
                p.session_persistence = rules.session_persistence(merged, p.protocol)
                for user in views.pool_listeners(p):
                    rules.pool_compat(p.protocol, user.protocol, p.session_persistence)
        _apply_simple(p, body, sent, ("name", "description", "admin_state_up", "lb_algorithm"))
        if "tags" in sent:
            set_tags(session, p.id, body.tags)
        lock_lb(session, p.load_balancer_id)
        mark_pending(session, [p, *views.pool_listeners(p)])
        session.flush()
        out = views.pool(p, _tags(session, p))
    svc.wake()
    return out


def pool_delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    with svc.db.write() as session:
        p = get_live(session, m.Pool, obj_id, ctx, "write")
        user = session.scalar(
            select(m.L7Policy.id).where(
                m.L7Policy.redirect_pool_id == p.id, m.L7Policy.provisioning_status != "DELETED"
            )
        )
        if user:
            raise Conflict(f"Pool {p.id} is in use by L7 policy {user}")
        lock_lb(session, p.load_balancer_id)
        mark_pending(session, views.pool_listeners(p))
        p.provisioning_status = PENDING_DELETE
    svc.wake()


# ---- members ----------------------------------------------------------------------------


def _pool_for_write(session: Session, ctx: RequestContext, pool_id: str) -> m.Pool:
    p: m.Pool = get_live(session, m.Pool, pool_id, ctx, "write")
    require_active(p, "Pool")
    return p


def _lock_under_pool(session: Session, p: m.Pool) -> None:
    lock_lb(session, p.load_balancer_id)
    mark_pending(session, [p, *views.pool_listeners(p)])


def member_get(
    session: Session, ctx: RequestContext, pool_id: str, member_id: str, rule: str = "read"
) -> m.Member:
    get_live(session, m.Pool, pool_id, ctx, rule)
    mb: m.Member = get_live(session, m.Member, member_id, ctx, rule)
    if mb.pool_id != pool_id:
        raise NotFound(f"Member {member_id} not found.")
    return mb


def member_show(
    svc: ServiceContext, ctx: RequestContext, pool_id: str, member_id: str
) -> dict[str, Any]:
    with svc.db.read() as session:
        mb = member_get(session, ctx, pool_id, member_id)
        return views.member(mb, _tags(session, mb))


def member_create(
    svc: ServiceContext, ctx: RequestContext, pool_id: str, body: s.MemberCreate
) -> dict[str, Any]:
    with svc.db.write() as session:
        p = _pool_for_write(session, ctx, pool_id)
        row = builders.member(
            session, svc.settings, p, body, p.project_id, p.health_monitor is not None
        )
        check_quota(session, svc, ctx, p.project_id, {"member": 1})
        _lock_under_pool(session, p)
        session.flush()
        out = views.member(row, _tags(session, row))
    svc.wake()
    return out


def member_update(
    svc: ServiceContext, ctx: RequestContext, pool_id: str, member_id: str, body: s.MemberUpdate
) -> dict[str, Any]:
    sent = set(body.model_fields_set)
    with svc.db.write() as session:
        mb = member_get(session, ctx, pool_id, member_id, "write")
        require_active(mb.pool, "Pool")
        _apply_simple(
            mb,
            body,
            sent,
            ("name", "admin_state_up", "weight", "backup", "monitor_address", "monitor_port"),
            resets={"weight": 1, "backup": False},
        )
        if "tags" in sent:
            set_tags(session, mb.id, body.tags)
        _lock_under_pool(session, mb.pool)
        mark_pending(session, [mb])
        session.flush()
        out = views.member(mb, _tags(session, mb))
    svc.wake()
    return out


def member_delete(svc: ServiceContext, ctx: RequestContext, pool_id: str, member_id: str) -> None:
    with svc.db.write() as session:
        mb = member_get(session, ctx, pool_id, member_id, "write")
        require_active(mb.pool, "Pool")
        _lock_under_pool(session, mb.pool)
        mb.provisioning_status = PENDING_DELETE
    svc.wake()


def member_batch(
    svc: ServiceContext, ctx: RequestContext, pool_id: str, body: s.MemberBatch, additive_only: bool
) -> None:
    seen: set[tuple[str, int]] = set()
    for item in body.members:
        key = (item.address, item.protocol_port)
        if key in seen:
            raise BadRequest("Member must be updated only once in the same request.")
        seen.add(key)
    with svc.db.write() as session:
        p = _pool_for_write(session, ctx, pool_id)
        existing = {
            (mb.address, mb.protocol_port): mb
            for mb in p.members
            if mb.provisioning_status != "DELETED"
        }
        new = [i for i in body.members if (i.address, i.protocol_port) not in existing]
        changed = False
        for item in body.members:
            mb = existing.get((item.address, item.protocol_port))
            if mb is None:
                continue
            before = (
                mb.name,
                mb.admin_state_up,
                mb.weight,
                mb.backup,
                mb.monitor_address,
                mb.monitor_port,
            )
            sent = item.model_fields_set
            _apply_simple(
                mb,
                item,
                set(sent),
                ("name", "admin_state_up", "weight", "backup", "monitor_address", "monitor_port"),
                resets={"weight": 1, "backup": False},
            )
            if "tags" in sent:
                set_tags(session, mb.id, item.tags)
            after = (
                mb.name,
                mb.admin_state_up,
                mb.weight,
                mb.backup,
                mb.monitor_address,
                mb.monitor_port,
            )
            if before != after or "tags" in sent:
                mark_pending(session, [mb])
                changed = True
        for item in new:
            builders.member(
                session, svc.settings, p, item, p.project_id, p.health_monitor is not None
            )
            changed = True
        if not additive_only:
            for key, mb in existing.items():
                if key not in seen:
                    mb.provisioning_status = PENDING_DELETE
                    changed = True
        if not changed:
            return
        check_quota(session, svc, ctx, p.project_id, {"member": len(new)})
        _lock_under_pool(session, p)
    svc.wake()


# ---- health monitors ---------------------------------------------------------------------


def hm_show(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> dict[str, Any]:
    return _show(svc, ctx, m.HealthMonitor, obj_id, views.healthmonitor)


def hm_create(
    svc: ServiceContext, ctx: RequestContext, body: s.HealthMonitorCreate
) -> dict[str, Any]:
    with svc.db.write() as session:
        p: m.Pool = get_live(session, m.Pool, body.pool_id, ctx, "write")
        if p.health_monitor is not None and p.health_monitor.provisioning_status != "DELETED":
            raise Conflict("This pool already has a health monitor")
        require_active(p, "Pool")
        row = builders.healthmonitor(session, p, body, p.project_id)
        check_quota(session, svc, ctx, p.project_id, {"health_monitor": 1})
        _lock_under_pool(session, p)
        session.flush()
        out = views.healthmonitor(row, _tags(session, row))
    svc.wake()
    return out


HM_FIELDS = (
    "type",
    "delay",
    "timeout",
    "max_retries",
    "max_retries_down",
    "http_method",
    "url_path",
    "expected_codes",
    "http_version",
    "domain_name",
)


def hm_update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: s.HealthMonitorUpdate
) -> dict[str, Any]:
    sent = set(body.model_fields_set)
    for f in ("delay", "timeout", "max_retries"):
        if f in sent and getattr(body, f) is None:
            raise BadRequest(f"None is not a valid option for {f}")
    with svc.db.write() as session:
        hm: m.HealthMonitor = get_live(session, m.HealthMonitor, obj_id, ctx, "write")
        require_active(hm.pool, "Pool")
        merged = {f: getattr(hm, f) for f in HM_FIELDS}
        http = hm.type in ("HTTP", "HTTPS")
        for f in sent & set(HM_FIELDS):
            value = getattr(body, f)
            if value is None and f in ("http_method", "url_path", "expected_codes") and http:
                value = {"http_method": "GET", "url_path": "/", "expected_codes": "200"}[f]
            merged[f] = value
        merged = rules.healthmonitor(merged, hm.pool.protocol)
        for f in HM_FIELDS:
            setattr(hm, f, merged[f])
        _apply_simple(hm, body, sent, ("name", "admin_state_up"))
        if "tags" in sent:
            set_tags(session, hm.id, body.tags)
        _lock_under_pool(session, hm.pool)
        mark_pending(session, [hm])
        session.flush()
        out = views.healthmonitor(hm, _tags(session, hm))
    svc.wake()
    return out


def hm_delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    with svc.db.write() as session:
        hm: m.HealthMonitor = get_live(session, m.HealthMonitor, obj_id, ctx, "write")
        require_active(hm.pool, "Pool")
        _lock_under_pool(session, hm.pool)
        hm.provisioning_status = PENDING_DELETE
    svc.wake()


# ---- L7 policies ------------------------------------------------------------------------


def l7policy_show(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> dict[str, Any]:
    return _show(svc, ctx, m.L7Policy, obj_id, views.l7policy)


def l7policy_create(
    svc: ServiceContext, ctx: RequestContext, body: s.L7PolicyCreate
) -> dict[str, Any]:
    with svc.db.write() as session:
        li: m.Listener = get_live(session, m.Listener, body.listener_id, ctx, "write")
        row = builders.l7policy(session, li, body, li.project_id)
        check_quota(session, svc, ctx, li.project_id, {"l7policy": 1})
        lock_lb(session, li.load_balancer_id)
        mark_pending(session, [li])
        session.flush()
        out = views.l7policy(row, _tags(session, row))
    svc.wake()
    return out


def _reposition(session: Session, pol: m.L7Policy, new_pos: int) -> None:
    others = [
        p
        for p in session.scalars(
            select(m.L7Policy)
            .where(m.L7Policy.listener_id == pol.listener_id, m.L7Policy.id != pol.id)
            .order_by(m.L7Policy.position)
        )
    ]
    new_pos = max(1, min(new_pos, len(others) + 1))
    others.insert(new_pos - 1, pol)
    for i, p in enumerate(others, start=1):
        p.position = i


def l7policy_update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: s.L7PolicyUpdate
) -> dict[str, Any]:
    sent = set(body.model_fields_set)
    with svc.db.write() as session:
        pol: m.L7Policy = get_live(session, m.L7Policy, obj_id, ctx, "write")
        li = pol.listener
        data = {
            f: getattr(pol, f)
            for f in (
                "action",
                "redirect_url",
                "redirect_prefix",
                "redirect_pool_id",
                "redirect_http_code",
            )
        }
        for f in sent & set(data):
            data[f] = getattr(body, f)
        if "action" in sent and body.action is None:
            raise BadRequest(
                "Invalid input for field/attribute action. Value: 'None'. Mandatory field missing."
            )
        data = builders.normalise_policy(data, sent)
        if data.get("redirect_pool_id") and "redirect_pool_id" in sent:
            builders.check_redirect_pool(session, li, data["redirect_pool_id"])
        for f, v in data.items():
            setattr(pol, f, v)
        _apply_simple(pol, body, sent, ("name", "description", "admin_state_up"))
        if "position" in sent and body.position is not None:
            _reposition(session, pol, body.position)
        if "tags" in sent:
            set_tags(session, pol.id, body.tags)
        lock_lb(session, li.load_balancer_id)
        mark_pending(session, [li, pol])
        session.flush()
        out = views.l7policy(pol, _tags(session, pol))
    svc.wake()
    return out


def l7policy_delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    with svc.db.write() as session:
        pol: m.L7Policy = get_live(session, m.L7Policy, obj_id, ctx, "write")
        lock_lb(session, pol.listener.load_balancer_id)
        mark_pending(session, [pol.listener])
        pol.provisioning_status = PENDING_DELETE
    svc.wake()


# ---- L7 rules ------------------------------------------------------------------------------


def _policy_for_write(session: Session, ctx: RequestContext, pol_id: str) -> m.L7Policy:
    pol: m.L7Policy = get_live(session, m.L7Policy, pol_id, ctx, "write")
    require_active(pol, "L7Policy")
    return pol


def rule_get(
    session: Session, ctx: RequestContext, pol_id: str, rule_id: str, rule: str = "read"
) -> m.L7Rule:
    get_live(session, m.L7Policy, pol_id, ctx, rule)
    r: m.L7Rule = get_live(session, m.L7Rule, rule_id, ctx, rule)
    if r.l7policy_id != pol_id:
        raise NotFound(f"L7 Rule {rule_id} not found.")
    return r


def rule_show(
    svc: ServiceContext, ctx: RequestContext, pol_id: str, rule_id: str
) -> dict[str, Any]:
    with svc.db.read() as session:
        r = rule_get(session, ctx, pol_id, rule_id)
        return views.l7rule(r, _tags(session, r))


def _lock_under_policy(session: Session, pol: m.L7Policy) -> None:
    lock_lb(session, pol.listener.load_balancer_id)
    mark_pending(session, [pol.listener, pol])


def rule_create(
    svc: ServiceContext, ctx: RequestContext, pol_id: str, body: s.L7RuleCreate
) -> dict[str, Any]:
    with svc.db.write() as session:
        pol = _policy_for_write(session, ctx, pol_id)
        row = builders.l7rule(session, pol, body, pol.project_id)
        check_quota(session, svc, ctx, pol.project_id, {"l7rule": 1})
        _lock_under_policy(session, pol)
        session.flush()
        out = views.l7rule(row, _tags(session, row))
    svc.wake()
    return out


def rule_update(
    svc: ServiceContext, ctx: RequestContext, pol_id: str, rule_id: str, body: s.L7RuleUpdate
) -> dict[str, Any]:
    sent = set(body.model_fields_set)
    with svc.db.write() as session:
        r = rule_get(session, ctx, pol_id, rule_id, "write")
        pol = r.policy
        require_active(pol, "L7Policy")
        merged = {f: getattr(r, f) for f in ("type", "compare_type", "key", "value")}
        for f in sent & set(merged):
            merged[f] = getattr(body, f)
        for f in ("type", "compare_type", "value"):
            if merged[f] is None:
                raise BadRequest(
                    f"Invalid input for field/attribute {f}. Value: 'None'. "
                    "Mandatory field missing."
                )
        rules.l7rule(merged)
        for f, v in merged.items():
            setattr(r, f, v)
        _apply_simple(r, body, sent, ("admin_state_up",))
        if "invert" in sent:
            r.invert = bool(body.invert)
        if "tags" in sent:
            set_tags(session, r.id, body.tags)
        _lock_under_policy(session, pol)
        mark_pending(session, [r])
        session.flush()
        out = views.l7rule(r, _tags(session, r))
    svc.wake()
    return out


def rule_delete(svc: ServiceContext, ctx: RequestContext, pol_id: str, rule_id: str) -> None:
    with svc.db.write() as session:
        r = rule_get(session, ctx, pol_id, rule_id, "write")
        require_active(r.policy, "L7Policy")
        _lock_under_policy(session, r.policy)
        r.provisioning_status = PENDING_DELETE
    svc.wake()
