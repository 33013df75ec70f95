"""Rows -> AmphoraSpec: the only conversion from the database to the agent document.

Objects in PENDING_DELETE are left out (that is how a delete reaches the data plane);
everything else is rendered with its admin state so the agent decides what to run.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy.orm import object_session

from ostium.control.db import models as m
from ostium.control.secrets import crypto
from ostium.control.settings import NetworkSettings, Settings
from ostium.control.worker import spec_tls
from ostium.model import spec as sp
from ostium.model.access_log import listener_format
from ostium.model.enums import ProvisioningStatus

GONE = (ProvisioningStatus.PENDING_DELETE, ProvisioningStatus.DELETED)


def _alive(items: list[Any]) -> list[Any]:
    return [i for i in items if i.provisioning_status not in GONE]


def vip_spec(settings: Settings, lb: m.LoadBalancer) -> sp.AmphoraVip:
    net = settings.network_by_subnet(lb.vip_subnet_id or "")
    if net is None:
        from ostium.model.errors import PermanentError

        raise PermanentError(f"VIP subnet {lb.vip_subnet_id} is no longer configured")
    return sp.AmphoraVip(
        network_id=net.network_id,
        subnet_id=net.subnet_id,
        bridge=net.bridge,
        address=ipaddress.ip_address(lb.vip_address or ""),
        prefixlen=net.ip_network.prefixlen,
        gateway=ipaddress.ip_address(net.gateway) if net.gateway else None,
        link=link_spec(net),
        host_address=ipaddress.ip_address(net.host_address) if net.host_address else None,
        additional_vips=[_additional(settings, av) for av in lb.additional_vips or []],
    )


def _additional(settings: Settings, av: dict[str, Any]) -> sp.AdditionalVip:
    net = settings.network_by_subnet(str(av["subnet_id"]))
    if net is None:
        from ostium.model.errors import PermanentError

        raise PermanentError(f"additional VIP subnet {av['subnet_id']} is no longer configured")
    return sp.AdditionalVip(
        subnet_id=net.subnet_id,
        address=ipaddress.ip_address(str(av["ip_address"])),
        prefixlen=net.ip_network.prefixlen,
        gateway=ipaddress.ip_address(net.gateway) if net.gateway else None,
        host_address=ipaddress.ip_address(net.host_address) if net.host_address else None,
    )


def link_spec(net: NetworkSettings) -> sp.NetworkLink:
    return sp.NetworkLink(kind=net.kind, parent=net.parent, vlan_id=net.vlan_id)


def member_networks(
    settings: Settings, lb: m.LoadBalancer, addresses: dict[str, str]
) -> list[sp.AmphoraNetwork]:
    out = []
    for subnet_id, address in sorted(addresses.items()):
        net = settings.network_by_subnet(subnet_id)
        if net is None:
            continue
        out.append(
            sp.AmphoraNetwork(
                subnet_id=subnet_id,
                bridge=net.bridge,
                cidr=net.ip_network,
                address=ipaddress.ip_address(address),
                link=link_spec(net),
            )
        )
    return out


def member_subnet(settings: Settings, mb: m.Member) -> str | None:
    """The subnet a member is reached through: the one it names, else the declared
    network its address lies in (so members on a local network need no `subnet_id`)."""
    if mb.subnet_id:
        return mb.subnet_id
    ip = ipaddress.ip_address(mb.address)
    for net in settings.networks:
        if ip.version == net.ip_network.version and ip in net.ip_network:
            return net.subnet_id
    return None


def member_subnets(settings: Settings, lb: m.LoadBalancer) -> set[str]:
    """Subnets the amphora must join for its members (other than the VIP subnet)."""
    wanted = set()
    for p in _alive(lb.pools):
        for mb in _alive(p.members):
            subnet = member_subnet(settings, mb)
            if subnet and subnet != lb.vip_subnet_id:
                wanted.add(subnet)
    return wanted


def vrrp_spec(settings: Settings, amp: m.Amphora, peers: list[m.Amphora]) -> sp.VrrpSpec:
    """The VRRP section of one amphora of an ACTIVE_STANDBY pair (timing from
    `[keepalived_vrrp]`)."""
    k = settings.keepalived
    return sp.VrrpSpec(
        role=amp.role,
        priority=amp.vrrp_priority,
        vrrp_id=amp.vrrp_id,
        vrrp_ip=ipaddress.ip_address(amp.vrrp_ip or ""),
        peers=[
            sp.VrrpPeer(amphora_id=p.id, address=ipaddress.ip_address(p.vrrp_ip or ""))
            for p in peers
        ],
        version=k.vrrp_version,
        advert_interval=k.vrrp_advert_int,
        check_interval=k.vrrp_check_interval,
        check_fall=k.vrrp_fail_count,
        check_rise=k.vrrp_success_count,
        watch_haproxy=k.vrrp_watch_haproxy,
        garp_refresh=k.vrrp_garp_refresh_interval,
        garp_refresh_repeat=k.vrrp_garp_refresh_count,
        peer_port=k.haproxy_peer_port,
    )


def build(
    settings: Settings,
    lb: m.LoadBalancer,
    amphora_id: str,
    generation: int,
    member_addresses: dict[str, str],
    vrrp: sp.VrrpSpec | None = None,
) -> sp.AmphoraSpec:
    session = object_session(lb)
    assert session is not None, "build() reads the secret store in the tree's transaction"
    fernet = crypto.fernet_for(settings.state_dir, settings.certificates.secret_key)
    files: spec_tls.Files = {}
    listeners = []
    for li in _alive(lb.listeners):
        policies = []
        for pol in _alive(li.l7policies):
            policies.append(
                sp.L7PolicySpec(
                    id=pol.id,
                    action=pol.action,
                    position=pol.position,
                    redirect_url=pol.redirect_url,
                    redirect_prefix=pol.redirect_prefix,
                    redirect_pool_id=pol.redirect_pool_id,
                    redirect_http_code=pol.redirect_http_code,
                    admin_state_up=pol.admin_state_up,
                    rules=[
                        sp.L7RuleSpec(
                            id=r.id,
                            type=r.type,
                            compare_type=r.compare_type,
                            key=r.key,
                            value=r.value,
                            invert=r.invert,
                            admin_state_up=r.admin_state_up,
                        )
                        for r in _alive(pol.rules)
                    ],
                )
            )
        listeners.append(
            sp.ListenerSpec(
                id=li.id,
                protocol=li.protocol,
                protocol_port=li.protocol_port,
                connection_limit=li.connection_limit,
                timeout_client_data=li.timeout_client_data,
                timeout_member_connect=li.timeout_member_connect,
                timeout_member_data=li.timeout_member_data,
                timeout_tcp_inspect=li.timeout_tcp_inspect,
                insert_headers=dict(li.insert_headers or {}),
                allowed_cidrs=[ipaddress.ip_network(c) for c in li.allowed_cidrs or []],
                admin_state_up=li.admin_state_up,
                default_pool_id=li.default_pool_id,
                l7policies=policies,
                log_format=listener_format(
                    settings.haproxy.user_log_format, lb.project_id or "-", lb.id, li.protocol
                )
                if settings.haproxy.connection_logging
                else None,
                tls=spec_tls.listener_tls(session, fernet, li, files),
            )
        )
    pools = []
    for p in _alive(lb.pools):
        hm = p.health_monitor
        hm_spec = None
        if hm is not None and hm.provisioning_status not in GONE:
            hm_spec = sp.HealthMonitorSpec(
                id=hm.id,
                type=hm.type,
                delay=hm.delay,
                timeout=hm.timeout,
                max_retries=hm.max_retries,
                max_retries_down=hm.max_retries_down,
                http_method=hm.http_method,
                url_path=hm.url_path,
                expected_codes=hm.expected_codes,
                http_version=hm.http_version,
                domain_name=hm.domain_name,
                admin_state_up=hm.admin_state_up,
            )
        persistence = None
        if p.session_persistence:
            persistence = sp.SessionPersistenceSpec(
                type=p.session_persistence["type"],
                cookie_name=p.session_persistence.get("cookie_name"),
                persistence_timeout=p.session_persistence.get("persistence_timeout"),
                persistence_granularity=p.session_persistence.get("persistence_granularity"),
            )
        pools.append(
            sp.PoolSpec(
                id=p.id,
                protocol=p.protocol,
                lb_algorithm=p.lb_algorithm,
                session_persistence=persistence,
                admin_state_up=p.admin_state_up,
                healthmonitor=hm_spec,
                members=[
                    sp.MemberSpec(
                        id=mb.id,
                        address=ipaddress.ip_address(mb.address),
                        protocol_port=mb.protocol_port,
                        weight=mb.weight,
                        backup=mb.backup,
                        admin_state_up=mb.admin_state_up,
                        monitor_address=ipaddress.ip_address(mb.monitor_address)
                        if mb.monitor_address
                        else None,
                        monitor_port=mb.monitor_port,
                        subnet_id=mb.subnet_id,
                    )
                    for mb in _alive(p.members)
                ],
                tls=spec_tls.pool_tls(session, fernet, p, files),
            )
        )
    return sp.AmphoraSpec(
        amphora_id=amphora_id,
        loadbalancer_id=lb.id,
        generation=generation,
        admin_state_up=lb.admin_state_up,
        vip=vip_spec(settings, lb),
        member_networks=member_networks(settings, lb, member_addresses),
        listeners=listeners,
        pools=pools,
        vrrp=vrrp,
        tls_files=sorted(files.values(), key=lambda f: f.id),
    )
