"""ostium's local network model as the API shows it: networks and subnets declared in
the config, resolved from a request and rendered in Neutron's shape.

Each declared network has one subnet; ids are deterministic (uuid5 of the name), so a
config file names the same subnet across restarts. Addresses are handed out by
`control/db/ipam.py`.
"""

from __future__ import annotations

from typing import Any

from ostium.control.settings import NetworkSettings, Settings
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import BadRequest


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
        "status": PS.ACTIVE,
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
