"""Gratuitous ARP for a VIP that just appeared on a new amphora.

Role: after a failover the VIP lives behind a new veth with a new MAC address, and the
neighbours on the VIP bridge (the host, clients) still have the old one cached. A few
gratuitous ARP requests ("who has VIP? tell VIP", from the new MAC) make them switch
at once instead of after their cache times out. Linux ignores a neighbour update that
comes less than `locktime` (1 s) after the previous one, hence several announcements a
little more than a second apart.

Callers: `applying` calls `announce(...)` after the first spec of an amphora is applied;
it runs this module inside the amphora's namespace (`python -m ostium.agent.garp IFACE
ADDRESS`), which sends raw frames with an AF_PACKET socket. IPv4 only; an IPv6 VIP is
left to neighbour discovery.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
import threading
import time
from pathlib import Path

from ostium.agent.commands import in_netns, run

LOG = logging.getLogger(__name__)
ETH_P_ARP = 0x0806
COUNT = 3
SPACING = 1.1


def frame(mac: bytes, address: str) -> bytes:
    """One Ethernet broadcast carrying a gratuitous ARP request for `address`."""
    ip = ipaddress.IPv4Address(address).packed
    ethernet = b"\xff" * 6 + mac + ETH_P_ARP.to_bytes(2, "big")
    arp = (
        (1).to_bytes(2, "big")
        + (0x0800).to_bytes(2, "big")
        + bytes([6, 4])
        + (1).to_bytes(2, "big")
        + mac
        + ip
        + b"\x00" * 6
        + ip
    )
    return ethernet + arp


def send(interface: str, address: str, count: int = COUNT, spacing: float = SPACING) -> None:
    """Send `count` announcements (run inside the namespace that owns `interface`)."""
    mac = bytes.fromhex(
        Path(f"/sys/class/net/{interface}/address").read_text().strip().replace(":", "")
    )
    data = frame(mac, address)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((interface, 0))
        for i in range(count):
            if i:
                time.sleep(spacing)
            sock.send(data)


def announce(namespace: str, interface: str, address: str) -> None:
    """Announce `address` from `interface` in `namespace`, in the background."""
    if ipaddress.ip_address(address).version != 4:
        return

    def work() -> None:
        argv = in_netns(namespace, [sys.executable, "-m", "ostium.agent.garp", interface, address])
        proc = run(argv, check=False, timeout=COUNT * SPACING + 10)
        if proc.returncode != 0:
            LOG.info(
                "gratuitous ARP for %s in %s failed: %s",
                address,
                namespace,
                proc.stderr.strip()[-200:],
            )

    threading.Thread(target=work, name=f"garp-{namespace}", daemon=True).start()


if __name__ == "__main__":
    send(sys.argv[1], sys.argv[2])
