"""The network driver protocol: the controller's view of network plumbing on its host.

Role: the one seam through which the control plane looks at and tidies the links of the
declared networks on the machine it runs on (the agent plugs amphorae into them; this
side never does). Callers: `control/netns_setup` (removes idle bridges when the local
data plane stops). The multi-host and provider-network work extends this protocol (which
networks a host has, VLAN and macvlan links). Implementations: `linux.LinuxBridges`
(the real one) and `fake.FakeNetwork` (for tests). Never imports the control plane;
never touches a link ostium does not own (an operator's bridge, a parent interface);
IPAM is not here (an allocation commits with the caller's rows: `control/db/ipam`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# The metric of the `unreachable` route of an owned bridge's subnet: above the kernel's
# own route of an address on the bridge (0 for IPv4, 256 for IPv6), so it only answers
# when the bridge (or its address) is gone.
UNREACHABLE_METRIC = 4242


@dataclass(frozen=True)
class LocalNetwork:
    """One declared network as this side sees it: its name, its Linux bridge, its
    subnet (empty: not known) and whether ostium owns the bridge (`bridge` and `vlan`
    kinds: created and removed by ostium; the operator's bridges and macvlan parents
    are never touched). `vlan_link` is the VLAN sub-interface inside an owned bridge."""

    name: str
    bridge: str
    cidr: str = ""
    owned: bool = True
    protect: bool = True
    """An `unreachable` route for the subnet while ostium runs (kind `bridge`)."""
    vlan_link: str | None = None


class NetworkDriver(Protocol):
    name: str

    def present(self) -> list[LocalNetwork]:
        """The declared networks whose link exists on this host now."""
        ...

    def protect(self) -> None:
        """Add an `unreachable` route for the subnet of every owned bridge, so that the
        host's traffic for it never leaves the machine by its default route when the
        bridge is missing. Never enables forwarding or NAT."""
        ...

    def remove_idle(self) -> list[str]:
        """Remove the owned bridges of declared networks that have no port left (no
        amphora, no backend); a bridge still in use is left alone, as is every bridge
        ostium does not own. The `unreachable` routes of bridges gone are removed with
        them. Returns the bridges removed."""
        ...
