"""Listener statistics per (listener, amphora): held in memory, written at an interval.

Role: the health updater's statistics. Counters in a heartbeat are absolute, so only
the newest report of each (listener, amphora) matters: `PendingStats` keeps it (and,
should the source reset its counters in between, the last report before each reset, so
no traffic is lost), and `write_pending` folds what it holds into the stored rows in one
transaction every `[health_manager] stats_update_interval` seconds: one read and one
bulk write per interval instead of per heartbeat. A row keeps the cumulative totals the
API shows, the last raw counters seen (`counters` does the arithmetic, robust to
resets) and the `heartbeat_seq` of the report folded last: a report not newer than that
is skipped, so several health managers (each holding the reports it accepted) never
count a report twice nor take an older one for a reset. Callers: `updater`. Must not
touch statuses.

What a crash loses is only the delay: the next heartbeat of each amphora carries the
absolute counters again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.health.bulk import bulk_update
from ostium.control.health.counters import CUMULATIVE, ListenerCounters
from ostium.control.health.shapes import any_of, chunks, ids_param
from ostium.model.heartbeat import ListenerReport

MAX_HELD = 16
"""Reports held per row at most (each one the last before a counter reset)."""


@dataclass
class Held:
    """What one health manager holds for a (listener, amphora) row, oldest first."""

    lb_id: str
    reports: list[tuple[int, ListenerReport]] = field(default_factory=list)


class PendingStats:
    """The reports accepted since the last write, per (listener id, amphora id)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Held] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, lid: str, amp_id: str, lb_id: str, seq: int, report: ListenerReport) -> None:
        held = self.rows.get((lid, amp_id))
        if held is None:
            self.rows[(lid, amp_id)] = Held(lb_id, [(seq, report)])
            return
        last = held.reports[-1][1]
        if (  # a counter went down: keep the report before the reset too
            report.total_connections < last.total_connections
            or report.bytes_in < last.bytes_in
            or report.bytes_out < last.bytes_out
            or report.request_errors < last.request_errors
        ) and len(held.reports) < MAX_HELD:
            held.reports.append((seq, report))
        else:
            held.reports[-1] = (seq, report)

    def take(self) -> dict[tuple[str, str], Held]:
        rows, self.rows = self.rows, {}
        return rows

    def put_back(self, rows: dict[tuple[str, str], Held]) -> None:
        """After a failed write: what was taken goes before what came since."""
        for key, held in rows.items():
            newer = self.rows.get(key)
            if newer is not None:
                held.reports = (held.reports + newer.reports)[-MAX_HELD:]
            self.rows[key] = held


@dataclass
class _Row:
    counters: ListenerCounters
    seq: int | None
    exists: bool
    dirty: bool = False


def _load(session: Session, lids: list[str]) -> dict[tuple[str, str], _Row]:
    # By listener (the leading column of the primary key), in plain SQL: rows as they are.
    lock = "" if session.get_bind().dialect.name == "sqlite" else " FOR UPDATE"
    sql = text(
        "SELECT listener_id, amphora_id, heartbeat_seq, active_connections, "
        + ", ".join(CUMULATIVE)
        + ", "
        + ", ".join(f"last_{f}" for f in CUMULATIVE)
        + f" FROM listener_statistics WHERE listener_id {any_of(session)}{lock}"
    )
    n = len(CUMULATIVE)
    conn = session.connection()
    out: dict[tuple[str, str], _Row] = {}
    for part in chunks(lids):
        for listener_id, amp_id, seq, active, *values in conn.execute(
            sql, {"ids": ids_param(session, part)}
        ):
            totals = dict(zip(CUMULATIVE, values[:n], strict=True))
            if None in values[:n]:
                totals = {k: v or 0 for k, v in totals.items()}
            counters = ListenerCounters(
                totals, dict(zip(CUMULATIVE, values[n:], strict=True)), active or 0
            )
            out[(listener_id, amp_id)] = _Row(counters, seq, True)
    return out


def write_pending(session: Session, held: dict[tuple[str, str], Held], now: dt.datetime) -> int:
    """Fold the held reports into the stored rows; return how many rows were written."""
    if not held:
        return 0
    stored = _load(session, sorted({lid for lid, _ in held}))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key in sorted(held):
        lid, amp_id = key
        row = stored.get(key) or _Row(ListenerCounters.empty(), None, False)
        for seq, report in held[key].reports:
            if row.seq is not None and seq <= row.seq:
                continue  # folded already (by another health manager): not twice
            if row.counters.advance(report):
                row.seq, row.dirty = seq, True
        if not row.dirty:
            continue
        c = row.counters
        values: dict[str, Any] = {
            "active_connections": c.active_connections,
            "heartbeat_seq": row.seq,
            "updated_at": now,
        }
        for f in CUMULATIVE:
            values[f] = c.totals[f]
            values[f"last_{f}"] = c.last[f]
        if row.exists:
            updates.append({"listener_id": lid, "amphora_id": amp_id, **values})
        else:
            lb_id = held[key].lb_id
            inserts.append(
                {"listener_id": lid, "amphora_id": amp_id, "load_balancer_id": lb_id, **values}
            )
    if inserts:
        session.connection().execute(insert(m.ListenerStatistics), inserts)
    bulk_update(session, m.ListenerStatistics.__table__, ("listener_id", "amphora_id"), updates)
    return len(inserts) + len(updates)
