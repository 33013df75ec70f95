"""Helpers shared by the benchmark scripts (run as `python bench/<name>.py`)."""

from __future__ import annotations

import socket
import subprocess


class Terminated(BaseException):
    """Raised from the SIGTERM/SIGHUP handler so `finally` blocks run."""


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def responder_lines(name: str, address: str, port: int = 8080) -> list[str]:
    """A haproxy config answering every HTTP request with 200 and `name` (the benches'
    backends: a hand-written responder, no Python in the path being measured)."""
    return [
        "global",
        "    maxconn 4096",
        "defaults",
        "    mode http",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout connect 5s",
        "frontend answer",
        f"    bind {address}:{port}",
        f'    http-request return status 200 content-type text/plain string "{name}"',
    ]
