"""The heartbeat datagram: what an agent reports about one amphora, and its wire format.

Role: the one contract between the agent's heartbeat sender and the health manager
(DESIGN decision 6). The sender builds a `Heartbeat` and calls `encode`; the receiver
calls `decode`, which either returns a verified, type-checked `Heartbeat` or raises
`InvalidHeartbeat` carrying a `DropReason`. Pure: no sockets, no clock, no database.

Wire format (one UDP datagram)::

    MAGIC (4 bytes "OHB1") || zlib(JSON, UTF-8) || HMAC-SHA256(key, MAGIC || zlib(JSON))

The MAC (32 raw bytes, at the end) is checked in constant time before anything else is
parsed, so unauthenticated bytes never reach zlib or JSON except to classify a packet
that carries no MAC at all ("unsigned"), and then only up to `MAX_JSON` bytes.

Counters are absolute and monotonic per amphora (the agent carries them across haproxy
reloads and its own restarts), so a lost or duplicated datagram never loses or double
counts traffic; the receiver turns them into increments (see `control/health/counters`).
`seq` only grows for one amphora, across agent restarts too: a datagram whose `seq` is
not newer than the last one accepted is a replay.

Must not import anything of ostium besides `model.errors` and `model.enums`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import zlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from ostium.model.enums import VrrpState
from ostium.model.errors import InvalidHeartbeat

MAGIC = b"OHB1"
MAC_SIZE = 32
MAX_DATAGRAM = 65000
"""Largest datagram accepted (UDP over IPv4 carries at most 65,507 bytes)."""
MAX_JSON = 1 << 20
"""Largest decompressed document accepted: a bound on zlib bombs."""
MAX_STATUS = 32
MAX_COUNTER = (1 << 63) - 1

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_STATUS = re.compile(r"^[A-Za-z0-9 /()_.:-]{1,32}$")  # MAX_STATUS
_VERSION = re.compile(r"^[A-Za-z0-9._+-]{1,32}$")


class DropReason(StrEnum):
    """Why the health manager dropped a datagram (a metric label and a log word)."""

    OVERSIZED = "oversized"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    MALFORMED = "malformed"
    REPLAYED = "replayed"
    UNKNOWN_AMPHORA = "unknown_amphora"
    ERROR = "error"
    """The datagram was fine but processing it failed (e.g. the database was away)."""


class HaproxyState(StrEnum):
    """The amphora's data plane as its agent sees it."""

    RUNNING = "RUNNING"
    DOWN = "DOWN"
    """A spec is applied but haproxy is not running (crashed, respawn limit reached)."""
    NO_CONFIG = "NO_CONFIG"
    """No spec applied yet: nothing is expected to run."""
    NO_NAMESPACE = "NO_NAMESPACE"
    """The amphora's namespace disappeared from under the agent: the amphora is lost."""


class HaproxyWord(StrEnum):
    """The status words haproxy writes in `show stat`, which heartbeats carry as they
    are. A server's word may have a suffix (`DOWN 1/2`, `UP 2/3`): match by prefix."""

    UP = "UP"
    DOWN = "DOWN"
    DRAIN = "DRAIN"
    NOLB = "NOLB"
    MAINT = "MAINT"
    NO_CHECK = "no check"
    OPEN = "OPEN"
    """A frontend that accepts connections."""
    FULL = "FULL"
    """A frontend at its connection limit."""
    STOP = "STOP"
    """A frontend that is stopped (disabled listener)."""


@dataclass(frozen=True)
class ListenerReport:
    """One frontend: its haproxy status (`OPEN`, `FULL`, `STOP`) and counters."""

    status: str
    active_connections: int = 0
    total_connections: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    request_errors: int = 0


