"""Members: create (also used by the graph create), show, update, delete, batch update."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.identity.context import RequestContext
from ostium.control.schemas import resources as s
from ostium.control.services import collections, responses
from ostium.control.services.context import ServiceContext
from ostium.control.services.lookup import get_under, get_writable
from ostium.control.services.pools import lock_under_pool
from ostium.control.services.quotas import check_quota
from ostium.control.services.tags import tags_of
from ostium.control.services.writes import (
    add_new,
    apply_fields,
    mark_pending,
    new_resource,
    require_active,
)
from ostium.control.settings import Settings
from ostium.model import defaults
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import BadRequest, Conflict
from ostium.model.member_status import member_operating_status

UPDATABLE = ("name", "admin_state_up", "weight", "backup", "monitor_address", "monitor_port")
"""What a member update (single or batch) may change."""


def new_member(
    session: Session,
    settings: Settings,
    pool_row: m.Pool,
    body: s.MemberCreate,
    project_id: str,
    has_monitor: bool,
    new_pool: set[tuple[str, int]] | None = None,
) -> m.Member:
    """A new member row (added to the session). `new_pool`: the pool was created in this
    transaction (a graph create), and this set holds the (address, port) of the members
    added to it so far: no query for a clash."""
    if body.address in settings.reserved_ips:
        raise BadRequest(f"{body.address} is not a valid option for member address")
    if body.subnet_id and settings.network_by_subnet(body.subnet_id) is None:
        raise BadRequest(f"Subnet {body.subnet_id} not found.")
    if body.request_sriov:
        raise BadRequest(
            "Validation failure: request_sriov is not allowed: the load "
            "balancer's flavor does not have allow_member_sriov enabled."
        )
    if new_pool is not None:  # a pool of this transaction: its members are those we add
        clash = (body.address, body.protocol_port) in new_pool
        new_pool.add((body.address, body.protocol_port))
    else:
        clash = (
            session.scalar(
                select(m.Member.id).where(
                    m.Member.pool_id == pool_row.id,
                    m.Member.address == body.address,
                    m.Member.protocol_port == body.protocol_port,
                )
            )
            is not None
        )
    if clash:
        raise Conflict(
            f"Another member on this pool is already using ip {body.address} on "
            f"protocol_port {body.protocol_port}"
        )
    row = m.Member(
        **new_resource(
            project_id,
            body.admin_state_up,
            member_operating_status(
                None, admin_state_up=body.admin_state_up, monitored=has_monitor
            ),
        ),
        pool_id=pool_row.id,
        name=body.name or "",
        address=body.address,
        protocol_port=body.protocol_port,
        weight=defaults.MEMBER_WEIGHT if body.weight is None else body.weight,
        backup=body.backup,
        subnet_id=body.subnet_id,
        monitor_address=body.monitor_address,
        monitor_port=body.monitor_port,
        vnic_type="normal",
    )
    return add_new(session, row, body.tags)


def get(
    session: Session, ctx: RequestContext, pool_id: str, member_id: str, rule: str = "read"
) -> m.Member:
    return get_under(
        session, ctx, (m.Pool, pool_id), m.Member, member_id, lambda mb: mb.pool_id, rule
    )


def show(svc: ServiceContext, ctx: RequestContext, pool_id: str, member_id: str) -> dict[str, Any]:
    with svc.db.read() as session:
        mb = get(session, ctx, pool_id, member_id)
        return responses.member(mb, tags_of(session, mb))


def create(
    svc: ServiceContext, ctx: RequestContext, pool_id: str, body: s.MemberCreate
) -> dict[str, Any]:
    with svc.db.write() as session:
        p = get_writable(session, ctx, m.Pool, pool_id, "Pool")
        row = new_member(session, svc.settings, p, body, p.project_id, p.health_monitor is not None)
        check_quota(session, svc, ctx, p.project_id, {"member": 1})
        lock_under_pool(session, p)
        session.flush()
        out = responses.member(row, tags_of(session, row))
    svc.wake()
    return out


def update(
    svc: ServiceContext, ctx: RequestContext, pool_id: str, member_id: str, body: s.MemberUpdate
) -> dict[str, Any]:
    sent = set(body.model_fields_set)
    with svc.db.write() as session:
        mb = get(session, ctx, pool_id, member_id, "write")
        require_active(mb.pool, "Pool")
        apply_fields(
            session,
            mb,
            body,
            sent,
            UPDATABLE,
            resets=defaults.MEMBER_RESETS,
        )
        lock_under_pool(session, mb.pool)
        mark_pending(session, [mb])
        session.flush()
        out = responses.member(mb, tags_of(session, mb))
    svc.wake()
    return out


def delete(svc: ServiceContext, ctx: RequestContext, pool_id: str, member_id: str) -> None:
    with svc.db.write() as session:
        mb = get(session, ctx, pool_id, member_id, "write")
        require_active(mb.pool, "Pool")
        lock_under_pool(session, mb.pool)
        mb.provisioning_status = PS.PENDING_DELETE
    svc.wake()


def batch(
    svc: ServiceContext, ctx: RequestContext, pool_id: str, body: s.MemberBatch, additive_only: bool
) -> None:
    seen: set[tuple[str, int]] = set()
    for item in body.members:
        key = (item.address, item.protocol_port)
        if key in seen:
            raise BadRequest("Member must be updated only once in the same request.")
        seen.add(key)
    with svc.db.write() as session:
        p = get_writable(session, ctx, m.Pool, pool_id, "Pool")
        existing = {
            (mb.address, mb.protocol_port): mb
            for mb in p.members
            if mb.provisioning_status != PS.DELETED
        }
        new = [i for i in body.members if (i.address, i.protocol_port) not in existing]
        changed = False
        for item in body.members:
            mb = existing.get((item.address, item.protocol_port))
            if mb is None:
                continue
            before = [getattr(mb, f) for f in UPDATABLE]
            sent = item.model_fields_set
            apply_fields(
                session,
                mb,
                item,
                set(sent),
                UPDATABLE,
                resets=defaults.MEMBER_RESETS,
            )
            if before != [getattr(mb, f) for f in UPDATABLE] or "tags" in sent:
                mark_pending(session, [mb])
                changed = True
        for item in new:
            new_member(session, svc.settings, p, item, p.project_id, p.health_monitor is not None)
            changed = True
        if not additive_only:
            for key, mb in existing.items():
                if key not in seen:
                    mb.provisioning_status = PS.PENDING_DELETE
                    changed = True
        if not changed:
            return
        check_quota(session, svc, ctx, p.project_id, {"member": len(new)})
        lock_under_pool(session, p)
    svc.wake()


listing = collections.nested_listing(
    m.Pool, collections.MEMBERS, m.Member.pool_id, responses.member
)
