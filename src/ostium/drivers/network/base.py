"""The network driver protocol: the controller's view of network plumbing on its host.

Role: the one seam through which the control plane looks at and tidies the links of the
declared networks on the machine it runs on (the agent plugs amphorae into them; this
side never does). Callers: `control/netns_setup` (removes idle bridges when the local
data plane stops). The multi-host and provider-network work extends this protocol (which
networks a host has, VLAN and macvlan links). Implementations: `linux.LinuxBridges`
(the real one) and `fake.FakeNetwork` (for tests). Never imports the control plane;
IPAM is not here (an allocation commits with the caller's rows: `control/db/ipam`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class LocalNetwork:
    """One declared network as this side sees it: its name and its Linux bridge."""

    name: str
    bridge: str


class NetworkDriver(Protocol):
    name: str

    def present(self) -> list[LocalNetwork]:
        """The declared networks whose link exists on this host now."""
        ...

    def remove_idle(self) -> list[str]:
        """Remove the bridges of declared networks that have no port left (no amphora,
        no backend); a bridge still in use is left alone. Returns the bridges removed."""
        ...
