"""The heartbeat listener: UDP in, verified heartbeats out to the updater, in batches.

Role: two threads. The receiving thread reads datagrams from the bound socket and
verifies each (`model.heartbeat.decode`: size, HMAC in constant time, zlib, JSON,
types); anything wrong is dropped and counted by reason, never raised. Good heartbeats
go through a bounded queue to the processing thread, which hands them to
`HealthUpdater.process` in batches (as many as are waiting, up to `batch_max`), so the
database sees one transaction per batch whatever the rate. A full queue drops
(`overloaded`) rather than delaying every later heartbeat.

Drops are visible in the metrics (`ostium_heartbeats_dropped_total{reason}`) and the
log: the first drop of each reason in a window is logged with its source address, the
rest are summed into the next log line, so a flood cannot flood the log.
"""

from __future__ import annotations

import logging
import queue
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
    ) -> None:
        self.sock = sock
        self.key = key
        self.updater = updater
        self.batch_max = batch_max
        self.queue: queue.Queue[Heartbeat] = queue.Queue(queue_max)
        self.accepted = metrics.heartbeats_accepted(registry)
        self.dropped = metrics.heartbeats_dropped(registry)
        self.drops = DropLog()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._stop.clear()
        self.sock.settimeout(0.5)
        for target, name in ((self._receive_loop, "hm-receive"), (self._process_loop, "hm-update")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()

    # ------------------------------------------------------------------ receiving

    def _receive_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(RECV_SIZE)
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    return
                log.warning("heartbeat socket: %s", exc)
                time.sleep(0.1)
                continue
            self.handle(data, source)

    def handle(self, data: bytes, source: object = None) -> Heartbeat | None:
        """Verify one datagram and queue it; drop (and count) anything wrong."""
        try:
            if len(data) > MAX_DATAGRAM:
                raise InvalidHeartbeat(DropReason.OVERSIZED, f"{len(data)} bytes")
            heartbeat = decode(data, self.key)
        except InvalidHeartbeat as exc:
            self._drop(exc.reason, source, exc.message)
            return None
        except Exception as exc:  # nothing a sender does may stop the receiver
            self._drop(DropReason.MALFORMED, source, f"{type(exc).__name__}: {exc}")
            return None
        try:
            self.queue.put_nowait(heartbeat)
        except queue.Full:
            self._drop(OVERLOADED, source, "the update queue is full")
            return None
        return heartbeat

    def _drop(self, reason: str, source: object, detail: str) -> None:
        self.dropped.inc(reason=str(reason))
        self.drops.drop(str(reason), source, detail)

    # ------------------------------------------------------------------ processing

    def _process_loop(self) -> None:
        while not self._stop.is_set() or not self.queue.empty():
            try:
                first = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            batch = [first, *self._drain()]
            try:
                self.process(batch)
            finally:
                for _ in batch:
                    self.queue.task_done()

    def _drain(self) -> list[Heartbeat]:
        batch: list[Heartbeat] = []
        while len(batch) < self.batch_max - 1:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return batch

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
