"""Fail over amphorae that went silent, with a circuit breaker against mass failover.

Role: the health manager's scanner. Every `health_check_interval` it looks for the
current amphorae (role set, ALLOCATED) whose last accepted heartbeat is older than
`heartbeat_timeout`, and asks for a failover of each one's load balancer exactly the way
the API does (`lock_lb(..., failover=True)`: ACTIVE/ERROR -> PENDING_UPDATE, generation
bumped, `failover_requested`), so the worker rebuilds the amphora with the same VIP,
retires the old one and ends in ACTIVE, or in ERROR with the reason, never PENDING.

- Several health managers may scan at once: candidate rows are locked with
  `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite serialises writers), and the load
  balancer's compare-and-set lets exactly one of them start each failover.
- Circuit breaker (`plan`): more than `failover_threshold` silent amphorae at once
  (counting those already stopped) means the problem is not the amphorae (a dead agent,
  a partitioned health manager): none is failed over, all are marked
  FAILOVER_STOPPED. Hosts count too: more than `failover_host_threshold` hosts with
  silent amphorae at once (a partition of the health manager, not dead hosts) opens the
  breaker the same way. An admin can fail them over by hand; one that heartbeats again
  goes back to ALLOCATED (the updater does that).
- An amphora that never sent a heartbeat is never considered silent (the noop driver,
  an amphora still being built), and the first scan waits `heartbeat_timeout` after
  start, so a restarted health manager gives every amphora time to report first.

Clock and sleep are injected.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from ostium.control import metrics
from ostium.control.background import Background
from ostium.control.db import models as m
from ostium.control.db.engine import Database
from ostium.control.db.locking import lock_lb
from ostium.control.settings import HealthSettings
from ostium.model.enums import AmphoraStatus as AS
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import Conflict

log = logging.getLogger("ostium.health")
BATCH = 50
WATCHED = (AS.ALLOCATED, AS.FAILOVER_STOPPED)


def plan(silent: int, threshold: int) -> bool:
    """True if failovers may proceed; False opens the breaker (0 = no threshold)."""
    return threshold <= 0 or silent <= threshold


@dataclass
class ScanResult:
    failed_over: list[str] = field(default_factory=list)
    """Amphorae whose load balancer is now failing over."""
    stopped: list[str] = field(default_factory=list)
    """Amphorae marked FAILOVER_STOPPED by the breaker."""
    busy: int = 0
    """Silent amphorae left for later (load balancer busy, or locked by another scanner)."""


def silent_filter(
    cutoff: dt.datetime, statuses: tuple[AS, ...] = WATCHED
) -> list[ColumnElement[bool]]:
    """WHERE clauses for current amphorae silent since before `cutoff`."""
    return [
        m.Amphora.status.in_(statuses),
        m.Amphora.role.is_not(None),
        m.Amphora.last_heartbeat.is_not(None),
        m.Amphora.last_heartbeat < cutoff,
        m.LoadBalancer.provisioning_status.not_in((PS.PENDING_DELETE, PS.DELETED)),
    ]


def count_silent(
    session: Session, cutoff: dt.datetime, statuses: tuple[AS, ...] = WATCHED, hosts: bool = False
) -> int:
    """Silent amphorae, or (`hosts`) the distinct hosts they are on."""
    stmt = (
        select(func.count(func.distinct(m.Amphora.host)) if hosts else func.count())
        .select_from(m.Amphora)
        .join(m.LoadBalancer, m.LoadBalancer.id == m.Amphora.load_balancer_id)
        .where(*silent_filter(cutoff, statuses))
    )
    return int(session.execute(stmt).scalar_one())


class Watchdog(Background):
    thread_name = "hm-watchdog"

    def __init__(
        self,
        db: Database,
        settings: HealthSettings,
        wake: Callable[[], None] = lambda: None,
        registry: metrics.Registry = metrics.REGISTRY,
        clock: Callable[[], dt.datetime] = m.utcnow,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        super().__init__(sleep)
        self.db = db
        self.settings = settings
        self.wake = wake
        self.clock = clock
        self.failovers = metrics.failovers(registry)

    def run(self) -> None:
        # Give every amphora a chance to report to a health manager that just started.
        self.sleep(self.settings.heartbeat_timeout)
        while not self.stopping:
            started = time.monotonic()
            try:
                self.scan()
            except Exception:  # the watchdog must outlive a database hiccup
                log.exception("health: scan for silent amphorae failed")
            self.sleep(max(0.0, self.settings.health_check_interval - (time.monotonic() - started)))

    def cutoff(self) -> dt.datetime:
        return self.clock() - dt.timedelta(seconds=self.settings.heartbeat_timeout)

    def scan(self) -> ScanResult:
        result = ScanResult()
        cutoff = self.cutoff()
        with self.db.write() as session:
            silent = count_silent(session, cutoff)
            if silent == 0:
                return result
            silent_hosts = 0
            if self.settings.failover_host_threshold > 0:
                silent_hosts = count_silent(session, cutoff, hosts=True)
            if not plan(silent, self.settings.failover_threshold) or not plan(
                silent_hosts, self.settings.failover_host_threshold
            ):
                result.stopped = self._stop_all(session, cutoff, silent)
            else:
                self._fail_over(session, cutoff, result)
        if result.failed_over:
            self.failovers.inc(len(result.failed_over), action="started")
            self.wake()
        if result.stopped:
            self.failovers.inc(len(result.stopped), action="stopped")
        return result

    def _stop_all(self, session: Session, cutoff: dt.datetime, silent: int) -> list[str]:
        ids = list(
            session.scalars(
                select(m.Amphora.id)
                .join(m.LoadBalancer, m.LoadBalancer.id == m.Amphora.load_balancer_id)
                .where(*silent_filter(cutoff, (AS.ALLOCATED,)))
            )
        )
        if ids:
            session.execute(
                update(m.Amphora)
                .where(m.Amphora.id.in_(ids))
                .values(status=AS.FAILOVER_STOPPED, updated_at=self.clock())
            )
            log.error(
                "health: %d amphorae silent at once (threshold %d): failover stopped, "
                "marked FAILOVER_STOPPED: %s",
                silent,
                self.settings.failover_threshold,
                ", ".join(ids),
            )
        return ids

    def _fail_over(self, session: Session, cutoff: dt.datetime, result: ScanResult) -> None:
        stmt = (
            select(m.Amphora.id, m.Amphora.load_balancer_id, m.Amphora.last_heartbeat)
            .join(m.LoadBalancer, m.LoadBalancer.id == m.Amphora.load_balancer_id)
            .where(
                *silent_filter(cutoff, (AS.ALLOCATED,)),
                m.LoadBalancer.provisioning_status.in_((PS.ACTIVE, PS.ERROR)),
            )
            .order_by(m.Amphora.last_heartbeat)
            .limit(BATCH)
        )
        if not self.db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True, of=m.Amphora)
        for amp_id, lb_id, last in session.execute(stmt).all():
            if lb_id is None or last is None:  # excluded by the query; for the type checker
                continue
            try:
                lock_lb(session, lb_id, allowed=(PS.ACTIVE, PS.ERROR), lb_level=True, failover=True)
            except Conflict:
                result.busy += 1
                continue
            silence = (self.clock() - last).total_seconds()
            log.warning(
                "health: amphora %s of load balancer %s silent for %.1fs "
                "(timeout %.1fs): failing over",
                amp_id,
                lb_id,
                silence,
                self.settings.heartbeat_timeout,
            )
            result.failed_over.append(amp_id)
