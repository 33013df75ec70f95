"""ACTIVE_STANDBY decisions, as pure functions: which amphorae of a pair to replace, who
is MASTER, where a new amphora goes.

Role: the rules `pairing` applies to the rows it reads. No database, no clock (the
caller says which amphorae look failed). Rules:

- replace an amphora that failed (ERROR, its namespace gone, or silent for longer than
  the heartbeat timeout); a requested failover with nothing failed replaces both, the
  BACKUP first, so the pair keeps serving throughout;
- the MASTER is the amphora keepalived says holds the VIP; without a report, the one
  with the MASTER role; else the oldest. It gets the MASTER priority, every other one
  the BACKUP priority, so a replacement always joins as BACKUP (and `nopreempt` keeps
  it from taking the VIP back);
- placement (anti-affinity): a new amphora goes to a host that holds no other amphora
  of its pair, the least loaded first; with a single host the pair shares it, unless
  the policy is `required`, which refuses.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from ostium.model.enums import AmphoraRole, VrrpState
from ostium.model.errors import PermanentError

MASTER_PRIORITY = 100
BACKUP_PRIORITY = 90
PAIR_SIZE = 2


@dataclass(frozen=True)
class PairMember:
    """What the rules need to know about one live amphora of the pair."""

    id: str
    role: str | None
    vrrp_state: str | None
    failed: bool
    host: str | None = None
    created_order: int = 0
    """Lower is older."""


def vrrp_id(lb_id: str) -> int:
    """The pair's virtual router id (1-255), stable for a load balancer."""
    return zlib.crc32(lb_id.encode()) % 255 + 1


def victims(members: Sequence[PairMember], failover: bool) -> list[str]:
    """Amphorae to replace, in the order to replace them (never the MASTER first)."""
    failed = [a for a in members if a.failed]
    chosen = failed if failed or not failover else list(members)
    master = current_master(members)
    return [a.id for a in sorted(chosen, key=lambda a: (a.id == master, a.created_order))]


def current_master(members: Sequence[PairMember]) -> str | None:
    """The amphora that holds (or should hold) the VIP."""
    alive = [a for a in members if not a.failed] or list(members)
    if not alive:
        return None
    oldest_first = sorted(alive, key=lambda a: a.created_order)
    for a in oldest_first:
        if a.vrrp_state == VrrpState.MASTER:
            return a.id
    for a in oldest_first:
        if a.role == AmphoraRole.MASTER:
            return a.id
    return oldest_first[0].id


def roles(members: Sequence[PairMember]) -> dict[str, tuple[AmphoraRole, int]]:
    """Role and VRRP priority of every amphora, exactly one MASTER."""
    master = current_master(members)
    return {
        a.id: (AmphoraRole.MASTER, MASTER_PRIORITY)
        if a.id == master
        else (AmphoraRole.BACKUP, BACKUP_PRIORITY)
        for a in members
    }


def place(
    hosts: Sequence[str], peer_hosts: Sequence[str | None], load: dict[str, int], policy: str
) -> str | None:
    """The host for a new amphora of a pair whose other amphorae sit on `peer_hosts`.

    `hosts` lists the registered hosts (empty: the driver does not say; one host is
    assumed); `load` counts amphorae per host. Raises `PermanentError` when `policy` is
    `required` and no host is free of the pair.
    """
    if not hosts:
        if policy == "required":
            raise PermanentError(
                "anti-affinity is required but the compute driver registers no hosts to tell apart"
            )
        return None
    taken = {h for h in peer_hosts if h is not None}
    free = [h for h in hosts if h not in taken]
    if free:
        return min(free, key=lambda h: (load.get(h, 0), hosts.index(h)))
    if policy == "required":
        raise PermanentError(
            f"anti-affinity is required but no host is free of this pair: "
            f"{len(hosts)} host(s) registered ({', '.join(hosts)}), the other amphora is "
            f"on {', '.join(sorted(taken))}"
        )
    return min(hosts, key=lambda h: (load.get(h, 0), hosts.index(h)))
