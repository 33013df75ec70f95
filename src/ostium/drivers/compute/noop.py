"""The `noop` compute driver: a test double that provisions nothing.

It accepts every amphora and spec and reports them applied, so the control plane (API,
status model, worker) can run without namespaces or haproxy. No traffic flows.
"""

from __future__ import annotations

from ostium.drivers.compute.base import AmphoraInfo
from ostium.model.spec import AmphoraPlug, AmphoraSpec


class NoopDriver:
    name = "noop"

    def hosts(self) -> list[str]:
        return ["noop"]

    def build(self, plug: AmphoraPlug) -> AmphoraInfo:
        return AmphoraInfo(
            compute_id=f"noop-{plug.amphora_id}",
            lb_network_ip=None,
            host="noop",
            cert_expiration=None,
        )

    def apply(self, spec: AmphoraSpec) -> int:
        return spec.generation

    def destroy(self, amphora_id: str) -> None:
        return None
