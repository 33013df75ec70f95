"""Access logs: haproxy's syslog datagrams, read from one UDP socket per amphora and sent
on to the log targets (`[amphora_agent] tenant_log_targets`: the controller's receiver
or any syslog server, UDP).

Role: one thread (`AccessLogForwarder`) for all the amphorae of the agent. Every
`interval` it makes the set of sockets match the amphorae the registry holds, and in
between it reads whatever haproxy sent and forwards each datagram unchanged. Nothing is
ever written to a file, so nothing grows: a line no target takes is dropped.

Each amphora's socket is bound to `LOG_ADDRESS` (127.0.0.1:1514) inside the amphora's
own network namespace (made by a short-lived thread that enters it), so haproxy's
unprivileged workers reach it with no file permission to grant, and nothing outside
the namespace can send to it. UDP, not a unix socket: a unix datagram socket queues at
most `net.unix.max_dgram_qlen` datagrams (10 on this kernel), and haproxy drops a line
it cannot send at once; a UDP socket queues up to its receive buffer (`RCVBUF`, about
4,000 lines). The thread wakes at most every `LINGER` seconds under load and then
takes everything queued: one wake-up per batch, not per request.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable

from ostium.agent.setns import enter_namespace, namespace_inode

LOG = logging.getLogger(__name__)
Route = tuple[Callable[[bytes, tuple[str, int]], int], tuple[str, int]]

LOG_ADDRESS = ("127.0.0.1", 1514)
"""Where haproxy sends its lines, inside each amphora's namespace (its own loopback)."""
MAX_DATAGRAM = 65535
RCVBUF = 4 << 20
SO_RCVBUFFORCE = 33  # Linux's (the socket module does not name it)
LINGER = 0.01
"""Seconds to let lines queue up after a wake-up before taking them all."""


def haproxy_target() -> str:
    """The `log` address of haproxy.cfg's global section."""
    return f"{LOG_ADDRESS[0]}:{LOG_ADDRESS[1]}"


def parse_targets(text: str) -> list[tuple[str, int]]:
    """`host:port,host:port` (IPv6 as `[addr]:port`); ValueError names a bad entry."""
    out = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit() or not host or not 0 < int(port) < 65536:
            raise ValueError(f"log target {item!r} is not host:port")
        out.append((host.strip("[]"), int(port)))
    return out


def bind_in_namespace(namespace: str) -> socket.socket:
    """A UDP socket bound to `LOG_ADDRESS` in `namespace`, made by a thread that enters
    it (a socket keeps the namespace it was made in; this thread's stays the host's)."""
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def make() -> None:
        try:
            enter_namespace(namespace)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                _large_buffer(sock)
                sock.bind(LOG_ADDRESS)
            except BaseException:
                sock.close()
                raise
            made.append(sock)
        except BaseException as exc:  # handed to the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=make, name=f"access-log-bind-{namespace}")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    made[0].setblocking(False)
    return made[0]


def _large_buffer(sock: socket.socket) -> None:
    """`RCVBUF` bytes of queue (root may exceed net.core.rmem_max)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)


class AccessLogForwarder:
    def __init__(
        self,
        targets: list[tuple[str, int]],
        amphorae: Callable[[], Iterable[tuple[str, str]]],
        interval: float = 1.0,
        linger: float = LINGER,
    ) -> None:
        self.targets = targets
        self.amphorae = amphorae
        """(amphora id, namespace) of every amphora the agent holds."""
        self.interval = interval
        self.linger = linger
        self.selector = selectors.DefaultSelector()
        self.sockets: dict[str, socket.socket] = {}
        self.made_in: dict[str, int | None] = {}
        """The namespace inode each socket was made in (a rebuilt namespace is new)."""
        self.out: dict[int, socket.socket] = {}
        self.lock = threading.Lock()
        """Guards `sockets`: `ensure` runs on the apply path, `sync` on this thread."""
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="access-logs", daemon=True)
        self.forwarded = 0

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)
        with self.lock:
            for amphora_id in list(self.sockets):
                self._close(amphora_id)
        for out in self.out.values():
            out.close()
        self.out.clear()
        self.selector.close()

    def _run(self) -> None:
        next_sync = 0.0
        while not self.stop_event.is_set():
            try:
                now = time.monotonic()
                if now >= next_sync:
                    self.sync()
                    next_sync = now + self.interval
                self.pump(max(0.0, next_sync - time.monotonic()))
            except Exception:  # keep forwarding whatever one amphora's socket did
                LOG.exception("access logs: forwarding failed")
                self.stop_event.wait(self.interval)

    def sync(self) -> None:
        wanted = dict(self.amphorae())
        with self.lock:
            for amphora_id, namespace in wanted.items():
                if amphora_id in self.sockets and self._moved(amphora_id, namespace):
                    self._close(amphora_id)  # its namespace was made anew: follow it
            for amphora_id in wanted.keys() - self.sockets.keys():
                self._open_quietly(amphora_id, wanted[amphora_id])
            for amphora_id in self.sockets.keys() - wanted.keys():
                self._close(amphora_id)

    def ensure(self, amphora_id: str, namespace: str) -> None:
        """The amphora's socket, now: haproxy started before it exists would drop its
        first lines (a new amphora serves well within one `interval`)."""
        with self.lock:
            if amphora_id in self.sockets and self._moved(amphora_id, namespace):
                self._close(amphora_id)
            if amphora_id not in self.sockets:
                self._open(amphora_id, namespace)

    def _moved(self, amphora_id: str, namespace: str) -> bool:
        return namespace_inode(namespace) != self.made_in.get(amphora_id)

    def pump(self, timeout: float) -> None:
        ready = self.selector.select(timeout)
        if not ready:
            return
        # Under load a line arrives every few microseconds: let them queue up for a
        # moment and take them all, instead of waking up (twice, here and in the
        # receiver) for every request.
        self.stop_event.wait(self.linger)
        routes = self._routes()
        for key, _ in ready:
            recv = key.fileobj.recv  # type: ignore[union-attr]
            while True:
                try:
                    data = recv(MAX_DATAGRAM)
                except OSError:  # BlockingIOError: drained; anything else: next socket
                    break
                for sendto, address in routes:
                    try:
                        sendto(data, address)
                    except OSError:  # a target that is down loses the line
                        continue  # (not contextlib.suppress: a context per line costs)
                self.forwarded += 1

    def _routes(self) -> list[Route]:
        """(the sending socket's sendto, target) per target; one socket per family."""
        routes: list[Route] = []
        for host, port in self.targets:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            out = self.out.get(family)
            if out is None:
                out = self.out[family] = socket.socket(family, socket.SOCK_DGRAM)
            routes.append((out.sendto, (host, port)))
        return routes

    def _open_quietly(self, amphora_id: str, namespace: str) -> None:
        """`_open` for the periodic pass: an amphora whose namespace is not there (yet,
        or any more) gets its socket at its apply or a later pass."""
        try:
            self._open(amphora_id, namespace)
        except OSError as exc:
            LOG.debug("access logs: no socket for amphora %s yet: %s", amphora_id, exc)

    def _open(self, amphora_id: str, namespace: str) -> None:
        inode = namespace_inode(namespace)
        sock = bind_in_namespace(namespace)
        self.made_in[amphora_id] = inode
        self.selector.register(sock, selectors.EVENT_READ)
        self.sockets[amphora_id] = sock

    def _close(self, amphora_id: str) -> None:
        sock = self.sockets.pop(amphora_id)
        self.made_in.pop(amphora_id, None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)
        sock.close()
