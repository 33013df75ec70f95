"""The text of the amphora's one nftables table (pure, no I/O).

Chains of `table inet ostium_amphora`:

* `input` (filter, input hook): `allowed_cidrs` of the TCP-family listeners (haproxy's).
* `lb_guard` (filter, prerouting, before NAT): per UDP/SCTP listener, drop sources
  outside `allowed_cidrs`, drop new flows over `connection_limit` (`ct count`), count
  packets and bytes in, new flows, and the replies (by the listener's conntrack mark).
  A listener has one virtual service per VIP (`additional_vips`); they share its
  counters and mark.
* `lb_in` (nat, prerouting): new flows to VIP:port get the listener's mark and DNAT to
  a member: `numgen inc` over the weighted slots (ROUND_ROBIN, LEAST_CONNECTIONS), or
  `jhash` of the masked source address with the pool's seed (SOURCE_IP); with SOURCE_IP
  persistence a dynamic map (client -> member, per-entry timeout) is looked up first.
* `lb_persist` (filter, prerouting, after NAT): refreshes the persistence entry on every
  packet of the flow, so it expires `persistence_timeout` after the client's last packet.
* `lb_out` (nat, postrouting): flows we DNAT'ed are masqueraded, so members answer the
  amphora (its address on their network), as Octavia's LVS NAT mode does.

Only conntrack sees a table change: flows keep the member they were given when the
chains are replaced, so a member change never disturbs established flows. Two ways to
load it: `render(..., replace=True)` deletes and recreates the table (first load in a
process), otherwise the chains are flushed and refilled in one transaction and the
persistence maps and counters kept (maps whose parameters changed get a new name; the
old ones are deleted). Every value written is an address, a network, an int or a
UUID-derived name from the typed spec: no user text reaches the ruleset.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ostium.agent.nftables.services import Persistence, VirtualService, full_mask
from ostium.agent.nftables.services import virtual_services as _services
from ostium.model.enums import LVS_LISTENER_PROTOCOLS, LbAlgorithm
from ostium.model.spec import AmphoraSpec

TABLE = "ostium_amphora"
CHAINS = {
    "input": "type filter hook input priority filter; policy accept;",
    "lb_guard": "type filter hook prerouting priority dstnat - 10; policy accept;",
    "lb_in": "type nat hook prerouting priority dstnat; policy accept;",
    "lb_persist": "type filter hook prerouting priority dstnat + 10; policy accept;",
    "lb_out": "type nat hook postrouting priority srcnat; policy accept;",
}


UNREACHABLE = {4: "unreach4", 6: "unreach6"}
"""Sets of members (address . port) that answered a balanced flow with ICMP port
unreachable lately: UDP-CONNECT checks count it as a failure (`checking`), because the
kernel rate-limits those ICMP errors per destination, and every balanced flow and every
check reach a member from the same (masqueraded) amphora address."""
UNREACHABLE_TTL = 3
_UNREACHABLE_RULES = [
    "icmp type destination-unreachable icmp code port-unreachable ct status dnat ct mark != 0 "
    "update @unreach4 { ct reply ip saddr . ct reply proto-src }",
    "icmpv6 type destination-unreachable icmpv6 code port-unreachable ct status dnat "
    "ct mark != 0 update @unreach6 { ct reply ip6 saddr . ct reply proto-src }",
]


@dataclass(frozen=True)
class Ruleset:
    text: str
    maps: frozenset[str]
    """Names of the persistence maps the table holds after loading this."""
    services: tuple[VirtualService, ...]


def counter_name(listener_id: str, kind: str) -> str:
    """`kind`: in, out, new."""
    return f"l_{listener_id.replace('-', '')}_{kind}"


def _ip(version: int) -> str:
    return "ip" if version == 4 else "ip6"


def _addr_type(version: int) -> str:
    return "ipv4_addr" if version == 4 else "ipv6_addr"


def persist_map(svc: VirtualService, p: Persistence) -> str:
    mask = int(p.mask)
    return f"p_{svc.listener_id.replace('-', '')}_{svc.family}_{p.timeout}_{mask:x}"


def _masked(svc: VirtualService, mask: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    src = f"{_ip(svc.family)} saddr"
    return src if mask == full_mask(svc.family) else f"{src} & {mask}"


def _match(svc: VirtualService) -> str:
    return f"{_ip(svc.family)} daddr {svc.vip} {svc.protocol} dport {svc.port}"


def _slot_map(svc: VirtualService) -> str:
    items = ", ".join(f"{i} : {t.address} . {t.port}" for i, t in enumerate(svc.slots))
    return f"map {{ {items} }}"


def _guard_rules(svc: VirtualService) -> list[str]:
    match = _match(svc)
    rules = []
    if svc.allowed_cidrs:
        nets = ", ".join(str(c) for c in sorted(svc.allowed_cidrs, key=str))
        rules.append(f"{match} {_ip(svc.family)} saddr != {{ {nets} }} drop")
    if svc.connection_limit is not None:
        rules.append(f"{match} ct state new ct count over {svc.connection_limit} drop")
    rules.append(f'{match} ct state new counter name "{counter_name(svc.listener_id, "new")}"')
    rules.append(f'{match} counter name "{counter_name(svc.listener_id, "in")}"')
    rules.append(
        f"ct direction reply ct mark {svc.mark:#x} "
        f'counter name "{counter_name(svc.listener_id, "out")}"'
    )
    return rules


def _dnat_rules(svc: VirtualService) -> list[str]:
    if not svc.slots:
        return []
    head = f"{_match(svc)} ct mark set {svc.mark:#x}"
    to = f"dnat {_ip(svc.family)} to"
    rules = []
    if svc.persistence is not None:
        key = _masked(svc, svc.persistence.mask)
        rules.append(f"{head} {to} {key} map @{persist_map(svc, svc.persistence)}")
    n = len(svc.slots)
    if svc.algorithm == LbAlgorithm.SOURCE_IP:
        key = _masked(svc, svc.hash_mask)
        rules.append(f"{head} {to} jhash {key} mod {n} seed {svc.seed:#x} {_slot_map(svc)}")
    else:
        rules.append(f"{head} {to} numgen inc mod {n} {_slot_map(svc)}")
    return rules


def _persist_rules(svc: VirtualService) -> list[str]:
    p = svc.persistence
    if p is None or not svc.slots:
        return []
    ip = _ip(svc.family)
    return [
        f"ct direction original ct mark {svc.mark:#x} ct status dnat "
        f"update @{persist_map(svc, p)} {{ {_masked(svc, p.mask)} : "
        f"{ip} daddr . {svc.protocol} dport }}"
    ]


def _input_rules(spec: AmphoraSpec) -> list[str]:
    """`allowed_cidrs` of haproxy's (TCP-family) listeners, on the input hook."""
    rules: list[str] = []
    if not spec.admin_state_up:
        return rules
    listeners = [
        ls
        for ls in spec.listeners
        if ls.admin_state_up and ls.protocol not in LVS_LISTENER_PROTOCOLS
    ]
    for listener in sorted(listeners, key=lambda ls: ls.protocol_port):
        if not listener.allowed_cidrs:
            continue
        port = int(listener.protocol_port)
        nets = [ipaddress.ip_network(str(c), strict=False) for c in listener.allowed_cidrs]
        v4 = sorted(str(n) for n in nets if n.version == 4)
        v6 = sorted(str(n) for n in nets if n.version == 6)
        if v4:
            rules.append(f"tcp dport {port} ip saddr {{ {', '.join(v4)} }} accept")
        if v6:
            rules.append(f"tcp dport {port} ip6 saddr {{ {', '.join(v6)} }} accept")
        rules.append(f"tcp dport {port} drop")
    return rules


