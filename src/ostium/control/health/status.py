"""Operating status from one heartbeat: members, pools, listeners, the load balancer.

Role: the rules of the API spec (section 3.3) as a pure function. The updater builds an
`LbShape` from the rows (admin states, current statuses) and gets back the status every
object should have; it writes only the ones that differ. No database, no clock.

Rules, in short (see `derive` for the details):

- member: the one rule of `model.member_status` (haproxy `UP...` ONLINE, `DOWN...`
  ERROR, `DRAIN`/`NOLB` (weight 0) DRAINING, `MAINT` (admin down) OFFLINE, `no check`
  (no monitor) NO_MONITOR; absent from a reported pool: OFFLINE unless NO_MONITOR);
  pool not reported: unchanged.
- pool: admin down or not reported OFFLINE; backend `UP` ONLINE, DEGRADED if a member is
  ERROR; backend `DOWN` ERROR.
- listener: disabled (or its load balancer disabled) OFFLINE; `OPEN` ONLINE; `FULL`
  DEGRADED; `STOP` OFFLINE; absent while it should run ERROR, otherwise OFFLINE. Pool
  health never reaches the listener.
- load balancer: admin down OFFLINE; else ONLINE, DEGRADED by a FULL listener or a
  DEGRADED pool, ERROR by an ERROR pool (ERROR wins). One step beyond the reference
  algorithm: an amphora whose haproxy is not running (or whose namespace is gone) while
  it has listeners to serve makes its load balancer ERROR, since no traffic flows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ostium.model.enums import OperatingStatus as S
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.heartbeat import HaproxyState, Heartbeat
from ostium.model.heartbeat import HaproxyWord as W
from ostium.model.member_status import NOT_IN_REPORT, member_operating_status


@dataclass(frozen=True)
class MemberShape:
    id: str
    admin_state_up: bool
    operating_status: str


@dataclass(frozen=True)
class PoolShape:
    id: str
    admin_state_up: bool
    operating_status: str
    members: tuple[MemberShape, ...] = ()


@dataclass(frozen=True)
class ListenerShape:
    id: str
    admin_state_up: bool
    operating_status: str


@dataclass(frozen=True)
class LbShape:
    id: str
    admin_state_up: bool
    provisioning_status: str
    operating_status: str
    listeners: tuple[ListenerShape, ...] = ()
    pools: tuple[PoolShape, ...] = ()

    @property
    def serving_listeners(self) -> int:
        """How many listeners the amphora must run (what a healthy heartbeat reports)."""
        if not self.admin_state_up:
            return 0
        return sum(1 for li in self.listeners if li.admin_state_up)


@dataclass
class Statuses:
    """The status each object should have; absent = leave as it is."""

    load_balancer: str
    listeners: dict[str, str] = field(default_factory=dict)
    pools: dict[str, str] = field(default_factory=dict)
    members: dict[str, str] = field(default_factory=dict)


_FRONTEND: dict[str, S] = {W.OPEN: S.ONLINE, W.FULL: S.DEGRADED, W.STOP: S.OFFLINE}


def _listener_status(reported: str) -> str | None:
    return _FRONTEND.get(reported.strip())


def _pool_status(lb: LbShape, pool: PoolShape, hb: Heartbeat, out: Statuses) -> str:
    report = hb.pools.get(pool.id)
    if not pool.admin_state_up or not lb.admin_state_up or report is None:
        return S.OFFLINE
    any_error = False
    for mb in pool.members:
        status = member_operating_status(
            mb.operating_status,
            admin_state_up=mb.admin_state_up,
            monitored=True,  # only matters when no report speaks of the member
            reported=report.members.get(mb.id, NOT_IN_REPORT),
        )
        out.members[mb.id] = status
        any_error = any_error or status == S.ERROR
    backend = report.status.strip()
    if backend.startswith(W.DOWN):
        return S.ERROR
    if backend.startswith(W.UP):
        return S.DEGRADED if any_error else S.ONLINE
    return pool.operating_status


def derive(lb: LbShape, hb: Heartbeat) -> Statuses:
    """Every status the load balancer's tree should show after heartbeat `hb`."""
    out = Statuses(load_balancer=S.OFFLINE)
    serving = hb.haproxy == HaproxyState.RUNNING
    degraded = error = False
    for li in lb.listeners:
        if not (li.admin_state_up and lb.admin_state_up):
            out.listeners[li.id] = S.OFFLINE
            continue
        report = hb.listeners.get(li.id)
        if report is None:
            out.listeners[li.id] = S.ERROR if lb.provisioning_status == PS.ACTIVE else S.OFFLINE
            continue
        status = _listener_status(report.status) or li.operating_status
        out.listeners[li.id] = status
        degraded = degraded or status == S.DEGRADED
    for pool in lb.pools:
        status = _pool_status(lb, pool, hb, out)
        out.pools[pool.id] = status
        degraded = degraded or status == S.DEGRADED
        error = error or status == S.ERROR
    if not lb.admin_state_up:
        out.load_balancer = S.OFFLINE
    elif (not serving and lb.serving_listeners) or error:
        out.load_balancer = S.ERROR
    elif degraded:
        out.load_balancer = S.DEGRADED
    else:
        out.load_balancer = S.ONLINE
    return out
