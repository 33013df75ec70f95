"""ostium's local network model as the API shows it: networks and subnets declared in
the config, resolved from a request and rendered in Neutron's shape. VIP ports, floating
IPs and security groups are in `ports.py`.

Each `[network:NAME]` section is a subnet; a section with `network = OTHER` adds a
subnet to OTHER's network (the default vip-net has an IPv4 and an IPv6 subnet). Ids are
deterministic (uuid5 of the name), so a config file names the same subnet across
restarts. Addresses are handed out by
`control/db/ipam.py`. Called by `api/routes/root.py` and the load balancer service;
nothing here writes.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import any_role
from ostium.control.services.context import ServiceContext
from ostium.control.services.listing import select_fields
from ostium.control.settings import NetworkSettings, Settings
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import BadRequest, NotFound


def _filter(
    items: list[dict[str, Any]], query: list[tuple[str, str]], allowed: set[str]
) -> list[dict[str, Any]]:
    fields: list[str] = []
    for k, v in query:
        if k == "fields":
            fields.extend(x for x in v.split(",") if x)
        elif k in ("limit", "marker", "sort_key", "sort_dir", "page_reverse"):
            continue
        elif k in allowed:
            items = [
                i
                for i in items
                if str(i.get(k)) == v
                or (isinstance(i.get(k), bool) and str(i[k]).lower() == v.lower())
            ]
        else:
            raise BadRequest(f"{k} is not a valid filter for this collection")
    return [select_fields(i, fields) for i in items]


SUBNET_FILTERS = {"id", "name", "network_id", "cidr", "ip_version", "project_id", "tenant_id"}
NETWORK_FILTERS = {
    "id",
    "name",
    "status",
    "shared",
    "project_id",
    "tenant_id",
    "admin_state_up",
    "router:external",
}


Kind = Literal["subnet", "network"]


def _view(
    kind: Kind, settings: Settings, net: NetworkSettings, ctx: RequestContext
) -> dict[str, Any]:
    if kind == "subnet":
        return subnet_view(net, ctx.project_id or "")
    return network_view(net, ctx.project_id or "", settings.subnets_of(net.network_id))


def listing(
    svc: ServiceContext, ctx: RequestContext, kind: Kind, items: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """`GET /v2.0/subnets` or `/v2.0/networks`, filtered as Neutron filters."""
    any_role(ctx)
    allowed = SUBNET_FILTERS if kind == "subnet" else NETWORK_FILTERS
    nets = list(svc.settings.networks)
    if kind == "network":  # one entry per network, not per subnet
        nets = [n for n in nets if svc.settings.network_by_network(n.network_id) is n]
    return _filter([_view(kind, svc.settings, n, ctx) for n in nets], items, allowed)


def show(svc: ServiceContext, ctx: RequestContext, kind: Kind, obj_id: str) -> dict[str, Any]:
    """One subnet or network by id: 404 as Neutron words it."""
    any_role(ctx)
    if kind == "subnet":
        net = svc.settings.network_by_subnet(obj_id)
    else:
        net = svc.settings.network_by_network(obj_id)
    if net is None:
        raise NotFound(f"{kind.capitalize()} {obj_id} could not be found.")
    return _view(kind, svc.settings, net, ctx)


def resolve_vip_network(
    settings: Settings,
    subnet_id: str | None,
    network_id: str | None,
    port_id: str | None,
    vip_address: str | None = None,
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
        if net is not None and net.network_id != by_net.network_id:
            raise BadRequest(
                f"Validation failure: Subnet {subnet_id} is not on network {network_id}."
            )
        if net is None:
            net = _subnet_for(settings.subnets_of(network_id), vip_address) or by_net
    if net is None:
        raise BadRequest(
            "Validation failure: VIP must contain one of: vip_port_id, "
            "vip_network_id, vip_subnet_id."
        )
    return net


def _subnet_for(subnets: list[NetworkSettings], address: str | None) -> NetworkSettings | None:
    """A network given alone: the subnet holding `vip_address`, else the first IPv4 one
    (Neutron's choice as Octavia makes it)."""
    if address:
        ip = ipaddress.ip_address(address)
        for net in subnets:
            if ip.version == net.ip_network.version and ip in net.ip_network:
                return net
    return next((n for n in subnets if n.ip_network.version == 4), None)


def resolve_additional_vips(
    settings: Settings, primary: NetworkSettings, wanted: list[tuple[str, str | None]]
) -> list[tuple[NetworkSettings, str | None]]:
    """`additional_vips` as (subnet, requested address): every subnet declared, on the
    primary VIP's network, used once (the primary's included), the address in it."""
    out: list[tuple[NetworkSettings, str | None]] = []
    seen = {primary.subnet_id}
    for subnet_id, address in wanted:
        net = settings.network_by_subnet(subnet_id)
        if net is None:
            raise BadRequest(f"Subnet {subnet_id} not found.")
        if net.subnet_id in seen:
            raise BadRequest(
                "Validation failure: Duplicate VIP subnet(s) specified. "
                f"Only one IP can be bound per subnet: {subnet_id}"
            )
        seen.add(net.subnet_id)
        if net.network_id != primary.network_id:
            raise BadRequest(
                f"Validation failure: additional VIP subnet {subnet_id} is not on the "
                f"primary VIP's network {primary.network_id}; all VIPs must be on the "
                "same network."
            )
        out.append((net, address))
    return out


def subnet_view(net: NetworkSettings, project_id: str) -> dict[str, Any]:
    first, last = net.allocation_range()
    return {
        "id": net.subnet_id,
        "name": net.subnet_name,
        "network_id": net.network_id,
        "cidr": net.cidr,
        "ip_version": net.ip_network.version,
        "gateway_ip": net.gateway,
        "enable_dhcp": False,
        "allocation_pools": [{"start": str(first), "end": str(last)}],
        "dns_nameservers": [],
        "host_routes": [],
        "tenant_id": project_id,
        "project_id": project_id,
        "description": f"ostium {net.kind} network {net.name} ({net.bridge})",
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


def network_view(
    net: NetworkSettings, project_id: str, subnets: list[NetworkSettings]
) -> dict[str, Any]:
    return {
        "id": net.network_id,
        "name": net.network_name,
        "subnets": [s.subnet_id for s in subnets] or [net.subnet_id],
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
        "provider:network_type": {"vlan": "vlan", "macvlan": "flat"}.get(net.kind, "local"),
        "provider:physical_network": net.parent,
        "provider:segmentation_id": net.vlan_id,
    }
