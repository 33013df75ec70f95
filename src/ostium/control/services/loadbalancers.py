"""Load balancer operations: create (incl. the single-call graph), show, update, delete,
statistics and failover."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from ostium.control.db import ipam, zones
from ostium.control.db import models as m
from ostium.control.db.locking import lock_lb
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import authorize
from ostium.control.schemas import resources as s
from ostium.control.services import (
    graph,
    networks,
    responses,
)
from ostium.control.services.context import ServiceContext
from ostium.control.services.lookup import get_live
from ostium.control.services.providers import PROVIDERS
from ostium.control.services.quotas import check_quota
from ostium.control.services.statistics import sum_stats
from ostium.control.services.tags import add_tags, load_tags, set_tags
from ostium.model.enums import OperatingStatus as OS
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.enums import Topology
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
        d.pop("healthmonitor_id", None)
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
    if topology not in set(Topology):
        raise BadRequest(
            f"Validation failure: loadbalancer_topology {topology} is not SINGLE or ACTIVE_STANDBY."
        )
    return topology


def create(svc: ServiceContext, ctx: RequestContext, body: s.LoadBalancerCreate) -> dict[str, Any]:
    project = resolve_project(ctx, body.project_id or body.tenant_id)
    net = networks.resolve_vip_network(
        svc.settings, body.vip_subnet_id, body.vip_network_id, body.vip_port_id, body.vip_address
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
        if av.port_id:
            raise BadRequest(f"Port {av.port_id} not found.")
    extra = networks.resolve_additional_vips(
        svc.settings, net, [(av.subnet_id, av.ip_address) for av in body.additional_vips or []]
    )
    for extra_net, extra_address in extra:
        if extra_address:
            ipam.check_address_in(extra_net, extra_address, "ip_address")
    pool_defs = graph.pool_index(body)
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
            zone = zones.compute_zone(session, body.availability_zone)
            if zone is not None and not zones.zone_has_hosts(
                session, zone, svc.settings.worker.local_zone
            ):
                # Octavia would go to ERROR when the compute service refuses the zone;
                # ostium knows its hosts, so the user learns it now.
                raise BadRequest(
                    f"Validation failure: availability zone {body.availability_zone}: no "
                    f"host is in its compute zone {zone!r} (add one with `ostium host add "
                    f"NAME --zone {zone}`)."
                )
        counts = graph.counts(body, pool_defs)
        counts["load_balancer"] = 1
        check_quota(session, svc, ctx, project, counts)
        lb_id = new_id()
        address = ipam.allocate(session, net, lb_id, body.vip_address)
        vip_port_id = new_id()
        # Octavia puts every VIP on the one VIP port: additional VIPs name it too.
        additional_vips = [
            {
                "subnet_id": extra_net.subnet_id,
                "ip_address": ipam.allocate(session, extra_net, lb_id, extra_address),
                "port_id": vip_port_id,
            }
            for extra_net, extra_address in extra
        ]
        lb = m.LoadBalancer(
            id=lb_id,
            project_id=project,
            name=body.name or "",
            description=body.description or "",
            admin_state_up=body.admin_state_up,
            provisioning_status=PS.PENDING_CREATE,
            operating_status=OS.OFFLINE,
            vip_address=address,
            vip_port_id=vip_port_id,
            vip_subnet_id=net.subnet_id,
            vip_network_id=net.network_id,
            vip_sg_ids=[],
            additional_vips=additional_vips,
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
        add_tags(session, lb.id, body.tags)
        session.flush()
        graph.create_children(session, svc, lb, body, pool_defs, project)
        session.flush()
        session.refresh(lb)
        result = full_view(session, lb)
    svc.wake()
    return result


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


def stats(svc: ServiceContext, ctx: RequestContext, lb_id: str) -> dict[str, int]:
    with svc.db.read() as session:
        get_live(session, m.LoadBalancer, lb_id, ctx)
        return sum_stats(session, m.ListenerStatistics.load_balancer_id == lb_id)
