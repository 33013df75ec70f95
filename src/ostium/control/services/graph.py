"""The single-call graph create: a load balancer with its listeners, pools (referred to
by name), members, health monitors and L7 policies in one request (API spec 2.1).

Called by `loadbalancers.create` inside its transaction: index the pools by name and
check every reference, count what the quota must allow, then create the children with
the same `new_*` functions the single-object creates use.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.schemas import resources as s
from ostium.control.services import (
    healthmonitors,
    l7policies,
    l7rules,
    listeners,
    members,
    pools,
    validation,
)
from ostium.control.services.context import ServiceContext
from ostium.model.errors import BadRequest


def pool_index(body: s.LoadBalancerCreate) -> dict[str, s.GraphPool]:
    defs: dict[str, s.GraphPool] = {}
    refs: list[str] = []

    def visit(p: s.GraphPool) -> None:
        if not p.name:
            raise BadRequest("Validation failure: Pools in a load balancer graph must have a name.")
        full = p.model_fields_set - {"name"}
        if full:
            if p.name in defs:
                raise BadRequest(f"Validation failure: Pool '{p.name}' is defined more than once.")
            if p.protocol is None or p.lb_algorithm is None:
                raise BadRequest(
                    f"Validation failure: Pool '{p.name}' must define protocol and lb_algorithm."
                )
            defs[p.name] = p
        else:
            refs.append(p.name)

    for p in body.pools or []:
        visit(p)
    for li in body.listeners or []:
        if li.default_pool is not None:
            visit(li.default_pool)
        for pol in li.l7policies or []:
            if pol.redirect_pool is not None:
                visit(pol.redirect_pool)
    for name in refs:
        if name not in defs:
            raise BadRequest(f"Pool '{name}' was referenced but no full definition was found.")
    return defs


def counts(body: s.LoadBalancerCreate, pools: dict[str, s.GraphPool]) -> dict[str, int]:
    c = {
        "listener": len(body.listeners or []),
        "pool": len(pools),
        "member": 0,
        "health_monitor": 0,
        "l7policy": 0,
        "l7rule": 0,
    }
    for p in pools.values():
        c["member"] += len(p.members or [])
        c["health_monitor"] += 1 if p.healthmonitor else 0
    for li in body.listeners or []:
        for pol in li.l7policies or []:
            c["l7policy"] += 1
            c["l7rule"] += len(pol.rules or [])
    return c


def create_children(
    session: Session,
    svc: ServiceContext,
    lb: m.LoadBalancer,
    body: s.LoadBalancerCreate,
    pool_defs: dict[str, s.GraphPool],
    project: str,
) -> None:
    pool_rows: dict[str, m.Pool] = {}
    for name, p in pool_defs.items():
        assert p.protocol is not None and p.lb_algorithm is not None
        row = pools.new_pool(session, lb, p, p.protocol, p.lb_algorithm, project, svc)
        pool_rows[name] = row
        session.flush()
        if p.healthmonitor is not None:
            healthmonitors.new_healthmonitor(
                session,
                row,
                p.healthmonitor,
                project,
                udp_min_delay=svc.settings.api.udp_connect_min_interval_health_monitor,
            )
        taken: set[tuple[str, int]] = set()
        for mb in p.members or []:
            monitored = p.healthmonitor is not None
            members.new_member(session, svc.settings, row, mb, project, monitored, taken)
    ports: set[tuple[str, int]] = set()
    for li_body in body.listeners or []:
        li = listeners.new_listener(session, lb, li_body, project, svc, ports)
        if li_body.default_pool is not None:
            prow = pool_rows[li_body.default_pool.name or ""]
            validation.pool_compat(prow.protocol, li.protocol, prow.session_persistence)
            li.default_pool_id = prow.id
        for pol in li_body.l7policies or []:
            target = None
            if pol.redirect_pool is not None:
                target = pool_rows[pol.redirect_pool.name or ""]
                validation.pool_compat(target.protocol, li.protocol, target.session_persistence)
            prow_pol = l7policies.new_l7policy(
                session, li, pol, project, redirect_pool_id=target.id if target else None
            )
            for rule in pol.rules or []:
                l7rules.new_l7rule(session, prow_pol, rule, project)
        session.flush()
