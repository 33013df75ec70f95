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
import os
from dataclasses import dataclass

from ostium.agent import links
from ostium.agent.commands import in_netns, run
from ostium.agent.errors import CommandFailed
from ostium.agent.naming import VIP_IFNAME, Names
from ostium.model.enums import NetworkKind
from ostium.model.spec import (
    AdditionalVip,
    AmphoraNetwork,
    AmphoraPlug,
    AmphoraVip,
    NetworkLink,
)

LOG = logging.getLogger(__name__)


def list_namespaces() -> list[str]:
    out = run(["ip", "-j", "netns", "list"], check=False).stdout.strip()
    if not out:
        return []
    return [str(item["name"]) for item in json.loads(out)]


def namespace_exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")  # asked for every amphora every round


def link_exists(name: str, namespace: str | None = None) -> bool:
    argv = ["ip", "link", "show", "dev", name]
    return run(in_netns(namespace, argv) if namespace else argv, check=False).returncode == 0


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
    # A veth pair lives or dies as one, so the host end (sysfs, no exec) says whether
    # the inner end exists too. A new pair is one command: the inner end made in the
    # namespace under its final name, the host end in its bridge and up. (Each `ip` is
    # an exec, 5-20 ms on a busy host, on the path of a change that plugs a network.)
    if not links.exists(host_end) or links.exists(peer_tmp):
        _new_veth(namespace, host_end, peer_tmp, inner_name, bridge)
    elif links.master(host_end) != bridge or not links.is_up(host_end):
        run(["ip", "link", "set", "dev", host_end, "master", bridge, "up"])


def _new_veth(namespace: str, host_end: str, peer_tmp: str, inner_name: str, bridge: str) -> None:
    """A fresh pair: `host_end` up in `bridge`, `inner_name` in `namespace` (whatever an
    interrupted attempt left is removed first)."""
    for stale in (host_end, peer_tmp):
        if links.exists(stale):
            run(["ip", "link", "del", "dev", stale], check=False)
    run(
        [
            *("ip", "link", "add", host_end, "master", bridge, "up", "type", "veth"),
            *("peer", "name", inner_name, "netns", namespace),
        ]
    )


def _ensure_inside(namespace: str, dev: str, cidr: str) -> None:
    """`dev` up with address `cidr` in `namespace`: one `ip -batch`, both idempotent."""
    # No duplicate address detection: the address is ours (IPAM) and must be usable at
    # once (a tentative IPv6 address cannot source packets for a second or so).
    nodad = " nodad" if ":" in cidr else ""
    run(
        ["ip", "-n", namespace, "-batch", "-"],
        input_text=f"link set dev {dev} up\naddr replace {cidr} dev {dev}{nodad}\n",
    )


def _ensure_plugged(
    namespace: str,
    host_end: str,
    peer_tmp: str,
    inner_name: str,
    bridge: str,
    link: NetworkLink,
    cidr: str,
) -> None:
    """Port and address. A veth whose inner end is not named `inner_name` (an older
    agent interrupted between its move and its rename) is made again."""
    _ensure_port(namespace, host_end, peer_tmp, inner_name, bridge, link)
    try:
        _ensure_inside(namespace, inner_name, cidr)
    except CommandFailed:
        if link.kind == NetworkKind.MACVLAN:
            raise
        _new_veth(namespace, host_end, peer_tmp, inner_name, bridge)
        _ensure_inside(namespace, inner_name, cidr)


def ensure_member_network(names: Names, net: AmphoraNetwork) -> None:
    links.ensure_network(net.bridge, net.link, subnet=str(net.cidr))
    _ensure_plugged(
        names.namespace,
        names.member_host_veth(net.subnet_id),
        names.member_peer_veth(net.subnet_id),
        names.member_ifname(net.subnet_id),
        net.bridge,
        net.link,
        f"{net.address}/{net.cidr.prefixlen}",
    )


def host_cidr(vip: AmphoraVip) -> str | None:
    """The host's address on the VIP's owned bridge, CIDR form (None: none)."""
    if vip.link.kind != NetworkKind.BRIDGE or vip.host_address is None:
        return None
    return f"{vip.host_address}/{vip.prefixlen}"


