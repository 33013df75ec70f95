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
import re
import socket
import threading
from collections import OrderedDict, deque
from typing import Any

from ostium.model.access_log import lb_of, message

log = logging.getLogger("ostium.access_logs")

MAX_LOAD_BALANCERS = 10_000
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class LogStore:
    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.lines: OrderedDict[str, deque[tuple[int, str]]] = OrderedDict()
        self.seq = 0
        self.changed = threading.Condition()

    def add(self, lb_id: str, line: str) -> None:
        with self.changed:
            self.seq += 1
            tail = self.lines.pop(lb_id, None) or deque(maxlen=self.keep)
            tail.append((self.seq, line))
            self.lines[lb_id] = tail
            while len(self.lines) > MAX_LOAD_BALANCERS:
                self.lines.popitem(last=False)
            self.changed.notify_all()

    def since(self, lb_id: str, after: int, limit: int, wait: float = 0.0) -> dict[str, Any]:
        """Lines of `lb_id` newer than `after` (at most the last `limit`); waits up to
        `wait` seconds for one if there is none yet (a long poll for `--follow`)."""
        with self.changed:
            if wait > 0 and not self._newer(lb_id, after):
                self.changed.wait_for(lambda: self._newer(lb_id, after), timeout=wait)
            found = [(s, line) for s, line in self.lines.get(lb_id, ()) if s > after]
            found = found[-limit:] if limit > 0 else []
            return {
                "lines": [{"seq": s, "line": line} for s, line in found],
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
                data = self.sock.recv(65535)
            except OSError:
                if not self.running:
                    return
                continue
            self.take(data)

    def take(self, data: bytes) -> None:
        line = message(data)
        lb_id = lb_of(line)
        if lb_id is not None and _UUID.match(lb_id):
            self.store.add(lb_id, line)


def start(ip: str, port: int, keep: int) -> tuple[LogStore, LogReceiver | None]:
    """The store, and its receiver if the port could be bound (else the API still
    serves, with no lines, and says why once)."""
    store = LogStore(keep)
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((ip, port))
    except OSError as exc:
        sock.close()
        log.error("access log receiver not started: udp %s:%d: %s", ip, port, exc)
        return store, None
    receiver = LogReceiver(sock, store)
    receiver.start()
    log.info("access log receiver listening on udp %s:%d", ip, port)
    return store, receiver
