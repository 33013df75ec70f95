"""Load the amphora's nftables table (`nftables.ruleset`) into its namespace.

Role: `ensure_loaded(amp, spec)` renders the table from the spec and the health
verdicts of the UDP/SCTP members, and loads it only when it changed: written to
`nftables.conf.new`, loaded in one `nft -f` transaction (all or nothing), then
renamed to `nftables.conf` (the last known good; a refused candidate stays as `.new`,
and the kernel keeps running the table it had). After a load, the conntrack entries of
members that left a listener (removed, disabled, marked down: not drained) are deleted,
so their clients are placed again on their next packet instead of talking to nobody
(IPVS' `expire_nodest_conn`). Callers: `applying`, `supervising` and the UDP/SCTP
health checker (`nftables.checking`), all holding the amphora's lock. Never touches
the host's own ruleset.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ostium.agent import netns, state_files
from ostium.agent.amphora import Amphora
from ostium.agent.commands import in_netns, run
from ostium.agent.errors import AgentFailure, InvalidConfig
from ostium.agent.nftables.ruleset import TABLE, Ruleset, render
from ostium.agent.nftables.services import member_enabled
from ostium.model.spec import AmphoraSpec

__all__ = ["TABLE", "ensure_loaded", "render_ruleset"]
LOG = logging.getLogger(__name__)
FORWARDING = ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")


def render_ruleset(spec: AmphoraSpec) -> str:
    """The whole table for `spec` with every member healthy (tests, first loads)."""
    return render(spec, {}).text


def apply_ruleset(namespace: str, path: Path, text: str) -> None:
    """Write `text` to `path` and load it inside `namespace`. `nft -f` is one kernel
    transaction: a file it refuses changes nothing, so no `nft -c` run comes first (one
    process less on every amphora's create)."""
    tmp = path.with_name(path.name + ".new")
    state_files.write(tmp, text)
    run(in_netns(namespace, ["nft", "-f", str(tmp)]))
    state_files.replace(tmp, path)


def ensure_loaded(amp: Amphora, spec: AmphoraSpec) -> None:
    """The amphora's namespace runs `spec`'s table (loaded only on change)."""
    wanted = render(spec, amp.lvs_verdicts, loads=amp.lvs_loads)
    exists = netns.namespace_exists(amp.names.namespace)
    if wanted.text == amp.firewall_loaded and exists:
        return
    previous = amp.lvs_loaded if exists and amp.firewall_loaded is not None else None
    ruleset = (
        wanted if previous is None else render(spec, amp.lvs_verdicts, previous, amp.lvs_loads)
    )
    amp.firewall_loaded = None
    try:
        if ruleset.services:
            run(in_netns(amp.names.namespace, ["sysctl", "-q", "-w", *FORWARDING]), check=False)
        apply_ruleset(amp.names.namespace, amp.directory / "nftables.conf", ruleset.text)
    except AgentFailure as exc:
        raise InvalidConfig("nftables refused the amphora's table", exc.details) from exc
    amp.firewall_loaded = wanted.text
    amp.lvs_loaded = ruleset
    if previous is not None:
        _forget_flows(amp, spec, previous, ruleset)


def _forget_flows(amp: Amphora, spec: AmphoraSpec, before: Ruleset, after: Ruleset) -> None:
    pools = {p.id: p for p in spec.pools}
    now = {(s.listener_id, s.vip): s for s in after.services}
    for old in before.services:
        new = now.get((old.listener_id, old.vip))
        pool = pools.get(old.pool_id)
        members = {m.id: m for m in pool.members} if pool is not None else {}
        for target in {t for t in old.slots if new is None or t.member_id not in new.used}:
            member = members.get(target.member_id)
            if pool is not None and member is not None and member.weight == 0:
                drained = member_enabled(pool, member.model_copy(update={"weight": 1}), {})
                if drained and amp.lvs_verdicts.get(member.id) is not False:
                    continue  # drained: its flows go on
            argv = [
                "conntrack", "-D", "-p", old.protocol, "--orig-dst", str(old.vip),
                "--orig-port-dst", str(old.port), "--reply-src", str(target.address),
                "--reply-port-src", str(target.port),
            ]  # fmt: skip
            try:
                run(in_netns(amp.names.namespace, argv), check=False)
            except AgentFailure as exc:  # no conntrack tool: flows age out instead
                LOG.warning("amphora %s: %s", amp.amphora_id, exc.message)
                return
            LOG.info(
                "amphora %s: listener %s: flows of member %s forgotten",
                amp.amphora_id,
                old.listener_id,
                target.member_id,
            )
