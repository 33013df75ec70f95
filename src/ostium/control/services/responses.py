"""Row -> API dict conversions (the response half of schema <-> row).

Field presence and nullability follow the API spec exactly: `name`/`description` are
"" when unset, relations are `[{"id": ...}]`, `tenant_id` mirrors `project_id`,
timestamps are naive UTC without a zone suffix.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from ostium.control.db import models as m
from ostium.model.enums import ProvisioningStatus as PS


def ts(value: dt.datetime | None) -> str | None:
    if not value:
        return None
    # isoformat is several times faster than strftime (a list renders thousands).
    return value.replace(microsecond=0, tzinfo=None).isoformat()


def _ids(items: list[Any]) -> list[dict[str, str]]:
    return [{"id": i.id} for i in items]


def _common(row: Any, tags: list[str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "project_id": row.project_id,
        "tenant_id": row.project_id,
        "provisioning_status": row.provisioning_status,
        "operating_status": row.operating_status,
        "admin_state_up": row.admin_state_up,
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
        "tags": tags,
    }


def live(items: list[Any]) -> list[Any]:
    return [i for i in items if i.provisioning_status != PS.DELETED]


def loadbalancer(lb: m.LoadBalancer, tags: list[str]) -> dict[str, Any]:
    d = _common(lb, tags)
    d.update(
        name=lb.name or "",
        description=lb.description or "",
        vip_address=lb.vip_address,
        vip_port_id=lb.vip_port_id,
        vip_subnet_id=lb.vip_subnet_id,
        vip_network_id=lb.vip_network_id,
        vip_qos_policy_id=lb.vip_qos_policy_id,
        vip_sg_ids=list(lb.vip_sg_ids or []),
        vip_vnic_type=lb.vip_vnic_type,
        additional_vips=list(lb.additional_vips or []),
        provider=lb.provider,
        flavor_id=lb.flavor_id,
        availability_zone=lb.availability_zone,
        listeners=_ids(lb.listeners),
        pools=_ids(lb.pools),
    )
    return d


def listener(li: m.Listener, tags: list[str]) -> dict[str, Any]:
    d = _common(li, tags)
    d.update(
        name=li.name or "",
        description=li.description or "",
        protocol=li.protocol,
        protocol_port=li.protocol_port,
        connection_limit=li.connection_limit,
        default_pool_id=li.default_pool_id,
        default_tls_container_ref=li.default_tls_container_ref,
        sni_container_refs=list(li.sni_container_refs or []),
        insert_headers=dict(li.insert_headers or {}),
        timeout_client_data=li.timeout_client_data,
        timeout_member_connect=li.timeout_member_connect,
        timeout_member_data=li.timeout_member_data,
        timeout_tcp_inspect=li.timeout_tcp_inspect,
        client_authentication=li.client_authentication,
        client_ca_tls_container_ref=li.client_ca_tls_container_ref,
        client_crl_container_ref=li.client_crl_container_ref,
        allowed_cidrs=list(li.allowed_cidrs) if li.allowed_cidrs else None,
        tls_ciphers=li.tls_ciphers,
        tls_versions=li.tls_versions,
        alpn_protocols=li.alpn_protocols,
        hsts_max_age=li.hsts_max_age,
        hsts_include_subdomains=li.hsts_include_subdomains,
        hsts_preload=li.hsts_preload,
        l7policies=_ids(li.l7policies),
        loadbalancers=[{"id": li.load_balancer_id}],
    )
    return d


def pool_listeners(pool: m.Pool) -> list[m.Listener]:
    """Listeners using the pool: as default pool, or through an enabled
    REDIRECT_TO_POOL policy that has at least one rule."""
    seen: dict[str, m.Listener] = {}
    for li in pool.load_balancer.listeners:
        if li.provisioning_status == PS.DELETED:
            continue
        if li.default_pool_id == pool.id:
            seen[li.id] = li
            continue
        for pol in li.l7policies:
            if (
                pol.redirect_pool_id == pool.id
                and pol.admin_state_up
                and pol.rules
                and pol.action == "REDIRECT_TO_POOL"
            ):
                seen[li.id] = li
                break
    return list(seen.values())


def session_persistence(sp: dict[str, Any] | None) -> dict[str, Any] | None:
    if not sp:
        return None
    return {
        "type": sp.get("type"),
        "cookie_name": sp.get("cookie_name"),
        "persistence_timeout": sp.get("persistence_timeout"),
        "persistence_granularity": sp.get("persistence_granularity"),
    }


def pool(p: m.Pool, tags: list[str]) -> dict[str, Any]:
    d = _common(p, tags)
    d.update(
        name=p.name or "",
        description=p.description or "",
        protocol=p.protocol,
        lb_algorithm=p.lb_algorithm,
        session_persistence=session_persistence(p.session_persistence),
        tls_enabled=p.tls_enabled,
        tls_container_ref=p.tls_container_ref,
        ca_tls_container_ref=p.ca_tls_container_ref,
        crl_container_ref=p.crl_container_ref,
        tls_ciphers=p.tls_ciphers,
        tls_versions=p.tls_versions,
        alpn_protocols=p.alpn_protocols,
        members=_ids(p.members),
        listeners=_ids(pool_listeners(p)),
        loadbalancers=[{"id": p.load_balancer_id}],
    )
    # Octavia sets `healthmonitor_id` only when the pool has a monitor and WSME leaves
    # unset attributes out, so a pool without one has no such key. Every client read
    # treats a missing key like null (openstacksdk's `Body` attribute, gophercloud's
    # struct field, hence osc, Terraform and the cloud provider), while a client that
    # compared key sets with Octavia's would see the extra key: leave it out too.
    if p.health_monitor is not None:
        d["healthmonitor_id"] = p.health_monitor.id
    return d


def member(mb: m.Member, tags: list[str]) -> dict[str, Any]:
    d = _common(mb, tags)
    d.update(
        name=mb.name or "",
        address=mb.address,
        protocol_port=mb.protocol_port,
        weight=mb.weight,
        backup=mb.backup,
        subnet_id=mb.subnet_id,
        monitor_address=mb.monitor_address,
        monitor_port=mb.monitor_port,
        vnic_type=mb.vnic_type,
    )
    return d


def healthmonitor(hm: m.HealthMonitor, tags: list[str]) -> dict[str, Any]:
    d = _common(hm, tags)
    version = hm.http_version
    d.update(
        name=hm.name or "",
        type=hm.type,
        delay=hm.delay,
        timeout=hm.timeout,
        max_retries=hm.max_retries,
        max_retries_down=hm.max_retries_down,
        http_method=hm.http_method,
        url_path=hm.url_path,
        expected_codes=hm.expected_codes,
        http_version=version,
        domain_name=hm.domain_name,
        pools=[{"id": hm.pool_id}],
    )
    return d


def l7policy(pol: m.L7Policy, tags: list[str]) -> dict[str, Any]:
    d = _common(pol, tags)
    d.update(
        name=pol.name or "",
        description=pol.description or "",
        listener_id=pol.listener_id,
        action=pol.action,
        redirect_url=pol.redirect_url,
        redirect_prefix=pol.redirect_prefix,
        redirect_pool_id=pol.redirect_pool_id,
        redirect_http_code=pol.redirect_http_code,
        position=pol.position,
        rules=_ids(pol.rules),
    )
    return d


def l7rule(rule: m.L7Rule, tags: list[str]) -> dict[str, Any]:
    d = _common(rule, tags)
    d.update(
        type=rule.type,
        compare_type=rule.compare_type,
        key=rule.key,
        value=rule.value,
        invert=rule.invert,
    )
    return d


VRRP_PORTS = uuid.UUID("5d0c3f8e-7a51-4f0e-9c62-1b8e4a7d2f90")
"""uuid5 namespace of the amphorae's VRRP port ids."""


