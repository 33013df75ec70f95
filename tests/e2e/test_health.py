"""Health on the real thing: heartbeats from the agent, operating status, statistics,
failover of a destroyed amphora, hostile datagrams, a health manager killed and
restarted, certificate rotation and orphan removal.

One installation for the module: `ostium serve` (SQLite, local agent, haproxy in
namespaces) with its embedded health manager turned off, and a separate `ostium health`
process (so a test can SIGKILL it) on a free UDP port. Fast timings keep the module
short: heartbeats every 0.5 s, silent after 2 s. The agent also sends every heartbeat to
a capture socket of the test, to replay real datagrams. Networks: VIP 198.19.24.0/24
(bridge ostt-vip2), members 198.19.25.0/24 (bridge ostt-back2, backends ostt-h1..2);
agent name prefix "ostth". Everything is removed at the end (leak check in conftest).
"""

from __future__ import annotations

import configparser
import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import OSTIUM, Backends, Lbaas, Load, Net, Ostium, free_port, get, names, sh
from api_support import wait_for as _wait_for

from ostium.model.heartbeat import decode

VIP = Net("ostt-viph", "198.19.24.0/24", "ostt-vip2", "ostt-viph-subnet")
BACK = Net("ostt-backh", "198.19.25.0/24", "ostt-back2", "ostt-backh-subnet")
INTERVAL, TIMEOUT = 0.5, 2.0


def wait_for(
    predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition"
) -> Any:
    return _wait_for(predicate, timeout, 0.1, what)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Health:
    """The installation's health manager process and the test's capture socket."""

    def __init__(self, ostium: Ostium, port: int, capture: socket.socket) -> None:
        self.ostium = ostium
        self.port = port
        self.capture = capture
        self.metrics_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.ostium.workdir / "health.log").open("ab")
        argv = [
            *OSTIUM,
            "health",
            "--state-dir",
            str(self.ostium.state_dir),
            "--config-file",
            str(self.ostium.config),
            "--metrics-bind",
            f"127.0.0.1:{self.metrics_port}",
        ]
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            log.close()
        wait_for(lambda: self.metrics() is not None, 20, "the health manager answering")

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)
        self.proc = None

    def metrics(self) -> str | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1).text
        except httpx.HTTPError:
            return None

    def dropped(self, reason: str) -> float:
        for line in (self.metrics() or "").splitlines():
            if line.startswith(f'ostium_heartbeats_dropped_total{{reason="{reason}"}}'):
                return float(line.split()[-1])
        return 0.0

    def captured(self, amphora_id: str) -> bytes:
        """A real datagram the agent sent about `amphora_id` (after draining old ones)."""
        key = (self.ostium.state_dir / "heartbeat.key").read_bytes().strip()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            data = self.capture.recv(65535)
            if decode(data, key).amphora_id == amphora_id:
                return data
        raise AssertionError(f"no heartbeat of {amphora_id} captured")


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    with Backends(BACK, prefix="ostt-h", count=2) as b:
        yield b


@pytest.fixture(scope="module")
def installation(backends: Backends) -> Iterator[tuple[Ostium, Health]]:
    o = Ostium([VIP, BACK], name_prefix="ostth")
    port = free_udp_port()
    capture = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    capture.bind(("127.0.0.1", 0))
    capture.settimeout(5)
    config = configparser.ConfigParser(interpolation=None)
    config.read(o.config)
    config["health_manager"] = {
        "enabled": "false",
        "bind_port": str(port),
        "controller_ip_port_list": f"127.0.0.1:{port}, 127.0.0.1:{capture.getsockname()[1]}",
        "heartbeat_interval": str(INTERVAL),
        "heartbeat_timeout": str(TIMEOUT),
        "health_check_interval": "0.25",
    }
    config["house_keeping"] = {"enabled": "false"}
    with o.config.open("w") as f:
        config.write(f)
    health = Health(o, port, capture)
    left: list[str] = []
    try:
        o.start("serve")
        health.start()
        yield o, health
    finally:
        health.kill()
        left = o.shutdown()
        o.remove_workdir()
        capture.close()
        for bridge in (VIP.bridge,):
            if Path("/sys/class/net", bridge).exists():
                sh("ip", "link", "del", bridge)
    assert left == [], f"ostium left things behind: {left}"