def _chain(name: str, rules: Iterable[str]) -> list[str]:
    body = [f"        {r}" for r in rules]
    return [f"    chain {name} {{", f"        {CHAINS[name]}", *body, "    }"]


def _flushed_maps(services: Iterable[VirtualService], previous: Ruleset) -> list[str]:
    """Persistence maps that may point at a member no longer used: emptied, so their
    clients are placed again (IPVS drops the entries of a removed real server too)."""
    before = {(s.listener_id, s.vip): s.used for s in previous.services}
    out = []
    for svc in services:
        if svc.persistence is None:
            continue
        name = persist_map(svc, svc.persistence)
        gone = before.get((svc.listener_id, svc.vip), frozenset()) - svc.used
        if name in previous.maps and gone and name not in out:
            out.append(name)
    return out


def render(
    spec: AmphoraSpec,
    verdicts: Mapping[str, bool],
    previous: Ruleset | None = None,
    loads: Mapping[str, int] | None = None,
) -> Ruleset:
    """The transaction that makes the table what `spec` wants. `previous`: the ruleset
    loaded now (by this process); None to replace the table outright. `loads`: active
    flows per member (LEAST_CONNECTIONS)."""
    services = tuple(_services(spec, verdicts, loads))
    loaded_maps = None if previous is None else previous.maps
    maps: dict[str, str] = {}
    counters: list[str] = []
    for svc in services:
        for kind in ("in", "out", "new"):
            counters.append(counter_name(svc.listener_id, kind))
        if svc.persistence is not None:
            t = _addr_type(svc.family)
            maps[persist_map(svc, svc.persistence)] = (
                f"type {t} : {t} . inet_service; flags dynamic, timeout; "
                f"timeout {svc.persistence.timeout}s;"
            )
    declare = [f"table inet {TABLE} {{"]
    # A listener with several VIPs has one service per VIP: its counters (and its
    # reply-direction rule, below) are the listener's, declared once.
    declare += [f"    counter {c} {{ }}" for c in dict.fromkeys(counters)]
    declare += [f"    map {name} {{ {body} }}" for name, body in sorted(maps.items())]
    declare += [
        f"    set {UNREACHABLE[v]} {{ type {_addr_type(v)} . inet_service; "
        f"flags dynamic, timeout; timeout {UNREACHABLE_TTL}s; }}"
        for v in (4, 6)
    ]
    declare += [f"    chain {name} {{ {hook} }}" for name, hook in CHAINS.items()]
    declare.append("}")
    lines = [f"table inet {TABLE}", f"delete table inet {TABLE}"] if previous is None else []
    lines += declare
    lines += [f"flush chain inet {TABLE} {name}" for name in CHAINS]
    if previous is not None and loaded_maps is not None:
        lines += [f"delete map inet {TABLE} {name}" for name in sorted(loaded_maps - set(maps))]
        lines += [f"flush map inet {TABLE} {name}" for name in _flushed_maps(services, previous)]
    lines.append(f"table inet {TABLE} {{")
    lines += _chain("input", _input_rules(spec))
    guard = list(dict.fromkeys(r for s in services for r in _guard_rules(s)))
    lines += _chain("lb_guard", guard + (_UNREACHABLE_RULES if services else []))
    lines += _chain("lb_in", [r for s in services for r in _dnat_rules(s)])
    lines += _chain("lb_persist", [r for s in services for r in _persist_rules(s)])
    lines += _chain("lb_out", ["ct status dnat ct mark != 0 masquerade"] if services else [])
    lines += ["}", ""]
    return Ruleset(text="\n".join(lines), maps=frozenset(maps), services=services)
