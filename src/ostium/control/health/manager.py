"""The health manager as one unit: heartbeat key, UDP socket, receiver, watchdog.

Role: what `ostium health` runs alone and `ostium serve` runs next to the API and the
worker. `HealthManager.start()` binds `[health_manager] bind_ip:bind_port`, starts the
receiver (verify, batch, update) and the watchdog (silent amphorae -> failover).

The heartbeat key is `[health_manager] heartbeat_key`, or else a random key created
once in `<state_dir>/heartbeat.key` (0600). Either way that file holds the effective
key, because the local agent reads its key from a file (never from its command line,
where any user could read it).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

from ostium.control import metrics
from ostium.control.db.engine import Database
from ostium.control.health.receiver import HeartbeatReceiver
from ostium.control.health.updater import HealthUpdater
from ostium.control.health.watchdog import Watchdog
from ostium.control.settings import HealthSettings, Settings

log = logging.getLogger("ostium.health")
KEY_FILE = "heartbeat.key"


def key_file(settings: Settings) -> Path:
    """The file holding the effective heartbeat key (created or updated as needed)."""
    path = settings.state_dir / KEY_FILE
    wanted = settings.health.heartbeat_key.encode()
    try:
        current = path.read_bytes().strip()
    except FileNotFoundError:
        current = b""
    if wanted and current != wanted:
        _write_secret(path, wanted)
    elif not wanted and not current:
        _write_secret(path, secrets.token_urlsafe(32).encode(), exclusive=True)
    return path


def heartbeat_key(settings: Settings) -> bytes:
    return key_file(settings).read_bytes().strip()


def _write_secret(path: Path, data: bytes, exclusive: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if exclusive:  # several processes may start at once: the first one's key wins
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def open_socket(health: HealthSettings) -> socket.socket:
    """The bound heartbeat socket; raises OSError if the address is taken."""
    family = socket.AF_INET6 if ":" in health.bind_ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if health.sock_rlimit > 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, health.sock_rlimit)
        sock.bind((health.bind_ip, health.bind_port))
    except OSError:
        sock.close()
        raise
    return sock


class HealthManager:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        wake: Callable[[], None] = lambda: None,
        registry: metrics.Registry = metrics.REGISTRY,
    ) -> None:
        self.db = db
        self.settings = settings
        self.wake = wake
        self.registry = registry
        self.sock: socket.socket | None = None
        self.receiver: HeartbeatReceiver | None = None
        self.watchdog: Watchdog | None = None

    def start(self) -> None:
        health = self.settings.health
        self.sock = open_socket(health)
        updater = HealthUpdater(self.db, stats_interval=health.stats_update_interval)
        self.receiver = HeartbeatReceiver(
            self.sock, heartbeat_key(self.settings), updater, self.registry
        )
        self.watchdog = Watchdog(self.db, health, self.wake, self.registry)
        self.receiver.start()
        self.watchdog.start()
        log.info(
            "health manager listening on udp %s:%d (heartbeat timeout %.1fs, "
            "failover threshold %s)",
            health.bind_ip,
            health.bind_port,
            health.heartbeat_timeout,
            health.failover_threshold or "none",
        )

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.receiver is not None:
            self.receiver.stop()
        if self.sock is not None:
            self.sock.close()
