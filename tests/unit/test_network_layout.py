"""The default local networks: room for thousands of load balancers, inside
198.18.0.0/15, disjoint from each other and from the networks a config declares."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from ostium.control.settings import load_settings


def test_default_networks_are_large_and_disjoint(tmp_path: Path) -> None:
    vip, demo, vip6 = load_settings(state_dir=str(tmp_path)).networks
    assert vip6.ip_network.subnet_of(ipaddress.ip_network("2001:2::/48"))  # type: ignore[arg-type]
    assert vip6.bridge == vip.bridge  # dual-stack amphorae: one port for both VIPs
    bench = ipaddress.ip_network("198.18.0.0/15")
    for net in (vip, demo):
        assert net.ip_network.subnet_of(bench)  # type: ignore[arg-type]
        assert net.ip_network.num_addresses - 3 >= 3 * 4000  # ACTIVE_STANDBY: 3 each
    assert not vip.ip_network.overlaps(demo.ip_network)
    assert (vip.gateway, demo.gateway) == ("198.18.0.1", "198.18.128.1")


def test_a_declared_network_inside_a_default_one_is_refused(tmp_path: Path) -> None:
    ini = tmp_path / "ostium.ini"
    ini.write_text("[network:backends]\ncidr = 198.18.2.0/24\n")
    with pytest.raises(ValueError, match=r"backends: 198.18.2.0/24 overlaps network vip-net"):
        load_settings(str(ini))
    ini.write_text("[network:backends]\ncidr = 198.19.2.0/24\n")
    names = [n.name for n in load_settings(str(ini)).networks]
    assert names == ["vip-net", "demo-net", "vip-net-v6", "backends"]
    # Without the defaults the same range is free again.
    ini.write_text("[networking]\ndefault_networks = false\n[network:b]\ncidr = 198.18.2.0/24\n")
    assert [n.name for n in load_settings(str(ini)).networks] == ["b"]
