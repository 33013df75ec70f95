"""ostium's local network model: networks/subnets declared in the config, and IPAM.

Each declared network has one subnet; ids are deterministic (uuid5 of the name), so a
config file names the same subnet across restarts. VIP addresses are allocated from the
subnet's host range, skipping the network's host-side gateway and reserved addresses;
the `ip_allocation` primary key makes a double allocation impossible under concurrency.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.settings import NetworkSettings, Settings
from ostium.model.errors import BadRequest, Conflict


def resolve_vip_network(
    settings: Settings, subnet_id: str | None, network_id: str | None, port_id: str | None
) -> NetworkSettings:
    if port_id:
        raise BadRequest(f"Port {port_id} not found.")
    net: NetworkSettings | None = None
    if subnet_id:
        net = settings.network_by_subnet(subnet_id)
        if net is None:
            raise BadRequest(f"Subnet {subnet_id} not found.")
    if network_id:
        by_net = settings.network_by_network(network_id)
        if by_net is None:
            raise BadRequest(f"Network {network_id} not found.")
        if net is not None and net is not by_net:
            raise BadRequest(
                f"Validation failure: Subnet {subnet_id} is not on network {network_id}."
            )
        net = by_net
    if net is None:
        raise BadRequest(
            "Validation failure: VIP must contain one of: vip_port_id, "
            "vip_network_id, vip_subnet_id."
        )
    return net


def check_address_in(net: NetworkSettings, address: str, field: str) -> None:
    ip = ipaddress.ip_address(address)
    netw = net.ip_network
    if ip.version != netw.version or ip not in netw:
        raise BadRequest(
            f"Validation failure: {field} {address} is not in subnet {net.subnet_id} ({net.cidr})."
        )
    if ip in (netw.network_address, netw.broadcast_address) or str(ip) == net.gateway:
        raise BadRequest(
            f"Validation failure: {field} {address} is reserved in subnet "
            f"{net.subnet_id} ({net.cidr})."
        )


def allocate(
    session: Session,
    net: NetworkSettings,
    owner_id: str,
    requested: str | None,
    purpose: str = "vip",
) -> str:
    if requested:
        check_address_in(net, requested, "vip_address")
        try:
            with session.begin_nested():
                session.add(
                    m.IpAllocation(
                        subnet_id=net.subnet_id,
                        address=requested,
                        owner_id=owner_id,
                        purpose=purpose,
                    )
                )
                session.flush()
        except IntegrityError:
            raise Conflict(
                f"IP address {requested} already allocated in subnet {net.subnet_id}."
            ) from None
        return requested
    used = set(
        session.scalars(
            select(m.IpAllocation.address).where(m.IpAllocation.subnet_id == net.subnet_id)
        )
    )
    used.add(net.gateway)
    for host in net.ip_network.hosts():
        addr = str(host)
        if addr in used:
            continue
        try:
            with session.begin_nested():
                session.add(
                    m.IpAllocation(
                        subnet_id=net.subnet_id, address=addr, owner_id=owner_id, purpose=purpose
                    )
                )
                session.flush()
        except IntegrityError:
            continue
        return addr
    raise Conflict(f"No more IP addresses available on subnet {net.subnet_id}.")


def release(session: Session, owner_id: str) -> None:
    session.execute(delete(m.IpAllocation).where(m.IpAllocation.owner_id == owner_id))


def subnet_view(net: NetworkSettings, project_id: str) -> dict[str, Any]:
    hosts = net.ip_network
    return {
        "id": net.subnet_id,
        "name": net.subnet_name,
        "network_id": net.network_id,
        "cidr": net.cidr,
        "ip_version": hosts.version,
        "gateway_ip": net.gateway,
        "enable_dhcp": False,
        "allocation_pools": [
            {
                "start": str(next(hosts.hosts())),
                "end": str(list(hosts.hosts())[-1])
                if hosts.num_addresses < 65536
                else str(hosts.broadcast_address - 1),
            }
        ],
        "dns_nameservers": [],
        "host_routes": [],
        "tenant_id": project_id,
        "project_id": project_id,
        "description": f"ostium local network {net.name} (bridge {net.bridge})",
        "tags": [],
        "shared": True,
        "ipv6_address_mode": None,
        "ipv6_ra_mode": None,
        "subnetpool_id": None,
        "revision_number": 0,
        "service_types": [],
        "created_at": "2016-12-11T00:00:00Z",
        "updated_at": "2016-12-11T00:00:00Z",
        "segment_id": None,
    }


def network_view(net: NetworkSettings, project_id: str) -> dict[str, Any]:
    return {
        "id": net.network_id,
        "name": net.name,
        "subnets": [net.subnet_id],
        "status": "ACTIVE",
        "admin_state_up": True,
        "shared": True,
        "router:external": False,
        "tenant_id": project_id,
        "project_id": project_id,
        "description": f"ostium local network (bridge {net.bridge})",
        "mtu": 1500,
        "tags": [],
        "port_security_enabled": False,
        "availability_zones": [],
        "availability_zone_hints": [],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "is_default": False,
        "revision_number": 0,
        "created_at": "2016-12-11T00:00:00Z",
        "updated_at": "2016-12-11T00:00:00Z",
        "provider:network_type": "local",
        "provider:physical_network": None,
        "provider:segmentation_id": None,
    }
