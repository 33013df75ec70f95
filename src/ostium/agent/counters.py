"""Listener counters that survive haproxy reloads, respawns and agent restarts.

Role: haproxy's counters live in its worker process, so a reload (new worker) or a
respawn starts them from zero. `CounterCarry` keeps, per amphora, a base that absorbs
the last reading of every worker that went away; what the heartbeat reports is `base +
current`, which only grows. The apply pipeline (`applying`) calls `observe` just before
it reloads (so little is lost), the heartbeat sender on every beat. The state is kept in
`counters.json` in the amphora's directory, so an agent restart loses nothing either.

What cannot be carried: traffic an old worker still serves after its last reading (long
connections draining after a reload) and anything between the last reading and a crash.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from ostium.agent.haproxy_stats import COUNTERS, Snapshot

LOG = logging.getLogger(__name__)
SAVE_EVERY = 10
"""Observations between two saves when only the current worker's counters moved."""

Counters = dict[str, int]


def _add(a: Counters, b: Counters) -> Counters:
    return {k: a.get(k, 0) + b.get(k, 0) for k in COUNTERS}


class CounterCarry:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        """Held by callers across read + observe, so two readings never interleave."""
        self.pid: int | None = None
        self.base: dict[str, Counters] = {}
        self.last: dict[str, Counters] = {}
        self._unsaved = 0
        self._load()

    def _load(self) -> None:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
            self.pid = data.get("pid")
            self.base = {
                k: {c: int(v.get(c, 0)) for c in COUNTERS} for k, v in data.get("base", {}).items()
            }
            self.last = {
                k: {c: int(v.get(c, 0)) for c in COUNTERS} for k, v in data.get("last", {}).items()
            }
        except FileNotFoundError:
            return
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            LOG.warning("ignoring unreadable %s: %s", self.path, exc)

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps({"pid": self.pid, "base": self.base, "last": self.last}))
            os.replace(tmp, self.path)
            self._unsaved = 0
        except OSError as exc:  # the directory may be going away with its amphora
            LOG.debug("could not save %s: %s", self.path, exc)

    def observe(self, snapshot: Snapshot) -> dict[str, Counters]:
        """Fold in one reading; return the carried totals per listener id."""
        raw = {lid: fe.counters for lid, fe in snapshot.frontends.items()}
        moved = False
        if self.pid is not None and snapshot.worker_pid != self.pid:
            for lid, counters in self.last.items():
                self.base[lid] = _add(self.base.get(lid, {}), counters)
            self.last = {}
            moved = True
        self.pid = snapshot.worker_pid
        for lid, counters in raw.items():
            before = self.last.get(lid, {})
            # Within one worker counters only grow: a smaller value is an older reading.
            merged = {k: max(before.get(k, 0), counters[k]) for k in COUNTERS}
            if merged != before:
                self.last[lid] = merged
                self._unsaved += 1
        if moved or self._unsaved >= SAVE_EVERY:
            self.save()
        return {lid: _add(self.base.get(lid, {}), self.last.get(lid, {})) for lid in raw}
