"""Read an amphora's haproxy statistics: listener counters, pool and member check states.

Role: turn `show info` and `show stat` (stats socket, CSV) into the raw material of a
heartbeat. Callers: `counters` (through `read`) and tests (`parse_stat` is pure).
Frontends are named after listener ids, backends `<pool id>:<listener id>`, servers
after member ids (see `render`); any other proxy is ignored.

A pool used by several listeners has one backend per listener: its reports are merged,
the worst state winning. A server that is up (or unchecked) with weight 0 is reported
as `DRAIN`, as Octavia's agent does: haproxy itself says `UP` for it.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

from ostium.agent import haproxy_runtime
from ostium.model.heartbeat import HaproxyWord as W

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
COUNTERS = ("total_connections", "bytes_in", "bytes_out", "request_errors")
_CSV_FIELDS = {
    "total_connections": "stot",
    "bytes_in": "bin",
    "bytes_out": "bout",
    "request_errors": "ereq",
}


_SEVERITY = (W.DOWN, W.MAINT, W.DRAIN, W.NOLB, W.NO_CHECK, W.UP)
"""Server status words from the worst to the best."""


def _rank(status: str) -> int:
    """Severity of a haproxy status word: lower is worse."""
    word = status.strip().upper()
    for rank, prefix in enumerate(_SEVERITY):
        if word.startswith(prefix.upper()):
            return rank
    return 9


def worse(a: str, b: str) -> str:
    return a if _rank(a) <= _rank(b) else b


@dataclass
class FrontendStats:
    status: str
    active_connections: int
    counters: dict[str, int]


@dataclass
class PoolState:
    status: str
    members: dict[str, str] = field(default_factory=dict)


@dataclass
class Snapshot:
    """One reading of one haproxy worker."""

    worker_pid: int
    frontends: dict[str, FrontendStats]
    pools: dict[str, PoolState]


def _int(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


def parse_info_pid(text: str) -> int:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Pid":
            return _int(value.strip())
    return 0


def parse_stat(text: str) -> tuple[dict[str, FrontendStats], dict[str, PoolState]]:
    """Frontends by listener id, pools by pool id, from `show stat` CSV."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("#"):
        return {}, {}
    header = lines[0].lstrip("# ").split(",")
    at = {name: i for i, name in enumerate(header)}

    def column(name: str) -> int:
        return at.get(name, len(header))  # past every row's end: read as ""

    px_at, sv_at, status_at, scur_at, weight_at = (
        column(n) for n in ("pxname", "svname", "status", "scur", "weight")
    )
    counter_at = [(k, column(f)) for k, f in _CSV_FIELDS.items()]
    frontends: dict[str, FrontendStats] = {}
    pools: dict[str, PoolState] = {}
    # Rows as lists, read by position (a dict per row of ~100 columns cost more than
    # the rest of a heartbeat's parse).
    for fields in csv.reader(lines[1:]):
        fields += [""] * (len(header) + 1 - len(fields))
        px, sv = fields[px_at], fields[sv_at]
        status = fields[status_at].strip()
        if sv == "FRONTEND":
            if _UUID.match(px):
                frontends[px] = FrontendStats(
                    status=status,
                    active_connections=_int(fields[scur_at]),
                    counters={k: _int(fields[i]) for k, i in counter_at},
                )
            continue
        pool_id, _, listener_id = px.partition(":")
        if not (_UUID.match(pool_id) and _UUID.match(listener_id)):
            continue
        pool = pools.setdefault(pool_id, PoolState(status=W.UP))
        if sv == "BACKEND":
            pool.status = worse(pool.status, status)
            continue
        if not _UUID.match(sv):
            continue
        if fields[weight_at] == "0" and _rank(status) >= _rank(W.NO_CHECK):
            status = W.DRAIN
        pool.members[sv] = worse(pool.members[sv], status) if sv in pool.members else status
    return frontends, pools


def read(stats_socket: str, timeout: float = 2.0) -> Snapshot:
    """Query the running worker; raises `AgentFailure` if the socket does not answer."""
    # One connection for both (each costs the amphora's haproxy a wake-up, and a host
    # of a thousand amphorae asks two thousand times a heartbeat interval).
    answer = haproxy_runtime.send_all(stats_socket, ("show info", "show stat"), timeout)
    info, _, stat = answer.partition("\n\n")
    frontends, pools = parse_stat(stat)
    return Snapshot(parse_info_pid(info), frontends, pools)
