"""Several hosts behind one compute driver: one `NetnsDriver` (one agent) per host.

Role: what lets the worker place the two amphorae of an ACTIVE_STANDBY pair on
different hosts. `hosts()` lists the agents' URLs; `on(host)` is that host's driver.
`on(None)` (or a host no longer configured) builds on the first host, the local one, and
finds an existing amphora by asking each agent (`GET /amphorae/{id}`, remembered
afterwards). Built by `control/netns_setup` from `[haproxy_amphora] remote_agents`
and the hosts that joined with an enrollment token (`discover`, read again as hosts
join); never imports the control plane.
"""

from __future__ import annotations

from collections.abc import Callable

from ostium.agent_client import AgentClient
from ostium.drivers.compute.base import AmphoraHost, AmphoraInfo
from ostium.drivers.compute.netns import NetnsDriver
from ostium.model.spec import AmphoraPlug, AmphoraSpec


class MultiHostDriver:
    name = "netns"

    def __init__(
        self,
        drivers: list[NetnsDriver],
        discover: Callable[[], list[str]] | None = None,
        connect: Callable[[str], NetnsDriver] | None = None,
    ) -> None:
        """`drivers[0]` is the agent on this machine. `discover` lists the agent URLs of
        hosts that joined later (enrolled hosts); `connect` makes a driver for one."""
        if not drivers:
            raise ValueError("MultiHostDriver needs at least one host")
        self.by_host = {d.host: d for d in drivers}
        self.first = drivers[0]
        self._anywhere = _AnyHost(self)
        self._discover = discover
        self._connect = connect
        self._static = set(self.by_host)

    def _refresh(self) -> None:
        """Add the hosts that joined; forget those removed (never the configured ones)."""
        if self._discover is None or self._connect is None:
            return
        listed = self._discover()
        for url in listed:
            if url not in self.by_host:
                self.by_host[url] = self._connect(url)
        for url in [u for u in self.by_host if u not in self._static and u not in listed]:
            del self.by_host[url]

    def hosts(self) -> list[str]:
        self._refresh()
        return list(self.by_host)

    def on(self, host: str | None) -> AmphoraHost:
        if host is not None and host not in self.by_host:
            self._refresh()
        known = self.by_host.get(host) if host is not None else None
        return known if known is not None else self._anywhere

    def local_agent(self) -> AgentClient | None:
        return self.first.client

    def other_agents(self) -> list[AgentClient]:
        """The agents of every host but the local one (housekeeping removes their
        orphans, e.g. what a host that was silent still runs when it comes back)."""
        self._refresh()
        return [d.client for d in self.by_host.values() if d is not self.first]


class _AnyHost:
    """The operations when the worker names no host: build on the first host, find the
    amphora's agent for the rest."""

    def __init__(self, hosts: MultiHostDriver) -> None:
        self.hosts = hosts
        self._where: dict[str, NetnsDriver] = {}

    def _find(self, amphora_id: str) -> NetnsDriver:
        known = self._where.get(amphora_id)
        if known is not None:
            return known
        for driver in self.hosts.by_host.values():
            if driver.client.get_amphora(amphora_id) is not None:
                self._where[amphora_id] = driver
                return driver
        return self.hosts.first

    def build(self, plug: AmphoraPlug) -> AmphoraInfo:
        info = self.hosts.first.build(plug)
        self._where[plug.amphora_id] = self.hosts.first
        return info

    def apply(self, spec: AmphoraSpec) -> int:
        return self._find(spec.amphora_id).apply(spec)

    def destroy(self, amphora_id: str) -> None:
        self._find(amphora_id).destroy(amphora_id)
        self._where.pop(amphora_id, None)
