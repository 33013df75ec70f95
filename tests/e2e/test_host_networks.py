"""The host's safety and provider networks, on the real thing, through the REST API.

One `ostium serve` declares, besides an owned VIP bridge `ostt-hv0` (198.19.200.0/24 and
2001:2:0:200::/64, the host .1 / ::1) and the member bridge `ostt-hb0` (198.19.201.0/24,
backends `ostt-h1..2`):

- `lan`, kind existing-bridge: `ostt-lan0`, made by the test (no address), 198.19.202.0/24
  whose gateway .1 is the router namespace `ostt-rt`; behind it, 198.19.205.0/24 holds
  the member namespace `ostt-mb`; the client namespace `ostt-cl` (.50) is on the bridge.

This kernel has no 8021q or macvlan support (`ip link add ... type vlan|macvlan|dummy`
answer "Unknown device type"), so the vlan and macvlan kinds are tested in
tests/unit/test_provider_networks.py (config, commands) only.

Clients are namespaces, never the host's interfaces. Everything is removed at the end,
and the conftest leak check fails the run for anything named `ostt...` left behind.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import Backends, Net, Ostium, serves, sh, wait_for

from ostium.agent_client import AgentClient, mtls_client

VIP = Net(
    "ostt-hv",
    "198.19.200.0/24",
    "ostt-hv0",
    "ostt-hv-subnet",
)
VIP6 = Net("ostt-hv6", "2001:2:0:200::/64", "ostt-hv0", "ostt-hv6-subnet")
BACK = Net("ostt-hb", "198.19.201.0/24", "ostt-hb0", "ostt-hb-subnet")
LAN = Net(
    "ostt-lan",
    "198.19.202.0/24",
    "ostt-lan0",
    "ostt-lan-subnet",
    (
        "kind = existing-bridge",
        "gateway = 198.19.202.1",
        "allocation_start = 198.19.202.10",
        "allocation_end = 198.19.202.30",
    ),
)


def ip(*argv: str) -> None:
    sh("ip", *argv, check=True)
    return None


def netns(ns: str, *argv: str) -> None:
    sh("ip", "netns", "exec", ns, *argv, check=True)


def link_state(name: str) -> dict[str, Any]:
    """What an operator would check of their bridge: addresses, flags, mtu, master."""
    (info,) = json.loads(sh("ip", "-j", "addr", "show", "dev", name).stdout)
    keep = ("flags", "mtu", "master", "address", "operstate")
    return {k: info.get(k) for k in keep} | {
        "addresses": sorted(a["local"] for a in info.get("addr_info", []))
    }


def fetch(ns: str, url: str) -> str:
    """GET `url` from inside namespace `ns` (a client that is not the host)."""
    proc = sh("ip", "netns", "exec", ns, "curl", "-s", "-m", "3", "-g", url)
    return proc.stdout.strip() if proc.returncode == 0 else f"curl failed ({proc.returncode})"


class Fabric:
    """The test's own networks outside ostium: LAN bridge, router, member, client."""

    def __init__(self) -> None:
        self.server: subprocess.Popen[bytes] | None = None
        self.namespaces = ["ostt-rt", "ostt-mb", "ostt-cl"]
        self.links = ["ostt-lan0", "ostt-rtl", "ostt-cll"]

    def build(self) -> None:
        ip("link", "add", "ostt-lan0", "type", "bridge")
        ip("link", "set", "ostt-lan0", "up")
        for ns in self.namespaces:
            ip("netns", "add", ns)
            netns(ns, "ip", "link", "set", "lo", "up")
        # router: one leg on the LAN (the gateway), one to the member's subnet
        self._leg("ostt-rtl", "ostt-rt", "lan", "198.19.202.1/24", bridge="ostt-lan0")
        sh(
            "ip",
            "link",
            "add",
            "ostt-rtm",
            "netns",
            "ostt-rt",
            "type",
            "veth",
            "peer",
            "name",
            "mb",
            "netns",
            "ostt-mb",
            check=True,
        )
        netns("ostt-rt", "ip", "addr", "add", "198.19.205.1/24", "dev", "ostt-rtm")
        netns("ostt-rt", "ip", "link", "set", "ostt-rtm", "up")
        netns("ostt-rt", "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")  # its own namespace
        netns("ostt-mb", "ip", "addr", "add", "198.19.205.10/24", "dev", "mb")
        netns("ostt-mb", "ip", "link", "set", "mb", "up")
        netns("ostt-mb", "ip", "route", "add", "default", "via", "198.19.205.1")
        self.server = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                "ostt-mb",
                sys.executable,
                "-m",
                "ostium.devtools.demo_backends",
                "serve",
                "--name",
                "ostt-routed",
                "--bind",
                "198.19.205.10",
                "--port",
                "8080",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # a client on the LAN, routing elsewhere through the router
        self._leg("ostt-cll", "ostt-cl", "eth0", "198.19.202.50/24", bridge="ostt-lan0")
        netns("ostt-cl", "ip", "route", "add", "default", "via", "198.19.202.1")

    @staticmethod
    def _leg(host: str, ns: str, inner: str, cidr: str | None, bridge: str | None = None) -> None:
        ip("link", "add", host, "type", "veth", "peer", "name", inner, "netns", ns)
        if bridge:
            ip("link", "set", host, "master", bridge)
        ip("link", "set", host, "up")
        if cidr:
            netns(ns, "ip", "addr", "add", cidr, "dev", inner)
        netns(ns, "ip", "link", "set", inner, "up")

    def destroy(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server.wait()
        for ns in self.namespaces:
            for pid in sh("ip", "netns", "pids", ns).stdout.split():
                sh("kill", "-9", pid)
            sh("ip", "netns", "del", ns)
        for name in self.links:
            sh("ip", "link", "del", name)


@pytest.fixture(scope="module")
def fabric() -> Iterator[Fabric]:
    f = Fabric()
    try:
        f.build()
        yield f
    finally:
        f.destroy()


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    with Backends(BACK, prefix="ostt-h", count=2) as b:
        yield b


@pytest.fixture(scope="module")
def forwarding() -> str:
    return Path("/proc/sys/net/ipv4/ip_forward").read_text()


@pytest.fixture(scope="module")
def ostium(fabric: Fabric, backends: Backends, forwarding: str) -> Iterator[Ostium]:
    o = Ostium([VIP, VIP6, BACK, LAN], name_prefix="ostt")
    try:
        o.start("serve")
        yield o
    finally:
        left = o.shutdown()
        o.remove_workdir()
    assert left == [], f"ostium left things behind: {left}"


def _lb(o: Ostium, net: Net, member: str, subnet: str | None = None) -> dict[str, Any]:
    member_body: dict[str, Any] = {"address": member, "protocol_port": 8080}
    if subnet:
        member_body["subnet_id"] = subnet
    body = {
        "listeners": [
            {
                "protocol": "HTTP",
                "protocol_port": 80,
                "default_pool": {
                    "name": "pool",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [member_body],
                },
            }
        ]
    }
    return o.api.create_lb(o.api.subnet_id(net.subnet_name), **body)


def _agent_state(o: Ostium) -> list[dict[str, Any]]:
    pki = o.state_dir / "pki"
    with mtls_client(
        f"https://127.0.0.1:{o.agent_port}",
        cert=pki / "controller.pem",
        key=pki / "controller.key",
        ca=pki / "ca.pem",
    ) as http:
        return [a.model_dump() for a in AgentClient(http).list_amphorae()]


def _unreachable() -> str:
    return (
        sh("ip", "route", "show", "type", "unreachable").stdout
        + sh("ip", "-6", "route", "show", "type", "unreachable").stdout
    )


def test_owned_bridges_are_protected_and_the_host_never_forwards(
    ostium: Ostium, forwarding: str
) -> None:
    routes = _unreachable()
    for net in (VIP, VIP6, BACK):
        assert f"unreachable {net.cidr} " in routes, routes
    for net in (LAN,):  # not ostium's to protect
        assert net.cidr not in routes
    # A backend's address: no host address on its bridge, and never the default route.
    assert sh("ip", "route", "get", "198.19.201.11").returncode != 0
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == forwarding


def test_lost_bridges_are_rebuilt_by_the_agent_within_seconds(
    ostium: Ostium, backends: Backends
) -> None:
    lb = _lb(ostium, VIP, backends.address(1))
    vip = lb["vip_address"]
    assert wait_for(lambda: serves(vip), 10, what="first answer")
    # What `ostium demo-backends` used to do: delete the member bridge under a live LB.
    ip("link", "del", BACK.bridge)
    wait_for(lambda: Path("/sys/class/net", BACK.bridge).exists(), 10, what="bridge rebuilt")
    for i in (1, 2):  # its backends back, as a new demo-backends run would do
        ip("link", "set", f"{backends[i].namespace}h", "master", BACK.bridge)
    assert wait_for(lambda: serves(vip), 10, what="answers again")
    # And the VIP bridge itself, with the host's address on it.
    ip("link", "del", VIP.bridge)
    assert wait_for(lambda: serves(vip), 10, what="answers through a rebuilt VIP bridge")

    def lb_state() -> dict[str, Any]:
        (state,) = [a for a in _agent_state(ostium) if a["loadbalancer_id"] == lb["id"]]
        return state

    # The VIP may answer as soon as the bridge is back, a moment before the agent
    # has finished the repair and counted it.
    with contextlib.suppress(AssertionError):  # the assertion below shows the log
        wait_for(lambda: lb_state()["plumbing_repairs"] >= 2, 10, what="repairs counted")
    state = lb_state()
    # The local agent logs into ostium serve's own stream.
    log = (ostium.workdir / "serve.log").read_text(errors="replace")
    assert state["plumbing_repairs"] >= 2, (state, log[-3000:])
    assert "adopted" not in log and "plumbing repaired" in log, log[-3000:]
    assert state["plumbing_fault"].endswith("; repaired")
    assert ostium.api.lb(lb["id"])["provisioning_status"] == "ACTIVE"  # type: ignore[index]
    ostium.api.delete_lb(lb["id"])


def test_existing_bridge_client_on_the_lan_member_behind_a_router(ostium: Ostium) -> None:
    before = link_state("ostt-lan0")
    lb = _lb(ostium, LAN, "198.19.205.10")
    vip = lb["vip_address"]
    assert vip.startswith("198.19.202.") and 10 <= int(vip.rsplit(".", 1)[1]) <= 30
    answer = wait_for(lambda: fetch("ostt-cl", f"http://{vip}/") == "ostt-routed", 10)
    assert answer
    ostium.api.delete_lb(lb["id"])
    assert link_state("ostt-lan0") == before  # the operator's bridge: untouched, not deleted


def test_an_ipv6_vip_answers(ostium: Ostium, backends: Backends) -> None:
    lb = _lb(ostium, VIP6, backends.address(1))
    vip = lb["vip_address"]
    assert ":" in vip

    def answered() -> bool:
        out = sh("curl", "-s", "-m", "2", "-g", f"http://[{vip}]/").stdout.strip()
        return out == backends.name(1)

    assert wait_for(answered, 10, what="IPv6 answer from the host")
    ostium.api.delete_lb(lb["id"])


def test_demo_backends_refuses_a_second_run_keeps_a_busy_bridge_restarts_one() -> None:
    cmd = [sys.executable, "-m", "ostium", "demo-backends"]
    mine = ["--bridge", "ostt-dm0", "--network-cidr", "198.19.207.0/24", "--prefix", "ostt-dm"]
    first = subprocess.Popen(
        [*cmd, *mine, "--count", "1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert first.stdout is not None
        lines = []
        while not lines or lines[-1] != "}":
            lines.append(first.stdout.readline().decode().rstrip("\n"))
            assert first.poll() is None, lines
        (backend,) = json.loads("\n".join(lines))["backends"]
        url = f"http://{backend['address']}:8080/"
        assert fetch("ostt-dm1", url) == "ostt-dm1"
        second = sh(*cmd, *mine, "--count", "1")
        assert second.returncode == 1
        assert "already run on bridge ostt-dm0" in second.stderr
        assert "Traceback" not in second.stderr
        assert fetch("ostt-dm1", url) == "ostt-dm1"  # the first run is untouched
        pids = set(sh("ip", "netns", "pids", "ostt-dm1").stdout.split())
        restarted = sh(*cmd, "restart", "1", "--bridge", "ostt-dm0")
        assert restarted.returncode == 0, restarted.stderr
        assert set(sh("ip", "netns", "pids", "ostt-dm1").stdout.split()).isdisjoint(pids)
        assert fetch("ostt-dm1", url) == "ostt-dm1"
        # Something else (an amphora, say) plugged into its bridge: a stop keeps it.
        ip("link", "add", "ostt-dmx", "type", "veth", "peer", "name", "ostt-dmy")
        ip("link", "set", "ostt-dmx", "master", "ostt-dm0")
        first.terminate()
        assert first.wait(timeout=20) == 0
        assert Path("/sys/class/net/ostt-dm0").exists()
        assert sh("ip", "netns", "pids", "ostt-dm1").returncode != 0  # its namespace is gone
    finally:
        first.kill()
        first.wait()
        if first.stdout is not None:
            first.stdout.close()
        sh("ip", "link", "del", "ostt-dmx")
        sh("ip", "link", "del", "ostt-dm0")
        for pid in sh("ip", "netns", "pids", "ostt-dm1").stdout.split():
            sh("kill", "-9", pid)
        sh("ip", "netns", "del", "ostt-dm1")
        sh("rm", "-f", "/run/ostium/demo-backends/ostt-dm0.lock")


def test_demo_backends_help_explains_every_option() -> None:
    out = sh(sys.executable, "-m", "ostium", "demo-backends", "--help").stdout
    for option in ("--count", "--network-cidr", "--bridge", "--port", "--prefix", "restart"):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(option))
        assert len(line.split()) > 2 or option == "restart", line
