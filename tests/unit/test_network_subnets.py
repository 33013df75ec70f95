"""Networks with several subnets (`network = NAME` in a `[network:...]` section): the
default vip-net is dual-stack, a LAN can carry an IPv6 subnet too, and a subnet cannot
sit on another link than its network."""

from __future__ import annotations

from pathlib import Path

import pytest

from ostium.control.settings import load_settings
from ostium.model.enums import NetworkKind


def _settings(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    ini = tmp_path / "ostium.ini"
    ini.write_text(text)
    return load_settings(str(ini), state_dir=str(tmp_path))


def test_the_default_vip_network_has_an_ipv4_and_an_ipv6_subnet(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "")
    v4 = next(n for n in settings.networks if n.subnet_name == "vip-subnet")
    v6 = next(n for n in settings.networks if n.subnet_name == "vip-subnet-v6")
    assert v4.network_id == v6.network_id and v6.network_name == "vip-net"
    assert v4.subnet_id != v6.subnet_id and v6.bridge == v4.bridge == "ostium0"
    assert [n.subnet_name for n in settings.subnets_of(v4.network_id)] == [
        "vip-subnet",
        "vip-subnet-v6",
    ]
    assert settings.network_by_network(v4.network_id) is v4


def test_a_lan_with_an_ipv6_subnet_shares_its_link(tmp_path: Path) -> None:
    text = (
        "[networking]\ndefault_networks = false\n"
        "[network:lan6]\nnetwork = lan\ncidr = 2001:db8:1::/64\ngateway = 2001:db8:1::1\n"
        "[network:lan]\nkind = vlan\nparent = eth0\nvlan_id = 7\ncidr = 10.7.0.0/24\n"
        "gateway = 10.7.0.1\n"
    )
    lan, lan6 = _settings(tmp_path, text).networks
    assert (lan6.kind, lan6.parent, lan6.vlan_id, lan6.bridge) == (
        NetworkKind.VLAN,
        "eth0",
        7,
        lan.bridge,
    )
    assert lan6.network_id == lan.network_id and lan6.gateway == "2001:db8:1::1"
    assert lan6.host_address is None  # a provider network: never the host's address


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ("network = nowhere\ncidr = 2001:2:0:9::/64", "'nowhere' is not declared"),
        ("network = own\nbridge = other0\ncidr = 2001:2:0:9::/64", "differs from network own"),
        ("network = own\nkind = macvlan\ncidr = 2001:2:0:9::/64", "differs from network own"),
        ("network = own\ncidr = 198.19.5.128/25", "overlaps network own"),
    ],
)
def test_bad_subnet_sections_are_refused_by_name(tmp_path: Path, section: str, words: str) -> None:
    text = (
        "[networking]\ndefault_networks = false\n[network:own]\ncidr = 198.19.5.0/24\n"
        f"[network:x]\n{section}\n"
    )
    with pytest.raises(ValueError) as exc:
        _settings(tmp_path, text)
    assert words in str(exc.value)
