"""Pools: create (also used by the graph create), show, update, delete, and the lock
taken for any change under a pool.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.db.locking import lock_lb
from ostium.control.identity.context import RequestContext
from ostium.control.schemas import resources as s
from ostium.control.services import collections, responses, tls, validation
from ostium.control.services.context import ServiceContext
from ostium.control.services.lookup import get_live, show_one
from ostium.control.services.quotas import check_quota
from ostium.control.services.tags import tags_of
from ostium.control.services.writes import (
    add_new,
    apply_fields,
    mark_pending,
    new_resource,
)
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import BadRequest, Conflict


def new_pool(
    session: Session,
    lb: m.LoadBalancer,
    body: s._PoolFields,
    protocol: str,
    algorithm: str,
    project_id: str,
    svc: ServiceContext,
) -> m.Pool:
    validation.pool_protocol(protocol)
    validation.lb_algorithm(algorithm)
    sent = {f: getattr(body, f) for f in body.model_fields_set if f in tls.POOL_FIELDS}
    tls_fields = tls.pool(session, svc, project_id, sent)
    sp = validation.session_persistence(
        body.session_persistence.model_dump() if body.session_persistence else None, protocol
    )
    row = m.Pool(
        **new_resource(project_id, body.admin_state_up),
        load_balancer_id=lb.id,
        name=body.name or "",
        description=body.description or "",
        protocol=protocol,
        lb_algorithm=algorithm,
        session_persistence=sp,
        **tls_fields,
    )
    return add_new(session, row, body.tags)


def show(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> dict[str, Any]:
    return show_one(svc, ctx, m.Pool, obj_id, responses.pool)


def create(svc: ServiceContext, ctx: RequestContext, body: s.PoolCreate) -> dict[str, Any]:
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
            validation.pool_compat(
                body.protocol,
                li.protocol,
                body.session_persistence.model_dump() if body.session_persistence else None,
            )
            if li.default_pool_id:
                raise Conflict("This listener already has a default pool")
        row = new_pool(session, lb, body, body.protocol, body.lb_algorithm, lb.project_id, svc)
        session.flush()
        check_quota(session, svc, ctx, lb.project_id, {"pool": 1})
        lock_lb(session, lb.id)
        if li is not None:
            li.default_pool_id = row.id
            mark_pending(session, [li])
        session.flush()
        session.refresh(row)
        out = responses.pool(row, tags_of(session, row))
    svc.wake()
    return out


def update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: s.PoolUpdate
) -> dict[str, Any]:
    sent = set(body.model_fields_set)
    with svc.db.write() as session:
        p = get_live(session, m.Pool, obj_id, ctx, "write")
        tls_sent = {f: getattr(body, f) for f in sent if f in tls.POOL_FIELDS}
        if tls_sent:
            stored = {f: getattr(p, f) for f in tls.POOL_FIELDS}
            for f, v in tls.pool(session, svc, p.project_id, tls_sent, stored).items():
                setattr(p, f, v)
        if "lb_algorithm" in sent:
            if body.lb_algorithm is None:
                raise BadRequest(
                    "Invalid input for field/attribute lb_algorithm. Value: "
                    "'None'. Mandatory field missing."
                )
            validation.lb_algorithm(body.lb_algorithm)
        if "session_persistence" in sent:
            sp = body.session_persistence
            if sp is None:
                p.session_persistence = None
            else:
                merged = sp.model_dump()
                if merged.get("type") is None and p.session_persistence:
                    merged["type"] = p.session_persistence.get("type")
                p.session_persistence = validation.session_persistence(merged, p.protocol)
                for user in responses.pool_listeners(p):
                    validation.pool_compat(p.protocol, user.protocol, p.session_persistence)
        apply_fields(
            session, p, body, sent, ("name", "description", "admin_state_up", "lb_algorithm")
        )
        lock_lb(session, p.load_balancer_id)
        mark_pending(session, [p, *responses.pool_listeners(p)])
        session.flush()
        out = responses.pool(p, tags_of(session, p))
    svc.wake()
    return out


def delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    with svc.db.write() as session:
        p = get_live(session, m.Pool, obj_id, ctx, "write")
        user = session.scalar(
            select(m.L7Policy.id).where(
                m.L7Policy.redirect_pool_id == p.id, m.L7Policy.provisioning_status != PS.DELETED
            )
        )
        if user:
            raise Conflict(f"Pool {p.id} is in use by L7 policy {user}")
        lock_lb(session, p.load_balancer_id)
        mark_pending(session, responses.pool_listeners(p))
        p.provisioning_status = PS.PENDING_DELETE
    svc.wake()


def lock_under_pool(session: Session, p: m.Pool) -> None:
    lock_lb(session, p.load_balancer_id)
    mark_pending(session, [p, *responses.pool_listeners(p)])


def listing(
    svc: ServiceContext, ctx: RequestContext, items: list[tuple[str, str]], base_url: str
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    return collections.list_lbaas(svc, ctx, collections.POOLS, items, base_url, responses.pool)
