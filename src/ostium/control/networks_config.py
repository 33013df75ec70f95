"""Declared networks: the `[network:NAME]` sections of the config and the defaults.

Role: read and check the networks amphorae are plugged into. Each has a kind
(`model.enums.NetworkKind`: a bridge ostium owns, the operator's existing bridge, a VLAN
or a macvlan on a parent interface), a subnet, an allocation range for VIPs and amphora
addresses, a gateway (the subnet's router, never the host unless said so) and an
optional host address (owned bridges only). Called by `settings.load_settings`; the
worker's spec builder, IPAM and the Neutron-shaped views read the result. Nothing here
touches the host.

Safety: an owned bridge's subnet must lie in the benchmarking ranges (198.18.0.0/15,
2001:2::/48) unless `allow_outside_benchmark_range = true`; provider kinds exist to
carry real addresses and are not limited. Two networks may not overlap.

Several subnets on one link: a section with `network = OTHER` declares another subnet
of the network `OTHER` (Neutron's model: a network with an IPv4 and an IPv6 subnet).
It shares OTHER's link (kind, bridge, parent, VLAN) and network id and has its own
cidr, range, gateway and host address; `additional_vips` take addresses on such
subnets. The default `vip-subnet-v6` is a second subnet of `vip-net`.
"""

from __future__ import annotations

import configparser
import ipaddress
import uuid
from dataclasses import dataclass, replace

from ostium.model.enums import NetworkKind

# Deterministic ids for networks and subnets declared in the config.
NETWORK_NAMESPACE = uuid.UUID("6f2d3a4e-0b1c-5d6e-8f90-1a2b3c4d5e6f")
BENCHMARK_V4 = ipaddress.ip_network("198.18.0.0/15")
BENCHMARK_V6 = ipaddress.ip_network("2001:2::/48")
PROVIDER_KINDS = (NetworkKind.EXISTING_BRIDGE, NetworkKind.VLAN, NetworkKind.MACVLAN)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class NetworkSettings:
    name: str
    cidr: str
    bridge: str
    gateway: str | None
    """The subnet's router (the amphorae's default route); None: no default route."""
    subnet_name: str
    kind: NetworkKind = NetworkKind.BRIDGE
    host_address: str | None = None
    """The host's own address on an owned bridge (None: the host has none there)."""
    parent: str | None = None
    """VLAN and macvlan: the host interface the sub-interfaces are made on."""
    vlan_id: int | None = None
    pool_start: str | None = None
    pool_end: str | None = None
    """The allocation range (default: every host address of the subnet)."""
    network: str | None = None
    """The network this subnet belongs to when it is not the first subnet of its own
    (`network = NAME` in the section): same link, same network id."""

    @property
    def network_name(self) -> str:
        """The Neutron network's name (the first subnet's section name)."""
        return self.network or self.name

    @property
    def network_id(self) -> str:
        return str(uuid.uuid5(NETWORK_NAMESPACE, f"network:{self.network_name}"))

    @property
    def subnet_id(self) -> str:
        return str(uuid.uuid5(NETWORK_NAMESPACE, f"subnet:{self.subnet_name}"))

    @property
    def ip_network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr, strict=False)

    @property
    def owned(self) -> bool:
        """A bridge ostium creates, protects with an `unreachable` route and removes."""
        return self.kind == NetworkKind.BRIDGE

    def allocation_range(self) -> tuple[Address, Address]:
        """First and last address IPAM hands out (computed, never walked)."""
        netw = self.ip_network
        if netw.num_addresses <= 2:
            first, last = netw.network_address, netw.broadcast_address
        else:
            first = netw.network_address + 1
            last = netw.broadcast_address - 1 if netw.version == 4 else netw.broadcast_address
        if self.pool_start:
            first = ipaddress.ip_address(self.pool_start)
        if self.pool_end:
            last = ipaddress.ip_address(self.pool_end)
        return first, last

    def reserved(self) -> set[str]:
        """Addresses of the subnet that are never allocated: the gateway, the host."""
        return {a for a in (self.gateway, self.host_address) if a}


