"""The heartbeat listener: UDP in, verified heartbeats out to the updater, in batches.

Role: two threads. The receiving thread waits for the (non-blocking) socket to be
readable, then drains it, up to `batch_max` datagrams per wake-up, verifying each
(`model.heartbeat.decode`: size, HMAC in constant time, zlib, JSON, types); anything
wrong is dropped and counted by reason, never raised. What it drained goes as one list
through a queue bounded by `queue_max` heartbeats to the processing thread, which hands
them to `HealthUpdater.process` in batches (what arrives within `batch_window`, 20 ms,
of the first one, up to `batch_max`), so the database sees one transaction per batch
whatever the rate. A full queue drops
(`overloaded`) rather than delaying every later heartbeat. When no heartbeat comes for
half a second the processing thread still writes the statistics that are due, and
`stop` writes what is held.

Drops are visible in the metrics (`ostium_heartbeats_dropped_total{reason}`) and the
log: the first drop of each reason in a window is logged with its source address, the
rest are summed into the next log line, so a flood cannot flood the log.
"""

from __future__ import annotations

import logging
import queue
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ostium.control import metrics
from ostium.control.health.updater import ACCEPTED, HealthUpdater
from ostium.model.errors import InvalidHeartbeat
from ostium.model.heartbeat import MAX_DATAGRAM, DropReason, Heartbeat, decode

log = logging.getLogger("ostium.health")
OVERLOADED = "overloaded"
RECV_SIZE = 65535
BATCH_WINDOW = 0.02
"""Seconds a batch waits for more heartbeats once the first one is there."""
GATHER = 0.005
"""Seconds the receiving thread gathers datagrams that keep coming before handing them on."""


@dataclass
class DropLog:
    """Log drops without flooding: one line per reason per `window` seconds."""

    window: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _last: dict[str, float] = field(default_factory=dict)
    _suppressed: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, source: object, detail: str) -> None:
        now = self.clock()
        if now - self._last.get(reason, -1e18) < self.window:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return
        more = self._suppressed.pop(reason, 0)
        self._last[reason] = now
        log.warning(
            "heartbeat dropped (%s) from %s: %s%s",
            reason,
            source,
            detail,
            f" (and {more} more since the last report)" if more else "",
        )


class HeartbeatReceiver:
    def __init__(
        self,
        sock: socket.socket,
        key: bytes,
        updater: HealthUpdater,
        registry: metrics.Registry = metrics.REGISTRY,
        batch_max: int = 1000,
        queue_max: int = 50_000,
        batch_window: float = BATCH_WINDOW,
    ) -> None:
        self.sock = sock
        self.key = key
        self.updater = updater
        self.batch_max = batch_max
        self.batch_window = batch_window
        self.queue_max = queue_max
        # Lists of verified heartbeats, one per wake-up of the receiving thread.
        self.queue: queue.Queue[list[Heartbeat]] = queue.Queue()
        self._queued = 0
        self._count = threading.Lock()
        self.accepted = metrics.heartbeats_accepted(registry)
        self.dropped = metrics.heartbeats_dropped(registry)
        self.drops = DropLog()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._stop.clear()
        self.sock.setblocking(False)  # one system call per datagram; waits are poll()
        for target, name in ((self._receive_loop, "hm-receive"), (self._process_loop, "hm-update")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        self.updater.flush_stats(force=True)  # what is held in memory, before exiting

    # ------------------------------------------------------------------ receiving

    def _receive_loop(self) -> None:
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        recvfrom, verify = self.sock.recvfrom, self.verify
        while not self._stop.is_set():
            if not poller.poll(500):
                continue
            got: list[Heartbeat] = []
            source: object = None
            # Drain what is waiting, and what follows within a millisecond, for up to
            # `GATHER` seconds or a batch, then hand it over in one piece: one wake-up
            # of the processing thread per list, not per datagram.
            until = time.monotonic() + GATHER
            while len(got) < self.batch_max:
                try:
                    data, source = recvfrom(RECV_SIZE)
                except BlockingIOError:
                    if time.monotonic() < until and poller.poll(1):
                        continue
                    break
                except OSError as exc:
                    if self._stop.is_set():
                        return
                    log.warning("heartbeat socket: %s", exc)
                    time.sleep(0.1)
                    break
                heartbeat = verify(data, source)
                if heartbeat is not None:
                    got.append(heartbeat)
            if got:
                self._enqueue(got, source)

    def verify(self, data: bytes, source: object = None) -> Heartbeat | None:
        """The heartbeat in one datagram; None (dropped and counted) if anything is wrong."""
        try:
            if len(data) > MAX_DATAGRAM:
                raise InvalidHeartbeat(DropReason.OVERSIZED, f"{len(data)} bytes")
            return decode(data, self.key)
        except InvalidHeartbeat as exc:
            self._drop(exc.reason, source, exc.message)
        except Exception as exc:  # nothing a sender does may stop the receiver
            self._drop(DropReason.MALFORMED, source, f"{type(exc).__name__}: {exc}")
        return None

    def handle(self, data: bytes, source: object = None) -> Heartbeat | None:
        """Verify one datagram and queue it; drop (and count) anything wrong."""
        heartbeat = self.verify(data, source)
        if heartbeat is not None and not self._enqueue([heartbeat], source):
            return None
        return heartbeat

    def _enqueue(self, heartbeats: list[Heartbeat], source: object) -> bool:
        with self._count:
            if self._queued + len(heartbeats) > self.queue_max:
                full = True
            else:
                full = False
                self._queued += len(heartbeats)
        if full:
            self.dropped.inc(len(heartbeats), reason=OVERLOADED)
            self.drops.drop(OVERLOADED, source, f"the update queue is full ({len(heartbeats)})")
            return False
        self.queue.put(heartbeats)
        return True

    def _drop(self, reason: str, source: object, detail: str) -> None:
        self.dropped.inc(reason=str(reason))
        self.drops.drop(str(reason), source, detail)

    # ------------------------------------------------------------------ processing

    def _process_loop(self) -> None:
        while not self._stop.is_set() or not self.queue.empty():
            try:
                parts = [self.queue.get(timeout=0.5)]
            except queue.Empty:
                self.updater.flush_stats()  # no heartbeats: statistics still go out in time
                continue
            batch = list(parts[0])
            # Gather for up to `batch_window`: a transaction costs about as much as a
            # few dozen heartbeats, so a trickle is written in batches too.
            until = time.monotonic() + self.batch_window
            while len(batch) < self.batch_max:
                try:
                    more = self.queue.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                parts.append(more)
                batch += more
            with self._count:
                self._queued -= len(batch)
            try:
                for i in range(0, len(batch), self.batch_max):
                    self.process(batch[i : i + self.batch_max])
            finally:
                for _ in parts:
                    self.queue.task_done()

    def process(self, batch: list[Heartbeat]) -> None:
        outcome = self.updater.process(batch)
        for reason, count in outcome.items():
            if reason == ACCEPTED:
                self.accepted.inc(count)
            else:
                self.dropped.inc(count, reason=str(reason))
                self.drops.drop(str(reason), "-", f"{count} in a batch of {len(batch)}")

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued heartbeat has been processed (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
