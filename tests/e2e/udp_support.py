"""UDP and SCTP helpers for the e2e tests: servers in backend namespaces (from
`ostium.devtools.udp_backends`) and datagrams through a VIP, each on a new socket (a new
flow for the load balancer)."""

from __future__ import annotations

import collections
import errno
import itertools
import random
import signal
import socket
import subprocess
import sys

from api_support import Backends, sh, wait_for

UDP_PORT = 5353
SCTP_PORT = 3868


class UdpServers:
    """UDP (and SCTP) servers in the backend namespaces, started and stopped by test."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self.procs: dict[tuple[str, int], subprocess.Popen[bytes]] = {}

    def start(self, i: int, kind: str = "udp", port: int = UDP_PORT) -> None:
        b = self.backends[i]
        argv = ["ip", "netns", "exec", b.namespace, sys.executable, "-m"]
        argv += ["ostium.devtools.udp_backends", kind, "--name", b.name]
        argv += ["--bind", b.address, "--port", str(port)]
        self.procs[(kind, i)] = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        what = ["-Huln", f"sport = :{port}"] if kind == "udp" else ["-Hwan"]
        wait_for(
            lambda: sh("ip", "netns", "exec", b.namespace, "ss", *what).stdout.strip(),
            10,
            what=f"{b.name} listening",
        )

    def stop(self, i: int, kind: str = "udp") -> None:
        proc = self.procs.pop((kind, i), None)
        if proc is not None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for kind, i in list(self.procs):
            self.stop(i, kind)


# Source ports for `ask`, below the kernel's ephemeral range (32768-60999) and never
# the same twice in a run. A kernel-chosen port can repeat one used seconds before, and
# conntrack then still holds that flow (30 s, 120 s once it is a stream) with the member
# it was given then: by design an old flow keeps its member, so a reused port made a
# "new" flow land on a member that was already drained.
# The start is random because an earlier run's flows may still be tracked.
_START = random.randrange(10000, 32000)
_SOURCE_PORTS = itertools.cycle([*range(_START, 32000), *range(10000, _START)])


def fresh_port() -> int:
    return next(_SOURCE_PORTS)


def _bind_fresh_port(s: socket.socket, source: str | None, port: int | None) -> None:
    if port is not None:
        s.bind((source or "", port))
        return
    for _ in range(100):
        try:
            s.bind((source or "", next(_SOURCE_PORTS)))
            return
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
    raise RuntimeError("no free source port for a UDP probe")


def ask(
    address: str,
    port: int,
    timeout: float = 2.0,
    source: str | None = None,
    source_port: int | None = None,
) -> str | None:
    """One datagram from a source port not used before in this run (a new flow for the
    load balancer), or from `source_port` (the same flow again): the name of the member
    that answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        _bind_fresh_port(s, source, source_port)
        s.sendto(b"hello", (address, port))
        try:
            data = s.recv(2048)
        except OSError:
            return None
    return data.decode().split(" ", 1)[0]


def spread(address: str, port: int, n: int) -> collections.Counter[str | None]:
    return collections.Counter(ask(address, port) for _ in range(n))
