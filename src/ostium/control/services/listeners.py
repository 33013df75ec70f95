"""Listeners: create (also used by the graph create), show, update, delete, statistics.

Every write follows one order: look up (404), authorize (403), validate (400/409), take
the load balancer lock (409), mark the parents PS.PENDING_UPDATE, write, commit, wake the
worker.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.db.locking import lock_lb
from ostium.control.identity.context import RequestContext
from ostium.control.schemas import resources as s
from ostium.control.services import collections, lvs_validation, responses, tls, validation
from ostium.control.services.context import ServiceContext
from ostium.control.services.lookup import get_live, show_one
from ostium.control.services.quotas import check_quota
from ostium.control.services.statistics import sum_stats
from ostium.control.services.tags import tags_of
from ostium.control.services.writes import (
    add_new,
    apply_fields,
    mark_pending,
    new_resource,
)
from ostium.model import defaults
from ostium.model.enums import PORT_FAMILY
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import BadRequest, Conflict, NotFound


def vip_addresses(lb: m.LoadBalancer) -> list[str]:
    """The primary VIP and every additional VIP of a load balancer."""
    extra = [str(av["ip_address"]) for av in lb.additional_vips or []]
    return [lb.vip_address or "", *extra]


def new_listener(
    session: Session,
    lb: m.LoadBalancer,
    body: s._ListenerFields,
    project_id: str,
    svc: ServiceContext,
    new_lb: set[tuple[str, int]] | None = None,
) -> m.Listener:
    """A new listener row (added to the session). `new_lb`: the load balancer was
    created in this transaction (a graph create), and this set holds the (port family,
    port) of the listeners added to it so far: no query for a clash."""
    validation.listener_protocol(body.protocol)
    if body.protocol in lvs_validation.LVS_PROTOCOLS:
        lvs_validation.listener_fields(body.protocol, body.model_dump())
    headers = body.insert_headers or {}
    validation.insert_headers(headers, body.protocol)
    cidrs = validation.allowed_cidrs(body.allowed_cidrs or [], vip_addresses(lb))
    sent = {f: getattr(body, f) for f in body.model_fields_set if f in tls.LISTENER_FIELDS}
    tls_fields = tls.listener(session, svc, project_id, body.protocol, sent)
    if body.protocol == "PROMETHEUS" and getattr(body, "default_pool", None) is not None:
        raise BadRequest("Protocol PROMETHEUS listeners cannot have child objects.")
    family = PORT_FAMILY[body.protocol]
    if new_lb is not None:  # a load balancer of this transaction: its listeners are ours
        clash = (family, body.protocol_port) in new_lb
        new_lb.add((family, body.protocol_port))
    else:
        clash = (
            session.scalar(
                select(m.Listener.id).where(
                    m.Listener.load_balancer_id == lb.id,
                    m.Listener.port_family == family,
                    m.Listener.protocol_port == body.protocol_port,
                )
            )
            is not None
        )
    if clash:
        raise Conflict(
            f"Another Listener on this Load Balancer is already using protocol "
            f"{body.protocol} and protocol_port {body.protocol_port}"
        )
    row = m.Listener(
        **new_resource(project_id, body.admin_state_up),
        load_balancer_id=lb.id,
        name=body.name or "",
        description=body.description or "",
        protocol=body.protocol,
        protocol_port=body.protocol_port,
        port_family=family,
        connection_limit=_or(body.connection_limit, defaults.CONNECTION_LIMIT),
        insert_headers=headers,
        timeout_client_data=_or(body.timeout_client_data, defaults.TIMEOUT_CLIENT_DATA),
        timeout_member_connect=_or(body.timeout_member_connect, defaults.TIMEOUT_MEMBER_CONNECT),
        timeout_member_data=_or(body.timeout_member_data, defaults.TIMEOUT_MEMBER_DATA),
        timeout_tcp_inspect=_or(body.timeout_tcp_inspect, defaults.TIMEOUT_TCP_INSPECT),
        allowed_cidrs=cidrs,
        **tls_fields,
    )
    return add_new(session, row, body.tags)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def show(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> dict[str, Any]:
    return show_one(svc, ctx, m.Listener, obj_id, responses.listener)


def _attach_default_pool(session: Session, li: m.Listener, pool_id: str | None) -> None:
    if pool_id is None:
        li.default_pool_id = None
        return
    p = session.get(m.Pool, pool_id)
    if (
        p is None
        or p.load_balancer_id != li.load_balancer_id
        or p.provisioning_status == PS.DELETED
    ):
        raise NotFound(f"Pool {pool_id} not found.")
    validation.pool_compat(p.protocol, li.protocol, p.session_persistence)
    li.default_pool_id = p.id


def create(svc: ServiceContext, ctx: RequestContext, body: s.ListenerCreate) -> dict[str, Any]:
    with svc.db.write() as session:
        lb = get_live(session, m.LoadBalancer, body.loadbalancer_id, ctx, "write")
        row = new_listener(session, lb, body, lb.project_id, svc)
        session.flush()
        if body.default_pool_id:
            _attach_default_pool(session, row, body.default_pool_id)
        check_quota(session, svc, ctx, lb.project_id, {"listener": 1})
        lock_lb(session, lb.id)
        session.flush()
        out = responses.listener(row, tags_of(session, row))
    svc.wake()
    return out


def update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: s.ListenerUpdate
) -> dict[str, Any]:
    sent = set(body.model_fields_set)
    with svc.db.write() as session:
        li = get_live(session, m.Listener, obj_id, ctx, "write")
        if li.protocol in lvs_validation.LVS_PROTOCOLS:
            lvs_validation.listener_fields(li.protocol, {f: getattr(body, f) for f in sent})
        tls_sent = {f: getattr(body, f) for f in sent if f in tls.LISTENER_FIELDS}
        if tls_sent:
            stored = {f: getattr(li, f) for f in tls.LISTENER_FIELDS}
            for f, v in tls.listener(
                session, svc, li.project_id, li.protocol, tls_sent, stored
            ).items():
                setattr(li, f, v)
        if "insert_headers" in sent:
            validation.insert_headers(body.insert_headers or {}, li.protocol)
        if "allowed_cidrs" in sent:
            li.allowed_cidrs = validation.allowed_cidrs(
                body.allowed_cidrs or [], vip_addresses(li.load_balancer)
            )
        if "default_pool_id" in sent:
            _attach_default_pool(session, li, body.default_pool_id)
        apply_fields(
            session,
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
            resets={**defaults.LISTENER_RESETS, "insert_headers": {}},
        )
        lock_lb(session, li.load_balancer_id)
        mark_pending(session, [li])
        session.flush()
        out = responses.listener(li, tags_of(session, li))
    svc.wake()
    return out


def delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    with svc.db.write() as session:
        li = get_live(session, m.Listener, obj_id, ctx, "write")
        lock_lb(session, li.load_balancer_id)
        li.provisioning_status = PS.PENDING_DELETE
    svc.wake()


def stats(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> dict[str, int]:
    with svc.db.read() as session:
        get_live(session, m.Listener, obj_id, ctx)
        return sum_stats(session, m.ListenerStatistics.listener_id == obj_id)


def listing(
    svc: ServiceContext, ctx: RequestContext, items: list[tuple[str, str]], base_url: str
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    return collections.list_lbaas(
        svc, ctx, collections.LISTENERS, items, base_url, responses.listener
    )
