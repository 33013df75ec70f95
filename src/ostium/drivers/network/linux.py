"""Linux bridges of the declared networks, as the controller's host sees them.

Role: the real `NetworkDriver`. It reads `/sys/class/net` (which links exist, which
ports a bridge has) and runs `ip link del` for an idle bridge. Both the sysfs root and
the command runner are injected, so tests run it without root. Built by
`control/netns_setup`; never imports the control plane, never creates links (the agent
does, when it plugs an amphora).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from ostium.drivers.network.base import LocalNetwork

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

    def remove_idle(self) -> list[str]:
        removed: list[str] = []
        for bridge in dict.fromkeys(n.bridge for n in self.networks):
            ports = self.sysfs / bridge / "brif"
            if not ports.is_dir() or any(ports.iterdir()):
                continue  # not a bridge (or gone), or still in use
            self.ip(["link", "del", bridge])
            removed.append(bridge)
        return removed
