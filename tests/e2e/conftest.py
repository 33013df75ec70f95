"""Fixtures for data-plane e2e tests: real agent (mTLS), namespaces, bridges, haproxy.

Everything the tests create is named with the `ostt-` prefix and uses 198.18.0.0/15
only: the VIP bridge `ostt-vip` (host side 198.18.0.1/24), the member bridge `ostt-mem`
(198.18.1.0/24, no host address) with backend namespaces `ostt-b1..3`. Fixtures always
clean up, and a session finalizer fails the run if anything with the prefix is left.
The API-level tests (`test_through_api.py`, helpers in `api_support.py`) run their own
ostium agents with the name prefixes `ostt` and `osttw` (namespaces `ostt<12 hex>`,
which the `ostt-` agent never claims) and name their backends `ostt-a<N>`; the leak
check covers every namespace and link starting with `ostt`, every process mentioning
/tmp/ostt- and every backend server named `ostt-...`.
Tests are skipped only when not running as root.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_support import COUNTER, MEM_BRIDGE, PREFIX, VIP_BRIDGE, Amphora, sh

from ostium.agent.main import AgentProcess, start_agent_subprocess
from ostium.agent_client import AgentClient, mtls_client
from ostium.devtools.demo_backends import DemoNetwork
from ostium.drivers.certificates.local_ca import LocalCA


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="e2e data-plane tests need root (namespaces, haproxy)")
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(skip)


LEAK_PREFIX = PREFIX.rstrip("-")  # "ostt": also the API tests' "ostt<hex>" amphorae
PROCESS_MARKERS = ("/tmp/ostt-", "--name ostt-")


def _test_processes() -> list[str]:
    found: list[str] = []
    for marker in PROCESS_MARKERS:
        for line in sh("pgrep", "-af", "--", marker).stdout.splitlines():
            pid, _, cmd = line.partition(" ")
            if "pgrep" not in cmd and int(pid) != os.getpid():
                stat = Path(f"/proc/{pid}/stat")
                if stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(line)
    return found


def leftovers() -> list[str]:
    found: list[str] = []
    for line in sh("ip", "netns", "list").stdout.splitlines():
        if line.startswith(LEAK_PREFIX):
            found.append(f"netns {line.split()[0]}")
    for line in sh("ip", "-o", "link", "show").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(LEAK_PREFIX):
            found.append(f"link {name}")
    found += [f"process {line}" for line in _test_processes()]
    return found


def force_clean() -> None:
    for line in _test_processes():
        sh("kill", "-9", line.split()[0])
    for line in sh("ip", "netns", "list").stdout.splitlines():
        if line.startswith(LEAK_PREFIX):
            ns = line.split()[0]
            for pid in sh("ip", "netns", "pids", ns).stdout.split():
                sh("kill", "-9", pid)
            sh("ip", "netns", "del", ns)
    for line in sh("ip", "-o", "link", "show").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(LEAK_PREFIX):
            sh("ip", "link", "del", name)


@pytest.fixture(scope="session", autouse=True)
def leak_check() -> Iterator[None]:
    if os.geteuid() != 0:
        yield
        return
    before = leftovers()
    if before:
        force_clean()
    yield
    left = leftovers()
    force_clean()
    if left:
        pytest.fail(f"e2e tests left things behind: {left}")


@dataclass
class Pki:
    directory: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ostt-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pki(workdir: Path) -> Pki:
    d = workdir / "pki"
    ca = LocalCA(d / "ca")
    ca.issue_server_cert(d / "server.pem", d / "server.key")
    ca.issue_client_cert(d / "client.pem", d / "client.key")
    return Pki(
        d, ca.cert_path, d / "server.pem", d / "server.key", d / "client.pem", d / "client.key"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AgentRunner:
    pki: Pki
    state_dir: Path
    port: int
    process: AgentProcess | None = None

    def start(self) -> AgentProcess:
        self.process = start_agent_subprocess(
            cert=self.pki.server_cert,
            key=self.pki.server_key,
            ca=self.pki.ca,
            state_dir=self.state_dir,
            bind=f"127.0.0.1:{self.port}",
            name_prefix=PREFIX,
            log_path=self.state_dir.parent / "agent.log",
            extra_args=["--respawn-interval", "0.5"],
        )
        return self.process

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def agent(pki: Pki, workdir: Path) -> Iterator[AgentRunner]:
    runner = AgentRunner(pki, workdir / "state", free_port())
    runner.start()
    yield runner
    if runner.process is None:
        runner.start()
    with mtls_client(runner.url, cert=pki.client_cert, key=pki.client_key, ca=pki.ca) as http:
        client = AgentClient(http)
        for amp in client.list_amphorae():
            client.delete_amphora(amp.amphora_id)
    runner.stop()
    sh("ip", "link", "del", VIP_BRIDGE)
    # The agent protects the subnets of the bridges it owns (issue 13): ours to remove.
    for subnet in ("198.18.0.0/24", "198.18.1.0/24"):
        sh("ip", "route", "del", "unreachable", subnet, "metric", "4242")


@pytest.fixture(scope="session")
def client(agent: AgentRunner, pki: Pki) -> Iterator[AgentClient]:
    with mtls_client(agent.url, cert=pki.client_cert, key=pki.client_key, ca=pki.ca) as http:
        yield AgentClient(http)


@pytest.fixture(scope="session")
def backends() -> Iterator[DemoNetwork]:
    net = DemoNetwork(bridge=MEM_BRIDGE, cidr="198.18.1.0/24", prefix="ostt-b", host_address=False)
    try:
        net.create_bridge()
        for i in (1, 2, 3):
            net.add_backend(i, 8080, name=f"b{i}")
        yield net
    finally:
        net.destroy()  # keeps the bridge while an amphora is still plugged into it
        sh("ip", "link", "del", MEM_BRIDGE)


@pytest.fixture
def amphora(client: AgentClient, backends: DemoNetwork) -> Iterator[Amphora]:
    amp = Amphora(client, backends, next(COUNTER))
    try:
        yield amp
    finally:
        client.delete_amphora(amp.amphora_id)


@pytest.fixture
def client_namespace() -> Iterator[str]:
    """A namespace `ostt-c1` on the VIP bridge at 198.18.0.200, to send traffic from."""
    ns, host, peer = "ostt-c1", "ostt-c1h", "ostt-c1p"
    try:
        sh("ip", "netns", "add", ns, check=True)
        sh("ip", "link", "add", host, "type", "veth", "peer", "name", peer, check=True)
        sh("ip", "link", "set", peer, "netns", ns, check=True)
        sh("ip", "link", "set", host, "master", VIP_BRIDGE, "up", check=True)
        sh(
            "ip",
            "netns",
            "exec",
            ns,
            "ip",
            "addr",
            "add",
            "198.18.0.200/24",
            "dev",
            peer,
            check=True,
        )
        sh("ip", "netns", "exec", ns, "ip", "link", "set", peer, "up", check=True)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up", check=True)
        yield ns
    finally:
        sh("ip", "netns", "del", ns)
        sh("ip", "link", "del", host)
