"""Listener statistics per (listener, amphora): load the rows, fold heartbeats in, write.

Role: the health updater's statistics, inside its transaction. A row keeps the
cumulative totals the API shows and the last raw counters seen (`counters` does the
arithmetic, robust to resets); only rows that changed are written, new ones inserted,
the rest in one bulk UPDATE. Callers: `updater`. Must not touch statuses.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.health.bulk import bulk_update
from ostium.control.health.counters import CUMULATIVE, ListenerCounters
from ostium.control.health.shapes import chunks, one_of
from ostium.model.heartbeat import Heartbeat


@dataclass
class StatRow:
    lb_id: str
    counters: ListenerCounters
    exists: bool
    dirty: bool = False
    updated_at: dt.datetime | None = None


def load_stats(session: Session, amp_ids: list[str]) -> dict[tuple[str, str], StatRow]:
    t = m.ListenerStatistics
    cols = [
        t.listener_id,
        t.amphora_id,
        t.load_balancer_id,
        t.active_connections,
        *(getattr(t, f) for f in CUMULATIVE),
        *(getattr(t, f"last_{f}") for f in CUMULATIVE),
    ]
    n = len(CUMULATIVE)
    conn = session.connection()
    out: dict[tuple[str, str], StatRow] = {}
    for part in chunks(amp_ids):
        # Plain rows, not ORM objects: this runs for every heartbeat batch.
        rows = conn.execute(select(*cols).where(one_of(t.amphora_id, part, session))).all()
        for listener_id, amp_id, lb_id, active, *values in rows:
            counters = ListenerCounters(
                totals=dict(zip(CUMULATIVE, (v or 0 for v in values[:n]), strict=True)),
                last=dict(zip(CUMULATIVE, values[n:], strict=True)),
                active_connections=active or 0,
            )
            out[(listener_id, amp_id)] = StatRow(lb_id, counters, True)
    return out


def fold_stats(
    stats: dict[tuple[str, str], StatRow],
    amp_id: str,
    lb_id: str,
    known: frozenset[str],
    hb: Heartbeat,
    now: dt.datetime,
) -> None:
    for lid, report in hb.listeners.items():
        if lid not in known:
            continue
        row = stats.get((lid, amp_id))
        if row is None:
            row = stats[(lid, amp_id)] = StatRow(lb_id, ListenerCounters.empty(), False)
        if row.counters.advance(report):
            row.dirty = True
            row.updated_at = now


def write_stats(session: Session, stats: dict[tuple[str, str], StatRow]) -> None:
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for (lid, amp_id), row in sorted(stats.items()):
        if not row.dirty:
            continue
        c = row.counters
        values: dict[str, Any] = {
            "active_connections": c.active_connections,
            "updated_at": row.updated_at,
        }
        for f in CUMULATIVE:
            values[f] = c.totals[f]
            values[f"last_{f}"] = c.last[f]
        if row.exists:
            updates.append({"listener_id": lid, "amphora_id": amp_id, **values})
        else:
            inserts.append(
                {"listener_id": lid, "amphora_id": amp_id, "load_balancer_id": row.lb_id, **values}
            )
    if inserts:
        session.connection().execute(insert(m.ListenerStatistics), inserts)
    bulk_update(session, m.ListenerStatistics.__table__, ("listener_id", "amphora_id"), updates)
