"""Cumulative statistics from absolute counters, robust to counter resets.

Role: pure arithmetic for the updater. A heartbeat carries, per listener, counters that
only grow for as long as the agent keeps them (it carries them over haproxy reloads and
its own restarts). The database keeps, per (listener, amphora), the cumulative totals
the API shows and the last raw values seen. The increment is `raw - last`; a raw value
below the last one means the source was reset (its state was lost), so everything it
reports now is new and counts in full. Totals therefore never go down, a lost datagram
loses nothing (the next one carries it) and a duplicate adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ostium.model.heartbeat import ListenerReport

CUMULATIVE = ("total_connections", "bytes_in", "bytes_out", "request_errors")


def increment(last: int | None, raw: int) -> int:
    """How much a counter grew since `last` (None: never seen, all of it is new)."""
    if last is None or raw < last:
        return raw
    return raw - last


@dataclass
class ListenerCounters:
    """The stored state of one (listener, amphora) row."""

    totals: dict[str, int]
    last: dict[str, int | None]
    active_connections: int = 0

    @classmethod
    def empty(cls) -> ListenerCounters:
        return cls({f: 0 for f in CUMULATIVE}, {f: None for f in CUMULATIVE})

    def advance(self, report: ListenerReport) -> bool:
        """Fold one report in; True if anything the API shows changed."""
        changed = self.active_connections != report.active_connections
        self.active_connections = report.active_connections
        for name in CUMULATIVE:
            raw = getattr(report, name)
            step = increment(self.last[name], raw)
            if step:
                self.totals[name] += step
                changed = True
            if self.last[name] != raw:
                self.last[name] = raw
                changed = True
        return changed
