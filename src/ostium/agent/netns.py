"""Network namespaces, veth pairs, bridges and addresses for amphorae (iproute2).

Role: make the plumbing of one amphora exist (idempotently) and remove it completely.
Callers: `amphorae` (ensure, delete), `supervising` (adoption, respawn), `sweeping`.
Every operation is safe to repeat; each checks what exists before changing it. The host
side of each kind of network is `links`' business; the only route created is the
amphora's default route (inside its namespace) through the subnet's gateway.

Must not know about haproxy or specs beyond `AmphoraPlug`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ostium.agent import links
from ostium.agent.commands import in_netns, run
from ostium.agent.errors import CommandFailed
from ostium.agent.naming import VIP_IFNAME, Names
from ostium.model.enums import NetworkKind
from ostium.model.spec import AmphoraPlug, AmphoraVip, NetworkLink

LOG = logging.getLogger(__name__)


def list_namespaces() -> list[str]:
    out = run(["ip", "-j", "netns", "list"], check=False).stdout.strip()
    if not out:
        return []
    return [str(item["name"]) for item in json.loads(out)]


def namespace_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def link_exists(name: str, namespace: str | None = None) -> bool:
    argv = ["ip", "link", "show", "dev", name]
    return run(in_netns(namespace, argv) if namespace else argv, check=False).returncode == 0


def _addresses(dev: str, namespace: str | None = None) -> set[str]:
    argv = ["ip", "-j", "addr", "show", "dev", dev]
    proc = run(in_netns(namespace, argv) if namespace else argv, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return set()
    found: set[str] = set()
    for link in json.loads(proc.stdout):
        for info in link.get("addr_info", []):
            found.add(f"{info['local']}/{info['prefixlen']}")
    return found


def delete_namespace(name: str) -> None:
    if namespace_exists(name):
        run(["ip", "netns", "del", name], check=False)


def delete_link(name: str) -> None:
    if link_exists(name):
        run(["ip", "link", "del", "dev", name], check=False)


def _ensure_namespace(name: str) -> None:
    if not namespace_exists(name):
        run(["ip", "netns", "add", name])
    run(in_netns(name, ["ip", "link", "set", "dev", "lo", "up"]))
    _nonlocal_bind(name)


def _nonlocal_bind(name: str) -> None:
    """haproxy may bind addresses the namespace does not carry (yet): one process for
    both families; IPv4 alone again if that failed (a host without IPv6)."""
    both = ["net.ipv4.ip_nonlocal_bind=1", "net.ipv6.ip_nonlocal_bind=1"]
    if run(in_netns(name, ["sysctl", "-q", "-w", *both]), check=False).returncode != 0:
        run(in_netns(name, ["sysctl", "-q", "-w", both[0]]))


def _ensure_port(
    namespace: str, host_end: str, peer_tmp: str, inner_name: str, bridge: str, link: NetworkLink
) -> None:
    """The amphora's port `inner_name` in `namespace`: a veth whose `host_end` is in
    `bridge`, or (macvlan) a sub-interface of the parent moved into the namespace."""
    if link.kind == NetworkKind.MACVLAN:
        if not link_exists(inner_name, namespace):
            delete_link(peer_tmp)  # half-made from an interrupted attempt
            assert link.parent is not None
            run(
                [
                    "ip",
                    "link",
                    "add",
                    peer_tmp,
                    "link",
                    link.parent,
                    "type",
                    "macvlan",
                    "mode",
                    "bridge",
                ]
            )
            run(["ip", "link", "set", "dev", peer_tmp, "netns", namespace])
            run(in_netns(namespace, ["ip", "link", "set", "dev", peer_tmp, "name", inner_name]))
        run(in_netns(namespace, ["ip", "link", "set", "dev", inner_name, "up"]))
        return
    if not link_exists(inner_name, namespace):
        if link_exists(host_end):  # half-made pair from an interrupted attempt
            run(["ip", "link", "del", "dev", host_end], check=False)
        run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", peer_tmp])
        run(["ip", "link", "set", "dev", peer_tmp, "netns", namespace])
        run(in_netns(namespace, ["ip", "link", "set", "dev", peer_tmp, "name", inner_name]))
    run(["ip", "link", "set", "dev", host_end, "master", bridge])
    run(["ip", "link", "set", "dev", host_end, "up"])
    run(in_netns(namespace, ["ip", "link", "set", "dev", inner_name, "up"]))


def _ensure_address(namespace: str, dev: str, cidr: str) -> None:
    if cidr not in _addresses(dev, namespace):
        # No duplicate address detection: the address is ours (IPAM) and must be usable
        # at once (a tentative IPv6 address cannot source packets for a second or so).
        nodad = ["nodad"] if ":" in cidr else []
        run(in_netns(namespace, ["ip", "addr", "replace", cidr, "dev", dev, *nodad]))


def host_cidr(vip: AmphoraVip) -> str | None:
    """The host's address on the VIP's owned bridge, CIDR form (None: none)."""
    if vip.link.kind != NetworkKind.BRIDGE or vip.host_address is None:
        return None
    return f"{vip.host_address}/{vip.prefixlen}"


def vip_subnet(vip: AmphoraVip) -> str:
    return str(ipaddress.ip_network(f"{vip.address}/{vip.prefixlen}", strict=False))


def ensure_amphora(names: Names, plug: AmphoraPlug) -> None:
    """Namespace, VIP port and address, default route, member networks: all idempotent.

    With a `vrrp_ip` (ACTIVE_STANDBY) the VIP-side interface carries that address and
    the VIP is left to keepalived. Veth ports are made by three processes whatever
    their number (`_plumb_batched`); macvlan ports, and anything the batches could not
    do (a half-made port of an interrupted older agent), take the one-command-at-a-time
    way, which checks each piece."""
    vip = plug.vip
    links.ensure_network(vip.bridge, vip.link, host_cidr(vip), vip_subnet(vip))
    for net in plug.member_networks:
        links.ensure_network(net.bridge, net.link, subnet=str(net.cidr))
    own = plug.vrrp_ip if plug.vrrp_ip is not None else vip.address
    ports = [
        _Port(
            VIP_IFNAME,
            names.vip_host_veth,
            names.vip_peer_veth,
            vip.bridge,
            vip.link,
            f"{own}/{vip.prefixlen}",
        )
    ]
    ports += [
        _Port(
            names.member_ifname(net.subnet_id),
            names.member_host_veth(net.subnet_id),
            names.member_peer_veth(net.subnet_id),
            net.bridge,
            net.link,
            f"{net.address}/{net.cidr.prefixlen}",
        )
        for net in plug.member_networks
    ]
    gateway = str(vip.gateway) if vip.gateway is not None else None
    if all(port.link.kind != NetworkKind.MACVLAN for port in ports):
        try:
            _plumb_batched(names.namespace, ports, gateway)
            return
        except CommandFailed as exc:
            LOG.info(
                "namespace %s: batched plumbing failed (%s); step by step", names.namespace, exc
            )
    ns = names.namespace
    _ensure_namespace(ns)
    for port in ports:
        _ensure_port(ns, port.host_end, port.peer_tmp, port.inner, port.bridge, port.link)
        _ensure_address(ns, port.inner, port.cidr)
    if gateway is not None:
        family = "-6" if ipaddress.ip_address(gateway).version == 6 else "-4"
        run(in_netns(ns, ["ip", family, "route", "replace", "default", "via", gateway]))


@dataclass(frozen=True)
class _Port:
    inner: str
    host_end: str
    peer_tmp: str
    bridge: str
    link: NetworkLink
    cidr: str


def _plumb_batched(namespace: str, ports: list[_Port], gateway: str | None) -> None:
    """Every veth port of an amphora with three processes: one `ip -batch` on the host
    (namespace, veth pairs created with their inner end already in the namespace under
    its final name, bridge, up), one `ip -n <ns> -batch` inside (links up, addresses,
    default route: all idempotent `replace`s) and one `sysctl`. What exists is read from
    sysfs, not asked with a process each (a fresh amphora took ~20 processes before:
    most of a create's time on a busy host)."""
    host: list[str] = []
    if not namespace_exists(namespace):
        host.append(f"netns add {namespace}")
    for port in ports:
        if not links.exists(port.host_end):
            if links.exists(port.peer_tmp):  # half-made pair of an older agent
                host.append(f"link del dev {port.peer_tmp}")
            host.append(
                f"link add {port.host_end} type veth peer name {port.inner} netns {namespace}"
            )
        if links.master(port.host_end) != port.bridge:
            host.append(f"link set dev {port.host_end} master {port.bridge}")
        if not links.is_up(port.host_end):
            host.append(f"link set dev {port.host_end} up")
    if host:
        run(["ip", "-batch", "-"], input_text="\n".join(host) + "\n")
    inside = ["link set dev lo up"]
    for port in ports:
        # No duplicate address detection: the address is ours (IPAM) and must be usable
        # at once (a tentative IPv6 address cannot source packets for a second or so).
        nodad = " nodad" if ":" in port.cidr else ""
        inside.append(f"link set dev {port.inner} up")
        inside.append(f"addr replace {port.cidr} dev {port.inner}{nodad}")
    if gateway is not None:
        inside.append(f"route replace default via {gateway}")  # family from the address
    run(["ip", "-n", namespace, "-batch", "-"], input_text="\n".join(inside) + "\n")
    _nonlocal_bind(namespace)


def plumbing_fault(names: Names, plug: AmphoraPlug) -> str | None:
    """What is missing of `plug`'s plumbing (None: nothing). Cheap: sysfs and /run/netns
    only, no subprocess, so the supervisor runs it on every pass."""
    if not namespace_exists(names.namespace):
        return f"namespace {names.namespace} is gone"
    ports = [(names.vip_host_veth, plug.vip.bridge, plug.vip.link)]
    ports += [(names.member_host_veth(n.subnet_id), n.bridge, n.link) for n in plug.member_networks]
    for veth, bridge, link in ports:
        fault = links.network_fault(bridge, link)
        if fault is None and link.kind != NetworkKind.MACVLAN:
            fault = links.port_fault(veth, bridge)
        if fault is not None:
            return fault
    return None


def plumbing_present(names: Names, plug: AmphoraPlug) -> bool:
    return plumbing_fault(names, plug) is None


def delete_amphora(names: Names, member_subnets: list[str]) -> None:
    """Remove the namespace and every host-side veth; safe if some are already gone."""
    if namespace_exists(names.namespace):
        run(["ip", "netns", "del", names.namespace], check=False)
    for link in (
        names.vip_host_veth,
        names.vip_peer_veth,
        *(names.member_host_veth(s) for s in member_subnets),
        *(names.member_peer_veth(s) for s in member_subnets),
    ):
        delete_link(link)
