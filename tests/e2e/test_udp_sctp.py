"""UDP and SCTP load balancing on the real thing, driven only through the Octavia API.

One `ostium serve` for the module (SQLite, local agent, nftables in the amphora
namespace), with fast heartbeats and `udp_connect_min_interval_health_monitor = 1` so
monitors act within seconds. Networks: VIP 198.19.40.0/24 (bridge ostt-vip7, the host
is .1), members 198.19.41.0/24 (bridge ostt-back7) with three backend namespaces
`ostt-u1..3` (.11-.13) running UDP servers that answer with their name
(`ostium.devtools.udp_backends`) and, in ostt-u1, a raw-socket SCTP responder. A
client namespace on the VIP bridge (198.19.40.50) is the second traffic source. One
load balancer carries every listener, shared by the tests in order. Everything is
removed at the end (leak check as in the other e2e modules).
"""

from __future__ import annotations

import collections
import configparser
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import Backends, Net, Ostium, client_namespace, sh, wait_for
from udp_support import SCTP_PORT, UDP_PORT, UdpServers, ask, fresh_port, spread

VIP = Net("ostt-vipu", "198.19.40.0/24", "ostt-vip7", "ostt-vipu-subnet")
BACK = Net("ostt-backu", "198.19.41.0/24", "ostt-back7", "ostt-backu-subnet")
CLIENT = "198.19.40.50"


def _in_namespace(ns: str, code: str) -> str:
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    with Backends(BACK, prefix="ostt-u", count=3) as b:
        yield b


@pytest.fixture(scope="module")
def servers(backends: Backends) -> Iterator[UdpServers]:
    s = UdpServers(backends)
    try:
        for i in (1, 2, 3):
            s.start(i)
        s.start(1, "sctp", SCTP_PORT)
        yield s
    finally:
        s.stop_all()


@pytest.fixture(scope="module")
def ostium(servers: UdpServers) -> Iterator[Ostium]:
    o = Ostium([VIP, BACK], name_prefix="osttu")
    config = configparser.ConfigParser(interpolation=None)
    config.read(o.config)
    config["health_manager"] = {
        **dict(config["health_manager"]),
        "heartbeat_interval": "0.5",
        "heartbeat_timeout": "5",
        "health_check_interval": "0.25",
    }
    config["api_settings"] = {"udp_connect_min_interval_health_monitor": "1"}
    with o.config.open("w") as f:
        config.write(f)
    left: list[str] = []
    try:
        o.start("serve")
        yield o
    finally:
        left = o.shutdown()
        o.remove_workdir()
        if Path("/sys/class/net", VIP.bridge).exists():
            sh("ip", "link", "del", VIP.bridge)
    assert left == [], f"ostium left things behind: {left}"


@pytest.fixture(scope="module")
def client() -> Iterator[str]:
    with client_namespace(VIP.bridge, CLIENT, name="ostt-c7") as ns:
        yield ns


@pytest.fixture(scope="module")
def lb(ostium: Ostium, backends: Backends) -> dict[str, Any]:
    api = ostium.api
    subnet = api.subnet_id(VIP.subnet_name)

    def members(*idx: int, port: int = UDP_PORT) -> list[dict[str, Any]]:
        return [
            {"address": backends.address(i), "protocol_port": port, "name": f"u{i}"} for i in idx
        ]

    def udp_monitor() -> dict[str, Any]:
        return {
            "type": "UDP-CONNECT",
            "delay": 1,
            "timeout": 1,
            "max_retries": 1,
            "max_retries_down": 2,
        }

    body = {
        "listeners": [
            {"protocol": "UDP", "protocol_port": 53, "default_pool": {"name": "rr"}},
            {"protocol": "UDP", "protocol_port": 54, "default_pool": {"name": "src"}},
            {
                "protocol": "UDP",
                "protocol_port": 55,
                "default_pool": {"name": "cidr"},
                "allowed_cidrs": ["198.19.40.1/32"],
            },
            {"protocol": "SCTP", "protocol_port": SCTP_PORT, "default_pool": {"name": "sctp"}},
            {"protocol": "UDP", "protocol_port": 56, "default_pool": {"name": "lc"}},
        ],
        "pools": [
            {
                "name": "rr",
                "protocol": "UDP",
                "lb_algorithm": "ROUND_ROBIN",
                "healthmonitor": udp_monitor(),
                "members": members(1, 2),
            },
            {
                "name": "src",
                "protocol": "UDP",
                "lb_algorithm": "ROUND_ROBIN",
                "session_persistence": {
                    "type": "SOURCE_IP",
                    "persistence_timeout": 60,
                    "persistence_granularity": "255.255.255.0",
                },
                "members": members(1, 2, 3),
            },
            {
                "name": "cidr",
                "protocol": "UDP",
                "lb_algorithm": "ROUND_ROBIN",
                "members": members(3),
            },
            {
                "name": "lc",
                "protocol": "UDP",
                "lb_algorithm": "LEAST_CONNECTIONS",
                "members": members(1),
            },
            {
                "name": "sctp",
                "protocol": "SCTP",
                "lb_algorithm": "ROUND_ROBIN",
                "healthmonitor": {
                    "type": "SCTP",
                    "delay": 1,
                    "timeout": 1,
                    "max_retries": 1,
                    "max_retries_down": 1,
                },
                "members": members(1, 2, port=SCTP_PORT),
            },
        ],
    }
    made = api.create_lb(subnet, name="udp", **body)
    made = api.wait_active(made["id"], timeout=60)
    return made


