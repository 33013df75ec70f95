"""ACTIVE_STANDBY on the real thing: two amphorae per load balancer, keepalived VRRP,
haproxy on both, driven only through the Octavia v2 API.

One `ostium serve` for the module, with `loadbalancer_topology = ACTIVE_STANDBY` and fast
heartbeats (0.5 s, silent after 2 s); it declares only its own networks: the VIP network
`ostt-vip3` 198.19.30.0/24 (the host is 198.19.30.1 and sends the probes) and the member
network `ostt-back3` 198.19.31.0/24 with backends `ostt-s1..3`; the agent's name prefix
is `ostta`. Each test makes its own load balancer and cascade deletes it.

While a prober sends a GET through the VIP every 20 ms (new connection each), the
MASTER suffers one fault: SIGKILL of its haproxy, haproxy hung (SIGSTOP), SIGKILL of its
keepalived, its VIP-side link set down, its namespace deleted (with what runs in it).
Each time the BACKUP takes the VIP, the outage (longest time without an answer) is
measured and bounded, and the pair is whole again afterwards: the processes are
respawned, the link comes back as BACKUP (`nopreempt`), a lost amphora is replaced by
the health manager's failover and joins as BACKUP. Also: member changes during a
failover, shared stick tables, topology from a flavor and the 400 on changing it, a
change retried until both amphorae have it, ostium restarted under traffic, and a
second agent (`remote_agents`, prefix `osttn`, networks 198.19.32-33.0/24) keeping the
pair on two hosts with `anti_affinity = required`.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import http.client
import itertools
import json
import os
import signal
import socket
import ssl
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from api_support import (
    Backends,
    Lbaas,
    Net,
    Ostium,
    free_port,
    kill_namespaces,
    processes,
    sh,
    topology_flavor,
    wait_for,
)
from tests import pki
from udp_support import UDP_PORT, UdpServers, ask, spread

from ostium.agent.naming import Names

VIP = Net("ostt-vipas", "198.19.30.0/24", "ostt-vip3", "ostt-vipas-subnet")
BACK = Net("ostt-backas", "198.19.31.0/24", "ostt-back3", "ostt-backas-subnet")
PREFIX = "ostta"
OUTAGE_LIMIT = 1.5
"""Seconds; generous for a busy test machine (bench/failover.py measures the real
figures: well under half a second with the defaults)."""
EXTRA_CONFIG = {
    "controller_worker": ["loadbalancer_topology = ACTIVE_STANDBY"],
    "health_manager": [
        "heartbeat_interval = 0.5",
        "heartbeat_timeout = 2",
        "health_check_interval = 0.5",
    ],
}


def configure(o: Ostium, extra: dict[str, list[str]]) -> None:
    """Add options to sections of the INI `Ostium` wrote (new sections at the end)."""
    text = o.config.read_text()
    for section, lines in extra.items():
        head = f"[{section}]\n"
        if head in text:
            text = text.replace(head, head + "".join(f"{ln}\n" for ln in lines), 1)
        else:
            text += head + "".join(f"{ln}\n" for ln in lines)
    o.config.write_text(text)


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    with Backends(BACK, prefix="ostt-s", count=3) as b:
        yield b


@pytest.fixture(scope="module")
def ostium(backends: Backends) -> Iterator[Ostium]:
    o = Ostium([VIP, BACK], name_prefix=PREFIX)
    configure(o, EXTRA_CONFIG)
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
def api(ostium: Ostium) -> Lbaas:
    return ostium.api


@pytest.fixture(scope="module")
def subnet(api: Lbaas) -> str:
    return api.subnet_id(VIP.subnet_name)


# ------------------------------------------------------------------ the pair, as a user sees it


@dataclass
class Pair:
    ostium: Ostium
    api: Lbaas
    lb: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.lb["id"])

    @property
    def vip(self) -> str:
        return str(self.lb["vip_address"])

    def amphorae(self) -> list[dict[str, Any]]:
        return self.api.amphorae(self.id)

    def status_amphorae(self) -> list[dict[str, Any]]:
        r = self.api.http.get(f"/v2/lbaas/loadbalancers/{self.id}/status")
        return list(r.json()["statuses"]["loadbalancer"]["amphorae"])

    def master(self) -> dict[str, Any]:
        (m,) = [a for a in self.status_amphorae() if a["vrrp_state"] == "MASTER"]
        return m

    def settled(self, master: str | None = None) -> dict[str, str] | None:
        """{amphora id: vrrp state} once the pair is whole: one MASTER (`master` if
        given) and one BACKUP by heartbeat, roles agreeing, load balancer ACTIVE."""
        lb = self.api.lb(self.id)
        amps = self.status_amphorae()
        states = {a["id"]: a["vrrp_state"] for a in amps}
        roles = {a["id"]: a["role"] for a in amps}
        if lb is None or lb["provisioning_status"] != "ACTIVE" or len(amps) != 2:
            return None
        if sorted(map(str, states.values())) != ["BACKUP", "MASTER"] or roles != states:
            return None
        if master is not None and states.get(master) != "MASTER":
            return None
        return dict(states)

    def wait_settled(self, master: str | None = None, timeout: float = 20.0) -> dict[str, str]:
        return dict(
            wait_for(lambda: self.settled(master), timeout, 0.1, f"pair of {self.id} whole again")
        )

    def names(self, amp_id: str) -> Names:
        return Names(PREFIX, amp_id)

    def directory(self, amp_id: str) -> Path:
        return self.ostium.state_dir / "agent" / "amphorae" / self.names(amp_id).namespace

    def holds_vip(self, amp_id: str) -> bool:
        out = sh(
            "ip", "-n", self.names(amp_id).namespace, "-j", "addr", "show", "dev", "eth1"
        ).stdout
        addrs = [i["local"] for link in json.loads(out or "[]") for i in link["addr_info"]]
        return self.vip in addrs

    def processes(self, amp_id: str, what: str) -> list[int]:
        cfg = str(
            self.directory(amp_id) / f"{what}.cfg"
            if what == "haproxy"
            else self.directory(amp_id) / "keepalived.conf"
        )
        return [pid for pid, cmd in processes(f"-f {cfg}") if cmd.split()[0].endswith(what)]


@pytest.fixture
def make_pair(
    ostium: Ostium, api: Lbaas, subnet: str, backends: Backends
) -> Iterator[Callable[..., Pair]]:
    made: list[str] = []

    def make(
        persistence: str | None = None,
        members: tuple[int, ...] = (1, 2),
        udp: bool = False,
        **body: Any,
    ) -> Pair:
        pool: dict[str, Any] = {
            "name": "p",
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": backends.address(i), "protocol_port": 8080} for i in members],
        }
        if persistence:
            pool["session_persistence"] = {"type": persistence}
        listener = {"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p"}}
        listeners, pools = [listener], [pool]
        if udp:  # a UDP listener too, balanced by source address (nftables)
            udp_listener = {"protocol": "UDP", "protocol_port": 53, "default_pool": {"name": "u"}}
            listeners.append(udp_listener)
            members_ = [
                {"address": backends.address(i), "protocol_port": UDP_PORT} for i in members
            ]
            pools.append(
                {"name": "u", "protocol": "UDP", "lb_algorithm": "SOURCE_IP", "members": members_}
            )
        lb = api.create_lb(subnet, wait=False, listeners=listeners, pools=pools, **body)
        made.append(lb["id"])
        api.wait_active(lb["id"], 30)
        pair = Pair(ostium, api, lb)
        if body.get("flavor_id") is None:
            pair.wait_settled()
        return pair

    yield make
    for lb_id in made:
        api.delete_lb(lb_id)


# ------------------------------------------------------------------ the client's view


def probe(vip: str, timeout: float = 1.0) -> str | None:
    """One GET on a new connection: the backend's name, or None if it failed."""
    conn = http.client.HTTPConnection(vip, 80, timeout=timeout)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace").strip()
        return body if resp.status == 200 else None
    except OSError:
        return None
    finally:
        conn.close()


