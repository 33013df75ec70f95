"""Set up the local data plane for `ostium serve`: the CA, certificates, a local agent.

On first start a CA is created in `<state_dir>/pki`; the agent's server certificate and
the controller's client certificate are issued from it and re-issued when they are
missing or within 30 days of expiry. The agent runs as a child process; stopping
ostium stops the agent but leaves haproxy serving (the agent adopts it next time). The
agent sends heartbeats to `[health_manager] controller_ip_port_list` (default: the
local health manager), signed with the key in `<state_dir>/heartbeat.key`. When the
local data plane starts, the subnet of every bridge ostium owns gets an `unreachable`
route (its traffic never leaves the machine when the bridge is missing); when it stops,
the owned bridges left without a port are removed, with their routes, through the
network driver (`drivers/network`). Callers: `drivers_factory`, `cli`
(standalone housekeeping) and housekeeping (certificate renewal). Must not reach into
the worker or the database.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from ostium.agent.links import vlan_ifname
from ostium.agent.main import AgentProcess, start_agent_subprocess
from ostium.agent.tls import CertReloader
from ostium.agent_client import REMOTE_TIMEOUT, AgentClient, mtls_client, ssl_context
from ostium.control.health.manager import key_file
from ostium.control.host_directory import HostDirectory
from ostium.control.settings import NetworkSettings, Settings
from ostium.drivers.certificates.local_ca import LocalCA, cert_expiration
from ostium.drivers.compute.base import ComputeDriver
from ostium.drivers.compute.multihost import MultiHostDriver
from ostium.drivers.compute.netns import NetnsDriver
from ostium.drivers.network.base import LocalNetwork, NetworkDriver
from ostium.drivers.network.linux import LinuxBridges
from ostium.model.enums import NetworkKind

log = logging.getLogger("ostium.netns")
RENEW_BEFORE = dt.timedelta(days=30)


def _fresh(cert: Path, key: Path, renew_before: dt.timedelta = RENEW_BEFORE) -> bool:
    if not (cert.exists() and key.exists()):
        return False
    return cert_expiration(cert) - dt.datetime.now(dt.UTC) > renew_before


def ensure_certificates(
    settings: Settings, renew_before: dt.timedelta = RENEW_BEFORE
) -> dict[str, Path]:
    pki = settings.state_dir / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    ca = LocalCA(pki)
    validity = dt.timedelta(days=settings.haproxy.cert_validity_days)
    paths = {
        "ca": ca.cert_path,
        "agent_cert": pki / "agent.pem",
        "agent_key": pki / "agent.key",
        "client_cert": pki / "controller.pem",
        "client_key": pki / "controller.key",
    }
    if not _fresh(paths["agent_cert"], paths["agent_key"], renew_before):
        ca.issue_server_cert(
            paths["agent_cert"],
            paths["agent_key"],
            ip_addresses=[settings.haproxy.bind_host],
            validity=validity,
        )
    if not _fresh(paths["client_cert"], paths["client_key"], renew_before):
        ca.issue_client_cert(paths["client_cert"], paths["client_key"], validity=validity)
    return paths


def connect_local_agent(settings: Settings) -> tuple[AgentClient, Callable[[], None]]:
    """A client for the local agent another process started (standalone housekeeping)."""
    pki = settings.state_dir / "pki"
    url = f"https://{settings.haproxy.bind_host}:{settings.haproxy.bind_port}"
    http = mtls_client(
        url, cert=pki / "controller.pem", key=pki / "controller.key", ca=pki / "ca.pem"
    )
    return AgentClient(http), http.close


class AgentSupervisor:
    """Keeps the local agent running: if it dies, a new one is started (it adopts the
    amphorae, whose haproxy kept serving), so heartbeats and changes resume."""

    def __init__(self, start: Callable[[], AgentProcess], interval: float = 1.0) -> None:
        self._start = start
        self.agent = start()
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, args=(interval,), name="agent-supervisor", daemon=True
        )
        self._thread.start()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            if self.agent.alive():
                continue
            log.error("local agent exited (%s); starting a new one", self.agent.process.returncode)
            try:
                self.agent = self._start()
                self.restarts += 1
            except Exception:
                log.exception("local agent could not be restarted; trying again")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.agent.stop()


def local_network(settings: Settings) -> NetworkDriver:
    """The declared networks' links on this machine."""
    return LinuxBridges([_local(n) for n in settings.networks])


