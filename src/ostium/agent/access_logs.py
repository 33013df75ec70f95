"""Access logs: haproxy's syslog datagrams, read from one socket per amphora and sent on
to the log targets (`[amphora_agent] tenant_log_targets`: the controller's receiver or
any syslog server, UDP).

Role: one thread (`AccessLogForwarder`) for all the amphorae of the agent. Every
`interval` it makes the set of sockets match the amphorae the registry holds (a new
amphora gets `<socket_dir>/<amphora id>.sock`, a removed one loses it), and in between
it reads whatever haproxy sent and forwards each datagram unchanged. Nothing is ever
written to a file, so nothing grows: a line no target takes is dropped.

The sockets are outside the amphora directories because haproxy's workers send as the
unprivileged `user` of the config, who can neither traverse the state directory nor
write a root-owned socket: the directory is world-traversable and each socket belongs
to that user with mode 0600.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import selectors
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

LOG = logging.getLogger(__name__)
Route = tuple[Callable[[bytes, tuple[str, int]], int], tuple[str, int]]

DEFAULT_DIR = Path("/run/ostium/access-logs")
MAX_DATAGRAM = 65535


def socket_path(directory: Path, amphora_id: str) -> Path:
    return directory / f"{amphora_id}.sock"


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


class AccessLogForwarder:
    def __init__(
        self,
        directory: Path,
        targets: list[tuple[str, int]],
        amphorae: Callable[[], Iterable[str]],
        user: str | None = "nobody",
        interval: float = 1.0,
    ) -> None:
        self.directory = directory
        self.targets = targets
        self.amphorae = amphorae
        self.user = user
        self.interval = interval
        self.selector = selectors.DefaultSelector()
        self.sockets: dict[str, socket.socket] = {}
        self.out: dict[int, socket.socket] = {}
        self.lock = threading.Lock()
        """Guards `sockets`: `ensure` runs on the apply path, `sync` on this thread."""
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="access-logs", daemon=True)
        self.forwarded = 0

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)
        with self.lock:
            for amphora_id in list(self.sockets):
                self._close(amphora_id)

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.sync()
                self.pump(self.interval)
            except Exception:  # keep forwarding whatever one amphora's socket did
                LOG.exception("access logs: forwarding failed")
                self.stop_event.wait(self.interval)

    def sync(self) -> None:
        wanted = set(self.amphorae())
        with self.lock:
            for amphora_id in wanted - set(self.sockets):
                self._open(amphora_id)
            for amphora_id in set(self.sockets) - wanted:
                self._close(amphora_id)

    def ensure(self, amphora_id: str) -> None:
        """The amphora's socket, now: haproxy started before it exists would drop its
        first lines (a new amphora serves well within one `interval`)."""
        with self.lock:
            if amphora_id not in self.sockets:
                self._open(amphora_id)

    def pump(self, timeout: float) -> None:
        routes = self._routes()
        for key, _ in self.selector.select(timeout):
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

    def _open(self, amphora_id: str) -> None:
        path = socket_path(self.directory, amphora_id)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(path))
        sock.setblocking(False)
        self._hand_over(path)
        self.selector.register(sock, selectors.EVENT_READ)
        self.sockets[amphora_id] = sock

    def _hand_over(self, path: Path) -> None:
        """Let haproxy's unprivileged workers (and only them) send to the socket."""
        if self.user and os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(self.user)
            except KeyError:
                path.chmod(0o666)
                return
            os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(0o600 if self.user and os.geteuid() == 0 else 0o666)

    def _close(self, amphora_id: str) -> None:
        sock = self.sockets.pop(amphora_id)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            socket_path(self.directory, amphora_id).unlink()
