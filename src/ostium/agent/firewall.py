"""`allowed_cidrs` enforced with nftables inside an amphora's namespace.

Role: render one table of our own (`inet ostium_amphora`) whose input chain restricts
only the ports of listeners that carry `allowed_cidrs`, and load it atomically (the
file first declares and deletes the table, then recreates it, in one nft transaction).
Callers: `applying` and `supervising` through `ensure_loaded`, which skips the nft
round trip when the amphora already has the same rules. CIDRs come typed from the spec
(ipaddress objects), ports are ints: no user text reaches the ruleset. Never touches the
host's own ruleset.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from ostium.agent import netns, state_files
from ostium.agent.amphora import Amphora
from ostium.agent.commands import in_netns, run
from ostium.agent.errors import AgentFailure, InvalidConfig
from ostium.model.spec import AmphoraSpec

TABLE = "ostium_amphora"


def render_ruleset(spec: AmphoraSpec) -> str:
    lines = [
        f"table inet {TABLE}",
        f"delete table inet {TABLE}",
        f"table inet {TABLE} {{",
        "    chain input {",
        "        type filter hook input priority filter; policy accept;",
    ]
    listeners = [ls for ls in spec.listeners if ls.admin_state_up] if spec.admin_state_up else []
    for listener in sorted(listeners, key=lambda ls: ls.protocol_port):
        if not listener.allowed_cidrs:
            continue
        port = int(listener.protocol_port)
        nets = [ipaddress.ip_network(str(c), strict=False) for c in listener.allowed_cidrs]
        v4 = sorted(str(n) for n in nets if n.version == 4)
        v6 = sorted(str(n) for n in nets if n.version == 6)
        if v4:
            lines.append(f"        tcp dport {port} ip saddr {{ {', '.join(v4)} }} accept")
        if v6:
            lines.append(f"        tcp dport {port} ip6 saddr {{ {', '.join(v6)} }} accept")
        lines.append(f"        tcp dport {port} drop")
    lines += ["    }", "}", ""]
    return "\n".join(lines)


def apply_ruleset(namespace: str, path: Path, text: str) -> None:
    """Write `text` to `path` and load it inside `namespace` (checked, then applied)."""
    tmp = path.with_name(path.name + ".new")
    state_files.write(tmp, text)
    run(in_netns(namespace, ["nft", "-c", "-f", str(tmp)]))
    run(in_netns(namespace, ["nft", "-f", str(tmp)]))
    state_files.replace(tmp, path)


def ensure_loaded(amp: Amphora, spec: AmphoraSpec) -> None:
    """The amphora's namespace enforces `spec`'s allowed_cidrs (loaded only on change)."""
    ruleset = render_ruleset(spec)
    if ruleset == amp.firewall_loaded and netns.namespace_exists(amp.names.namespace):
        return
    amp.firewall_loaded = None
    try:
        apply_ruleset(amp.names.namespace, amp.directory / "nftables.conf", ruleset)
    except AgentFailure as exc:
        raise InvalidConfig("nftables refused the allowed_cidrs rules", exc.details) from exc
    amp.firewall_loaded = ruleset