def _local(net: NetworkSettings) -> LocalNetwork:
    vlan = None
    if net.kind == NetworkKind.VLAN and net.parent and net.vlan_id:
        vlan = vlan_ifname(net.parent, net.vlan_id)
    return LocalNetwork(
        net.name,
        net.bridge,
        cidr=net.cidr,
        owned=net.kind in (NetworkKind.BRIDGE, NetworkKind.VLAN),
        protect=net.kind == NetworkKind.BRIDGE,
        vlan_link=vlan,
    )


def start_local_netns_driver(
    settings: Settings, network: NetworkDriver | None = None
) -> tuple[ComputeDriver, Callable[[], None]]:
    """The compute driver of `ostium serve`/`worker`: a local agent (restarted if it dies),
    plus `remote_agents`; the cleanup stops the agent and removes idle bridges of
    `network` (default: the declared networks' Linux bridges)."""
    links = network if network is not None else local_network(settings)
    links.protect()
    paths = ensure_certificates(settings)
    bind = f"{settings.haproxy.bind_host}:{settings.haproxy.bind_port}"
    supervisor = AgentSupervisor(
        lambda: start_agent_subprocess(
            cert=paths["agent_cert"],
            key=paths["agent_key"],
            ca=paths["ca"],
            state_dir=settings.state_dir / "agent",
            bind=bind,
            name_prefix=settings.haproxy.name_prefix,
            inherit_output=True,  # the agent's lines in ostium's own stream
            extra_args=[
                "--tenant-log-targets",
                settings.amphora_agent.targets(),
                "--user-log-facility",
                str(settings.amphora_agent.user_log_facility),
                "--log-level",
                logging.getLevelName(logging.getLogger().getEffectiveLevel()),
                "--respawn-count",
                str(settings.haproxy.respawn_count),
                "--respawn-interval",
                str(settings.haproxy.respawn_interval),
                "--haproxy-bin",
                settings.haproxy.haproxy_cmd,
                "--controller-ip-port-list",
                settings.health.targets(),
                "--heartbeat-interval",
                str(settings.health.heartbeat_interval),
                "--heartbeat-key-file",
                str(key_file(settings)),
            ],
        )
    )
    agent = supervisor.agent
    context = ssl_context(paths["client_cert"], paths["client_key"], paths["ca"])
    # Housekeeping renews the controller's certificate too: load it for new connections.
    reloader = CertReloader(context, paths["client_cert"], paths["client_key"])
    reloader.start()
    http = mtls_client(
        agent.url,
        cert=paths["client_cert"],
        key=paths["client_key"],
        ca=paths["ca"],
        context=context,
    )
    driver = NetnsDriver(
        AgentClient(http),
        host=agent.url,
        cert_expiration=cert_expiration(paths["agent_cert"]).replace(tzinfo=None),
        agent_ip=settings.haproxy.bind_host,
    )

    remote = [u.strip() for u in settings.haproxy.remote_agents.split(",") if u.strip()]
    clients: list[httpx.Client] = []

    directory = HostDirectory(settings)
    directory()  # its connection made now, before any write of this process can hold it up

    def connect(url: str) -> NetnsDriver:
        client = mtls_client(
            url,
            cert=paths["client_cert"],
            key=paths["client_key"],
            ca=paths["ca"],
            context=context,
            timeout=REMOTE_TIMEOUT,
        )
        clients.append(client)
        # More hosts: their agents trust the same CA; their expiry is their own business.
        agent_ip = url.split("//")[-1].rsplit(":", 1)[0].strip("[]")
        return NetnsDriver(AgentClient(client), host=url, cert_expiration=None, agent_ip=agent_ip)

    def cleanup() -> None:
        reloader.stop()
        http.close()
        for client in clients:
            client.close()
        directory.close()
        supervisor.stop()
        links.remove_idle()

    hosts = [driver] + [connect(url) for url in remote]
    return MultiHostDriver(hosts, discover=directory, connect=connect), cleanup
