"""The status tree of a load balancer (`GET .../loadbalancers/{id}/status`): every
listener, the pools it serves (default pool and REDIRECT_TO_POOL targets), their health
monitor and members, with provisioning and operating status.
"""

from __future__ import annotations

from typing import Any

from ostium.control.db import models as m
from ostium.control.identity.context import RequestContext
from ostium.control.services import (
    responses,
)
from ostium.control.services.context import ServiceContext
from ostium.control.services.lookup import get_live
from ostium.model.enums import AmphoraRole, AmphoraStatus, Topology
from ostium.model.enums import ProvisioningStatus as PS


def _member_status(mb: m.Member) -> dict[str, Any]:
    return {
        "id": mb.id,
        "name": mb.name or "",
        "operating_status": mb.operating_status,
        "provisioning_status": mb.provisioning_status,
        "address": mb.address,
        "protocol_port": mb.protocol_port,
    }


def status_tree(svc: ServiceContext, ctx: RequestContext, lb_id: str) -> dict[str, Any]:
    with svc.db.read() as session:
        lb = get_live(session, m.LoadBalancer, lb_id, ctx)
        lis = []
        for li in responses.live(lb.listeners):
            pool_ids: list[str] = []
            if li.default_pool_id:
                pool_ids.append(li.default_pool_id)
            for pol in li.l7policies:
                if (
                    pol.action == "REDIRECT_TO_POOL"
                    and pol.admin_state_up
                    and pol.rules
                    and pol.redirect_pool_id
                    and pol.redirect_pool_id not in pool_ids
                ):
                    pool_ids.append(pol.redirect_pool_id)
            pools = []
            for pid in pool_ids:
                p = session.get(m.Pool, pid)
                if p is None or p.provisioning_status == PS.DELETED:
                    continue
                hm = p.health_monitor
                pools.append(
                    {
                        "id": p.id,
                        "name": p.name or "",
                        "operating_status": p.operating_status,
                        "provisioning_status": p.provisioning_status,
                        "health_monitor": None
                        if hm is None
                        else {
                            "id": hm.id,
                            "name": hm.name or "",
                            "type": hm.type,
                            "operating_status": hm.operating_status,
                            "provisioning_status": hm.provisioning_status,
                        },
                        "members": [_member_status(mb) for mb in p.members],
                    }
                )
            lis.append(
                {
                    "id": li.id,
                    "name": li.name or "",
                    "operating_status": li.operating_status,
                    "provisioning_status": li.provisioning_status,
                    "pools": pools,
                }
            )
        out: dict[str, Any] = {
            "id": lb.id,
            "name": lb.name or "",
            "operating_status": lb.operating_status,
            "provisioning_status": lb.provisioning_status,
            "listeners": lis,
        }
        if lb.topology == Topology.ACTIVE_STANDBY:
            # Not in Octavia's tree: which amphora holds the VIP now (from heartbeats).
            out["amphorae"] = [
                {
                    "id": a.id,
                    "role": a.role,
                    "vrrp_state": a.vrrp_state,
                    "status": a.status,
                    "vrrp_ip": a.vrrp_ip,
                }
                for a in sorted(lb.amphorae, key=lambda a: (a.role != AmphoraRole.MASTER, a.id))
                if a.status != AmphoraStatus.DELETED
            ]
        return {"loadbalancer": out}
