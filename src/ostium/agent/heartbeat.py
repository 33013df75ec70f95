"""The heartbeat sender: one signed UDP datagram per amphora, every interval, to every
health manager (DESIGN decision 6).

Role: a thread in the agent. Each beat it asks the manager for its amphorae, reads each
haproxy's stats socket, carries the counters over reloads (`counters`), builds a
`Heartbeat`, signs it (`model.heartbeat.encode`) and sends it to every address of
`controller_ip_port_list`. Send errors are logged and ignored: a missing heartbeat is
exactly what the health manager is there to notice.

What an amphora says about itself (`HaproxyState`): RUNNING with its listeners and
pools; NO_CONFIG before its first spec; DOWN when haproxy is not running although a spec
is applied (or its stats socket stopped answering for `SOCKET_FAILURES` beats); and
NO_NAMESPACE when its namespace vanished, so the health manager fails it over.
ACTIVE_STANDBY amphorae also say what keepalived reports (MASTER, BACKUP, FAULT, STOP).

Sequence numbers only grow, across restarts too (`SequenceSource`). Time and sleep are
injected. Must not import the control plane.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ostium import __version__
from ostium.agent import haproxy_process, haproxy_stats, keepalived, netns
from ostium.agent.amphora import AmphoraProbe
from ostium.agent.amphorae import AmphoraManager
from ostium.agent.errors import AgentFailure
from ostium.agent.nftables import statistics as lvs_statistics
from ostium.model.errors import InvalidHeartbeat
from ostium.model.heartbeat import (
    HaproxyState,
    Heartbeat,
    ListenerReport,
    PoolReport,
    encode,
)

LOG = logging.getLogger(__name__)
SOCKET_FAILURES = 2
"""Beats in a row without a stats answer (haproxy running) before reporting DOWN."""
STATS_TIMEOUT = 0.5
"""Seconds a stats socket may take to answer one command (a healthy one takes ms)."""
WORKERS = 32
"""Amphorae asked at once: each answer waits for its haproxy to be scheduled, so on a
busy host of a thousand amphorae eight in flight made a round outlast the interval."""
SEQ_BLOCK = 1_000_000


def parse_targets(text: str) -> list[tuple[str, int]]:
    """`ip:port[, ip:port ...]` (IPv6 in brackets) -> [(host, port)]."""
    out: list[tuple[str, int]] = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f"controller address {item!r} is not ip:port")
        out.append((host.strip("[]"), int(port)))
    return out


class SequenceSource:
    """Sequence numbers that grow across agent restarts.

    Starts above both the wall clock in microseconds and the last reserved block
    written to `path`; a new block is reserved (one small write) every `SEQ_BLOCK`
    numbers, so a restart (even after a crash) never reuses a number.
    """

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        try:
            saved = int(path.read_text().strip() or 0)
        except (OSError, ValueError):
            saved = 0
        self.next = max(saved, int(clock() * 1_000_000)) + 1
        self.reserved = 0
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            if self.next >= self.reserved:
                self.reserved = self.next + SEQ_BLOCK
                tmp = self.path.with_name(self.path.name + ".tmp")
                try:
                    tmp.write_text(str(self.reserved))
                    tmp.replace(self.path)
                except OSError as exc:
                    LOG.warning("cannot save heartbeat sequence to %s: %s", self.path, exc)
            value = self.next
            self.next += 1
            return value


@dataclass
class HeartbeatSettings:
    targets: list[tuple[str, int]]
    key: bytes
    interval: float = 2.0


@dataclass
class HeartbeatSender:
    manager: AmphoraManager
    settings: HeartbeatSettings
    sequence: Callable[[], int]
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], object] | None = None
    """Defaults to waiting on the wake event (`stop()` and `poke()` interrupt it)."""
    sent: int = 0
    _failures: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)
    _poked: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(WORKERS, thread_name_prefix="heartbeat")
    )
    _thread: threading.Thread | None = None
    _sockets: dict[int, socket.socket] = field(default_factory=dict)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._stop.clear()
        self.manager.on_applied.append(self.poke)
        self._thread = threading.Thread(target=self.run, name="heartbeat", daemon=True)
        self._thread.start()

    def poke(self, amphora_id: str) -> None:
        """Report this amphora now, not at the next beat: a new amphora is then known to
        be alive (and watched for silence) from its first spec on."""
        with self._lock:
            self._poked.add(amphora_id)
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=True)
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def run(self) -> None:
        sleep = self.sleep or self._wake.wait
        next_beat = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            with self._lock:
                poked, self._poked = self._poked, set()
            try:
                if now >= next_beat:
                    self.beat()
                    next_beat += self.settings.interval
                    if next_beat < now:  # fell behind (a slow stats socket): no burst
                        next_beat = now + self.settings.interval
                elif poked:
                    self.beat(poked)
            except Exception:  # the sender must outlive any single failure
                LOG.exception("heartbeat round failed")
            self._wake.clear()
            # Checked after the clear: a stop() or poke() during the beat is not lost.
            if not self._poked and not self._stop.is_set():
                sleep(max(0.0, next_beat - time.monotonic()))

    # ------------------------------------------------------------------ one beat

    def beat(self, only: set[str] | None = None) -> int:
        """Send one heartbeat per amphora (or per amphora in `only`) to every target;
        return the number of datagrams sent.

        Amphorae are looked at in parallel and each heartbeat leaves as soon as it is
        built, so a hung haproxy (its stats socket silent until `STATS_TIMEOUT`) never
        delays the heartbeats of the other amphorae."""
        probes = [p for p in self.manager.probes() if only is None or p.amphora_id in only]
        if len(probes) == 1:
            return self._send_one(probes[0])
        started = time.monotonic()
        futures = [self._pool.submit(self._send_one, p) for p in probes]
        count = sum(f.result() for f in futures)
        took = time.monotonic() - started
        if only is None and took > self.settings.interval:
            # Each amphora is heard once a round: a round longer than the interval
            # brings every one of them that much closer to the health manager's timeout.
            LOG.warning(
                "heartbeat round of %d amphorae took %.1f s (interval %.1f s)",
                len(probes),
                took,
                self.settings.interval,
            )
        return count

    def _send_one(self, probe: AmphoraProbe) -> int:
        heartbeat = self.build(probe)
        if heartbeat is None:
            return 0
        try:
            datagram = encode(heartbeat, self.settings.key)
        except InvalidHeartbeat as exc:
            LOG.error("amphora %s: %s", probe.amphora_id, exc)
            return 0
        count = sum(self._send(datagram, target) for target in self.settings.targets)
        with self._lock:
            self.sent += count
        return count

    def build(self, probe: AmphoraProbe) -> Heartbeat | None:
        """This amphora's heartbeat now, or None to skip one beat (stats blip)."""
        listeners: dict[str, ListenerReport] = {}
        pools: dict[str, PoolReport] = {}
        if not netns.namespace_exists(probe.namespace):
            state = HaproxyState.NO_NAMESPACE
        elif probe.generation is None or not probe.paths.config.exists():
            state = HaproxyState.NO_CONFIG
        elif haproxy_process.master_pid(probe.paths) is None:
            state = HaproxyState.DOWN
        else:
            state = HaproxyState.RUNNING
            try:
                with probe.counters.lock:
                    snapshot = haproxy_stats.read(
                        str(probe.paths.stats_socket), timeout=STATS_TIMEOUT
                    )
                    totals = probe.counters.observe(snapshot)
            except AgentFailure as exc:
                failures = self._failures.get(probe.amphora_id, 0) + 1
                self._failures[probe.amphora_id] = failures
                if failures < SOCKET_FAILURES:
                    LOG.info("amphora %s: stats socket: %s", probe.amphora_id, exc.message)
                    return None
                state = HaproxyState.DOWN
            else:
                self._failures.pop(probe.amphora_id, None)
                for lid, fe in snapshot.frontends.items():
                    listeners[lid] = ListenerReport(
                        status=fe.status, active_connections=fe.active_connections, **totals[lid]
                    )
                for pid, pool in snapshot.pools.items():
                    pools[pid] = PoolReport(status=pool.status, members=pool.members)
        if state == HaproxyState.RUNNING and probe.spec is not None:
            # UDP/SCTP listeners: nftables', reported in the same words (agent/nftables).
            lvs_listeners, lvs_pools = lvs_statistics.report(
                probe.namespace, probe.spec, probe.lvs_verdicts
            )
            listeners.update(lvs_listeners)
            pools.update(lvs_pools)
        vrrp = None
        if probe.keepalived is not None and state != HaproxyState.NO_NAMESPACE:
            vrrp = keepalived.current_state(probe.keepalived)
        return Heartbeat(
            amphora_id=probe.amphora_id,
            seq=self.sequence(),
            timestamp=self.clock(),
            generation=probe.generation,
            agent_version=__version__,
            haproxy=state,
            listeners=listeners,
            pools=pools,
            vrrp=vrrp,
        )

    def _send(self, datagram: bytes, target: tuple[str, int]) -> int:
        family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
        with self._lock:
            sock = self._sockets.get(family)
            if sock is None:
                sock = self._sockets[family] = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.sendto(datagram, target)
        except OSError as exc:
            LOG.debug("heartbeat to %s:%s failed: %s", target[0], target[1], exc)
            return 0
        return 1
