"""The controller's receiver of access logs: syslog datagrams over UDP from the agents
(haproxy's lines, forwarded unchanged), kept per load balancer for `ostium logs` and
the dashboard.

Role: started by `ostium serve` and `ostium api` (the process that answers
`GET /v2/lbaas/loadbalancers/{id}/logs`), next to the API. Memory only and bounded: the
last `log_receiver_lines` lines of each load balancer, of at most `MAX_LOAD_BALANCERS`
load balancers (the least recently logged ones go first). A tail for people; for an
archive, point `[amphora_agent] tenant_log_targets` at a syslog server. A datagram
whose load balancer id is not a UUID is dropped; the lines are not signed (as with
Octavia's syslog), so the receiver listens on loopback unless told otherwise.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import OrderedDict, deque
from typing import Any

from ostium.model.access_log import decoded, split_datagram

log = logging.getLogger("ostium.access_logs")

MAX_LOAD_BALANCERS = 10_000
BATCH = 4096
"""Datagrams taken off the socket per lock of the store, at most."""
LINGER = 0.01
"""Seconds to let lines queue up after a wake-up before taking them all."""
SO_RCVBUFFORCE = 33  # Linux's (the socket module does not name it)
RCVBUF = 4 << 20
"""Bytes of queue on the socket (about 4,000 lines) while the thread lingers."""


class LogStore:
    """Lines kept as the bytes that came (decoded when read: most are never read)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.lines: OrderedDict[str, deque[tuple[int, bytes]]] = OrderedDict()
        self.seq = 0
        self.changed = threading.Condition()
        self.waiting = 0

    def add(self, lb_id: str, line: str) -> None:
        self.add_many([(lb_id, line.encode())])

    def add_many(self, items: list[tuple[str, bytes]]) -> None:
        """Lines of any load balancers, in order, under one lock."""
        with self.changed:
            lines = self.lines
            for lb_id, line in items:
                self.seq += 1
                tail = lines.get(lb_id)
                if tail is None:
                    tail = lines[lb_id] = deque(maxlen=self.keep)
                    if len(lines) > MAX_LOAD_BALANCERS:
                        lines.popitem(last=False)
                else:
                    lines.move_to_end(lb_id)
                tail.append((self.seq, line))
            if self.waiting:
                self.changed.notify_all()

    def since(self, lb_id: str, after: int, limit: int, wait: float = 0.0) -> dict[str, Any]:
        """Lines of `lb_id` newer than `after` (at most the last `limit`); waits up to
        `wait` seconds for one if there is none yet (a long poll for `--follow`)."""
        with self.changed:
            if wait > 0 and not self._newer(lb_id, after):
                self.waiting += 1
                try:
                    self.changed.wait_for(lambda: self._newer(lb_id, after), timeout=wait)
                finally:
                    self.waiting -= 1
            found = [(s, line) for s, line in self.lines.get(lb_id, ()) if s > after]
            found = found[-limit:] if limit > 0 else []
            return {
                "lines": [{"seq": s, "line": decoded(line)} for s, line in found],
                "next": found[-1][0] if found else max(after, 0),
            }

    def _newer(self, lb_id: str, after: int) -> bool:
        tail = self.lines.get(lb_id)
        return bool(tail) and tail[-1][0] > after  # type: ignore[index]


class LogReceiver:
    def __init__(self, sock: socket.socket, store: LogStore) -> None:
        self.sock = sock
        self.store = store
        self.thread = threading.Thread(target=self._run, name="access-log-receiver", daemon=True)
        self.running = True

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.running = False
        self.sock.close()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        while self.running:
            try:
                batch = [self.sock.recv(65535)]
                # Under load, let lines queue up for a moment and take them all under
                # one lock: one wake-up per batch, not per request.
                time.sleep(LINGER)
                while len(batch) < BATCH:
                    batch.append(self.sock.recv(65535, socket.MSG_DONTWAIT))
            except BlockingIOError:
                pass
            except OSError:
                if not self.running:
                    return
                continue
            self.take_many(batch)

    def take(self, data: bytes) -> None:
        self.take_many([data])

    def take_many(self, datagrams: list[bytes]) -> None:
        items = [found for found in map(split_datagram, datagrams) if found is not None]
        if items:
            self.store.add_many(items)


def start(ip: str, port: int, keep: int) -> tuple[LogStore, LogReceiver | None]:
    """The store, and its receiver if the port could be bound (else the API still
    serves, with no lines, and says why once)."""
    store = LogStore(keep)
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        try:  # root may exceed net.core.rmem_max
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.bind((ip, port))
    except OSError as exc:
        sock.close()
        log.error("access log receiver not started: udp %s:%d: %s", ip, port, exc)
        return store, None
    receiver = LogReceiver(sock, store)
    receiver.start()
    log.info("access log receiver listening on udp %s:%d", ip, port)
    return store, receiver
