"""Drivers behind their protocols: placement on the named host (compute), idle bridges
found and removed (network), without agents, namespaces or root."""

from __future__ import annotations

import ipaddress
import json
import uuid
from pathlib import Path

import httpx

from ostium.agent_client import AgentClient
from ostium.drivers.compute.base import ComputeDriver
from ostium.drivers.compute.multihost import MultiHostDriver
from ostium.drivers.compute.netns import NetnsDriver
from ostium.drivers.compute.noop import NoopDriver
from ostium.drivers.network.base import LocalNetwork, NetworkDriver
from ostium.drivers.network.fake import FakeNetwork
from ostium.drivers.network.linux import LinuxBridges
from ostium.model.spec import AmphoraPlug, AmphoraVip


class FakeAgent:
    """An agent API in memory: the amphorae it holds and every request it got."""

    def __init__(self) -> None:
        self.amphorae: set[str] = set()
        self.requests: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        amp_id = request.url.path.split("/")[2] if request.url.path.count("/") >= 2 else ""
        if request.method == "PUT" and request.url.path.endswith("/spec"):
            body = json.loads(request.content)
            state = {
                "amphora_id": amp_id,
                "namespace": "ns",
                "applied_generation": body["generation"],
            }
            return httpx.Response(200, json=state)
        if request.method == "PUT":
            self.amphorae.add(amp_id)
            return httpx.Response(200, json={"amphora_id": amp_id, "namespace": f"ns-{amp_id[:8]}"})
        if request.method == "GET":
            if amp_id in self.amphorae:
                return httpx.Response(200, json={"amphora_id": amp_id, "namespace": "ns"})
            return httpx.Response(404, json={"error": "not_found", "message": amp_id})
        if request.method == "DELETE":
            self.amphorae.discard(amp_id)
            return httpx.Response(204)
        return httpx.Response(405)


def _host(url: str) -> tuple[NetnsDriver, FakeAgent]:
    agent = FakeAgent()
    http = httpx.Client(base_url=url, transport=httpx.MockTransport(agent.handle))
    return NetnsDriver(
        AgentClient(http), host=url, cert_expiration=None, agent_ip="127.0.0.1"
    ), agent


def _plug(amp_id: str) -> AmphoraPlug:
    vip = AmphoraVip(
        network_id=str(uuid.uuid4()),
        subnet_id=str(uuid.uuid4()),
        bridge="ostium0",
        address=ipaddress.ip_address("198.18.0.10"),
        prefixlen=24,
        gateway=ipaddress.ip_address("198.18.0.1"),
    )
    return AmphoraPlug(amphora_id=amp_id, loadbalancer_id=str(uuid.uuid4()), vip=vip)


def test_every_compute_driver_speaks_the_whole_protocol() -> None:
    local, _ = _host("https://a:9443")
    drivers: list[ComputeDriver] = [NoopDriver(), local, MultiHostDriver([local])]
    for driver in drivers:
        assert driver.hosts()
        assert driver.on(None) is not None
    assert NoopDriver().local_agent() is None
    assert local.local_agent() is local.client


def test_multi_host_builds_and_destroys_on_the_named_host() -> None:
    (a, agent_a), (b, agent_b) = _host("https://a:9443"), _host("https://b:9443")
    driver = MultiHostDriver([a, b])
    assert driver.hosts() == ["https://a:9443", "https://b:9443"]
    amp = str(uuid.uuid4())
    info = driver.on("https://b:9443").build(_plug(amp))
    assert info.host == "https://b:9443"
    assert agent_b.amphorae == {amp} and agent_a.amphorae == set()
    driver.on("https://b:9443").destroy(amp)
    assert agent_b.amphorae == set()
    assert driver.local_agent() is a.client  # the first host is this machine's agent
    assert driver.other_agents() == [b.client]  # housekeeping's orphans on the others


def test_multi_host_without_a_host_builds_locally_and_finds_the_amphora_later() -> None:
    (a, agent_a), (b, agent_b) = _host("https://a:9443"), _host("https://b:9443")
    driver = MultiHostDriver([a, b])
    local = str(uuid.uuid4())
    assert driver.on(None).build(_plug(local)).host == "https://a:9443"
    elsewhere = str(uuid.uuid4())
    agent_b.amphorae.add(elsewhere)  # built by another controller, say
    driver.on("https://gone:9443").destroy(elsewhere)  # an unknown host: ask every agent
    assert agent_b.amphorae == set() and agent_a.amphorae == {local}


def _sysfs(root: Path, bridges: dict[str, list[str]]) -> Path:
    for bridge, ports in bridges.items():
        (root / bridge / "brif").mkdir(parents=True)
        for port in ports:
            (root / bridge / "brif" / port).touch()
    (root / "eth0").mkdir()  # not a bridge: no brif
    return root


def test_linux_bridges_removes_only_idle_bridges_of_declared_networks(tmp_path: Path) -> None:
    sysfs = _sysfs(tmp_path, {"ost-vip": [], "ost-back": ["veth1"], "other": []})
    commands: list[list[str]] = []
    nets = [
        LocalNetwork("vip", "ost-vip"),
        LocalNetwork("back", "ost-back"),
        LocalNetwork("lan", "eth0"),
        LocalNetwork("absent", "ost-none"),
    ]
    driver: NetworkDriver = LinuxBridges(nets, sysfs=sysfs, ip=commands.append)
    assert [n.name for n in driver.present()] == ["vip", "back", "lan"]
    assert driver.remove_idle() == ["ost-vip"]
    assert commands == [["link", "del", "ost-vip"]]  # never "other": not ours


def test_fake_network_behaves_like_the_real_one() -> None:
    nets = [LocalNetwork("vip", "ost-vip"), LocalNetwork("back", "ost-back")]
    fake: NetworkDriver = FakeNetwork(nets)
    assert isinstance(fake, FakeNetwork)
    fake.plug("ost-vip", "veth0")
    fake.plug("ost-back", "veth1")
    assert [n.name for n in fake.present()] == ["vip", "back"]
    assert fake.remove_idle() == []
    fake.unplug("ost-vip", "veth0")
    assert fake.remove_idle() == ["ost-vip"]
    assert [n.name for n in fake.present()] == ["back"]