def vip_subnet(vip: AmphoraVip) -> str:
    return str(ipaddress.ip_network(f"{vip.address}/{vip.prefixlen}", strict=False))


def ensure_amphora(names: Names, plug: AmphoraPlug) -> None:
    """Namespace, VIP port and addresses, default routes, member networks: all
    idempotent.

    With a `vrrp_ip` (ACTIVE_STANDBY) the VIP-side interface carries that address and
    the VIPs are left to keepalived; each additional VIP's subnet then gets an on-link
    route instead of an address, so replies from that VIP leave by the port once
    keepalived adds it. One default route per family: the primary VIP's gateway, then
    the first additional VIP of the other family that has one. Veth ports are made by
    three processes whatever their number (`_plumb_batched`); macvlan ports, and
    anything the batches could not do (a half-made port of an interrupted older agent),
    take the one-command-at-a-time way, which checks each piece."""
    vip = plug.vip
    links.ensure_network(vip.bridge, vip.link, host_cidr(vip), vip_subnet(vip))
    for extra in vip.additional_vips:
        links.ensure_network(vip.bridge, vip.link, _extra_host_cidr(vip, extra), _subnet(extra))
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
    if all(port.link.kind != NetworkKind.MACVLAN for port in ports):
        try:
            _plumb_batched(names.namespace, ports, _vip_extras(plug))
            return
        except CommandFailed as exc:
            LOG.info(
                "namespace %s: batched plumbing failed (%s); step by step", names.namespace, exc
            )
    ns = names.namespace
    _ensure_namespace(ns)
    for port in ports:
        _ensure_plugged(
            ns, port.host_end, port.peer_tmp, port.inner, port.bridge, port.link, port.cidr
        )
    for line in _vip_extras(plug):
        run(["ip", "-n", ns, *line.split()])


def _vip_extras(plug: AmphoraPlug) -> list[str]:
    """`ip` commands (inside the namespace) for the additional VIPs and the default
    routes: an address per additional VIP (SINGLE) or an on-link route to its subnet
    (a pair: keepalived adds the address), one default route per family."""
    vip = plug.vip
    out = []
    for extra in vip.additional_vips:
        if plug.vrrp_ip is None:
            nodad = " nodad" if extra.address.version == 6 else ""
            out.append(f"addr replace {extra.address}/{extra.prefixlen} dev {VIP_IFNAME}{nodad}")
        else:
            out.append(f"route replace {_subnet(extra)} dev {VIP_IFNAME}")
    routed: set[int] = set()
    for gateway in [vip.gateway, *(e.gateway for e in vip.additional_vips)]:
        if gateway is None or gateway.version in routed:
            continue
        routed.add(gateway.version)
        out.append(f"route replace default via {gateway}")  # family from the address
    return out


@dataclass(frozen=True)
class _Port:
    inner: str
    host_end: str
    peer_tmp: str
    bridge: str
    link: NetworkLink
    cidr: str


def _plumb_batched(namespace: str, ports: list[_Port], extras: list[str]) -> None:
    """Every veth port of an amphora with three processes: one `ip -batch` on the host
    (namespace, veth pairs created with their inner end already in the namespace under
    its final name, bridge, up), one `ip -n <ns> -batch` inside (links up, addresses,
    additional VIPs, default routes: all idempotent `replace`s) and one `sysctl`. What
    exists is read from sysfs, not asked with a process each (a fresh amphora took ~20
    processes before: most of a create's time on a busy host)."""
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
    inside += extras
    run(["ip", "-n", namespace, "-batch", "-"], input_text="\n".join(inside) + "\n")
    _nonlocal_bind(namespace)


def _subnet(extra: AdditionalVip) -> str:
    return str(ipaddress.ip_network(f"{extra.address}/{extra.prefixlen}", strict=False))


def _extra_host_cidr(vip: AmphoraVip, extra: AdditionalVip) -> str | None:
    if vip.link.kind != NetworkKind.BRIDGE or extra.host_address is None:
        return None
    return f"{extra.host_address}/{extra.prefixlen}"


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
