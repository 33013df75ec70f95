"""The `netns` compute driver: amphorae are network namespaces run by one ostium agent.

Role: map the compute protocol onto the agent API (every call goes through the agent
client, mTLS) for one host, the agent's URL. Built by `control/netns_setup`; several of
them make a `MultiHostDriver`. Must not touch the machine itself (links, bridges: that is
the agent's job, or `drivers/network` on the controller side) nor import the control plane.
"""

from __future__ import annotations

import datetime as dt

from ostium.agent_client import AgentClient
from ostium.drivers.compute.base import AmphoraHost, AmphoraInfo, compute_uuid
from ostium.model.spec import AmphoraPlug, AmphoraSpec


class NetnsDriver:
    name = "netns"

    def __init__(
        self, client: AgentClient, host: str, cert_expiration: dt.datetime | None, agent_ip: str
    ) -> None:
        self.client = client
        self.host = host
        self.cert_expiration = cert_expiration
        self.agent_ip = agent_ip

    def hosts(self) -> list[str]:
        """One agent: one host."""
        return [self.host]

    def on(self, host: str | None) -> AmphoraHost:
        return self  # the only host there is

    def local_agent(self) -> AgentClient | None:
        return self.client

    def build(self, plug: AmphoraPlug) -> AmphoraInfo:
        state = self.client.ensure_amphora(plug)
        return AmphoraInfo(
            compute_id=compute_uuid(self.host, state.namespace),
            lb_network_ip=self.agent_ip,
            host=self.host,
            cert_expiration=self.cert_expiration,
        )

    def apply(self, spec: AmphoraSpec) -> int:
        state = self.client.apply_spec(spec)
        return spec.generation if state.applied_generation is None else state.applied_generation

    def destroy(self, amphora_id: str) -> None:
        self.client.delete_amphora(amphora_id)