def amphora(a: m.Amphora) -> dict[str, Any]:
    """Octavia's port ids are Neutron's and clients parse them as UUIDs: ostium's
    amphorae have no ports of their own, so `ha_port_id` is the load balancer's VIP port
    (as in Octavia) and `vrrp_port_id` a UUID derived from the amphora id (stable,
    unique), unless the row records one."""
    lb = a.load_balancer
    return {
        "id": a.id,
        "loadbalancer_id": a.load_balancer_id,
        "compute_id": a.compute_id,
        "lb_network_ip": a.lb_network_ip,
        "vrrp_ip": a.vrrp_ip,
        "ha_ip": a.ha_ip,
        "vrrp_port_id": a.vrrp_port_id or str(uuid.uuid5(VRRP_PORTS, a.id)),
        "ha_port_id": a.ha_port_id or (lb.vip_port_id if lb is not None else None),
        "cert_expiration": ts(a.cert_expiration),
        "cert_busy": a.cert_busy,
        "role": a.role,
        "status": a.status,
        "vrrp_interface": a.vrrp_interface,
        "vrrp_id": a.vrrp_id,
        "vrrp_priority": a.vrrp_priority,
        "cached_zone": a.cached_zone,
        "created_at": ts(a.created_at),
        "updated_at": ts(a.updated_at),
        "image_id": a.image_id,
        "compute_flavor": a.compute_flavor,
    }
