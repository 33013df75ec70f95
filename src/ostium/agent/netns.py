"""Network namespaces, veth pairs, bridges and addresses for amphorae (iproute2).

Role: make the plumbing of one amphora exist (idempotently) and remove it completely.
Callers: `amphorae` (ensure, delete), `supervising` (adoption, respawn), `sweeping`.
Every operation is safe to repeat; each checks what exists before changing it. Traffic
never leaves through the host's own interfaces: the only routes created point at the VIP
bridge's host-side address.

Must not know about haproxy or specs beyond `AmphoraPlug`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from pathlib import Path

from ostium.agent.commands import in_netns, run
from ostium.agent.naming import VIP_IFNAME, Names
from ostium.model.spec import AmphoraNetwork, AmphoraPlug

LOG = logging.getLogger(__name__)
IFF_UP = 0x1


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


def ensure_bridge(name: str, host_address: str | None = None) -> None:
    """A bridge named `name`, up, carrying `host_address` (CIDR form) if given."""
    if not link_exists(name):
        run(["ip", "link", "add", "name", name, "type", "bridge"])
    if host_address and host_address not in _addresses(name):
        run(["ip", "addr", "replace", host_address, "dev", name])
    run(["ip", "link", "set", "dev", name, "up"])


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
    run(in_netns(name, ["sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1"]))
    run(in_netns(name, ["sysctl", "-q", "-w", "net.ipv6.ip_nonlocal_bind=1"]), check=False)


def _ensure_veth(
    namespace: str, host_end: str, peer_tmp: str, inner_name: str, bridge: str
) -> None:
    """A veth pair: `host_end` enslaved to `bridge`, the other end `inner_name` in ns."""
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
        run(in_netns(namespace, ["ip", "addr", "replace", cidr, "dev", dev]))


def ensure_member_network(names: Names, net: AmphoraNetwork) -> None:
    ensure_bridge(net.bridge)
    inner = names.member_ifname(net.subnet_id)
    _ensure_veth(
        names.namespace,
        names.member_host_veth(net.subnet_id),
        names.member_peer_veth(net.subnet_id),
        inner,
        net.bridge,
    )
    _ensure_address(names.namespace, inner, f"{net.address}/{net.cidr.prefixlen}")


def ensure_amphora(names: Names, plug: AmphoraPlug) -> None:
    """Namespace, VIP veth and address, default route, member networks: all idempotent.

    With a `vrrp_ip` (ACTIVE_STANDBY) the VIP-side interface carries that address and
    the VIP is left to keepalived."""
    vip = plug.vip
    gateway_cidr = None
    if vip.gateway is not None:
        gateway_cidr = f"{vip.gateway}/{vip.prefixlen}"
    ensure_bridge(vip.bridge, gateway_cidr)
    ns = names.namespace
    _ensure_namespace(ns)
    _ensure_veth(ns, names.vip_host_veth, names.vip_peer_veth, VIP_IFNAME, vip.bridge)
    own = plug.vrrp_ip if plug.vrrp_ip is not None else vip.address
    _ensure_address(ns, VIP_IFNAME, f"{own}/{vip.prefixlen}")
    if vip.gateway is not None:
        family = "-6" if ipaddress.ip_address(str(vip.gateway)).version == 6 else "-4"
        run(in_netns(ns, ["ip", family, "route", "replace", "default", "via", str(vip.gateway)]))
    for net in plug.member_networks:
        ensure_member_network(names, net)


def plumbing_present(names: Names, plug: AmphoraPlug) -> bool:
    """Cheap check (no subprocess) that the namespace exists and every host-side veth
    of `plug` exists, is up and is enslaved to its bridge."""
    if not namespace_exists(names.namespace):
        return False
    wanted = [(names.vip_host_veth, plug.vip.bridge)]
    wanted += [(names.member_host_veth(n.subnet_id), n.bridge) for n in plug.member_networks]
    for veth, bridge in wanted:
        sys_dir = Path("/sys/class/net", veth)
        try:
            if Path(os.readlink(sys_dir / "master")).name != bridge:
                return False
            if not int((sys_dir / "flags").read_text(), 16) & IFF_UP:
                return False
        except (OSError, ValueError):
            return False
    return True


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
