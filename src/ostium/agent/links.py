"""The host side of each kind of network: bridges, VLAN links, macvlan parents.

Role: make a network's host side exist before an amphora is plugged into it, and tell
what is wrong with it when something vanished. The kinds (`model.enums.NetworkKind`):

- `bridge`: ostium's own; created if missing, with the host's address if the spec
  carries one;
- `existing-bridge`: the operator's; it must exist and is never changed (no address,
  no link added to it but amphora veths, never deleted);
- `vlan`: a bridge ostium owns holding the VLAN sub-interface `<parent>.<vid>`, which
  is created if missing (nothing is changed on the parent);
- `macvlan`: nothing on the host: each amphora gets its own sub-interface of the parent
  (`netns` makes it), so only the parent must exist.

Callers: `netns` (ensure, fault). Never enables forwarding, never adds routes on the
host: the amphora routes through the subnet's own gateway.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ostium.agent.commands import run
from ostium.agent.errors import AgentFailure
from ostium.model.enums import NetworkKind
from ostium.model.spec import NetworkLink

SYSFS = Path("/sys/class/net")
IFF_UP = 0x1


class MissingLink(AgentFailure):
    """A link ostium must not create (the operator's bridge, a parent) is missing."""

    code = "missing_link"


def vlan_ifname(parent: str, vlan_id: int) -> str:
    """`eth0.100`, the parent cut so that the name fits Linux's 15 characters."""
    suffix = f".{vlan_id}"
    return parent[: 15 - len(suffix)] + suffix


def exists(name: str) -> bool:
    return (SYSFS / name).exists()


_READY: dict[tuple[str, str | None, str | None], int | None] = {}
"""Owned bridges `ensure_network` made ready in this process (name, host address, subnet)
with their ifindex then: a bridge deleted and made again has another index, so it is
ensured again (address, unreachable route) and not taken for ready."""


def _ifindex(name: str) -> int | None:
    try:
        return int((SYSFS / name / "ifindex").read_text())
    except (OSError, ValueError):
        return None


def is_up(name: str) -> bool:
    try:
        with open(f"{SYSFS}/{name}/flags", "rb") as f:
            return bool(int(f.read(), 16) & IFF_UP)
    except (OSError, ValueError):
        return False


def master(name: str) -> str | None:
    try:
        return os.path.basename(os.readlink(f"{SYSFS}/{name}/master"))
    except OSError:
        return None


def _addresses(dev: str) -> set[str]:
    import json

    proc = run(["ip", "-j", "addr", "show", "dev", dev], check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return set()
    return {
        f"{info['local']}/{info['prefixlen']}"
        for link in json.loads(proc.stdout)
        for info in link.get("addr_info", [])
    }


def ensure_bridge(name: str, host_address: str | None = None) -> None:
    """A bridge ostium owns named `name`, up, carrying `host_address` (CIDR) if given.
    Its MAC address is set once, at random (locally administered): a bridge whose
    address was never set takes the lowest of its ports', so removing an amphora's veth
    (a failover) could change it, and every neighbour's ARP entry for the host address
    would point nowhere for seconds."""
    if not exists(name):
        run(["ip", "link", "add", "name", name, "type", "bridge"])
        run(["ip", "link", "set", "dev", name, "address", random_mac()])
    if host_address and host_address not in _addresses(name):
        argv = ["ip", "addr", "replace", host_address, "dev", name]
        run(argv + (["nodad"] if ":" in host_address else []))
    run(["ip", "link", "set", "dev", name, "up"])


def random_mac() -> str:
    """A random unicast, locally administered MAC address."""
    first = (secrets.randbits(8) & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in [first, *secrets.token_bytes(5)])


UNREACHABLE_METRIC = "4242"
"""Above the kernel's own route of an address on the bridge (0 for IPv4, 256 for IPv6):
the `unreachable` route only answers when the bridge or its address is gone (the same
value as `drivers.network.base.UNREACHABLE_METRIC`, which removes it with the bridge)."""


def protect(subnet: str) -> None:
    """An `unreachable` route for an owned bridge's subnet: with the bridge missing, the
    host's traffic for it fails here instead of leaving by the default route."""
    family = "-6" if ":" in subnet else "-4"
    run(["ip", family, "route", "replace", "unreachable", subnet, "metric", UNREACHABLE_METRIC])


def ensure_network(
    bridge: str, link: NetworkLink, host_address: str | None = None, subnet: str | None = None
) -> None:
    """The host side of one network, ready for an amphora port (see the module doc);
    an owned bridge's `subnet` is protected with an `unreachable` route."""
    if link.kind == NetworkKind.EXISTING_BRIDGE:
        if not exists(bridge):
            raise MissingLink(f"bridge {bridge} (existing-bridge) does not exist on this host")
        return
    if link.kind in (NetworkKind.VLAN, NetworkKind.MACVLAN):
        assert link.parent is not None  # checked by the spec
        if not exists(link.parent):
            raise MissingLink(f"parent interface {link.parent} does not exist on this host")
    if link.kind == NetworkKind.MACVLAN:
        return
    key = (bridge, host_address, subnet)
    if link.kind == NetworkKind.BRIDGE and _READY.get(key) == _ifindex(bridge) and is_up(bridge):
        return  # made ready by this process, and still the same bridge: no process needed
    if link.kind == NetworkKind.BRIDGE and subnet is not None:
        protect(subnet)
    ensure_bridge(bridge, host_address)
    if link.kind == NetworkKind.BRIDGE:
        _READY[key] = _ifindex(bridge)
    if link.kind == NetworkKind.VLAN:
        assert link.parent is not None and link.vlan_id is not None
        vlan = vlan_ifname(link.parent, link.vlan_id)
        if not exists(vlan):
            run(
                [
                    "ip",
                    "link",
                    "add",
                    "link",
                    link.parent,
                    "name",
                    vlan,
                    "type",
                    "vlan",
                    "id",
                    str(link.vlan_id),
                ]
            )
        if master(vlan) != bridge:
            run(["ip", "link", "set", "dev", vlan, "master", bridge])
        run(["ip", "link", "set", "dev", vlan, "up"])


def network_fault(bridge: str, link: NetworkLink) -> str | None:
    """What is missing on the host side of a network (None: nothing). Reads sysfs only."""
    if link.kind in (NetworkKind.VLAN, NetworkKind.MACVLAN):
        assert link.parent is not None
        if not exists(link.parent):
            return f"parent interface {link.parent} is gone"
    if link.kind == NetworkKind.MACVLAN:
        return None
    if not is_up(bridge):  # one read when all is well; the reason only when not
        return f"bridge {bridge} is gone" if not exists(bridge) else f"bridge {bridge} is down"
    if link.kind == NetworkKind.VLAN:
        assert link.parent is not None and link.vlan_id is not None
        vlan = vlan_ifname(link.parent, link.vlan_id)
        if master(vlan) != bridge:
            return f"VLAN link {vlan} is not in bridge {bridge}"
    return None


def port_fault(veth: str, bridge: str) -> str | None:
    """What is wrong with an amphora's host-side veth (None: in its bridge and up).
    Two reads when all is well (the supervisor asks for every amphora every pass)."""
    if master(veth) != bridge:
        if not exists(veth):
            return f"veth {veth} is gone"
        return f"veth {veth} is not in bridge {bridge}"
    if not is_up(veth):
        return f"veth {veth} is gone" if not exists(veth) else f"veth {veth} is down"
    return None
