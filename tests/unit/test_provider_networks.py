"""Kinds of network in the config, what the worker sends the agent for them, and what the
controller's network driver does to the host (routes, bridges) for each kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from ostium.control.netns_setup import local_network
from ostium.control.settings import load_settings
from ostium.drivers.network.base import UNREACHABLE_METRIC, LocalNetwork
from ostium.drivers.network.fake import FakeNetwork
from ostium.drivers.network.linux import LinuxBridges
from ostium.model.enums import NetworkKind

LAN = (
    "[networking]\ndefault_networks = false\n"
    "[network:lan]\nkind = existing-bridge\nbridge = br0\ncidr = 192.168.1.0/24\n"
    "gateway = 192.168.1.1\nallocation_start = 192.168.1.200\nallocation_end = 192.168.1.220\n"
    "[network:v100]\nkind = vlan\nparent = eth0\nvlan_id = 100\ncidr = 10.100.0.0/24\n"
    "gateway = 10.100.0.254\n"
    "[network:mac]\nkind = macvlan\nparent = eth1\ncidr = 10.101.0.0/24\n"
    "[network:own]\ncidr = 198.19.5.0/24\n"
)


def _settings(tmp_path: Path, text: str = LAN):  # type: ignore[no-untyped-def]
    ini = tmp_path / "ostium.ini"
    ini.write_text(text)
    return load_settings(str(ini), state_dir=str(tmp_path))


def test_provider_kinds_take_real_ranges_and_never_make_the_host_a_gateway(
    tmp_path: Path,
) -> None:
    lan, v100, mac, own = _settings(tmp_path).networks
    assert (lan.kind, lan.bridge, lan.gateway, lan.host_address) == (
        NetworkKind.EXISTING_BRIDGE,
        "br0",
        "192.168.1.1",
        None,
    )
    assert [str(a) for a in lan.allocation_range()] == ["192.168.1.200", "192.168.1.220"]
    assert (v100.kind, v100.parent, v100.vlan_id, v100.host_address) == (
        NetworkKind.VLAN,
        "eth0",
        100,
        None,
    )
    assert (mac.kind, mac.gateway, mac.host_address) == (NetworkKind.MACVLAN, None, None)
    # An owned bridge keeps today's behaviour: the host is its gateway.
    assert (own.kind, own.gateway, own.host_address) == (
        NetworkKind.BRIDGE,
        "198.19.5.1",
        "198.19.5.1",
    )


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ("kind = tunnel\ncidr = 198.19.1.0/24", "kind 'tunnel'"),
        ("kind = vlan\ncidr = 10.0.0.0/24\nparent = eth0", "vlan_id"),
        ("kind = vlan\ncidr = 10.0.0.0/24\nparent = eth0\nvlan_id = 5000", "vlan_id"),
        ("kind = macvlan\ncidr = 10.0.0.0/24", "parent"),
        ("kind = existing-bridge\ncidr = 10.0.0.0/24", "bridge's name"),
        (
            "kind = existing-bridge\nbridge = br0\ncidr = 10.0.0.0/24\nhost_address = 10.0.0.5",
            "host_address",
        ),
        ("cidr = 10.0.0.0/24", "outside 198.18.0.0/15"),
        ("cidr = 2001:db8::/64", "outside 2001:2::/48"),
        ("cidr = 198.19.1.0/24\ngateway = 198.19.2.1", "not in 198.19.1.0/24"),
        (
            "cidr = 198.19.1.0/24\nallocation_start = 198.19.1.90\nallocation_end = 198.19.1.10",
            "empty",
        ),
        ("cidr = 198.19.1.0/24\nbogus = 1", "bogus"),
        ("kind = macvlan\ncidr = 10.0.0.0/24\nparent = eth0;rm", "not an interface name"),
    ],
)
def test_bad_network_sections_are_refused_by_name(tmp_path: Path, section: str, words: str) -> None:
    with pytest.raises(ValueError, match="net") as exc:
        _settings(tmp_path, f"[networking]\ndefault_networks = false\n[network:x]\n{section}\n")
    assert words in str(exc.value)


def test_only_owned_bridges_get_unreachable_routes_and_are_removed(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    driver = local_network(settings)
    assert isinstance(driver, LinuxBridges)
    sysfs = tmp_path / "sys"
    for bridge, ports in {
        "br0": [],
        "ostv100-v100": ["eth0.100"],
        "ostium-own": [],
    }.items():
        (sysfs / bridge / "brif").mkdir(parents=True)
        for port in ports:
            (sysfs / bridge / "brif" / port).touch()
    commands: list[list[str]] = []
    driver.sysfs, driver.ip = sysfs, commands.append
    driver.protect()
    metric = str(UNREACHABLE_METRIC)
    assert commands == [
        ["-4", "route", "replace", "unreachable", "198.19.5.0/24", "metric", metric]
    ]
    commands.clear()
    # br0 is the operator's, empty or not: never deleted. The VLAN bridge holding only
    # its VLAN link is idle: it goes, and the VLAN link with it.
    assert sorted(driver.remove_idle()) == ["ostium-own", "ostv100-v100"]
    assert ["link", "del", "br0"] not in commands
    assert ["link", "del", "eth0.100"] in commands


def test_routes_of_busy_bridges_stay_after_a_stop(tmp_path: Path) -> None:
    nets = [
        LocalNetwork("vip", "ost-vip", cidr="198.19.1.0/24"),
        LocalNetwork("v6", "ost-vip", cidr="2001:2::/64"),
        LocalNetwork("lan", "br0", cidr="192.168.1.0/24", owned=False, protect=False),
    ]
    fake = FakeNetwork(nets)
    fake.protect()
    assert fake.unreachable == {"198.19.1.0/24", "2001:2::/64"}
    fake.plug("ost-vip", "veth0")
    assert fake.remove_idle() == [] and fake.unreachable == {"198.19.1.0/24", "2001:2::/64"}
    fake.unplug("ost-vip", "veth0")
    fake.plug("br0", "eth0")
    fake.unplug("br0", "eth0")
    assert fake.remove_idle() == ["ost-vip"] and fake.unreachable == set()
    assert "br0" in fake.bridges  # the operator's bridge, even empty


def test_joined_hosts_come_and_go_but_configured_ones_stay() -> None:
    from tests.unit.test_drivers import _host

    from ostium.drivers.compute.multihost import MultiHostDriver

    (local, _), (joined, _) = _host("https://local:9443"), _host("https://j1:9443")
    listed: list[str] = []
    driver = MultiHostDriver([local], discover=lambda: list(listed), connect=lambda u: joined)
    assert driver.hosts() == ["https://local:9443"]
    listed.append("https://j1:9443")  # host j1 joined
    assert driver.hosts() == ["https://local:9443", "https://j1:9443"]
    assert driver.on("https://j1:9443") is joined
    listed.clear()  # removed (`ostium host remove`)
    assert driver.hosts() == ["https://local:9443"]
