"""Load balancer operations: create (incl. the single-call graph), show, update, delete,
status tree, statistics and failover."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from ostium.control.db import ipam
from ostium.control.db import models as m
from ostium.control.db.locking import lock_lb
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import authorize
from ostium.control.schemas import resources as s
from ostium.control.services import (
    healthmonitors,
    l7policies,
    l7rules,
    listeners,
    members,
    networks,
    pools,
    responses,
    validation,
)
from ostium.control.services.context import ServiceContext
from ostium.control.services.lookup import get_live
from ostium.control.services.providers import PROVIDERS
from ostium.control.services.quotas import check_quota
from ostium.control.services.statistics import sum_stats
from ostium.control.services.tags import load_tags, set_tags
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import BadRequest
from ostium.model.ids import new_id


def resolve_project(ctx: RequestContext, body_project: str | None) -> str:
    project = body_project or ctx.project_id
    if not project:
        raise BadRequest(
            "Validation failure: Missing project ID in request where one is "
            "required. An administrator should check the keystone settings "
            "are correct."
        )
    if body_project and body_project != ctx.project_id and not ctx.is_admin:
        authorize(ctx, "admin")
    authorize(ctx, "write", project)
    return project


def full_view(session: Session, lb: m.LoadBalancer) -> dict[str, Any]:
    """The create response: children as complete objects (spec 2.1)."""
    ids = [lb.id]
    for li in lb.listeners:
        ids.append(li.id)
        for pol in li.l7policies:
            ids.append(pol.id)
            ids.extend(r.id for r in pol.rules)
    for p in lb.pools:
        ids.append(p.id)
        ids.extend(mb.id for mb in p.members)
        if p.health_monitor:
            ids.append(p.health_monitor.id)
    tags = load_tags(session, ids)
    out = responses.loadbalancer(lb, tags[lb.id])
    lis = []
    for li in lb.listeners:
        d = responses.listener(li, tags[li.id])
        d.pop("loadbalancers")
        pols = []
        for pol in li.l7policies:
            pd = responses.l7policy(pol, tags[pol.id])
            pd["rules"] = [responses.l7rule(r, tags[r.id]) for r in pol.rules]
            pols.append(pd)
        d["l7policies"] = pols
        lis.append(d)
    pools = []
    for p in lb.pools:
        d = responses.pool(p, tags[p.id])
        d.pop("loadbalancers")
        d.pop("healthmonitor_id")
        d["members"] = [responses.member(mb, tags[mb.id]) for mb in p.members]
        hm = p.health_monitor
        if hm is not None:
            hd = responses.healthmonitor(hm, tags[hm.id])
            hd.pop("pools")
            d["healthmonitor"] = hd
        else:
            d["healthmonitor"] = None
        pools.append(d)
    out["listeners"] = lis
    out["pools"] = pools
    return out


def _topology(session: Session, svc: ServiceContext, flavor_id: str | None) -> str:
    topology = svc.settings.worker.loadbalancer_topology
    if flavor_id:
        fl = session.get(m.Flavor, flavor_id)
        if fl is None or flavor_id == "00000000-0000-0000-0000-000000000000":
            raise BadRequest("Validation failure: Invalid flavor_id.")
        if not fl.enabled:
            raise BadRequest(f"The selected flavor is not allowed in this deployment: {flavor_id}")
        prof = session.get(m.FlavorProfile, fl.flavor_profile_id)
        if prof is not None:
            data = json.loads(prof.flavor_data or "{}")
            topology = data.get("loadbalancer_topology", topology)
    if topology not in ("SINGLE", "ACTIVE_STANDBY"):
        raise BadRequest(
            f"Validation failure: loadbalancer_topology {topology} is not SINGLE or ACTIVE_STANDBY."
        )
    return topology


def create(svc: ServiceContext, ctx: RequestContext, body: s.LoadBalancerCreate) -> dict[str, Any]:
    project = resolve_project(ctx, body.project_id or body.tenant_id)
    net = networks.resolve_vip_network(
        svc.settings, body.vip_subnet_id, body.vip_network_id, body.vip_port_id
    )
    if body.vip_address:
        ipam.check_address_in(net, body.vip_address, "vip_address")
    provider = body.provider or svc.settings.api.default_provider_driver
    if provider not in PROVIDERS:
        raise BadRequest(f"Provider '{provider}' is not enabled.")
    if body.vip_qos_policy_id:
        raise BadRequest(f"QoS policy {body.vip_qos_policy_id} not found.")
    for sg in body.vip_sg_ids or []:
        raise BadRequest(f"Security group {sg} not found.")
    for av in body.additional_vips or []:
        if av.subnet_id == net.subnet_id:
            raise BadRequest(
                f"Validation failure: Duplicate VIP subnet(s) specified. "
                f"Only one IP can be bound per subnet: {av.subnet_id}"
            )
        raise BadRequest(
            f"Validation failure: additional VIP subnet {av.subnet_id} is not "
            f"on the primary VIP's network {net.network_id}."
        )
    pool_defs = _graph_pool_index(body)
    with svc.db.write() as session:
        topology = _topology(session, svc, body.flavor_id)
        if body.availability_zone is not None:
            az = session.get(m.AvailabilityZone, body.availability_zone)
            if az is None:
                raise BadRequest(
                    f"Validation failure: Invalid availability zone: {body.availability_zone}"
                )
            if not az.enabled:
                raise BadRequest(
                    f"The selected availability_zone is not allowed in this "
                    f"deployment: {body.availability_zone}"
                )
        counts = _graph_counts(body, pool_defs)
        counts["load_balancer"] = 1
        check_quota(session, svc, ctx, project, counts)
        lb_id = new_id()
        address = ipam.allocate(session, net, lb_id, body.vip_address)
        lb = m.LoadBalancer(
            id=lb_id,
            project_id=project,
            name=body.name or "",
            description=body.description or "",
            admin_state_up=body.admin_state_up,
            provisioning_status="PENDING_CREATE",
            operating_status="OFFLINE",
            vip_address=address,
            vip_port_id=new_id(),
            vip_subnet_id=net.subnet_id,
            vip_network_id=net.network_id,
            vip_sg_ids=[],
            additional_vips=[],
            vip_vnic_type="normal",
            provider=provider,
            flavor_id=body.flavor_id,
            availability_zone=body.availability_zone,
            topology=topology,
            generation=1,
            applied_generation=0,
            created_at=m.utcnow(),
        )
        session.add(lb)
        session.flush()
        set_tags(session, lb.id, body.tags)
        _graph_children(session, svc, lb, body, pool_defs, project)
        session.flush()
        session.refresh(lb)
        result = full_view(session, lb)
    svc.wake()
    return result


def _graph_pool_index(body: s.LoadBalancerCreate) -> dict[str, s.GraphPool]:
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


def _graph_counts(body: s.LoadBalancerCreate, pools: dict[str, s.GraphPool]) -> dict[str, int]:
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


def _graph_children(
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
        row = pools.new_pool(session, lb, p, p.protocol, p.lb_algorithm, project)
        pool_rows[name] = row
        session.flush()
        if p.healthmonitor is not None:
            healthmonitors.new_healthmonitor(session, row, p.healthmonitor, project)
        for mb in p.members or []:
            members.new_member(session, svc.settings, row, mb, project, p.healthmonitor is not None)
            session.flush()
    for li_body in body.listeners or []:
        li = listeners.new_listener(session, lb, li_body, project)
        session.flush()
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


def show(svc: ServiceContext, ctx: RequestContext, lb_id: str) -> dict[str, Any]:
    with svc.db.read() as session:
        lb = get_live(session, m.LoadBalancer, lb_id, ctx)
        return responses.loadbalancer(lb, load_tags(session, [lb.id])[lb.id])


def update(
    svc: ServiceContext, ctx: RequestContext, lb_id: str, body: s.LoadBalancerUpdate
) -> dict[str, Any]:
    sent = body.model_fields_set
    if sent & {"flavor_id", "topology"}:
        # Octavia cannot change it either: the amphorae would have to be rebuilt.
        raise BadRequest(
            f"Validation failure: the flavor and topology of load balancer "
            f"{lb_id} cannot be changed (for example SINGLE to ACTIVE_STANDBY); "
            "create a new load balancer with the flavor you want."
        )
    if "vip_qos_policy_id" in sent and body.vip_qos_policy_id:
        raise BadRequest(f"QoS policy {body.vip_qos_policy_id} not found.")
    for sg in body.vip_sg_ids or []:
        raise BadRequest(f"Security group {sg} not found.")
    with svc.db.write() as session:
        lb = get_live(session, m.LoadBalancer, lb_id, ctx, "write")
        lock_lb(session, lb.id, lb_level=True)
        session.refresh(lb)
        for f in ("name", "description"):
            if f in sent:
                setattr(lb, f, getattr(body, f) or "")
        if "admin_state_up" in sent:
            lb.admin_state_up = body.admin_state_up
        if "tags" in sent:
            set_tags(session, lb.id, body.tags)
        session.flush()
        out = responses.loadbalancer(lb, load_tags(session, [lb.id])[lb.id])
    svc.wake()
    return out


def delete(svc: ServiceContext, ctx: RequestContext, lb_id: str, cascade: bool) -> None:
    with svc.db.write() as session:
        lb = get_live(session, m.LoadBalancer, lb_id, ctx, "write")
        if not cascade and (responses.live(lb.listeners) or responses.live(lb.pools)):
            raise BadRequest(
                f"Validation failure: Cannot delete Load Balancer {lb_id} - it has children"
            )
        lock_lb(session, lb.id, to=PS.PENDING_DELETE, allowed=(PS.ACTIVE, PS.ERROR), lb_level=True)
    svc.wake()


def failover(svc: ServiceContext, ctx: RequestContext, lb_id: str) -> None:
    with svc.db.write() as session:
        lb = get_live(session, m.LoadBalancer, lb_id, ctx, "read")
        authorize(ctx, "admin")
        lock_lb(session, lb.id, allowed=(PS.ACTIVE, PS.ERROR), lb_level=True, failover=True)
    svc.wake()


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
                if p is None or p.provisioning_status == "DELETED":
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
        if lb.topology == "ACTIVE_STANDBY":
            # Not in Octavia's tree: which amphora holds the VIP now (from heartbeats).
            out["amphorae"] = [
                {
                    "id": a.id,
                    "role": a.role,
                    "vrrp_state": a.vrrp_state,
                    "status": a.status,
                    "vrrp_ip": a.vrrp_ip,
                }
                for a in sorted(lb.amphorae, key=lambda a: (a.role != "MASTER", a.id))
                if a.status != "DELETED"
            ]
        return {"loadbalancer": out}


def stats(svc: ServiceContext, ctx: RequestContext, lb_id: str) -> dict[str, int]:
    with svc.db.read() as session:
        get_live(session, m.LoadBalancer, lb_id, ctx)
        return sum_stats(session, m.ListenerStatistics.load_balancer_id == lb_id)
