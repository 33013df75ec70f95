"""What the dashboard shows: the load balancers of the caller, and one load balancer as a
tree (listeners, pools, health monitors, members), its amphorae and its counters.

Role: called by the dashboard routes (`api/dashboard/`), which only render what this
returns. Reads only, with the same RBAC as the API (`get_live` for one load balancer,
`list_lbaas` for the list); amphorae only for a caller the admin rule allows. Returns
plain dicts, the only thing templates see.
"""

from __future__ import annotations

from typing import Any

from ostium.control.db import models as m
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import check
from ostium.control.services import collections as col
from ostium.control.services import networks, responses
from ostium.control.services.context import ServiceContext
from ostium.control.services.lookup import get_live
from ostium.control.services.statistics import sum_stats
from ostium.model.enums import AmphoraStatus
from ostium.model.enums import ProvisioningStatus as PS


def short(obj_id: str | None) -> str:
    return (obj_id or "")[:8]


def _node(row: Any, kind: str, label: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "id": row.id,
        "short": short(row.id),
        "name": row.name or "",
        "label": label,
        "provisioning_status": str(row.provisioning_status),
        "operating_status": str(row.operating_status),
        "admin_state_up": bool(row.admin_state_up),
        "children": [],
    }


def load_balancers(svc: ServiceContext, ctx: RequestContext) -> list[dict[str, Any]]:
    items, _ = col.list_lbaas(
        svc, ctx, col.LOADBALANCERS, [("sort", "created_at:asc")], "", responses.loadbalancer
    )
    return [
        {
            "id": lb["id"],
            "short": short(lb["id"]),
            "name": lb["name"],
            "vip_address": lb["vip_address"] or "",
            "provisioning_status": lb["provisioning_status"],
            "operating_status": lb["operating_status"],
            "listeners": len(lb["listeners"]),
            "pools": len(lb["pools"]),
        }
        for lb in items
    ]


def _pool(p: m.Pool) -> dict[str, Any]:
    node = _node(p, "pool", f"{p.protocol} {p.lb_algorithm}")
    node["protocol"] = p.protocol
    node["lb_algorithm"] = p.lb_algorithm
    hm = p.health_monitor
    if hm is not None and hm.provisioning_status != PS.DELETED:
        hmn = _node(hm, "healthmonitor", f"{hm.type} every {hm.delay}s")
        hmn.update(delay=hm.delay, timeout=hm.timeout, max_retries=hm.max_retries)
        hmn["pool_id"] = p.id
        node["children"].append(hmn)
    for mb in responses.live(p.members):
        mn = _node(mb, "member", f"{mb.address}:{mb.protocol_port} weight {mb.weight}")
        mn.update(pool_id=p.id, weight=mb.weight, address=mb.address)
        node["children"].append(mn)
    return node


def load_balancer(svc: ServiceContext, ctx: RequestContext, lb_id: str) -> dict[str, Any]:
    """One load balancer as a tree; a pool appears under every listener that serves it
    by default and once more at the top level if no listener does."""
    with svc.db.read() as session:
        lb = get_live(session, m.LoadBalancer, lb_id, ctx)
        root = _node(lb, "loadbalancer", lb.vip_address or "")
        root.update(
            description=lb.description or "",
            vip_address=lb.vip_address or "",
            topology=str(lb.topology),
            error_reason=lb.error_reason or "",
        )
        pools = {p.id: p for p in responses.live(lb.pools)}
        served: set[str] = set()
        listeners = []
        for li in responses.live(lb.listeners):
            ln = _node(li, "listener", f"{li.protocol} :{li.protocol_port}")
            ln.update(protocol=li.protocol, connection_limit=li.connection_limit)
            if li.default_pool_id in pools:
                served.add(li.default_pool_id)
                ln["children"].append(_pool(pools[li.default_pool_id]))
            listeners.append({"id": li.id, "name": li.name or short(li.id)})
            root["children"].append(ln)
        for pid, p in pools.items():
            if pid not in served:
                root["children"].append(_pool(p))
        amphorae = []
        if check(ctx, "admin"):
            amphorae = [
                {
                    "id": a.id,
                    "short": short(a.id),
                    "status": str(a.status),
                    "role": str(a.role) if a.role else "",
                    "host": a.host or "",
                    "address": a.vrrp_ip or "",
                    "last_heartbeat": responses.ts(a.last_heartbeat) or "",
                }
                for a in lb.amphorae
                if a.status != AmphoraStatus.DELETED
            ]
        stats = sum_stats(session, m.ListenerStatistics.load_balancer_id == lb.id)
        return {
            "lb": root,
            "listeners": listeners,
            "pools": [{"id": p.id, "name": p.name or short(p.id)} for p in pools.values()],
            "amphorae": amphorae,
            "stats": stats,
        }


def statistics(svc: ServiceContext, ctx: RequestContext, lb_id: str) -> dict[str, Any]:
    with svc.db.read() as session:
        lb = get_live(session, m.LoadBalancer, lb_id, ctx)
        stats: dict[str, Any] = sum_stats(session, m.ListenerStatistics.load_balancer_id == lb.id)
        stats["provisioning_status"] = str(lb.provisioning_status)
        stats["operating_status"] = str(lb.operating_status)
        return stats


def subnets(svc: ServiceContext, ctx: RequestContext) -> list[dict[str, str]]:
    """The subnets a VIP can be taken from, for the create form's choice."""
    items = networks.listing(svc, ctx, "subnet", [])
    return [{"id": s["id"], "name": s["name"] or s["id"], "cidr": s["cidr"]} for s in items]
