"""Apply verified heartbeats to the database: last seen, operating status, statistics.

Role: the health manager's writer. `HealthUpdater.process(batch)` takes heartbeats that
passed `model.heartbeat.decode` and, in ONE write transaction per batch, for each:

1. claims it: the amphora must exist (not DELETED) and `seq` must be newer than the
   stored `heartbeat_seq`, else it is a replay (or unknown) and changes nothing. The
   amphora rows are locked (`FOR UPDATE` on PostgreSQL, the write lock on SQLite), so
   with several health managers receiving the same datagram exactly one applies it;
2. refreshes `last_heartbeat` only if the amphora serves what it should (every enabled
   listener reported, namespace present): an amphora that lost listeners or its
   haproxy keeps reporting but goes stale and is failed over;
3. derives operating statuses (`status.derive`, from the trees `shapes` reads) for the
   current amphora of a load balancer that is not PENDING_* (the worker owns the tree
   while it reconciles) and writes only those that changed;
4. hands each listener's absolute counters to `statistics.PendingStats`, which holds
   the newest per (listener, amphora) and writes them every `stats_interval` seconds
   (`flush_stats`; 0: after every batch) in a transaction of their own.

Batching is what makes thousands of heartbeats per second cheap: a handful of queries
per batch, writes only for what changed. So does remembering, per amphora, what its last
heartbeat said and what the load balancer was (generation, provisioning status): a
heartbeat that says the same as the previous one about an unchanged load balancer would
derive the same statuses, so its tree is neither read nor derived again for up to
`remember` seconds. (With several health managers, one may meanwhile have applied
something else: the statuses then catch up within those seconds.) Never raises: a failed
batch is counted and logged, and the next heartbeats repeat everything (counters are
absolute).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.db.engine import Database
from ostium.control.health.bulk import bulk_update
from ostium.control.health.roles import follow_masters
from ostium.control.health.shapes import any_of, chunks, ids_param, load_shapes
from ostium.control.health.statistics import PendingStats, write_pending
from ostium.control.health.status import LbShape, Statuses, derive
from ostium.control.logs import named
from ostium.model.enums import PENDING, AmphoraRole, VrrpState
from ostium.model.enums import AmphoraStatus as AS
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.heartbeat import DropReason, HaproxyState, Heartbeat, ListenerReport

log = logging.getLogger("ostium.health")

ACCEPTED = "accepted"
_PENDING = frozenset(str(s) for s in PENDING)
"""The PENDING_* words as plain strings: the readers return rows as they are."""

_Counters = tuple[str, str, str, int, ListenerReport]
"""One listener's counters in an accepted heartbeat: listener, amphora, load balancer,
seq, report."""


@dataclass
class _Amp:
    id: str
    lb_id: str | None
    status: str
    role: str | None
    seq: int | None
    lb_generation: int | None
    lb_status: str | None


@dataclass(frozen=True)
class _Seen:
    """What the last applied heartbeat of an amphora led to (valid until `until`)."""

    key: tuple[Any, ...]
    healthy: bool
    known: frozenset[str]
    """The reported listeners that belong to the load balancer (statistics go there)."""
    until: float


def _content(amp: _Amp, hb: Heartbeat) -> tuple[Any, ...]:
    """Everything statuses are derived from, except the rows' own current statuses (in
    the order the agent reports: an agent that reorders only costs a derivation)."""
    return (
        amp.lb_generation,
        amp.lb_status,
        amp.role,
        amp.status,
        hb.haproxy,
        hb.vrrp,
        tuple([(k, r.status) for k, r in hb.listeners.items()]),
        tuple([(k, p.status, tuple(p.members.items())) for k, p in hb.pools.items()]),
    )


class HealthUpdater:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], dt.datetime] = m.utcnow,
        remember: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
        stats_interval: float = 0.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.remember = remember
        self.monotonic = monotonic
        self.stats_interval = stats_interval
        self.pending = PendingStats()
        self._next_stats = monotonic() + stats_interval
        self._seen: dict[str, _Seen] = {}

    def process(self, batch: list[Heartbeat]) -> Counter[str]:
        """Apply a batch; return how many were `accepted` or dropped, by reason."""
        outcome: Counter[str] = Counter()
        newest: dict[str, Heartbeat] = {}
        for hb in batch:
            kept = newest.get(hb.amphora_id)
            if kept is not None:
                outcome[DropReason.REPLAYED] += 1  # an older (or the same) seq of one amp
                if kept.seq >= hb.seq:
                    continue
            newest[hb.amphora_id] = hb
        seen: dict[str, _Seen] = {}
        counters: list[_Counters] = []
        try:
            with self.db.write() as session:
                outcome.update(self._apply(session, newest, seen, counters))
        except Exception:
            log.exception("health: a batch of %d heartbeats failed", len(newest))
            outcome[DropReason.ERROR] += len(newest)
            return outcome
        self._remember(seen)  # only what was committed
        add = self.pending.add
        for item in counters:
            add(*item)
        self.flush_stats()
        return outcome

    def flush_stats(self, force: bool = False) -> int:
        """Write the held statistics if `stats_interval` has passed (or `force`); return
        how many rows were written. A failed write keeps them for the next time."""
        now = self.monotonic()
        if not force and now < self._next_stats:
            return 0
        self._next_stats = now + self.stats_interval
        held = self.pending.take()
        if not held:
            return 0
        try:
            with self.db.write() as session:
                return write_pending(session, held, self.clock())
        except Exception:
            log.exception("health: writing the statistics of %d listeners failed", len(held))
            self.pending.put_back(held)
            return 0

    def _remember(self, seen: dict[str, _Seen]) -> None:
        self._seen.update(seen)
        if len(self._seen) > 100_000:
            now = self.monotonic()
            self._seen = {k: v for k, v in self._seen.items() if v.until > now}

    # ------------------------------------------------------------------ the transaction

    def _apply(
        self,
        session: Session,
        heartbeats: dict[str, Heartbeat],
        seen: dict[str, _Seen],
        counters: list[_Counters],
    ) -> Counter[str]:
        outcome: Counter[str] = Counter()
        amps = self._lock_amphorae(session, sorted(heartbeats))
        accepted: list[tuple[_Amp, Heartbeat]] = []
        for amp_id, hb in heartbeats.items():
            amp = amps.get(amp_id)
            if amp is None or amp.status == AS.DELETED:
                outcome[DropReason.UNKNOWN_AMPHORA] += 1
            elif amp.seq is not None and hb.seq <= amp.seq:
                outcome[DropReason.REPLAYED] += 1
            else:
                accepted.append((amp, hb))
        if not accepted:
            return outcome
        now = self.clock()
        mono = self.monotonic()
        keys = {amp.id: _content(amp, hb) for amp, hb in accepted}
        same: dict[str, _Seen] = {}  # says what it said last time, about the same tree
        for amp, _ in accepted:
            last = self._seen.get(amp.id)
            if last is not None and last.key == keys[amp.id] and mono < last.until:
                same[amp.id] = last
        shapes = load_shapes(
            session, {a.lb_id for a, _ in accepted if a.lb_id and a.id not in same}
        )
        amp_rows: list[dict[str, Any]] = []
        changes = _Changes()
        promoted: list[tuple[str, str]] = []
        for amp, hb in accepted:
            last = same.get(amp.id)
            lb = None if last is not None else shapes.get(amp.lb_id or "")
            if last is not None:
                healthy, listeners = last.healthy, last.known
            else:
                healthy = _serves_what_it_should(lb, hb)
                listeners = (
                    frozenset(li.id for li in lb.listeners) if lb is not None else frozenset()
                )
                seen[amp.id] = _Seen(
                    keys[amp.id], healthy, listeners & set(hb.listeners), mono + self.remember
                )
            amp_rows.append(
                {
                    "id": amp.id,
                    "heartbeat_seq": hb.seq,
                    "haproxy_state": hb.haproxy.value,
                    "reported_generation": hb.generation,
                    "status": AS.ALLOCATED
                    if healthy and amp.status == AS.FAILOVER_STOPPED
                    else amp.status,
                    "vrrp_state": None if hb.vrrp is None else hb.vrrp.value,
                    "last_heartbeat": now if healthy else None,
                }
            )
            if amp.lb_id is None or amp.lb_status in (None, PS.DELETED):
                continue
            # In an ACTIVE_STANDBY pair only the amphora holding the VIP speaks for it.
            if (
                lb is not None
                and amp.role is not None
                and amp.status in (AS.ALLOCATED, AS.FAILOVER_STOPPED)
                and lb.provisioning_status not in _PENDING
                and hb.vrrp in (None, VrrpState.MASTER)
            ):
                changes.add(lb, derive(lb, hb))
            if (
                hb.vrrp == VrrpState.MASTER
                and amp.role == AmphoraRole.BACKUP
                and amp.lb_status not in _PENDING
            ):
                promoted.append((amp.id, amp.lb_id))
            for lid, report in hb.listeners.items():
                if lid in listeners:
                    counters.append((lid, amp.id, amp.lb_id, hb.seq, report))
        _write_amphorae(session, amp_rows)
        follow_masters(session, promoted)
        changes.write(session, now)
        outcome[ACCEPTED] += len(accepted)
        return outcome

    def _lock_amphorae(self, session: Session, ids: list[str]) -> dict[str, _Amp]:
        # Plain SQL: the rows as they are, no ORM result processing (a batch a wake-up).
        lock = "" if self.db.is_sqlite else " FOR UPDATE OF a"  # SQLite: BEGIN IMMEDIATE
        sql = text(
            "SELECT a.id, a.load_balancer_id, a.status, a.role, a.heartbeat_seq, "
            "lb.generation, lb.provisioning_status FROM amphora a "
            "LEFT OUTER JOIN load_balancer lb ON lb.id = a.load_balancer_id "
            f"WHERE a.id {any_of(session)} ORDER BY a.id{lock}"
        )
        found: dict[str, _Amp] = {}
        conn = session.connection()
        for part in chunks(ids):
            for row in conn.execute(sql, {"ids": ids_param(session, part)}):
                found[row[0]] = _Amp(*row)
        return found


def _serves_what_it_should(lb: LbShape | None, hb: Heartbeat) -> bool:
    """Whether this heartbeat counts as "alive" (refreshes last seen)."""
    if hb.haproxy == HaproxyState.NO_NAMESPACE:
        return False
    if hb.vrrp in (VrrpState.FAULT, VrrpState.STOP):
        return False  # a pair member that cannot take the VIP: replaced if it lasts
    if lb is None or lb.provisioning_status in _PENDING:
        return True  # its configuration is changing: no expectation to check
    expected = {li.id for li in lb.listeners if li.admin_state_up} if lb.admin_state_up else set()
    if not expected:
        return True
    return hb.haproxy == HaproxyState.RUNNING and expected <= set(hb.listeners)


# ---------------------------------------------------------------------- statuses


class _Changes:
    """Operating statuses that differ from what the rows hold, per table."""

    def __init__(self) -> None:
        self.rows: dict[Any, dict[str, str]] = {
            m.LoadBalancer: {},
            m.Listener: {},
            m.Pool: {},
            m.Member: {},
        }

    def add(self, lb: LbShape, wanted: Statuses) -> None:
        if wanted.load_balancer != lb.operating_status:
            self.rows[m.LoadBalancer][lb.id] = wanted.load_balancer
        for li in lb.listeners:
            if wanted.listeners.get(li.id, li.operating_status) != li.operating_status:
                self.rows[m.Listener][li.id] = wanted.listeners[li.id]
        for pool in lb.pools:
            if wanted.pools.get(pool.id, pool.operating_status) != pool.operating_status:
                self.rows[m.Pool][pool.id] = wanted.pools[pool.id]
            for mb in pool.members:
                if wanted.members.get(mb.id, mb.operating_status) != mb.operating_status:
                    self.rows[m.Member][mb.id] = wanted.members[mb.id]

    def write(self, session: Session, now: dt.datetime) -> None:
        for model, values in self.rows.items():
            if not values:
                continue
            # Octavia stamps `updated_at` whenever it changes a status.
            bulk_update(
                session,
                model.__table__,
                ("id",),
                [
                    {"id": k, "operating_status": v, "updated_at": now}
                    for k, v in sorted(values.items())
                ],
            )
            # Only when something changed: the names, so the line says which object.
            names: dict[str, str] = {
                str(k): str(v or "")
                for k, v in session.execute(
                    select(model.id, model.name).where(model.id.in_(list(values)))
                )
            }
            log.info(
                "health: %s now %s",
                model.__tablename__.replace("_", " "),
                ", ".join(f"{named(names.get(k), k)} {v}" for k, v in sorted(values.items())),
            )


def _write_amphorae(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_update(session, m.Amphora.__table__, ("id",), rows, keep_if_null=("last_heartbeat",))
