"""The roles of an ACTIVE_STANDBY pair, as pure functions: who is MASTER, with which
VRRP priority and router id, and which amphorae to replace.

Role: the decisions `pairing` applies to the rows it reads. No database, no clock (the
caller says which amphorae look failed); where a new amphora goes is `placement`. Rules:

- replace an amphora that failed (ERROR, its namespace gone, or silent for longer than
  the heartbeat timeout); a requested failover with nothing failed replaces both, the
  BACKUP first, so the pair keeps serving throughout;
- the MASTER is the amphora keepalived says holds the VIP; without a report, the one
  with the MASTER role; else the oldest. It gets the MASTER priority, every other one
  the BACKUP priority, so a replacement always joins as BACKUP (and `nopreempt` keeps
  it from taking the VIP back).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from ostium.model.enums import AmphoraRole, VrrpState

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
