"""Which UDP/SCTP listener sends new flows to which members, and how often: the
decisions of the nftables data plane, as plain data (pure, no I/O).

Role: `virtual_services(spec, verdicts)` turns the spec and the health checks'
verdicts into one `VirtualService` per enabled UDP/SCTP listener with a usable default
pool. A member is used when it and its pool are enabled, its weight is above 0 (weight
0 drains: flows it has keep going, new ones go elsewhere), it has the VIP's IP family,
and its monitor has not marked it down. Backup members are used only when no other
member is. Callers: `ruleset` (renders them) and `statistics` (reports them).

Weights become slots of a map indexed by `numgen` (round robin) or `jhash` (source IP):
reduced by their greatest common divisor, scaled down under `MAX_SLOTS`, and ordered
by smooth weighted round robin so that consecutive new flows alternate between members.
The order only depends on the spec (members sorted by id), so both amphorae of a pair
compute the same map and hash a given client to the same member.
"""

from __future__ import annotations

import ipaddress
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from ostium.model import defaults
from ostium.model.enums import (
    LVS_LISTENER_PROTOCOLS,
    HealthMonitorType,
    LbAlgorithm,
    PersistenceType,
)
from ostium.model.spec import AmphoraSpec, ListenerSpec, MemberSpec, PoolSpec

MAX_SLOTS = 256
"""Largest map behind one listener: weights 1..256 of many members are scaled into it."""
LC_SCALE = 64
"""LEAST_CONNECTIONS: slots of the least loaded member (see below)."""

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    member_id: str
    address: Address
    port: int


@dataclass(frozen=True)
class Persistence:
    timeout: int
    """Seconds an entry lives after the client's last packet."""
    mask: Address
    """The client address is masked with this before lookup (granularity)."""


@dataclass(frozen=True)
class VirtualService:
    listener_id: str
    pool_id: str
    protocol: str
    """`udp` or `sctp`."""
    vip: Address
    port: int
    algorithm: LbAlgorithm
    slots: tuple[Target, ...]
    """Empty when no member can take new flows (the rules then send nothing anywhere)."""
    hash_mask: Address
    """What the client address is masked with before `jhash` (SOURCE_IP)."""
    seed: int
    """`jhash` seed: from the pool id, so both amphorae of a pair hash alike."""
    persistence: Persistence | None
    allowed_cidrs: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    connection_limit: int | None
    mark: int
    """The conntrack mark of this listener's flows (counters, persistence, statistics)."""

    @property
    def family(self) -> int:
        return self.vip.version

    @property
    def used(self) -> frozenset[str]:
        return frozenset(t.member_id for t in self.slots)


def listener_mark(listener_id: str) -> int:
    """A stable, non-zero 31-bit mark for a listener's flows."""
    return (zlib.crc32(listener_id.encode()) & 0x7FFFFFFF) | 1


def full_mask(version: int) -> Address:
    return ipaddress.ip_address("255.255.255.255" if version == 4 else "ffff:" * 7 + "ffff")


def member_enabled(pool: PoolSpec, member: MemberSpec, verdicts: Mapping[str, bool]) -> bool:
    """Not drained, not disabled, not marked down by an enabled monitor."""
    if not (pool.admin_state_up and member.admin_state_up) or member.weight == 0:
        return False
    return not (monitored(pool) and verdicts.get(member.id) is False)


def monitored(pool: PoolSpec) -> bool:
    return pool.healthmonitor is not None and pool.healthmonitor.admin_state_up