@dataclass(frozen=True)
class PoolReport:
    """One pool (merged over the listeners using it): haproxy backend status (`UP`,
    `DOWN`) and each member's server status (`UP`, `DOWN 1/2`, `DRAIN`, `MAINT`,
    `no check`, ...)."""

    status: str
    members: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Heartbeat:
    amphora_id: str
    seq: int
    timestamp: float
    """Seconds since the epoch when the agent built the message (informational)."""
    generation: int | None
    """The spec generation the agent has applied (None before the first spec)."""
    agent_version: str
    haproxy: HaproxyState
    listeners: dict[str, ListenerReport] = field(default_factory=dict)
    pools: dict[str, PoolReport] = field(default_factory=dict)
    vrrp: VrrpState | None = None
    """ACTIVE_STANDBY: keepalived's state for this amphora (None for SINGLE)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.amphora_id,
            "seq": self.seq,
            "ts": self.timestamp,
            "generation": self.generation,
            "agent_version": self.agent_version,
            "haproxy": self.haproxy.value,
            "vrrp": None if self.vrrp is None else self.vrrp.value,
            "listeners": {
                lid: {
                    "status": r.status,
                    "active_connections": r.active_connections,
                    "total_connections": r.total_connections,
                    "bytes_in": r.bytes_in,
                    "bytes_out": r.bytes_out,
                    "request_errors": r.request_errors,
                }
                for lid, r in self.listeners.items()
            },
            "pools": {
                pid: {"status": p.status, "members": dict(p.members)}
                for pid, p in self.pools.items()
            },
        }


# --------------------------------------------------------------------------- encode


def _mac(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, hashlib.sha256)  # one call into OpenSSL


def encode(heartbeat: Heartbeat, key: bytes, level: int = 6) -> bytes:
    """The signed datagram for `heartbeat`; raises `InvalidHeartbeat` if too large."""
    doc = orjson.dumps(heartbeat.to_dict())  # compact; the agent sends one per amphora
    body = MAGIC + zlib.compress(doc, level)
    datagram = body + _mac(key, body)
    if len(datagram) > MAX_DATAGRAM:
        raise InvalidHeartbeat(
            DropReason.OVERSIZED,
            f"heartbeat of amphora {heartbeat.amphora_id} is {len(datagram)} bytes "
            f"(limit {MAX_DATAGRAM})",
        )
    return datagram


# --------------------------------------------------------------------------- decode


def _inflate(data: bytes) -> bytes:
    """Decompress at most `MAX_JSON` bytes; oversized or truncated streams are refused."""
    inflater = zlib.decompressobj()
    try:
        doc = inflater.decompress(data, MAX_JSON)
    except zlib.error as exc:
        raise InvalidHeartbeat(DropReason.MALFORMED, f"not a zlib stream: {exc}") from None
    if inflater.unconsumed_tail:
        raise InvalidHeartbeat(DropReason.OVERSIZED, f"decompresses to more than {MAX_JSON}")
    if not inflater.eof or inflater.unused_data:
        raise InvalidHeartbeat(DropReason.MALFORMED, "zlib stream truncated or followed by data")
    return doc


def _looks_unsigned(datagram: bytes) -> bool:
    """True if the datagram is a complete compressed document with no MAC after it."""
    try:
        _inflate(datagram[len(MAGIC) :] if datagram.startswith(MAGIC) else datagram)
    except InvalidHeartbeat:
        return False
    return True


def verify(datagram: bytes, key: bytes) -> bytes:
    """The signed body (MAGIC + compressed JSON) if the MAC is right, else raise."""
    if len(datagram) > MAX_DATAGRAM:
        raise InvalidHeartbeat(DropReason.OVERSIZED, f"{len(datagram)} bytes")
    body, mac = datagram[:-MAC_SIZE], datagram[-MAC_SIZE:]
    if len(datagram) <= len(MAGIC) + MAC_SIZE or not hmac.compare_digest(_mac(key, body), mac):
        if _looks_unsigned(datagram):
            raise InvalidHeartbeat(DropReason.UNSIGNED, "no signature")
        raise InvalidHeartbeat(DropReason.BAD_SIGNATURE, "signature does not match")
    if not body.startswith(MAGIC):
        raise InvalidHeartbeat(DropReason.MALFORMED, "bad magic")
    return body


def decode(datagram: bytes, key: bytes) -> Heartbeat:
    """Verify and parse one datagram; raise `InvalidHeartbeat` with the reason to drop it."""
    body = verify(datagram, key)
    doc = _inflate(body[len(MAGIC) :])
    try:
        data = orjson.loads(doc)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidHeartbeat(DropReason.MALFORMED, f"not JSON: {exc}") from None
    return from_dict(data)


def _bad(what: str, value: object) -> InvalidHeartbeat:
    return InvalidHeartbeat(DropReason.MALFORMED, f"{what}: {str(value)[:80]!r}")


# Strings already checked: the same ids and words come in every heartbeat, and a set
# lookup costs a fraction of a regular expression. Bounded: emptied when full.
_GOOD_IDS: set[str] = set()
_GOOD_WORDS: set[str] = set()
_GOOD_MAX = 200_000


def _remember(good: set[str], value: str) -> None:
    if len(good) >= _GOOD_MAX:
        good.clear()
    good.add(value)


def _uuid(value: object, what: str) -> str:
    if type(value) is str and value in _GOOD_IDS:
        return value
    if not isinstance(value, str) or not _UUID.match(value):
        raise _bad(f"{what} is not a lower-case UUID", value)
    _remember(_GOOD_IDS, value)
    return value


def _counter(value: object, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_COUNTER:
        raise _bad(f"{what} is not a counter", value)
    return value


def _status(value: object, what: str) -> str:
    if type(value) is str and value in _GOOD_WORDS:
        return value
    if not isinstance(value, str) or not _STATUS.match(value):
        raise _bad(f"{what} is not a status word", value)
    _remember(_GOOD_WORDS, value)
    return value


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{what} is not an object", value)
    return value


def _listener(lid: str, raw: object) -> ListenerReport:
    # This runs for every listener of every heartbeat: first the common case in one
    # expression, then (for anything else) each check with its own error.
    if type(raw) is dict:
        word = raw.get("status")
        ac, tc, bi, bo, re_ = (
            raw.get("active_connections", 0),
            raw.get("total_connections", 0),
            raw.get("bytes_in", 0),
            raw.get("bytes_out", 0),
            raw.get("request_errors", 0),
        )
        if (
            type(word) is str
            and word in _GOOD_WORDS
            and type(ac) is type(tc) is type(bi) is type(bo) is type(re_) is int
            and min(ac, tc, bi, bo, re_) >= 0
            and max(ac, tc, bi, bo, re_) <= MAX_COUNTER
        ):
            return ListenerReport(word, ac, tc, bi, bo, re_)
    try:
        d = _object(raw, "listener")
        return ListenerReport(
            status=_status(d.get("status"), "status"),
            active_connections=_counter(d.get("active_connections", 0), "active_connections"),
            total_connections=_counter(d.get("total_connections", 0), "total_connections"),
            bytes_in=_counter(d.get("bytes_in", 0), "bytes_in"),
            bytes_out=_counter(d.get("bytes_out", 0), "bytes_out"),
            request_errors=_counter(d.get("request_errors", 0), "request_errors"),
        )
    except InvalidHeartbeat as exc:
        raise InvalidHeartbeat(exc.reason, f"listener {lid}: {exc.message}") from None


def _pool(pid: str, raw: object) -> PoolReport:
    if type(raw) is dict:  # the common case first, as for listeners
        word, members = raw.get("status"), raw.get("members", {})
        if type(word) is str and word in _GOOD_WORDS and type(members) is dict:
            try:
                if _GOOD_IDS.issuperset(members) and _GOOD_WORDS.issuperset(members.values()):
                    return PoolReport(word, members)
            except TypeError:  # an unhashable status: the checks below say what is wrong
                pass
    try:
        d = _object(raw, "pool")
        members = _object(d.get("members", {}), "members")
        return PoolReport(
            status=_status(d.get("status"), "status"),
            members={
                _uuid(mid, "member id"): _status(st, "member status") for mid, st in members.items()
            },
        )
    except InvalidHeartbeat as exc:
        raise InvalidHeartbeat(exc.reason, f"pool {pid}: {exc.message}") from None


def from_dict(data: object) -> Heartbeat:
    """A `Heartbeat` from parsed JSON, checking every type; raise `InvalidHeartbeat`."""
    d = _object(data, "heartbeat")
    seq = _counter(d.get("seq"), "seq")
    ts = d.get("ts")
    generation = d.get("generation")
    version = d.get("agent_version")
    # bool is an int subclass: refuse it; NaN fails both comparisons.
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not 0 <= ts < 1e11:
        raise _bad("ts is not a time", ts)
    if generation is not None:
        generation = _counter(generation, "generation")
    if not isinstance(version, str) or not _VERSION.match(version):
        raise _bad("agent_version", version)
    state = d.get("haproxy")
    if state not in HaproxyState.__members__:
        raise _bad("haproxy state", state)
    haproxy = HaproxyState(str(state))
    vrrp = d.get("vrrp")
    if vrrp is not None and vrrp not in VrrpState.__members__:
        raise _bad("vrrp state", vrrp)
    listeners = _object(d.get("listeners", {}), "listeners")
    pools = _object(d.get("pools", {}), "pools")
    return Heartbeat(
        amphora_id=_uuid(d.get("id"), "id"),
        seq=seq,
        timestamp=float(ts),
        generation=generation,
        agent_version=version,
        haproxy=haproxy,
        listeners={
            k if k in _GOOD_IDS else _uuid(k, "listener id"): _listener(k, v)
            for k, v in listeners.items()
        },
        pools={k if k in _GOOD_IDS else _uuid(k, "pool id"): _pool(k, v) for k, v in pools.items()},
        vrrp=None if vrrp is None else VrrpState(str(vrrp)),
    )
