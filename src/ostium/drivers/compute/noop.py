"""The `noop` compute driver: a test double that provisions nothing.

It accepts every amphora and spec and reports them applied, so the control plane (API,
status model, worker) can run without namespaces or haproxy. No traffic flows. Tests
subclass it to record or fail calls.
"""

from __future__ import annotations

from ostium.agent_client import AgentClient
from ostium.drivers.compute.base import AmphoraHost, AmphoraInfo, compute_uuid
from ostium.model.spec import AmphoraPlug, AmphoraSpec

HOST = "noop"


class NoopDriver:
    name = "noop"

    def hosts(self) -> list[str]:
        return [HOST]

    def on(self, host: str | None) -> AmphoraHost:
        return self

    def local_agent(self) -> AgentClient | None:
        return None

    def build(self, plug: AmphoraPlug) -> AmphoraInfo:
        return AmphoraInfo(
            compute_id=compute_uuid(HOST, f"noop-{plug.amphora_id}"),
            lb_network_ip=None,
            host=HOST,
            cert_expiration=None,
        )

    def apply(self, spec: AmphoraSpec) -> int:
        return spec.generation

    def destroy(self, amphora_id: str) -> None:
        return None