# The two default networks split 198.18.0.0/16 in halves of 32,765 usable addresses
# each, so one host holds thousands of load balancers by default (ACTIVE_STANDBY takes
# three VIP-network addresses per load balancer, and every amphora with members on the
# demo network one address there); 198.19.0.0/16 stays free for declared networks.
DEFAULT_NETWORK = NetworkSettings(
    name="vip-net",
    cidr="198.18.0.0/17",
    bridge="ostium0",
    gateway="198.18.0.1",
    subnet_name="vip-subnet",
    host_address="198.18.0.1",
)

# IPv6 VIPs out of the box: a /64 of the benchmarking range 2001:2::/48, a second
# subnet of vip-net on the same bridge (dual-stack amphorae need no second port, and
# `additional_vips` on it give a load balancer an IPv4 and an IPv6 VIP).
DEFAULT_NETWORK_V6 = NetworkSettings(
    name="vip-net-v6",
    cidr="2001:2::/64",
    bridge="ostium0",
    gateway="2001:2::1",
    subnet_name="vip-subnet-v6",
    host_address="2001:2::1",
    network="vip-net",
)

# Backends on this machine (e.g. `ostium demo-backends`) live here; an amphora joins
# this network when a member's address lies in it.
DEMO_NETWORK = NetworkSettings(
    name="demo-net",
    cidr="198.18.128.0/17",
    bridge="ostium-demo",
    gateway="198.18.128.1",
    subnet_name="demo-subnet",
    host_address="198.18.128.1",
)

DEFAULTS = (DEFAULT_NETWORK, DEMO_NETWORK, DEFAULT_NETWORK_V6)

_OPTIONS = {
    "cidr",
    "kind",
    "bridge",
    "gateway",
    "host_address",
    "parent",
    "vlan_id",
    "allocation_start",
    "allocation_end",
    "subnet_name",
    "allow_outside_benchmark_range",
    "network",
}
_LINK_OPTIONS = {"kind", "bridge", "parent", "vlan_id"}
_NONE = {"", "none"}


def _address_in(
    name: str, option: str, value: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> str:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"network {name}: {option} {value!r} is not an IP address") from None
    if ip.version != net.version or ip not in net:
        raise ValueError(f"network {name}: {option} {value} is not in {net}")
    return str(ip)