@dataclass
class Prober:
    """A probe through the VIP every `period` seconds, each on its own connection and
    thread (a probe stuck in a SYN retransmit does not delay the next one)."""

    vip: str
    period: float = 0.02
    results: list[tuple[float, float, str | None]] = field(default_factory=list)
    """(started, answered or gave up, backend name or None)"""
    stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Prober:
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=96)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _one(self, started: float) -> None:
        answer = probe(self.vip)
        self.results.append((started, time.monotonic(), answer))

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self.stop.is_set():
            self.pool.submit(self._one, next_at)
            next_at += self.period
            time.sleep(max(0.0, next_at - time.monotonic()))

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.pool.shutdown(wait=True)

    def outage(self, since: float) -> float:
        """The longest time without a successful answer (between two answers' arrival,
        minus the probe period) ending after `since`; 0 if no probe started after
        `since` failed."""
        if all(answer for started, _, answer in self.results if started >= since):
            return 0.0
        arrivals = sorted(ended for _, ended, answer in self.results if answer)
        gaps = [b - a for a, b in itertools.pairwise(arrivals) if b >= since]
        if not gaps:
            raise AssertionError(f"traffic never came back ({len(self.results)} probes)")
        return max(0.0, max(gaps) - self.period)

    def succeeded_after(self, since: float) -> int:
        return sum(1 for started, _, answer in self.results if started >= since and answer)


