"""The `netns` compute driver: amphorae are network namespaces run by an ostium agent.

Every call goes through the agent client (mTLS); this driver only maps the compute
protocol onto the agent API and records which host (agent URL) holds the amphora.
"""

from __future__ import annotations

import datetime as dt

from ostium.agent_client import AgentClient
from ostium.drivers.compute.base import AmphoraInfo
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

    def build(self, plug: AmphoraPlug) -> AmphoraInfo:
        state = self.client.ensure_amphora(plug)
        return AmphoraInfo(
            compute_id=state.namespace,
            lb_network_ip=self.agent_ip,
            host=self.host,
            cert_expiration=self.cert_expiration,
        )

    def apply(self, spec: AmphoraSpec) -> int:
        state = self.client.apply_spec(spec)
        return spec.generation if state.applied_generation is None else state.applied_generation

    def destroy(self, amphora_id: str) -> None:
        self.client.delete_amphora(amphora_id)


def remove_idle_bridges(bridges: list[str]) -> list[str]:
    """Delete the named bridges that no longer have any port (no amphora, no backend).

    Called when the local data plane stops, so a stopped ostium leaves no empty bridge
    behind; a bridge still in use is left alone.
    """
    import subprocess
    from pathlib import Path

    removed = []
    for bridge in bridges:
        brif = Path("/sys/class/net") / bridge / "brif"
        if not brif.is_dir() or any(brif.iterdir()):
            continue
        subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)
        removed.append(bridge)
    return removed
