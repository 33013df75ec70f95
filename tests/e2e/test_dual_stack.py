"""Dual-stack load balancers on the real thing: one HTTP listener answering on an IPv4
and an IPv6 VIP (`additional_vips`), SINGLE and ACTIVE_STANDBY.

One `ostium serve` declares its own networks: the VIP network `ostt-dsv` with two
subnets on the bridge `ostt-ds0`, 198.19.60.0/24 and 2001:2:0:60::/64 (`network =
ostt-dsv`; the host is .1 / ::1 and sends the requests), and the member network
198.19.61.0/24 (`ostt-ds1`) with backends `ostt-x1..2` (IPv4 only: haproxy reaches
them from either VIP). ACTIVE_STANDBY comes from a flavor; its pair must keep both VIPs
when the MASTER's haproxy is killed.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import Backends, Lbaas, Net, Ostium, processes, sh, topology_flavor, wait_for

from ostium.agent.naming import Names

VIP = Net("ostt-dsv", "198.19.60.0/24", "ostt-ds0", "ostt-dsv-subnet")
VIP6 = Net("ostt-dsv6", "2001:2:0:60::/64", "ostt-ds0", "ostt-dsv6-subnet", ("network = ostt-dsv",))
BACK = Net("ostt-dsb", "198.19.61.0/24", "ostt-ds1", "ostt-dsb-subnet")
PREFIX = "osttd"
HEALTH = [
    "[health_manager]",
    "heartbeat_interval = 0.5",
    "heartbeat_timeout = 3",
    "health_check_interval = 0.5",
]


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    with Backends(BACK, prefix="ostt-x", count=2) as b:
        yield b


@pytest.fixture(scope="module")
def ostium(backends: Backends) -> Iterator[Ostium]:
    o = Ostium([VIP, VIP6, BACK], name_prefix=PREFIX)
    text = o.config.read_text().replace("[health_manager]\n", "\n".join(HEALTH) + "\n", 1)
    o.config.write_text(text)
    left: list[str] = []
    try:
        o.start("serve")
        yield o
    finally:
        left = o.shutdown()
        o.remove_workdir()
        for bridge in (VIP.bridge,):
            if Path("/sys/class/net", bridge).exists():
                sh("ip", "link", "del", bridge)
    assert left == [], f"ostium left things behind: {left}"


@pytest.fixture(scope="module")
def api(ostium: Ostium) -> Lbaas:
    return ostium.api


@pytest.fixture
def pair_flavor(api: Lbaas) -> Iterator[str]:
    with topology_flavor(api, "ostt-ds-pair", "ACTIVE_STANDBY") as flavor_id:
        yield flavor_id


def dual_stack_lb(api: Lbaas, backends: Backends, **body: Any) -> dict[str, Any]:
    pool = {
        "name": "p",
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "members": [{"address": backends.address(i), "protocol_port": 8080} for i in (1, 2)],
    }
    listener = {"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p"}}
    lb = api.create_lb(
        api.subnet_id(VIP.subnet_name),
        wait=False,
        additional_vips=[{"subnet_id": api.subnet_id(VIP6.subnet_name)}],
        listeners=[listener],
        pools=[pool],
        **body,
    )
    api.wait_active(lb["id"], 30)
    return lb


def url(address: str) -> str:
    return f"http://[{address}]/" if ":" in address else f"http://{address}/"


def answers(address: str, n: int = 4) -> set[str]:
    """Names of the backends that answered `n` requests to `address` from the host."""
    out = set()
    for _ in range(n):
        text = sh("curl", "-s", "-m", "2", "-g", url(address)).stdout.strip()
        if not text:
            return set()
        out.add(text)
    return out


def addresses(namespace: str) -> set[str]:
    out = sh("ip", "-n", namespace, "-j", "addr", "show", "dev", "eth1").stdout
    return {i["local"] for link in json.loads(out or "[]") for i in link["addr_info"]}


def test_single_serves_one_listener_on_both_vips(api: Lbaas, backends: Backends) -> None:
    lb = dual_stack_lb(api, backends)
    v4 = lb["vip_address"]
    (extra,) = lb["additional_vips"]
    v6 = extra["ip_address"]
    assert v4.startswith("198.19.60.") and v6.startswith("2001:2:0:60:")
    names = {backends.name(1), backends.name(2)}
    for address in (v4, v6):
        wait_for(lambda a=address: answers(a) == names, 15, what=f"both backends via {address}")
    (amp,) = api.amphorae(lb["id"])
    assert {v4, v6} <= addresses(Names(PREFIX, amp["id"]).namespace)
    # A failover moves both VIPs to a new amphora (a new MAC; announced by gratuitous
    # ARP and unsolicited neighbour advertisement): both answer again.
    assert api.http.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 202

    def new_amphora() -> str | None:
        amps = [a for a in api.amphorae(lb["id"]) if a["status"] != "DELETED"]
        return str(amps[0]["id"]) if len(amps) == 1 and amps[0]["id"] != amp["id"] else None

    new = wait_for(new_amphora, 30, 0.1, "the new amphora")
    api.wait_active(lb["id"], 30)
    assert {v4, v6} <= addresses(Names(PREFIX, new).namespace)
    for address in (v4, v6):
        wait_for(lambda a=address: answers(a) == names, 15, what=f"{address} after failover")
    api.delete_lb(lb["id"])
    assert answers(v6, 1) == set() and answers(v4, 1) == set()


def test_active_standby_pair_moves_both_vips(
    api: Lbaas, backends: Backends, ostium: Ostium, pair_flavor: str
) -> None:
    lb = dual_stack_lb(api, backends, flavor_id=pair_flavor)
    v4, v6 = lb["vip_address"], lb["additional_vips"][0]["ip_address"]
    names = {backends.name(1), backends.name(2)}

    def holder() -> str | None:
        """The amphora holding both VIPs (None: none, or they are split)."""
        held = [
            a["id"]
            for a in api.amphorae(lb["id"])
            if {v4, v6} <= addresses(Names(PREFIX, a["id"]).namespace)
        ]
        return held[0] if len(held) == 1 else None

    master = wait_for(holder, 20, 0.1, "one amphora holding both VIPs")
    for address in (v4, v6):
        wait_for(lambda a=address: answers(a) == names, 15, what=f"both backends via {address}")
    # The MASTER's haproxy dies: keepalived hands both VIPs to the BACKUP.
    config = ostium.state_dir / "agent" / "amphorae" / Names(PREFIX, master).namespace
    for pid, _ in processes(f"-f {config}/haproxy.cfg"):
        sh("kill", f"-{signal.SIGKILL.value}", str(pid))
    wait_for(lambda: (h := holder()) is not None and h != master, 15, 0.05, "the takeover")
    for address in (v4, v6):
        wait_for(lambda a=address: answers(a) == names, 15, what=f"{address} after the takeover")
    api.delete_lb(lb["id"])