# ------------------------------------------------------------------ faults


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def fault_haproxy(pair: Pair, amp: str) -> Callable[[], None]:
    pids = pair.processes(amp, "haproxy")
    assert pids
    kill_all(pids)
    return lambda: None  # the agent respawns it


def fault_hang(pair: Pair, amp: str) -> Callable[[], None]:
    """haproxy alive but not answering: only keepalived's periodic check can tell."""
    pids = pair.processes(amp, "haproxy")
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)

    def restore() -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    return restore


def fault_keepalived(pair: Pair, amp: str) -> Callable[[], None]:
    pids = pair.processes(amp, "keepalived")
    assert pids
    kill_all(pids)
    return lambda: None  # the agent respawns it


def fault_link(pair: Pair, amp: str) -> Callable[[], None]:
    veth = pair.names(amp).vip_host_veth
    sh("ip", "link", "set", "dev", veth, "down", check=True)

    def restore() -> None:
        sh("ip", "link", "set", "dev", veth, "up", check=True)

    return restore


def fault_namespace(pair: Pair, amp: str) -> Callable[[], None]:
    """The amphora vanishes: what runs in its namespace dies and the namespace goes."""
    ns = pair.names(amp).namespace
    pids = [int(p) for p in sh("ip", "netns", "pids", ns).stdout.split()]
    sh("ip", "netns", "del", ns, check=True)  # first: the agent must not respawn into it
    kill_all(pids)
    return lambda: None  # the health manager fails it over


FAULTS = {
    "haproxy": fault_haproxy,
    "hang": fault_hang,
    "keepalived": fault_keepalived,
    "link": fault_link,
    "namespace": fault_namespace,
}
HANG_LIMIT = 4.0
"""A hung haproxy is seen by the check: 1 s interval x 2 misses (1 s timeout each)."""


# ------------------------------------------------------------------ tests


