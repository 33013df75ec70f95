"""Which hosts may take a new amphora of a load balancer, and how loaded each is.

Role: the database side of placement (`placement.place` is the pure rule). A host the
compute driver lists may take a new amphora unless its `host` row (an enrolled host)
says otherwise: not ACTIVE (ENROLLING, DRAINING, DOWN), or without the load balancer's
VIP network or one of its member networks. Hosts without a row (the local agent,
`remote_agents`) have every declared network. A host whose amphorae all went silent
(it died: they are being failed over) takes none, nor, for 10 heartbeat timeouts, one
whose amphorae were failed over away while silent (it holds nothing then, but is not
the least loaded). A load balancer whose availability zone names a `compute_zone` takes
only hosts of that zone (`db.zones`; hosts without a row are in `[controller_worker]
local_zone`), and when none of them may take it, `eligible` raises `NoHostInZone` (the
load balancer goes to ERROR with that reason): never a host of another zone, also at
failover. Load is the count of live amphorae per host. Callers: `reconciling` (SINGLE)
and `pairing` (ACTIVE_STANDBY).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.db import zones
from ostium.control.settings import Settings
from ostium.control.worker import spec_builder
from ostium.model.enums import AmphoraStatus, HostState
from ostium.model.errors import PermanentError

HOLDING = (AmphoraStatus.DELETED,)


class NoHostInZone(PermanentError):
    """No live host of the load balancer's compute zone may take its amphora."""


def zoned(session: Session, lb: m.LoadBalancer) -> bool:
    """Whether the load balancer's availability zone restricts its hosts."""
    return zones.compute_zone(session, lb.availability_zone) is not None


def load(session: Session) -> dict[str, int]:
    """How many live amphorae each host holds."""
    return {
        host: count
        for host, count in session.execute(
            select(m.Amphora.host, func.count())
            .where(m.Amphora.status.not_in(HOLDING), m.Amphora.host.is_not(None))
            .group_by(m.Amphora.host)
        )
        if host is not None
    }


def eligible(
    session: Session, settings: Settings, hosts: list[str], lb: m.LoadBalancer
) -> list[str]:
    """`hosts` (the driver's order kept) that may take a new amphora of `lb`."""
    if not hosts and not zoned(session, lb):
        return []
    rows = {
        r.agent_url: r for r in session.scalars(select(m.Host).where(m.Host.agent_url.in_(hosts)))
    }
    wanted = {n.name for n in settings.networks if n.subnet_id == lb.vip_subnet_id}
    for subnet_id in spec_builder.member_subnets(settings, lb):
        net = settings.network_by_subnet(subnet_id)
        if net is not None:
            wanted.add(net.name)
    silent = _silent(session, settings, hosts)
    zone = zones.compute_zone(session, lb.availability_zone)
    local_zone = settings.worker.local_zone
    out = []
    for url in hosts:
        row = rows.get(url)
        if url in silent:
            continue
        if zone is not None and not zones.in_zone(row, local_zone, zone):
            continue
        if row is None or (
            row.state == HostState.ACTIVE and wanted <= set(row.networks.split(","))
        ):
            out.append(url)
    if zone is not None and not out:
        in_zone = [u for u in hosts if zones.in_zone(rows.get(u), local_zone, zone)]
        raise NoHostInZone(
            f"no host of compute zone {zone!r} (availability zone {lb.availability_zone}) "
            f"can take an amphora: of the {len(hosts)} host(s) the compute driver lists, "
            f"{len(in_zone)} are in that zone, and none of those is ACTIVE, heard from "
            "lately and has the load balancer's networks"
        )
    return out


def _silent(session: Session, settings: Settings, hosts: list[str]) -> set[str]:
    """Hosts whose amphorae were heard from, but none within the heartbeat timeout: a
    host that died, whose amphorae are being failed over. (Amphorae never heard from,
    new ones or those of a deployment without health manager, say nothing.)"""
    cutoff = m.utcnow() - dt.timedelta(seconds=settings.health.heartbeat_timeout)
    latest = func.max(m.Amphora.last_heartbeat)
    rows = session.execute(
        select(m.Amphora.host, latest)
        .where(m.Amphora.host.in_(hosts), m.Amphora.status.not_in(HOLDING))
        .group_by(m.Amphora.host)
    )
    silent = {str(host) for host, last in rows if last is not None and last < cutoff}
    return silent | (_forgotten(session, settings, hosts) - _heard(session, cutoff, hosts))


def _forgotten(session: Session, settings: Settings, hosts: list[str]) -> set[str]:
    """Hosts with two or more amphorae marked DELETED lately that were already silent then
    (failed over away from a dead host): holding nothing any more, such a host would look
    the least loaded; it stays out for 10 heartbeat timeouts (or until it is heard again).
    One silent amphora alone is that amphora's failure, not evidence that its host died
    (a host running one amphora of a pair must take its replacement back when the pair's
    anti-affinity leaves no other host)."""
    timeout = dt.timedelta(seconds=settings.health.heartbeat_timeout)
    rows = session.execute(
        select(m.Amphora.host, m.Amphora.last_heartbeat, m.Amphora.updated_at).where(
            m.Amphora.host.in_(hosts),
            m.Amphora.status == AmphoraStatus.DELETED,
            m.Amphora.updated_at > m.utcnow() - 10 * timeout,
            m.Amphora.last_heartbeat.is_not(None),
        )
    )
    lost: dict[str, int] = {}
    for host, last, gone in rows:
        if last and gone and last < gone - timeout:
            lost[str(host)] = lost.get(str(host), 0) + 1
    return {host for host, count in lost.items() if count >= 2}


def _heard(session: Session, cutoff: dt.datetime, hosts: list[str]) -> set[str]:
    """Hosts with a live amphora heard from since `cutoff`."""
    return {
        str(h)
        for h in session.scalars(
            select(m.Amphora.host).where(
                m.Amphora.host.in_(hosts),
                m.Amphora.status.not_in(HOLDING),
                m.Amphora.last_heartbeat >= cutoff,
            )
        )
    }


def silent_hosts(session: Session, settings: Settings, hosts: list[str]) -> set[str]:
    """Which of `hosts` are silent (dead, as far as the health manager can tell): the
    worker does not wait on them (`amphorae.AmphoraSteps.retire`)."""
    return _silent(session, settings, hosts)
