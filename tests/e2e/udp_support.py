"""UDP and SCTP helpers for the e2e tests: servers in backend namespaces (from
`ostium.devtools.udp_backends`) and datagrams through a VIP, each on a new socket (a new
flow for the load balancer)."""

from __future__ import annotations

import collections
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


def ask(address: str, port: int, timeout: float = 2.0, source: str | None = None) -> str | None:
    """One datagram on a new socket (a new flow): the name of the member that answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        s.sendto(b"hello", (address, port))
        try:
            data = s.recv(2048)
        except OSError:
            return None
    return data.decode().split(" ", 1)[0]


def spread(address: str, port: int, n: int) -> collections.Counter[str | None]:
    return collections.Counter(ask(address, port) for _ in range(n))
