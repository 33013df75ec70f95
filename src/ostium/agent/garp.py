"""Gratuitous ARP for a VIP that just appeared on a new amphora.

Role: after a failover the VIP lives behind a new veth with a new MAC address, and the
neighbours on the VIP bridge (the host, clients) still have the old one cached. A few
gratuitous ARP requests ("who has VIP? tell VIP", from the new MAC) make them switch
at once instead of after their cache times out. Linux ignores a neighbour update that
comes less than `locktime` (1 s) after the previous one, hence several announcements a
little more than a second apart.

Callers: `applying` calls `announce(...)` after the first spec of an amphora is applied;
it runs this module inside the amphora's namespace (`python -m ostium.agent.garp IFACE
ADDRESS`), which sends raw frames with an AF_PACKET socket. An IPv6 VIP gets
unsolicited neighbour advertisements instead (ICMPv6 type 136 to all nodes, override
flag, the new MAC as target link-layer address, hop limit 255 as RFC 4861 requires),
from the VIP itself: it was added without duplicate address detection, so it is usable
at once.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
import threading
import time
from pathlib import Path

from ostium.agent.commands import in_netns_with_sysfs, run

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


ND_ADVERT = 136
OVERRIDE = 0x20000000
ALL_NODES = "ff02::1"


def advert(mac: bytes, address: str) -> bytes:
    """One unsolicited neighbour advertisement for `address` (the kernel fills in the
    ICMPv6 checksum of a raw ICMPv6 socket)."""
    target = ipaddress.IPv6Address(address).packed
    header = bytes([ND_ADVERT, 0, 0, 0]) + OVERRIDE.to_bytes(4, "big") + target
    return header + bytes([2, 1]) + mac  # option: target link-layer address, 8 bytes


def send_v6(interface: str, address: str, count: int = COUNT, spacing: float = SPACING) -> None:
    """Send `count` advertisements (run inside the namespace that owns `interface`)."""
    mac = bytes.fromhex(
        Path(f"/sys/class/net/{interface}/address").read_text().strip().replace(":", "")
    )
    index = socket.if_nametoindex(interface)
    data = advert(mac, address)
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.bind((address, 0, 0, index))
        for i in range(count):
            if i:
                time.sleep(spacing)
            sock.sendto(data, (ALL_NODES, 0, 0, index))


def announce(namespace: str, interface: str, address: str) -> None:
    """Announce `address` from `interface` in `namespace`, in the background."""

    def work() -> None:
        # With the namespace's own /sys: the MAC is read from /sys/class/net/<interface>
        # (plain `nsenter --net` keeps the host's sysfs, where that interface is absent).
        argv = in_netns_with_sysfs(
            namespace, [sys.executable, "-m", "ostium.agent.garp", interface, address]
        )
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
    if ipaddress.ip_address(sys.argv[2]).version == 6:
        send_v6(sys.argv[1], sys.argv[2])
    else:
        send(sys.argv[1], sys.argv[2])
