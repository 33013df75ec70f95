"""An in-memory `NetworkDriver` for tests: bridges are names with a set of ports.

Role: lets tests of the control plane check what it asks of the host's network without
touching it. Tests add bridges and ports (`plug`, `unplug`) the way the agent would.
"""

from __future__ import annotations

from collections.abc import Sequence

from ostium.drivers.network.base import LocalNetwork


class FakeNetwork:
    name = "fake"

    def __init__(self, networks: Sequence[LocalNetwork]) -> None:
        self.networks = list(networks)
        self.bridges: dict[str, set[str]] = {}
        self.removed: list[str] = []
        self.unreachable: set[str] = set()

    def plug(self, bridge: str, port: str) -> None:
        self.bridges.setdefault(bridge, set()).add(port)

    def unplug(self, bridge: str, port: str) -> None:
        self.bridges.get(bridge, set()).discard(port)

    def present(self) -> list[LocalNetwork]:
        return [n for n in self.networks if n.bridge in self.bridges]

    def protect(self) -> None:
        self.unreachable |= {n.cidr for n in self.networks if n.owned and n.protect and n.cidr}

    def remove_idle(self) -> list[str]:
        idle = [
            b
            for b in dict.fromkeys(n.bridge for n in self.networks if n.owned)
            if b in self.bridges and not self.bridges[b]
        ]
        for bridge in idle:
            del self.bridges[bridge]
        self.removed += idle
        self.unreachable -= {n.cidr for n in self.networks if n.bridge not in self.bridges}
        return idle
