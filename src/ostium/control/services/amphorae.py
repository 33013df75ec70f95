"""Amphorae as the admin API shows them: list, show, delete (ERROR only), failover,
configuration refresh, statistics.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from ostium.control.db import models as m
from ostium.control.db.locking import bump_generation, lock_lb
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import authorize
from ostium.control.services import responses
from ostium.control.services.context import ServiceContext
from ostium.control.services.listing import Collection, ListQuery, run, select_fields
from ostium.control.services.statistics import STAT_FIELDS
from ostium.model.enums import AmphoraStatus
from ostium.model.errors import Conflict, NotFound

AMPHORAE = Collection(
    m.Amphora,
    {
        c: getattr(m.Amphora, c)
        for c in (
            "id",
            "compute_id",
            "lb_network_ip",
            "vrrp_ip",
            "ha_ip",
            "vrrp_port_id",
            "ha_port_id",
            "role",
            "status",
            "vrrp_interface",
            "vrrp_id",
            "vrrp_priority",
            "cached_zone",
            "image_id",
            "compute_flavor",
            "created_at",
            "updated_at",
            "cert_busy",
        )
    }
    | {"loadbalancer_id": m.Amphora.load_balancer_id},
    tagged=False,
    options=[selectinload(m.Amphora.load_balancer)],  # ha_port_id is the VIP port's id
)


AMPHORAE.extra_filters["project_id"] = lambda v: m.Amphora.load_balancer_id.in_(
    select(m.LoadBalancer.id).where(m.LoadBalancer.project_id == v)
)


def amphora_list(
    svc: ServiceContext, ctx: RequestContext, items: list[tuple[str, str]], base_url: str
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    authorize(ctx, "admin")
    q = ListQuery.parse(items, svc.settings.api.pagination_max_limit)
    stmt = select(m.Amphora).where(m.Amphora.status != AmphoraStatus.DELETED)
    with svc.db.read() as session:
        rows, links = run(session, stmt, AMPHORAE, q, base_url)
        return [select_fields(responses.amphora(r), q.fields) for r in rows], links


def _amphora(session: Any, amp_id: str, deleted: bool = False) -> m.Amphora:
    row = session.get(m.Amphora, amp_id)
    if row is None or (row.status == AmphoraStatus.DELETED and not deleted):
        raise NotFound(f"Amphora {amp_id} not found.")
    return row  # type: ignore[no-any-return]


def amphora_show(svc: ServiceContext, ctx: RequestContext, amp_id: str) -> dict[str, Any]:
    """A DELETED amphora is still shown (status DELETED) until housekeeping purges its
    row; lists and every action leave it out. Octavia's own failover takes minutes, all
    of which a GET of the old amphora answers; ostium's takes well under a second, so a
    client that fails an amphora over and then reads it (openstacksdk's functional test
    does) must still find it. (Older Octavia releases showed DELETED amphorae too.)"""
    authorize(ctx, "admin")
    with svc.db.read() as session:
        return responses.amphora(_amphora(session, amp_id, deleted=True))


def amphora_delete(svc: ServiceContext, ctx: RequestContext, amp_id: str) -> None:
    authorize(ctx, "admin")
    with svc.db.write() as session:
        row = _amphora(session, amp_id)
        res = session.execute(
            update(m.Amphora)
            .where(m.Amphora.id == amp_id, m.Amphora.status == AmphoraStatus.ERROR)
            .values(status=AmphoraStatus.PENDING_DELETE, updated_at=m.utcnow())
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"amphora {amp_id} is immutable and cannot be updated.")
        if row.load_balancer_id:
            bump_generation(session, row.load_balancer_id)
    svc.wake()


def amphora_failover(svc: ServiceContext, ctx: RequestContext, amp_id: str) -> None:
    authorize(ctx, "admin")
    with svc.db.write() as session:
        row = _amphora(session, amp_id)
        if row.load_balancer_id is None:
            raise Conflict(f"amphora {amp_id} is immutable and cannot be updated.")
        lock_lb(session, row.load_balancer_id, lb_level=True, failover=True)
    svc.wake()


def amphora_config(svc: ServiceContext, ctx: RequestContext, amp_id: str) -> None:
    authorize(ctx, "admin")
    with svc.db.write() as session:
        row = _amphora(session, amp_id)
        if row.load_balancer_id:
            bump_generation(session, row.load_balancer_id)
    svc.wake()


def amphora_stats(svc: ServiceContext, ctx: RequestContext, amp_id: str) -> list[dict[str, Any]]:
    authorize(ctx, "admin")
    with svc.db.read() as session:
        _amphora(session, amp_id)
        rows = session.scalars(
            select(m.ListenerStatistics).where(m.ListenerStatistics.amphora_id == amp_id)
        ).all()
        if not rows:
            raise NotFound(f"Amphora stats for {amp_id} not found.")
        return [
            {
                "id": amp_id,
                "listener_id": r.listener_id,
                "loadbalancer_id": r.load_balancer_id,
                **{f: getattr(r, f) for f in STAT_FIELDS},
            }
            for r in rows
        ]
