"""Linux bridges of the declared networks, as the controller's host sees them.

Role: the real `NetworkDriver`. It reads `/sys/class/net` (which links exist, which
ports a bridge has), runs `ip link del` for an idle owned bridge and `ip route` for the
`unreachable` routes of owned bridges' subnets. Both the sysfs root and
the command runner are injected, so tests run it without root. Built by
`control/netns_setup`; never imports the control plane, never creates links (the agent
does, when it plugs an amphora).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from ostium.drivers.network.base import UNREACHABLE_METRIC, LocalNetwork

SYSFS = Path("/sys/class/net")


def _run_ip(args: list[str]) -> None:
    subprocess.run(["ip", *args], check=False, capture_output=True)


class LinuxBridges:
    name = "linux-bridge"

    def __init__(
        self,
        networks: Sequence[LocalNetwork],
        sysfs: Path = SYSFS,
        ip: Callable[[list[str]], None] = _run_ip,
    ) -> None:
        self.networks = list(networks)
        self.sysfs = sysfs
        self.ip = ip

    def present(self) -> list[LocalNetwork]:
        return [n for n in self.networks if (self.sysfs / n.bridge).exists()]

    def _route(self, action: str, cidr: str) -> None:
        family = "-6" if ":" in cidr else "-4"
        metric = str(UNREACHABLE_METRIC)
        self.ip([family, "route", action, "unreachable", cidr, "metric", metric])

    def protect(self) -> None:
        for net in self.networks:
            if net.owned and net.protect and net.cidr:
                self._route("replace", net.cidr)

    def remove_idle(self) -> list[str]:
        removed: list[str] = []
        owned = [n for n in self.networks if n.owned]
        for bridge in dict.fromkeys(n.bridge for n in owned):
            ports = self.sysfs / bridge / "brif"
            if not ports.is_dir():
                continue  # not a bridge (or gone)
            ours = {n.vlan_link for n in owned if n.bridge == bridge and n.vlan_link}
            if any(p.name not in ours for p in ports.iterdir()):
                continue  # still in use
            self.ip(["link", "del", bridge])
            for vlan in sorted(ours):
                self.ip(["link", "del", vlan])
            removed.append(bridge)
        for net in owned:
            if net.protect and net.cidr and not (self.sysfs / net.bridge).exists():
                self._route("del", net.cidr)
        return removed
