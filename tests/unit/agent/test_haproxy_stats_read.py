"""`haproxy_stats.read` against a real haproxy: both answers over one connection."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from pathlib import Path

from ostium.agent import haproxy_stats


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_one_connection_gives_the_pid_and_every_frontend_and_server(tmp_path: Path) -> None:
    listener, pool, member = (str(uuid.uuid4()) for _ in range(3))
    sock = tmp_path / "stats.sock"
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "global\n"
        f"    stats socket {sock} mode 600 level admin\n"
        "defaults\n"
        "    mode http\n"
        "    timeout client 5s\n"
        "    timeout server 5s\n"
        "    timeout connect 5s\n"
        f"frontend {listener}\n"
        f"    bind 127.0.0.1:{_free_port()}\n"
        f"    default_backend {pool}:{listener}\n"
        f"backend {pool}:{listener}\n"
        f"    server {member} 127.0.0.1:{_free_port()} weight 0\n"
    )
    pidfile = tmp_path / "haproxy.pid"
    subprocess.run(["haproxy", "-D", "-p", str(pidfile), "-f", str(config)], check=True)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        snapshot = haproxy_stats.read(str(sock))
        assert snapshot.worker_pid == int(pidfile.read_text().split()[0])
        assert set(snapshot.frontends) == {listener}
        assert snapshot.frontends[listener].status == "OPEN"
        assert set(snapshot.pools) == {pool}
        assert snapshot.pools[pool].members == {member: "DRAIN"}
    finally:
        subprocess.run(["kill", pidfile.read_text().split()[0]], check=False)