@pytest.fixture(scope="module")
def api(installation: tuple[Ostium, Health]) -> Lbaas:
    return installation[0].api


@pytest.fixture(scope="module")
def health(installation: tuple[Ostium, Health]) -> Health:
    return installation[1]


@pytest.fixture
def make_lb(api: Lbaas, backends: Backends) -> Iterator[Callable[..., dict[str, Any]]]:
    made: list[str] = []
    subnet = api.subnet_id(VIP.subnet_name)

    def make(monitor: bool = True, **pool: Any) -> dict[str, Any]:
        hm = {"type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 1}
        p = {
            "name": "p",
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": backends.address(i), "protocol_port": 8080} for i in (1, 2)],
            **pool,
        }
        if monitor:
            p["healthmonitor"] = hm
        lb = api.create_lb(
            subnet,
            wait=False,
            listeners=[{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p"}}],
            pools=[p],
        )
        made.append(lb["id"])
        api.wait_active(lb["id"])
        return lb

    yield make
    for lb_id in made:
        api.delete_lb(lb_id)


def tree(api: Lbaas, lb_id: str) -> dict[str, Any]:
    """{"lb", "listener", "pool", "members": {address: status}} from the status tree."""
    st = api.http.get(f"/v2/lbaas/loadbalancers/{lb_id}/status").json()["statuses"]
    lb = st["loadbalancer"]
    (li,) = lb["listeners"]
    (pool,) = li["pools"]
    return {
        "lb": lb["operating_status"],
        "listener": li["operating_status"],
        "pool": pool["operating_status"],
        "members": {m["address"]: m["operating_status"] for m in pool["members"]},
    }


def stats(api: Lbaas, lb_id: str) -> dict[str, int]:
    return dict(api.http.get(f"/v2/lbaas/loadbalancers/{lb_id}/stats").json()["stats"])


def expect(api: Lbaas, lb_id: str, timeout: float = 15.0, **want: Any) -> dict[str, Any]:
    def matches() -> dict[str, Any] | None:
        t = tree(api, lb_id)
        return t if all(t[k] == v for k, v in want.items()) else None

    try:
        return dict(wait_for(matches, timeout, f"status {want}"))
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last: {tree(api, lb_id)}") from None


def only_amphora(api: Lbaas, lb_id: str) -> dict[str, Any]:
    (amp,) = api.amphorae(lb_id)
    return amp


# ------------------------------------------------------------------ operating status


def test_status_follows_the_backends(
    api: Lbaas, backends: Backends, make_lb: Callable[..., dict[str, Any]]
) -> None:
    lb = make_lb()
    a1, a2 = backends.address(1), backends.address(2)
    up = {a1: "ONLINE", a2: "ONLINE"}
    expect(api, lb["id"], lb="ONLINE", listener="ONLINE", pool="ONLINE", members=up)
    try:
        backends.stop(2)
        started = time.monotonic()
        expect(
            api,
            lb["id"],
            lb="DEGRADED",
            listener="ONLINE",
            pool="DEGRADED",
            members={a1: "ONLINE", a2: "ERROR"},
        )
        print(f"\nmember stopped -> API shows ERROR: {time.monotonic() - started:.2f}s")
        backends.start(2)
        expect(api, lb["id"], lb="ONLINE", pool="ONLINE", members=up)
        backends.stop(1)
        backends.stop(2)
        expect(
            api,
            lb["id"],
            lb="ERROR",
            listener="ONLINE",
            pool="ERROR",
            members={a1: "ERROR", a2: "ERROR"},
        )
    finally:
        backends.start(1)
        backends.start(2)
    expect(api, lb["id"], lb="ONLINE", pool="ONLINE", members=up)


def test_admin_down_weight_zero_and_no_monitor(
    api: Lbaas, backends: Backends, make_lb: Callable[..., dict[str, Any]]
) -> None:
    lb = make_lb()
    a1, a2 = backends.address(1), backends.address(2)
    expect(api, lb["id"], members={a1: "ONLINE", a2: "ONLINE"})
    (pool,) = api.http.get("/v2/lbaas/pools", params={"loadbalancer_id": lb["id"]}).json()["pools"]
    ids = {
        m["address"]: m["id"]
        for m in api.http.get(f"/v2/lbaas/pools/{pool['id']}/members").json()["members"]
    }
    base = f"/v2/lbaas/pools/{pool['id']}/members"
    api.update(f"{base}/{ids[a1]}", "member", lb["id"], admin_state_up=False)
    api.update(f"{base}/{ids[a2]}", "member", lb["id"], weight=0)
    expect(api, lb["id"], members={a1: "OFFLINE", a2: "DRAINING"})
    api.remove(f"/v2/lbaas/healthmonitors/{pool['healthmonitor_id']}", lb["id"])
    api.update(f"{base}/{ids[a1]}", "member", lb["id"], admin_state_up=True)
    api.update(f"{base}/{ids[a2]}", "member", lb["id"], weight=1)
    expect(api, lb["id"], lb="ONLINE", pool="ONLINE", members={a1: "NO_MONITOR", a2: "NO_MONITOR"})


# ------------------------------------------------------------------ statistics


def _requests(vip: str, n: int) -> None:
    for _ in range(n):
        assert get(vip)[0] == 200


def test_statistics_survive_reload_agent_restart_and_failover(
    installation: tuple[Ostium, Health], api: Lbaas, make_lb: Callable[..., dict[str, Any]]
) -> None:
    o, health = installation
    lb = make_lb(monitor=False)
    vip = lb["vip_address"]

    def total(n: int) -> dict[str, int]:
        return dict(
            wait_for(
                lambda: (s := stats(api, lb["id"]))["total_connections"] == n and s,
                10,
                f"total_connections == {n}",
            )
        )

    _requests(vip, 20)
    first = total(20)
    assert first["bytes_in"] >= 20 * 40 and first["bytes_out"] >= 20 * 100
    # A change that needs a reload: a new worker process, counters from zero inside it.
    (li,) = api.http.get("/v2/lbaas/listeners", params={"loadbalancer_id": lb["id"]}).json()[
        "listeners"
    ]
    api.update(f"/v2/lbaas/listeners/{li['id']}", "listener", lb["id"], timeout_client_data=40000)
    _requests(vip, 10)
    second = total(30)
    assert second["bytes_in"] > first["bytes_in"] and second["bytes_out"] > first["bytes_out"]
    # The agent restarts (with `ostium serve`; haproxy keeps serving and is adopted).
    # The health manager stops meanwhile: 2 s of silence would be a failover here.
    amp = only_amphora(api, lb["id"])["id"]
    health.kill()
    o.stop("serve")
    _requests(vip, 5)
    o.start("serve")
    health.start()
    total(35)
    assert only_amphora(api, lb["id"])["id"] == amp
    # A failover: a new amphora with its own counters; the totals go on.
    old = only_amphora(api, lb["id"])["id"]
    assert api.http.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 202
    api.wait_active(lb["id"])
    assert only_amphora(api, lb["id"])["id"] != old
    probes = 0

    def probe() -> bool:
        nonlocal probes
        probes += 1  # each answered probe is one more connection (a refused one is not)
        return get(vip, timeout=1)[0] == 200

    wait_for(probe, 10, "traffic after failover")
    assert probes == 1  # the old amphora served until the new one took over
    _requests(vip, 4)
    third = total(40)
    assert third["bytes_in"] > second["bytes_in"]


# ------------------------------------------------------------------ failover on silence


def test_destroyed_amphora_is_replaced_with_the_same_vip(
    installation: tuple[Ostium, Health],
    api: Lbaas,
    backends: Backends,
    make_lb: Callable[..., dict[str, Any]],
) -> None:
    lb = make_lb()
    vip = lb["vip_address"]
    old = only_amphora(api, lb["id"])
    assert set(names(vip, 4)) == {backends.name(1), backends.name(2)}
    ns = installation[0].namespace(old)
    destroyed = time.monotonic()
    # The name first: with the namespace gone the agent must not bring haproxy back.
    pids = sh("ip", "netns", "pids", ns).stdout.split()
    sh("ip", "netns", "del", ns, check=True)
    for pid in pids:
        sh("kill", "-9", pid)

    def serves() -> bool:
        with contextlib.suppress(OSError):
            return get(vip, timeout=0.5)[0] == 200
        return False

    wait_for(serves, TIMEOUT + 15, "traffic through the VIP again")
    took = time.monotonic() - destroyed
    print(f"\namphora destroyed -> first request through the VIP: {took:.2f}s")
    assert took < TIMEOUT + 8
    wait_for(
        lambda: (
            [a["id"] for a in api.amphorae(lb["id"])] not in ([], [old["id"]])
            and len(api.amphorae(lb["id"])) == 1
        ),
        10,
        "the new amphora alone",
    )
    after = api.wait_active(lb["id"])
    assert after["vip_address"] == vip
    new = only_amphora(api, lb["id"])
    assert new["id"] != old["id"] and new["ha_ip"] == vip and new["status"] == "ALLOCATED"
    gone = api.http.get(f"/v2/octavia/amphorae/{old['id']}")  # kept until housekeeping
    assert gone.status_code == 200 and gone.json()["amphora"]["status"] == "DELETED"
    assert set(names(vip, 4)) == {backends.name(1), backends.name(2)}
    expect(api, lb["id"], lb="ONLINE")


# ------------------------------------------------------------------ hostile datagrams


def test_forged_replayed_truncated_and_oversized_heartbeats_change_nothing(
    api: Lbaas,
    health: Health,
    backends: Backends,
    make_lb: Callable[..., dict[str, Any]],
) -> None:
    from ostium.model.heartbeat import HaproxyState, Heartbeat, PoolReport, encode

    lb = make_lb()
    amp = only_amphora(api, lb["id"])["id"]
    # The settled state, members included: their first checks may still be running
    # when the load balancer and the pool are ONLINE already.
    up = {backends.address(1): "ONLINE", backends.address(2): "ONLINE"}
    before = expect(api, lb["id"], lb="ONLINE", pool="ONLINE", members=up)
    real = health.captured(amp)
    (pool,) = api.http.get("/v2/lbaas/pools", params={"loadbalancer_id": lb["id"]}).json()["pools"]
    evil = Heartbeat(
        amphora_id=amp,
        seq=2**62,
        timestamp=time.time(),
        generation=1,
        agent_version="x",
        haproxy=HaproxyState.RUNNING,
        pools={pool["id"]: PoolReport("DOWN", {})},
    )
    counts = {r: health.dropped(r) for r in ("bad_signature", "replayed", "oversized", "unsigned")}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        target = ("127.0.0.1", health.port)
        for _ in range(3):
            out.sendto(encode(evil, b"not the key"), target)  # forged
            out.sendto(real[:-7], target)  # truncated
            out.sendto(encode(evil, b"k")[:-32], target)  # unsigned
            out.sendto(b"\x00" * 65200, target)  # oversized
        time.sleep(2 * INTERVAL)
        out.sendto(real, target)  # replayed (newer ones were accepted meanwhile)
    wait_for(lambda: health.dropped("replayed") > counts["replayed"], 5, "replay counted")
    assert health.dropped("bad_signature") >= counts["bad_signature"] + 6
    assert health.dropped("oversized") >= counts["oversized"] + 3
    assert health.dropped("unsigned") >= counts["unsigned"] + 3
    time.sleep(2 * INTERVAL)
    assert tree(api, lb["id"]) == before
    assert (
        only_amphora(api, lb["id"])["id"] == amp
        and "heartbeat dropped" in (health.ostium.workdir / "health.log").read_text()
    )


# ------------------------------------------------------------------ health manager restart


def test_health_manager_killed_and_restarted(
    api: Lbaas, health: Health, backends: Backends, make_lb: Callable[..., dict[str, Any]]
) -> None:
    lb = make_lb()
    vip = lb["vip_address"]
    amp = only_amphora(api, lb["id"])["id"]
    _requests(vip, 5)
    wait_for(lambda: stats(api, lb["id"])["total_connections"] == 5, 10, "stats")
    expect(api, lb["id"], lb="ONLINE")
    try:
        health.kill(signal.SIGKILL)
        time.sleep(2 * TIMEOUT)  # every amphora is "silent" in the database now
        _requests(vip, 3)
        health.start()
        time.sleep(TIMEOUT + 4 * INTERVAL)  # past the start-up grace: heartbeats arrived
    finally:
        if health.proc is None:
            health.start()
    assert only_amphora(api, lb["id"])["id"] == amp  # no spurious failover
    assert api.lb(lb["id"])["provisioning_status"] == "ACTIVE"  # type: ignore[index]
    wait_for(lambda: stats(api, lb["id"])["total_connections"] == 8, 10, "stats after restart")
    backends.stop(2)
    try:
        expect(api, lb["id"], lb="DEGRADED")  # and it keeps working
    finally:
        backends.start(2)
    expect(api, lb["id"], lb="ONLINE")


# ------------------------------------------------------------------ housekeeping


def _housekeeping(o: Ostium, **options: str) -> str:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(o.config)
    parser["house_keeping"].update(options)
    config = o.workdir / "housekeeping.ini"
    with config.open("w") as f:
        parser.write(f)
    proc = subprocess.run(
        [
            *OSTIUM,
            "housekeeping",
            "--once",
            "--state-dir",
            str(o.state_dir),
            "--config-file",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _agent_serial(o: Ostium) -> int:
    import ssl

    from cryptography import x509

    pki = o.state_dir / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    ctx.load_cert_chain(pki / "controller.pem", pki / "controller.key")
    with (
        socket.create_connection(("127.0.0.1", o.agent_port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return int(x509.load_der_x509_certificate(der).serial_number)


def _serial_or_none(o: Ostium) -> int | None:
    """`_agent_serial`, or None for a handshake that failed: one that overlaps the
    agent's reload of its certificate and key into the live context can (the worker
    retries such a call as a transient error)."""
    import ssl

    try:
        return _agent_serial(o)
    except (ssl.SSLError, OSError):
        return None


def test_certificate_rotation_and_orphans(
    installation: tuple[Ostium, Health], api: Lbaas, make_lb: Callable[..., dict[str, Any]]
) -> None:
    import json

    o, _ = installation
    lb = make_lb()
    vip = lb["vip_address"]
    serial = _agent_serial(o)
    expires = only_amphora(api, lb["id"])["cert_expiration"]
    with Load(vip, threads=2) as load:
        time.sleep(0.5)
        out = json.loads(_housekeeping(o, cert_expiry_buffer="315360000"))
        wait_for(lambda: _serial_or_none(o) not in (serial, None), 15, "the agent's new cert")
        time.sleep(0.5)
    assert [c for c in out["certificates"] if c.startswith("agent.pem")], out
    assert load.failures == [] and load.ok > 20
    # The control plane still talks to the agent: a change goes through.
    (li,) = api.http.get("/v2/lbaas/listeners", params={"loadbalancer_id": lb["id"]}).json()[
        "listeners"
    ]
    api.update(f"/v2/lbaas/listeners/{li['id']}", "listener", lb["id"], connection_limit=1000)
    assert only_amphora(api, lb["id"])["cert_expiration"] > expires

    # Orphans: a namespace of this agent's prefix that no amphora owns.
    orphan = "ostth0000deadbeef"[:17]
    sh("ip", "netns", "add", orphan, check=True)
    try:
        out = json.loads(_housekeeping(o))
    finally:
        sh("ip", "netns", "del", orphan)
    assert f"namespace {orphan}" in out["orphans"], out
    assert orphan not in sh("ip", "netns", "list").stdout
    assert set(names(vip, 2)) <= {"ostt-h1", "ostt-h2"}  # the real amphora is untouched