def _pool(ostium: Ostium, lb: dict[str, Any], name: str) -> dict[str, Any]:
    r = ostium.api.http.get("/v2/lbaas/pools", params={"loadbalancer_id": lb["id"], "name": name})
    (pool,) = r.json()["pools"]
    return dict(pool)


def _member(ostium: Ostium, pool: dict[str, Any], name: str) -> dict[str, Any]:
    r = ostium.api.http.get(f"/v2/lbaas/pools/{pool['id']}/members", params={"name": name})
    (member,) = r.json()["members"]
    return dict(member)


def _status(ostium: Ostium, pool: dict[str, Any], name: str) -> str:
    return str(_member(ostium, pool, name)["operating_status"])


def _set_member(ostium: Ostium, lb: dict[str, Any], pool_name: str, name: str, **body: Any) -> None:
    pool = _pool(ostium, lb, pool_name)
    member = _member(ostium, pool, name)
    ostium.api.update(
        f"/v2/lbaas/pools/{pool['id']}/members/{member['id']}", "member", lb["id"], **body
    )


def test_round_robin_splits_new_flows_and_weights_shift_them(
    ostium: Ostium, lb: dict[str, Any], backends: Backends
) -> None:
    vip = lb["vip_address"]
    pool = _pool(ostium, lb, "rr")
    wait_for(lambda: _status(ostium, pool, "u1") == "ONLINE", 20, what="u1 ONLINE")
    seen = spread(vip, 53, 40)
    assert set(seen) == {backends.name(1), backends.name(2)}, seen
    assert 15 <= seen[backends.name(1)] <= 25, seen
    _set_member(ostium, lb, "rr", "u2", weight=3)
    seen = spread(vip, 53, 40)
    assert 25 <= seen[backends.name(2)] <= 35 and seen[None] == 0, seen
    _set_member(ostium, lb, "rr", "u2", weight=1)


def test_member_changes_under_load_lose_no_datagram_of_a_healthy_member(
    ostium: Ostium, lb: dict[str, Any], backends: Backends
) -> None:
    """Established flows keep their member while the table is replaced around them."""
    vip = lb["vip_address"]
    pool = _pool(ostium, lb, "rr")
    socks = []
    for _ in range(8):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(1.0)
        s.connect((vip, 53))
        socks.append(s)
    stop = threading.Event()
    answers: list[collections.Counter[str | None]] = [collections.Counter() for _ in socks]

    def load() -> None:
        while not stop.is_set():
            for s, seen in zip(socks, answers, strict=True):
                s.send(b"x")
                try:
                    seen[s.recv(100).split()[0].decode()] += 1
                except OSError:
                    seen[None] += 1

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    try:
        for _ in range(5):  # 10 changes: a third member added, then removed
            m = ostium.api.create(
                f"/v2/lbaas/pools/{pool['id']}/members",
                "member",
                lb["id"],
                address=backends.address(3),
                protocol_port=UDP_PORT,
            )
            ostium.api.remove(f"/v2/lbaas/pools/{pool['id']}/members/{m['id']}", lb["id"])
    finally:
        stop.set()
        thread.join(timeout=10)
        for s in socks:
            s.close()
    healthy = {backends.name(1), backends.name(2)}
    for seen in answers:
        assert set(seen) <= healthy and sum(seen.values()) > 10, answers


def test_a_member_whose_port_closes_is_marked_error_and_leaves_then_returns(
    ostium: Ostium, lb: dict[str, Any], backends: Backends, servers: UdpServers
) -> None:
    vip = lb["vip_address"]
    pool = _pool(ostium, lb, "rr")
    servers.stop(2)
    wait_for(lambda: _status(ostium, pool, "u2") == "ERROR", 20, what="u2 ERROR")
    assert spread(vip, 53, 10) == {backends.name(1): 10}
    servers.start(2)
    wait_for(lambda: _status(ostium, pool, "u2") == "ONLINE", 20, what="u2 ONLINE again")
    assert set(spread(vip, 53, 10)) == {backends.name(1), backends.name(2)}


