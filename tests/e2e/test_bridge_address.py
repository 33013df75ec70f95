"""An owned bridge keeps its MAC address when ports come and go (real kernel): a bridge
whose address was never set takes the lowest of its ports', and a failover removing an
amphora's veth would then leave neighbours' ARP entries for the host address stale."""

from __future__ import annotations

from pathlib import Path

from e2e_support import sh

from ostium.agent import links

BRIDGE = "ostt-mac0"


def _mac(name: str) -> str:
    return Path(f"/sys/class/net/{name}/address").read_text().strip()


def test_an_owned_bridge_keeps_its_address_when_its_lowest_port_goes() -> None:
    try:
        links.ensure_bridge(BRIDGE)
        for end, peer, mac in (
            ("ostt-mca", "ostt-mcA", "02:00:00:00:00:01"),
            ("ostt-mcb", "ostt-mcB", "02:00:00:00:00:02"),
        ):
            sh("ip", "link", "add", end, "address", mac, "type", "veth", "peer", "name", peer)
            sh("ip", "link", "set", end, "master", BRIDGE, "up")
        before = _mac(BRIDGE)
        assert before not in ("02:00:00:00:00:01", "02:00:00:00:00:02")
        assert int(before.split(":")[0], 16) & 0x03 == 0x02  # unicast, locally administered
        sh("ip", "link", "del", "ostt-mca")  # the port with the lowest address goes
        assert _mac(BRIDGE) == before
        links.ensure_bridge(BRIDGE)  # again: the bridge exists, its address stays
        assert _mac(BRIDGE) == before
    finally:
        for name in ("ostt-mca", "ostt-mcb", BRIDGE):
            sh("ip", "link", "del", name)