def test_pair_roles_addresses_and_status(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair()
    amps = {a["id"]: a for a in pair.amphorae()}
    assert len(amps) == 2
    assert sorted(a["role"] for a in amps.values()) == ["BACKUP", "MASTER"]
    prio = {a["role"]: a["vrrp_priority"] for a in amps.values()}
    assert prio == {"MASTER": 100, "BACKUP": 90}
    assert len({a["vrrp_id"] for a in amps.values()}) == 1
    vrrp_ips = {a["vrrp_ip"] for a in amps.values()}
    assert len(vrrp_ips) == 2 and pair.vip not in vrrp_ips
    assert all(ip.startswith("198.19.30.") for ip in vrrp_ips)
    assert all(a["ha_ip"] == pair.vip and a["vrrp_interface"] == "eth1" for a in amps.values())
    master = pair.master()["id"]
    assert amps[master]["role"] == "MASTER"
    # The VIP lives on the MASTER only; both run haproxy (non-local bind) and keepalived.
    assert [pair.holds_vip(a) for a in (master, *(set(amps) - {master}))] == [True, False]
    for amp_id in amps:
        assert pair.processes(amp_id, "haproxy") and pair.processes(amp_id, "keepalived")
    assert probe(pair.vip) is not None


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_master_fault_is_survived_and_the_pair_restored(
    make_pair: Callable[..., Pair], fault: str
) -> None:
    pair = make_pair()
    old_master = pair.master()["id"]
    (backup,) = [a["id"] for a in pair.amphorae() if a["id"] != old_master]
    with Prober(pair.vip) as prober:
        time.sleep(0.3)
        at = time.monotonic()
        restore = FAULTS[fault](pair, old_master)
        wait_for(lambda: pair.holds_vip(backup), 8, 0.01, "the BACKUP taking the VIP")
        # Shorter than the 2 s heartbeat timeout: a FAULT amphora is not failed over yet.
        time.sleep(0.5)
        restore()
        gone = old_master if fault == "namespace" else None
        states = wait_for(
            lambda: (st := pair.settled(backup)) and gone not in st and st,
            30,
            0.1,
            "the pair whole again",
        )
        time.sleep(0.3)
    outage = prober.outage(at - 0.1)
    print(
        f"\n{fault}: outage {outage * 1000:.0f} ms, "
        f"{prober.succeeded_after(at)} probes answered after the fault"
    )
    assert outage < (HANG_LIMIT if fault == "hang" else OUTAGE_LIMIT), f"{fault}: {outage:.2f}s"
    assert prober.succeeded_after(at) > 0
    # Traffic goes through the former BACKUP, now MASTER (and the only one with the VIP).
    assert pair.master()["id"] == backup and pair.holds_vip(backup)
    (other,) = set(states) - {backup}
    assert not pair.holds_vip(other)
    if fault == "namespace":
        assert other != old_master  # replaced by the failover, joined as BACKUP
        assert old_master not in {a["id"] for a in pair.amphorae()}
    elif fault == "hang" and other != old_master:
        pass  # silent longer than this module's 2 s heartbeat timeout: failed over, fine too
    else:
        assert other == old_master  # back as BACKUP, never took the VIP back
        assert pair.processes(old_master, "haproxy") and pair.processes(old_master, "keepalived")
    assert probe(pair.vip) is not None


@pytest.mark.parametrize("when", ["at_once", "while_failing_over"])
def test_member_change_during_the_failover_reaches_both(
    make_pair: Callable[..., Pair], api: Lbaas, backends: Backends, when: str
) -> None:
    """The MASTER vanishes and a member is added right away (the worker pushes it to
    both amphorae, which brings the lost one back) or while the health manager's
    failover runs (409 until it is done, then it reaches the new pair)."""
    pair = make_pair(members=(1,))
    old_master = pair.master()["id"]
    pool_id = api.http.get("/v2/lbaas/pools", params={"loadbalancer_id": pair.id}).json()["pools"][
        0
    ]["id"]
    fault_namespace(pair, old_master)
    if when == "while_failing_over":
        wait_for(
            lambda: (api.lb(pair.id) or {}).get("provisioning_status") == "PENDING_UPDATE",
            15,
            0.02,
            "the failover starting",
        )
    body = {"member": {"address": backends.address(3), "protocol_port": 8080}}
    deadline = time.monotonic() + 30
    while True:  # 409 while the load balancer is busy (e.g. failing over): retry
        r = api.http.post(f"/v2/lbaas/pools/{pool_id}/members", json=body)
        if r.status_code == 201 or time.monotonic() > deadline:
            break
        assert r.status_code == 409, r.text
        time.sleep(0.05)
    assert r.status_code == 201, r.text
    member_id = r.json()["member"]["id"]
    states = pair.wait_settled(timeout=30)
    if when == "while_failing_over":
        assert old_master not in states
    for amp_id in states:  # both amphorae serve the new member
        assert member_id in (pair.directory(amp_id) / "haproxy.cfg").read_text()
    wait_for(
        lambda: backends.name(3) in {probe(pair.vip) for _ in range(6)},
        10,
        0.1,
        "the new member answering through the VIP",
    )


def test_session_persistence_survives_takeover(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(persistence="SOURCE_IP")
    first = probe(pair.vip)
    assert first is not None
    master = pair.master()["id"]
    (backup,) = set(pair.settled() or {}) - {master}
    # The BACKUP's haproxy already holds the client's entry (haproxy peers).
    sock = pair.directory(backup) / "stats.sock"

    def backup_knows() -> bool:
        out = sh("sh", "-c", f"echo 'show table' | socat - UNIX-CONNECT:{sock}").stdout
        return "used:1" in out.replace(" ", "")

    wait_for(backup_knows, 5, 0.05, "the stick table entry on the BACKUP")
    fault_haproxy(pair, master)
    wait_for(lambda: pair.holds_vip(backup), 5, 0.01, "the BACKUP taking the VIP")
    wait_for(lambda: probe(pair.vip), 5, 0.02, "traffic through the new MASTER")
    answers = [probe(pair.vip) for _ in range(8)]
    assert set(answers) - {None} == {first} and answers.count(None) <= 1, answers


@pytest.fixture(scope="module")
def udp_servers(backends: Backends) -> Iterator[UdpServers]:
    servers = UdpServers(backends)
    try:
        servers.start(1)
        servers.start(2)
        yield servers
    finally:
        servers.stop_all()


def test_udp_source_ip_flows_keep_their_member_across_a_takeover(
    make_pair: Callable[..., Pair], udp_servers: UdpServers
) -> None:
    """Both amphorae hash a client alike (same slots, same seed): after the BACKUP takes
    the VIP, new flows from the same client reach the same member."""
    pair = make_pair(udp=True)
    before = spread(pair.vip, 53, 6)
    assert len(before) == 1 and None not in before, before
    master = pair.master()["id"]
    (backup,) = set(pair.settled() or {}) - {master}
    at = time.monotonic()
    fault_haproxy(pair, master)
    wait_for(lambda: pair.holds_vip(backup), 5, 0.01, "the BACKUP taking the VIP")
    wait_for(lambda: ask(pair.vip, 53, timeout=0.2), 5, 0.01, "UDP through the new MASTER")
    print(f"\nUDP answered through the new MASTER {time.monotonic() - at:.2f} s after the fault")
    after = spread(pair.vip, 53, 6)
    assert after == before, (before, after)


@pytest.fixture
def single_flavor(api: Lbaas) -> Iterator[str]:
    """A flavor whose profile says SINGLE (set up before, removed after, the pairs)."""
    with topology_flavor(api, "ostt-single", "SINGLE") as flavor_id:
        yield flavor_id


def test_topology_per_load_balancer_from_a_flavor_and_no_change_later(
    single_flavor: str, make_pair: Callable[..., Pair], api: Lbaas
) -> None:
    single = make_pair(flavor_id=single_flavor)
    (amp,) = single.amphorae()
    assert amp["role"] == "STANDALONE" and amp["vrrp_ip"] is None
    assert probe(single.vip) is not None
    for change in ({"topology": "ACTIVE_STANDBY"}, {"flavor_id": None}):
        r = api.http.put(f"/v2/lbaas/loadbalancers/{single.id}", json={"loadbalancer": change})
        assert r.status_code == 400, r.text
        assert "cannot be changed" in r.json()["faultstring"]
    assert api.lb(single.id)["provisioning_status"] == "ACTIVE"  # type: ignore[index]


def test_a_change_that_reaches_one_amphora_is_retried_until_both_have_it(
    make_pair: Callable[..., Pair], api: Lbaas, backends: Backends
) -> None:
    pair = make_pair(members=(1,))
    master = pair.master()["id"]
    (backup,) = set(pair.settled() or {}) - {master}
    pool_id = api.http.get("/v2/lbaas/pools", params={"loadbalancer_id": pair.id}).json()["pools"][
        0
    ]["id"]
    # Make the BACKUP's agent fail to write its next config (a directory in the way).
    blocker = pair.directory(backup) / "haproxy.cfg.new"
    blocker.mkdir()
    try:
        r = api.http.post(
            f"/v2/lbaas/pools/{pool_id}/members",
            json={"member": {"address": backends.address(2), "protocol_port": 8080}},
        )
        assert r.status_code == 201, r.text
        member_id = r.json()["member"]["id"]
        wait_for(
            lambda: member_id in (pair.directory(master) / "haproxy.cfg").read_text(),
            10,
            0.05,
            "the MASTER applying the change",
        )
        time.sleep(0.5)
        assert api.lb(pair.id)["provisioning_status"] == "PENDING_UPDATE"  # type: ignore[index]
        assert member_id not in (pair.directory(backup) / "haproxy.cfg").read_text()
    finally:
        blocker.rmdir()
    api.wait_active(pair.id, 30)
    assert member_id in (pair.directory(backup) / "haproxy.cfg").read_text()


def test_restarting_ostium_leaves_the_pair_serving(
    make_pair: Callable[..., Pair], ostium: Ostium
) -> None:
    """haproxy and keepalived outlive the agent; the new agent adopts them, watches them
    again and the pair still fails over."""
    pair = make_pair()
    amps = list(pair.settled() or {})
    before = {a: (pair.processes(a, "haproxy"), pair.processes(a, "keepalived")) for a in amps}
    with Prober(pair.vip) as prober:
        at = time.monotonic()
        ostium.stop("serve")
        ostium.start("serve")
        time.sleep(0.5)
    assert prober.outage(at) == 0.0
    assert {
        a: (pair.processes(a, "haproxy"), pair.processes(a, "keepalived")) for a in amps
    } == before
    master = pair.wait_settled()
    old_master = next(a for a, st in master.items() if st == "MASTER")
    (backup,) = set(amps) - {old_master}
    fault_haproxy(pair, old_master)  # the adopted haproxy is watched again
    wait_for(lambda: pair.holds_vip(backup), 2, 0.01, "the BACKUP taking the VIP")
    pair.wait_settled(master=backup)


# ------------------------------------------------------------------ two hosts


VIP2 = Net("ostt-vipah", "198.19.32.0/24", "ostt-vip4", "ostt-vipah-subnet")
BACK2 = Net("ostt-backah", "198.19.33.0/24", "ostt-back4", "ostt-backah-subnet")


def test_two_hosts_keep_the_pair_apart_even_after_a_failover() -> None:
    """A second agent (another "host", prefix `osttn`) registered through
    `remote_agents`: with `anti_affinity = required` the two amphorae land on different
    agents, and the replacement of a lost one goes where its peer is not."""
    from ostium.agent.main import start_agent_subprocess

    backends = Backends(BACK2, prefix="ostt-t", count=1)
    o = Ostium([VIP2, BACK2], name_prefix="osttm")
    agent_port = free_port()
    configure(
        o,
        {
            **EXTRA_CONFIG,
            "controller_worker": [*EXTRA_CONFIG["controller_worker"], "anti_affinity = required"],
            "haproxy_amphora": [f"remote_agents = https://127.0.0.1:{agent_port}"],
        },
    )
    second = None
    left: list[str] = []
    try:
        o.start("serve")
        pki = o.state_dir / "pki"
        second = start_agent_subprocess(
            cert=pki / "agent.pem",
            key=pki / "agent.key",
            ca=pki / "ca.pem",
            state_dir=o.workdir / "agent2",
            bind=f"127.0.0.1:{agent_port}",
            name_prefix="osttn",
            log_path=o.workdir / "agent2.log",
            extra_args=[
                "--respawn-interval",
                "0.5",
                "--heartbeat-interval",
                "0.5",
                "--controller-ip-port-list",
                f"127.0.0.1:{o.health_port}",
                "--heartbeat-key-file",
                str(o.state_dir / "heartbeat.key"),
            ],
        )
        api = o.api
        lb = api.create_lb(
            api.subnet_id(VIP2.subnet_name),
            wait=False,
            listeners=[{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p"}}],
            pools=[
                {
                    "name": "p",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": backends.address(1), "protocol_port": 8080}],
                }
            ],
        )
        api.wait_active(lb["id"], 30)
        pair = Pair(o, api, lb)
        states = pair.wait_settled()

        def prefixes(amps: dict[str, str]) -> set[str]:
            found = {line.split()[0] for line in sh("ip", "netns", "list").stdout.splitlines()}
            return {p for a in amps for p in ("osttm", "osttn") if Names(p, a).namespace in found}

        assert prefixes(states) == {"osttm", "osttn"}
        assert probe(pair.vip) is not None
        master = pair.master()["id"]
        (lost_prefix,) = [
            p
            for p in ("osttm", "osttn")
            if Names(p, master).namespace in sh("ip", "netns", "list").stdout
        ]
        ns = Names(lost_prefix, master).namespace
        pids = [int(x) for x in sh("ip", "netns", "pids", ns).stdout.split()]
        sh("ip", "netns", "del", ns, check=True)
        kill_all(pids)
        states = wait_for(
            lambda: (s := pair.settled()) and master not in s and s,
            30,
            0.1,
            "the lost amphora replaced",
        )
        assert prefixes(states) == {"osttm", "osttn"}
        assert probe(pair.vip) is not None
        api.delete_lb(lb["id"])
    finally:
        with contextlib.suppress(Exception):  # while the second agent still runs
            for other in o.api.all_lbs():
                o.api.delete_lb(other["id"])
        if second is not None:
            second.stop()
        left = o.shutdown()
        for line in sh("ip", "netns", "list").stdout.splitlines():
            if Names("osttn", "0" * 32).owns_namespace(line.split()[0]):
                left.append(f"netns {line.split()[0]}")
                kill_namespaces((line.split()[0],))
        o.remove_workdir()
        backends.destroy()
        if Path("/sys/class/net", VIP2.bridge).exists():
            sh("ip", "link", "del", VIP2.bridge)
    assert left == [], f"ostium left things behind: {left}"


def test_tls_takeover_keeps_serving_https(
    make_pair: Callable[..., Pair], api: Lbaas, ostium: Ostium
) -> None:
    """Both amphorae of a pair get the certificate (0600 files of their own); after the
    MASTER's haproxy dies, the new MASTER answers HTTPS with it (issue 10)."""
    issuer = pki.ca()
    leaf = pki.issue(issuer, "pair.example.test", ["pair.example.test"])
    r = api.http.post(
        "/v1/secrets",
        json={
            "payload": base64.b64encode(leaf.p12()).decode(),
            "payload_content_type": "application/octet-stream",
            "payload_content_encoding": "base64",
        },
    )
    assert r.status_code == 201, r.text
    pair = make_pair()
    pool = api.http.get("/v2/lbaas/pools", params={"loadbalancer_id": pair.id}).json()["pools"]
    api.create(
        "/v2/lbaas/listeners",
        "listener",
        pair.id,
        loadbalancer_id=pair.id,
        protocol="TERMINATED_HTTPS",
        protocol_port=443,
        default_pool_id=pool[0]["id"],
        default_tls_container_ref=r.json()["secret_ref"],
    )
    pair.wait_settled()
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cadata=issuer.cert_pem.decode())

    def https() -> bool:
        try:
            raw = socket.create_connection((pair.vip, 443), timeout=1)
            with raw, ctx.wrap_socket(raw, server_hostname="pair.example.test") as tls:
                tls.sendall(
                    b"GET / HTTP/1.1\r\nHost: pair.example.test\r\nConnection: close\r\n\r\n"
                )
                return tls.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    assert https()
    for amp in pair.amphorae():
        files = list((pair.directory(amp["id"]) / "tls").iterdir())
        assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    old_master = pair.master()["id"]
    (backup,) = [a["id"] for a in pair.amphorae() if a["id"] != old_master]
    fault_haproxy(pair, old_master)
    wait_for(lambda: pair.holds_vip(backup), 8, 0.01, "the BACKUP taking the VIP")
    wait_for(https, 5, 0.05, "HTTPS through the new MASTER")