def parse_network(
    name: str, opts: dict[str, str], base: NetworkSettings | None = None
) -> NetworkSettings:
    """One `[network:NAME]` section; ValueError names the section and the option.
    `base`: the network this section adds a subnet to (`network = ...`)."""
    unknown = set(opts) - _OPTIONS
    if unknown:
        raise ValueError(f"[network:{name}] has no option {sorted(unknown)[0]!r}")
    if base is not None:
        link = {
            "kind": base.kind.value,
            "bridge": base.bridge,
            "parent": base.parent or "",
            "vlan_id": str(base.vlan_id or ""),
        }
        for option in sorted(set(opts) & _LINK_OPTIONS):
            if opts[option].strip().lower() != link[option].lower():
                raise ValueError(
                    f"network {name}: {option} {opts[option]!r} differs from network "
                    f"{base.name}'s ({link[option]!r}); a subnet shares its network's link"
                )
        opts = {k: v for k, v in opts.items() if k != "network"}
        opts["kind"] = base.kind.value
        if base.kind != NetworkKind.MACVLAN:
            opts["bridge"] = base.bridge
        if base.parent:
            opts["parent"] = base.parent
        if base.vlan_id:
            opts["vlan_id"] = str(base.vlan_id)
    if "cidr" not in opts:
        raise ValueError(f"[network:{name}] needs a cidr")
    net = ipaddress.ip_network(opts["cidr"], strict=False)
    try:
        kind = NetworkKind(opts.get("kind", NetworkKind.BRIDGE).strip().lower())
    except ValueError:
        kinds = "|".join(NetworkKind)
        raise ValueError(f"network {name}: kind {opts['kind']!r} is not {kinds}") from None
    outside_ok = opts.get("allow_outside_benchmark_range", "false").lower() == "true"
    bench = BENCHMARK_V4 if net.version == 4 else BENCHMARK_V6
    if kind == NetworkKind.BRIDGE and not outside_ok and not net.subnet_of(bench):  # type: ignore[arg-type]
        raise ValueError(f"network {name}: {net} is outside {bench}")

    def address(option: str, default: str | None) -> str | None:
        raw = opts.get(option)
        if raw is None:
            return default
        return None if raw.strip().lower() in _NONE else _address_in(name, option, raw, net)

    first_host = str(next(net.hosts())) if net.num_addresses > 2 else None
    owned = kind == NetworkKind.BRIDGE
    # An owned bridge's host is its gateway unless said otherwise (the machine reaches
    # its VIPs); on a provider network the router is someone else and must be named.
    gateway = address("gateway", first_host if owned else None)
    host_address = address("host_address", gateway if owned else None)
    if host_address is not None and not owned:
        raise ValueError(f"network {name}: host_address is only for kind = bridge")
    parent = opts.get("parent") or None
    vlan_id = int(opts["vlan_id"]) if opts.get("vlan_id") else None
    if kind in (NetworkKind.VLAN, NetworkKind.MACVLAN) and not parent:
        raise ValueError(f"network {name}: kind {kind} needs a parent interface")
    if kind == NetworkKind.VLAN and not (vlan_id and 1 <= vlan_id <= 4094):
        raise ValueError(f"network {name}: kind vlan needs a vlan_id in 1-4094")
    if parent and (len(parent) > 15 or not parent.replace("-", "").replace(".", "").isalnum()):
        raise ValueError(f"network {name}: parent {parent!r} is not an interface name")
    if kind == NetworkKind.EXISTING_BRIDGE and "bridge" not in opts:
        raise ValueError(f"network {name}: kind existing-bridge needs the bridge's name")
    if kind == NetworkKind.VLAN and "bridge" not in opts:
        bridge = f"ostv{vlan_id}-{name}"[:15]
    elif kind == NetworkKind.MACVLAN:
        bridge = str(parent)  # no bridge: the name the agent's checks look at
    else:
        bridge = opts.get("bridge", f"ostium-{name}"[:15])
    settings = NetworkSettings(
        name=name,
        cidr=str(net),
        bridge=bridge,
        gateway=gateway,
        subnet_name=opts.get("subnet_name", f"{name}-subnet"),
        kind=kind,
        host_address=host_address,
        parent=parent,
        vlan_id=vlan_id,
        pool_start=address("allocation_start", None),
        pool_end=address("allocation_end", None),
        network=base.network_name if base is not None else None,
    )
    first, last = settings.allocation_range()
    if int(first) > int(last):
        raise ValueError(f"network {name}: allocation range {first}-{last} is empty")
    return settings


def parse_networks(parser: configparser.ConfigParser) -> tuple[NetworkSettings, ...]:
    sections: list[tuple[str, dict[str, str]]] = []
    for section in parser.sections():
        if section.startswith("network:"):
            name = section.split(":", 1)[1].strip()
            defaults = parser.defaults()
            opts = {k: v for k, v in parser.items(section) if k not in defaults}
            sections.append((name, opts))
    # Networks first, then the extra subnets that name one of them.
    nets = [parse_network(n, o) for n, o in sections if not o.get("network")]
    if parser.getboolean("networking", "default_networks", fallback=True):
        for i, default in enumerate(DEFAULTS):
            if any(n.name == default.name for n in nets):
                continue
            if default.network is not None and not any(
                n.name == default.network and n.bridge == default.bridge for n in nets
            ):
                default = replace(default, network=None)  # its network was redeclared
            nets.insert(i, default)
    for name, opts in sections:
        if opts.get("network"):
            nets.append(parse_network(name, opts, _base(nets, name, opts["network"].strip())))
    check_disjoint(nets)
    return tuple(nets)


def _base(nets: list[NetworkSettings], name: str, network: str) -> NetworkSettings:
    base = next((n for n in nets if n.name == network), None)
    if base is None:
        raise ValueError(f"network {name}: network {network!r} is not declared")
    return base


def check_disjoint(nets: list[NetworkSettings]) -> None:
    """Two local networks sharing addresses would route each other's traffic to the
    wrong bridge: refuse them, naming both (a default network included)."""
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            if a.ip_network.overlaps(b.ip_network):
                raise ValueError(
                    f"network {b.name}: {b.cidr} overlaps network {a.name} ({a.cidr}); "
                    "choose another cidr (198.19.0.0/16 is free by default) or "
                    "set [networking] default_networks = false"
                )
