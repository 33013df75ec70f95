"""The agent's access-log relay on a real namespace: haproxy's side of it is a UDP socket
on the amphora's own loopback, so a burst of lines (haproxy sends one per request and
drops any it cannot send at once) is queued whole and reaches the target in order, also
after the namespace is made anew. The full path with haproxy, the receiver and
`ostium logs --follow` is in `test_dashboard.py`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from e2e_support import sh

from ostium.agent.access_logs import LOG_ADDRESS, AccessLogForwarder

NAMESPACE = "ostt-alr"
BURST = 3000

SENDER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tag = sys.argv[1]
for i in range(int(sys.argv[2])):
    s.sendto(("<134>Nov 30 08:00:00 haproxy[7]: p %s %06d " % (tag, i) + "x" * 250).encode(),
             ("127.0.0.1", 1514))
"""


def _namespace() -> None:
    sh("ip", "netns", "add", NAMESPACE, check=True)
    sh("ip", "-n", NAMESPACE, "link", "set", "lo", "up", check=True)


def _burst(tag: str, count: int = BURST) -> None:
    """`count` lines sent from inside the namespace as fast as one process can."""
    argv = ["ip", "netns", "exec", NAMESPACE, sys.executable, "-c", SENDER, tag, str(count)]
    subprocess.run(argv, check=True, timeout=60)


def _receive(target: socket.socket, count: int, tag: bytes) -> list[bytes]:
    """The lines tagged `tag` that arrive, until there are `count` (or 30 s pass)."""
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < count and time.monotonic() < deadline:
        try:
            line = target.recv(65535)
        except TimeoutError:
            continue
        if line.split(b" ")[5] == tag:
            got.append(line)
    return got


@pytest.fixture
def relay() -> Iterator[tuple[AccessLogForwarder, socket.socket]]:
    target = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    target.bind(("127.0.0.1", 0))
    target.settimeout(0.5)
    forwarder = AccessLogForwarder(
        [("127.0.0.1", target.getsockname()[1])], lambda: [("amp-1", NAMESPACE)], interval=0.2
    )
    try:
        _namespace()
        forwarder.ensure("amp-1", NAMESPACE)
        forwarder.start()
        yield forwarder, target
    finally:
        forwarder.stop()
        target.close()
        sh("ip", "netns", "del", NAMESPACE)


def test_a_burst_of_lines_arrives_whole_and_in_order(
    relay: tuple[AccessLogForwarder, socket.socket],
) -> None:
    forwarder, target = relay
    _burst("first")
    got = _receive(target, BURST, b"first")
    numbers = [int(line.split(b" ")[6]) for line in got]
    assert numbers == list(range(BURST)), f"{len(got)} of {BURST} lines arrived"
    assert forwarder.forwarded == BURST
    # The socket is the namespace's own: the host's loopback has nothing on that port.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(LOG_ADDRESS)
    finally:
        probe.close()


def test_a_namespace_made_anew_gets_a_new_socket(
    relay: tuple[AccessLogForwarder, socket.socket],
) -> None:
    _, target = relay
    sh("ip", "netns", "del", NAMESPACE, check=True)
    _namespace()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the periodic pass follows the new namespace
        _burst("again", 1)
        if _receive_quick(target):
            break
    _burst("later", 100)
    got = _receive(target, 100, b"later")
    assert [int(line.split(b" ")[6]) for line in got] == list(range(100))


def _receive_quick(target: socket.socket) -> bool:
    try:
        target.recv(65535)
        return True
    except TimeoutError:
        return False