def _weighted_order(weights: list[tuple[Target, int]]) -> tuple[Target, ...]:
    if not weights:
        return ()
    divisor = math.gcd(*(w for _, w in weights))
    reduced = [(t, w // divisor) for t, w in weights]
    total = sum(w for _, w in reduced)
    if total > MAX_SLOTS:
        reduced = [(t, max(1, w * MAX_SLOTS // total)) for t, w in reduced]
    # Smooth weighted round robin: the member furthest behind its share goes next.
    current = [0] * len(reduced)
    total = sum(w for _, w in reduced)
    order: list[Target] = []
    for _ in range(total):
        for i, (_t, w) in enumerate(reduced):
            current[i] += w
        best = max(range(len(reduced)), key=lambda i: current[i])
        current[best] -= total
        order.append(reduced[best][0])
    return tuple(order)


def least_connections_weights(members: list[tuple[int, int]]) -> list[int]:
    """LEAST_CONNECTIONS: slots per member from (weight, active flows).

    A member's share of new flows is proportional to `weight / (1 + flows)`, scaled so
    the least loaded member gets LC_SCALE slots (every member at least 1): equal loads
    give equal shares; a member with 10 times the flows of another gets about a tenth
    of its new flows.
    """
    raw = [w / (1 + flows) for w, flows in members]
    top = max(raw, default=0.0)
    if top <= 0:
        return [w for w, _ in members]
    return [max(1, round(LC_SCALE * r / top)) for r in raw]


def _slots(
    pool: PoolSpec, version: int, verdicts: Mapping[str, bool], loads: Mapping[str, int]
) -> tuple[Target, ...]:
    usable = [
        m
        for m in sorted(pool.members, key=lambda m: m.id)
        if m.address.version == version and member_enabled(pool, m, verdicts)
    ]
    primaries = [m for m in usable if not m.backup] or usable
    shares = [m.weight for m in primaries]
    if pool.lb_algorithm == LbAlgorithm.LEAST_CONNECTIONS:
        shares = least_connections_weights([(m.weight, loads.get(m.id, 0)) for m in primaries])
    targets = [Target(m.id, m.address, m.protocol_port) for m in primaries]
    return _weighted_order(list(zip(targets, shares, strict=True)))


def _persistence(pool: PoolSpec, version: int) -> Persistence | None:
    sp = pool.session_persistence
    if sp is None or sp.type != PersistenceType.SOURCE_IP:
        return None
    timeout = (
        defaults.PERSISTENCE_TIMEOUT if sp.persistence_timeout is None else sp.persistence_timeout
    )
    if timeout == 0 or version == 6:
        # No entry kept: the source hash alone keeps a client in place while the members
        # stay the same. (IPv6: nft 1.0.6 cannot write an IPv6 address . port value into
        # a map from the packet path; it aborts with a register assertion.)
        return None
    return Persistence(timeout=timeout, mask=_mask(pool, version))


def _mask(pool: PoolSpec, version: int) -> Address:
    sp = pool.session_persistence
    granularity = None if sp is None else sp.persistence_granularity
    if granularity is not None and granularity.version == version:
        return granularity
    return full_mask(version)


def served(spec: AmphoraSpec) -> list[tuple[ListenerSpec, PoolSpec]]:
    """The enabled UDP/SCTP listeners with an enabled default pool, by port."""
    if not spec.admin_state_up:
        return []
    pools = {p.id: p for p in spec.pools}
    out = []
    for listener in sorted(spec.listeners, key=lambda ls: (ls.protocol, ls.protocol_port)):
        if listener.protocol not in LVS_LISTENER_PROTOCOLS or not listener.admin_state_up:
            continue
        pool = pools.get(listener.default_pool_id or "")
        if pool is not None and pool.admin_state_up:
            out.append((listener, pool))
    return out


def virtual_services(
    spec: AmphoraSpec, verdicts: Mapping[str, bool], loads: Mapping[str, int] | None = None
) -> list[VirtualService]:
    """`loads`: active flows per member id (LEAST_CONNECTIONS pools; none: all idle)."""
    out = []
    for listener, pool in served(spec):
        # One service per VIP (the primary and each additional one); members of the
        # VIP's own family only, as with IPVS (no DNAT across families).
        for vip in spec.vip.addresses():
            out.append(_service(listener, pool, vip, verdicts, loads))
    return out


def _service(
    listener: ListenerSpec,
    pool: PoolSpec,
    vip: Address,
    verdicts: Mapping[str, bool],
    loads: Mapping[str, int] | None,
) -> VirtualService:
    version = vip.version
    algorithm = pool.lb_algorithm
    persistence = _persistence(pool, version)
    sp = pool.session_persistence
    if persistence is None and sp is not None and sp.type == PersistenceType.SOURCE_IP:
        algorithm = LbAlgorithm.SOURCE_IP  # no entries kept: the source hash persists
    return VirtualService(
        listener_id=listener.id,
        pool_id=pool.id,
        protocol=listener.protocol.value.lower(),
        vip=vip,
        port=listener.protocol_port,
        algorithm=algorithm,
        slots=_slots(pool, version, verdicts, loads or {}),
        hash_mask=_mask(pool, version),
        seed=zlib.crc32(pool.id.encode()),
        persistence=persistence,
        allowed_cidrs=tuple(c for c in listener.allowed_cidrs if c.version == version),
        connection_limit=(listener.connection_limit if listener.connection_limit > 0 else None),
        mark=listener_mark(listener.id),
    )


def monitor_types() -> frozenset[HealthMonitorType]:
    """The monitor types the agent runs itself for UDP/SCTP pools."""
    return frozenset(
        {
            HealthMonitorType.UDP_CONNECT,
            HealthMonitorType.SCTP,
            HealthMonitorType.TCP,
            HealthMonitorType.HTTP,
        }
    )
