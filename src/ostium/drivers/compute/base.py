"""The compute driver protocol: how the worker gets amphorae built, configured, removed.

Role: the one seam between the control plane and whatever runs amphorae. Callers: the
worker (through `control/worker/dataplane`, which checks its lease before every call
that changes the data plane) and, for the local agent's housekeeping, `control/cli`.
A driver raises `TransientError` for failures worth retrying and `PermanentError` for
the rest; it never imports the control plane.

Placement is part of the protocol: `hosts()` lists where amphorae can go, and
`on(host)` gives the operations on that host (`on(None)`: the driver chooses for a
build and finds the amphora for the rest). The worker records each amphora's host and
always names it, and keeps the two amphorae of an ACTIVE_STANDBY pair on different
hosts when it can (`control/worker/placement`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Protocol

from ostium.agent_client import AgentClient
from ostium.model.spec import AmphoraPlug, AmphoraSpec

COMPUTE_IDS = uuid.UUID("0b7e6f52-3c1d-4a8e-9f27-6d5a1c4e8b03")
"""uuid5 namespace of the compute ids of amphorae."""


def compute_uuid(host: str, handle: str) -> str:
    """The compute id of an amphora the driver knows as `handle` on `host` (a namespace
    name for netns). Octavia's is a Nova server's UUID and clients parse it as one, so
    the handle itself is not shown: the same amphora on the same host always gets the
    same UUID. Where the handle is needed (an operator's `ip netns`), it follows from
    the amphora id (`agent/naming`)."""
    return str(uuid.uuid5(COMPUTE_IDS, f"{host}/{handle}"))


@dataclass(frozen=True)
class AmphoraInfo:
    compute_id: str
    """A UUID (`compute_uuid`): the API shows it as the amphora's `compute_id`."""
    lb_network_ip: str | None
    host: str
    cert_expiration: dt.datetime | None


class AmphoraHost(Protocol):
    """The amphora operations on one host."""

    def build(self, plug: AmphoraPlug) -> AmphoraInfo:
        """Create the amphora (idempotent: an existing one is adopted)."""
        ...

    def apply(self, spec: AmphoraSpec) -> int:
        """Converge the amphora to `spec`; returns the generation now applied."""
        ...

    def destroy(self, amphora_id: str) -> None:
        """Remove the amphora completely (idempotent: gone is fine)."""
        ...


class ComputeDriver(Protocol):
    name: str

    def hosts(self) -> list[str]:
        """The hosts amphorae can be placed on (the values `AmphoraInfo.host` takes)."""
        ...

    def on(self, host: str | None) -> AmphoraHost:
        """The operations on `host`; None (or a host the driver no longer has): the
        driver picks the host of a new amphora and finds the one of an existing one."""
        ...

    def local_agent(self) -> AgentClient | None:
        """The agent on this machine, whose certificates come from the CA in the state
        directory: housekeeping renews them and removes its orphans. None: no such agent."""
        ...
