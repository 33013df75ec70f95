"""Per-object series for `GET /metrics`: traffic and status of every live load balancer,
listener, pool and member, labelled with ids and names.

Role: called by `observability.render` at scrape time. The figures come from what the
health manager already wrote: the cumulative `listener_statistics` rows (summed per
listener and per load balancer; rows of retired amphorae count, so totals survive
failovers) and the operating statuses. Built in a fresh registry on every scrape, so an
object that is deleted disappears from the next scrape: cardinality is bounded by the
objects that exist.

Statuses are state sets with only the current state present (`status="ONLINE"` = 1);
`ostium_member_health_up` is the health check's verdict for members that have a
monitor (1 ONLINE, 0 ERROR), absent for members without one. haproxy's request counts
are not in the heartbeat yet, so there is no request series.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from ostium.control import metrics
from ostium.control.db import models as m
from ostium.control.services.context import ServiceContext
from ostium.control.services.statistics import STAT_FIELDS
from ostium.model.enums import OperatingStatus as OS
from ostium.model.enums import ProvisioningStatus as PS

LB = ("loadbalancer_id", "loadbalancer_name", "project_id")
LISTENER = ("listener_id", "listener_name", "loadbalancer_id", "project_id")
POOL = ("pool_id", "pool_name", "loadbalancer_id", "project_id")
MEMBER = ("member_id", "member_name", "address", "pool_id", "loadbalancer_id", "project_id")

HELP = {
    "active_connections": "Connections open now",
    "total_connections": "Connections accepted since the object was created",
    "bytes_in": "Bytes received from clients",
    "bytes_out": "Bytes sent to clients",
    "request_errors": "Requests that ended in an error",
}

COUNTER_NAMES = {
    "total_connections": "connections_total",
    "bytes_in": "bytes_in_total",
    "bytes_out": "bytes_out_total",
    "request_errors": "request_errors_total",
}


def _traffic(
    registry: metrics.Registry, kind: str, labels: tuple[str, ...]
) -> dict[str, metrics.Counter]:
    out: dict[str, metrics.Counter] = {}
    for f in STAT_FIELDS:
        if f == "active_connections":
            out[f] = registry.gauge(f"ostium_{kind}_active_connections", HELP[f], labels)
        else:
            name = f"ostium_{kind}_{COUNTER_NAMES[f]}"
            out[f] = registry.counter(name, f"{HELP[f]} (all amphorae)", labels)
    return out


def _add(metric: metrics.Counter, value: int, **labels: str) -> None:
    if isinstance(metric, metrics.Gauge):
        metric.set(value, **labels)
    else:
        metric.inc(value, **labels)


def render(svc: ServiceContext) -> str:
    registry = metrics.Registry()
    lb_traffic = _traffic(registry, "loadbalancer", LB)
    li_traffic = _traffic(registry, "listener", LISTENER)
    status = {
        kind: registry.gauge(
            f"ostium_{kind}_operating_status",
            f"Operating status of each {kind} (1 = current)",
            (*labels, "status"),
        )
        for kind, labels in (
            ("loadbalancer", LB),
            ("listener", LISTENER),
            ("pool", POOL),
            ("member", MEMBER),
        )
    }
    provisioning = registry.gauge(
        "ostium_loadbalancer_provisioning_status",
        "Provisioning status of each load balancer (1 = current)",
        (*LB, "status"),
    )
    health = registry.gauge(
        "ostium_member_health_up",
        "Health check verdict of each monitored member (1 up, 0 down)",
        MEMBER,
    )
    with svc.db.read() as session:
        sums = [func.coalesce(func.sum(getattr(m.ListenerStatistics, f)), 0) for f in STAT_FIELDS]
        per_listener: dict[str, tuple[int, ...]] = {
            row[0]: tuple(int(v) for v in row[1:])
            for row in session.execute(
                select(m.ListenerStatistics.listener_id, *sums).group_by(
                    m.ListenerStatistics.listener_id
                )
            )
        }
        lbs = session.scalars(
            select(m.LoadBalancer).where(m.LoadBalancer.provisioning_status != PS.DELETED)
        ).all()
        for lb in lbs:
            lbl = {
                "loadbalancer_id": lb.id,
                "loadbalancer_name": lb.name or "",
                "project_id": lb.project_id or "",
            }
            status["loadbalancer"].set(1, **lbl, status=str(lb.operating_status))
            provisioning.set(1, **lbl, status=str(lb.provisioning_status))
            totals: dict[str, int] = defaultdict(int)
            for li in lb.listeners:
                if li.provisioning_status == PS.DELETED:
                    continue
                lil = {
                    "listener_id": li.id,
                    "listener_name": li.name or "",
                    "loadbalancer_id": lb.id,
                    "project_id": lbl["project_id"],
                }
                status["listener"].set(1, **lil, status=str(li.operating_status))
                values = per_listener.get(li.id, (0,) * len(STAT_FIELDS))
                for f, v in zip(STAT_FIELDS, values, strict=True):
                    _add(li_traffic[f], v, **lil)
                    totals[f] += v
            for f in STAT_FIELDS:
                _add(lb_traffic[f], totals[f], **lbl)
            for p in lb.pools:
                if p.provisioning_status == PS.DELETED:
                    continue
                pl = {
                    "pool_id": p.id,
                    "pool_name": p.name or "",
                    "loadbalancer_id": lb.id,
                    "project_id": lbl["project_id"],
                }
                status["pool"].set(1, **pl, status=str(p.operating_status))
                for mb in p.members:
                    if mb.provisioning_status == PS.DELETED:
                        continue
                    ml = {
                        "member_id": mb.id,
                        "member_name": mb.name or "",
                        "address": f"{mb.address}:{mb.protocol_port}",
                        "pool_id": p.id,
                        "loadbalancer_id": lb.id,
                        "project_id": lbl["project_id"],
                    }
                    status["member"].set(1, **ml, status=str(mb.operating_status))
                    if mb.operating_status in (OS.ONLINE, OS.ERROR):
                        health.set(1 if mb.operating_status == OS.ONLINE else 0, **ml)
    return registry.render()
