"""What the heartbeat says of UDP/SCTP listeners and pools (Octavia's LVS reports).

Role: `report(namespace, spec, verdicts)` returns the heartbeat's listener and pool
entries for the amphora's UDP/SCTP listeners, in haproxy's words so the health manager
applies the same rules as for TCP ones: a listener is `OPEN`; a member `UP` (monitor
says up, or not checked yet), `DOWN` (monitor says down), `DRAIN` (weight 0), `MAINT`
(disabled) or `no check` (no monitor); a pool `DOWN` when it is monitored and no member
takes new flows, else `UP`. Counters: bytes and packets in (client -> VIP) and out
(replies), total connections = new flows, active connections = conntrack entries with
the listener's mark. Called by the heartbeat sender; runs `nft` and reads
/proc/net/nf_conntrack inside the namespace; a failure there reports zero counters,
never a missing listener.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Mapping

from ostium.agent.commands import in_netns, run
from ostium.agent.errors import AgentFailure
from ostium.agent.nftables.ruleset import TABLE, UNREACHABLE, counter_name
from ostium.agent.nftables.services import (
    listener_mark,
    member_enabled,
    monitored,
    served,
)
from ostium.model.enums import LVS_LISTENER_PROTOCOLS
from ostium.model.heartbeat import HaproxyWord, ListenerReport, PoolReport
from ostium.model.spec import AmphoraSpec, MemberSpec, PoolSpec

LOG = logging.getLogger(__name__)
_MARK = re.compile(r"\bmark=(\d+)\b")
_SRC = re.compile(r"\bsrc=(\S+)")
_SPORT = re.compile(r"\bsport=(\d+)")


def _counters(namespace: str) -> dict[str, tuple[int, int]]:
    """name -> (packets, bytes) of the table's named counters."""
    proc = run(in_netns(namespace, ["nft", "-j", "list", "counters", "table", "inet", TABLE]))
    out: dict[str, tuple[int, int]] = {}
    for item in json.loads(proc.stdout or "{}").get("nftables", []):
        c = item.get("counter") if isinstance(item, dict) else None
        if isinstance(c, dict) and isinstance(c.get("name"), str):
            out[c["name"]] = (int(c.get("packets", 0)), int(c.get("bytes", 0)))
    return out


def _flows(namespace: str) -> Counter[int]:
    """conntrack entries per mark."""
    proc = run(in_netns(namespace, ["cat", "/proc/net/nf_conntrack"]), check=False)
    return Counter(int(m.group(1)) for m in _MARK.finditer(proc.stdout))


def member_flows(namespace: str) -> Counter[tuple[int, str, int]]:
    """conntrack entries per (listener mark, member address, member port): the reply
    direction's source is the member a flow was sent to."""
    proc = run(in_netns(namespace, ["cat", "/proc/net/nf_conntrack"]), check=False)
    return parse_member_flows(proc.stdout)


def parse_member_flows(text: str) -> Counter[tuple[int, str, int]]:
    out: Counter[tuple[int, str, int]] = Counter()
    for line in text.splitlines():
        mark = _MARK.search(line)
        if mark is None or mark.group(1) == "0":
            continue
        sources, ports = _SRC.findall(line), _SPORT.findall(line)
        if len(sources) >= 2 and len(ports) >= 2:
            out[(int(mark.group(1)), sources[1], int(ports[1]))] += 1
    return out


def unreachable(namespace: str) -> set[tuple[str, int]]:
    """Members (address, port) that refused a balanced flow in the last few seconds."""
    out: set[tuple[str, int]] = set()
    for name in UNREACHABLE.values():
        argv = ["nft", "-j", "list", "set", "inet", TABLE, name]
        proc = run(in_netns(namespace, argv), check=False)
        try:
            items = json.loads(proc.stdout or "{}").get("nftables", [])
        except ValueError:
            continue
        for item in items:
            elems = item.get("set", {}).get("elem", []) if isinstance(item, dict) else []
            for elem in elems:
                value = elem.get("elem", {}).get("val", elem) if isinstance(elem, dict) else elem
                concat = value.get("concat") if isinstance(value, dict) else None
                if isinstance(concat, list) and len(concat) == 2:
                    out.add((str(concat[0]), int(concat[1])))
    return out


def member_word(pool: PoolSpec, member: MemberSpec, verdicts: Mapping[str, bool]) -> str:
    if not (pool.admin_state_up and member.admin_state_up):
        return HaproxyWord.MAINT.value
    if not monitored(pool):
        return HaproxyWord.NO_CHECK.value if member.weight else HaproxyWord.DRAIN.value
    if verdicts.get(member.id) is False:
        return HaproxyWord.DOWN.value
    return HaproxyWord.UP.value if member.weight else HaproxyWord.DRAIN.value


def report(
    namespace: str, spec: AmphoraSpec, verdicts: Mapping[str, bool]
) -> tuple[dict[str, ListenerReport], dict[str, PoolReport]]:
    listeners = [
        ls
        for ls in spec.listeners
        if ls.protocol in LVS_LISTENER_PROTOCOLS and ls.admin_state_up and spec.admin_state_up
    ]
    if not listeners:
        return {}, {}
    try:
        counters = _counters(namespace)
        flows = _flows(namespace)
    except (AgentFailure, ValueError) as exc:
        LOG.info("%s: UDP/SCTP counters unreadable: %s", namespace, exc)
        counters, flows = {}, Counter()
    out_listeners: dict[str, ListenerReport] = {}
    for ls in listeners:
        bytes_in = counters.get(counter_name(ls.id, "in"), (0, 0))[1]
        bytes_out = counters.get(counter_name(ls.id, "out"), (0, 0))[1]
        new = counters.get(counter_name(ls.id, "new"), (0, 0))[0]
        out_listeners[ls.id] = ListenerReport(
            status=HaproxyWord.OPEN.value,
            active_connections=flows.get(listener_mark(ls.id), 0),
            total_connections=new,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
        )
    out_pools: dict[str, PoolReport] = {}
    for _listener, pool in served(spec):
        words = {m.id: member_word(pool, m, verdicts) for m in pool.members}
        up = any(member_enabled(pool, m, verdicts) for m in pool.members)
        down = monitored(pool) and not up
        status = HaproxyWord.DOWN.value if down else HaproxyWord.UP.value
        out_pools[pool.id] = PoolReport(status=status, members=words)
    return out_listeners, out_pools