def test_weight_zero_drains_and_admin_down_removes(
    ostium: Ostium, lb: dict[str, Any], backends: Backends
) -> None:
    vip = lb["vip_address"]
    pool = _pool(ostium, lb, "rr")
    # A flow that u1 answered before the drain (same source port again, so conntrack
    # still has it) stays on u1; only new flows leave it.
    port = fresh_port()
    while ask(vip, 53, source_port=port) != backends.name(1):
        port = fresh_port()
    _set_member(ostium, lb, "rr", "u1", weight=0)
    assert spread(vip, 53, 8) == {backends.name(2): 8}
    assert ask(vip, 53, source_port=port) == backends.name(1)
    wait_for(lambda: _status(ostium, pool, "u1") == "DRAINING", 10, what="u1 DRAINING")
    _set_member(ostium, lb, "rr", "u1", weight=1)
    _set_member(ostium, lb, "rr", "u2", admin_state_up=False)
    assert spread(vip, 53, 8) == {backends.name(1): 8}
    wait_for(lambda: _status(ostium, pool, "u2") == "OFFLINE", 10, what="u2 OFFLINE")
    _set_member(ostium, lb, "rr", "u2", admin_state_up=True)


def test_source_ip_persistence_keeps_a_slash_24_on_one_member(
    ostium: Ostium, lb: dict[str, Any], client: str
) -> None:
    vip = lb["vip_address"]
    seen = spread(vip, 54, 12)
    assert len(seen) == 1 and None not in seen, seen
    (member,) = seen
    code = (
        "import socket\n"
        "out=[]\n"
        "for _ in range(6):\n"
        "    s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)\n"
        f"    s.sendto(b'x', ({vip!r}, 54)); out.append(s.recv(100).split()[0].decode())\n"
        "print(' '.join(sorted(set(out))))\n"
    )
    assert _in_namespace(client, code) == member  # 198.19.40.50: the same /24


def test_allowed_cidrs_drop_other_sources(ostium: Ostium, lb: dict[str, Any], client: str) -> None:
    vip = lb["vip_address"]
    assert ask(vip, 55) is not None  # from 198.19.40.1, the one allowed source
    code = (
        "import socket\n"
        "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.5)\n"
        f"s.sendto(b'x', ({vip!r}, 55))\n"
        "try:\n    print(s.recv(100))\n"
        "except OSError as e:\n    print('dropped', type(e).__name__)\n"
    )
    assert _in_namespace(client, code) == "dropped TimeoutError"
    stats = ostium.api.http.get("/v2/lbaas/listeners", params={"protocol_port": 55}).json()
    (listener,) = [li for li in stats["listeners"] if li["loadbalancers"][0]["id"] == lb["id"]]
    wait_for(
        lambda: (
            ostium.api.http.get(f"/v2/lbaas/listeners/{listener['id']}/stats").json()["stats"][
                "bytes_in"
            ]
            > 0
        ),
        10,
        what="listener statistics from nftables counters",
    )


def test_least_connections_sends_new_flows_to_the_idle_member(
    ostium: Ostium, lb: dict[str, Any], backends: Backends
) -> None:
    vip = lb["vip_address"]
    busy = []
    for _ in range(40):  # 40 live flows on u1, the only member so far
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.connect((vip, 56))
        s.send(b"x")
        assert s.recv(100).split()[0].decode() == backends.name(1)
        busy.append(s)
    try:
        pool = _pool(ostium, lb, "lc")
        ostium.api.create(
            f"/v2/lbaas/pools/{pool['id']}/members",
            "member",
            lb["id"],
            address=backends.address(2),
            protocol_port=UDP_PORT,
        )
        # Once the agent has recounted conntrack (every second), u2 has far fewer flows
        # and gets most new ones: 5 or 6 of 6, which round robin over two members never
        # gives (`numgen inc` alternates strictly). Polled slowly, so that the probes
        # themselves do not load u2 much before the recount.
        wait_for(
            lambda: spread(vip, 56, 6)[backends.name(2)] >= 5,
            15,
            1.0,
            what="new flows going to the least busy member",
        )
    finally:
        for s in busy:
            s.close()


def _sctp_init_from(ns: str, vip: str) -> str:
    """Send a crafted INIT to VIP:SCTP_PORT from namespace `ns`; the responder's name or ''."""
    code = (
        "from ostium.devtools.udp_backends import sctp_ask\n"
        f"print(sctp_ask({vip!r}, {SCTP_PORT}))\n"
    )
    return _in_namespace(ns, code)


def test_sctp_init_reaches_a_responder_and_a_silent_member_is_marked_down(
    ostium: Ostium, lb: dict[str, Any], backends: Backends, client: str
) -> None:
    pool = _pool(ostium, lb, "sctp")
    wait_for(lambda: _status(ostium, pool, "u2") == "ERROR", 20, what="silent SCTP member ERROR")
    wait_for(lambda: _status(ostium, pool, "u1") == "ONLINE", 20, what="SCTP responder ONLINE")
    answers = {_sctp_init_from(client, lb["vip_address"]) for _ in range(3)}
    assert answers == {backends.name(1)}
