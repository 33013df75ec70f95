"""The host side of each kind of network, as commands (this machine's kernel has no
8021q or macvlan, so the real-kernel e2e tests cover bridges only): what is created,
what is never touched, and the faults the supervisor's repair pass reads from sysfs."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from ostium.agent import links
from ostium.model.enums import NetworkKind
from ostium.model.spec import NetworkLink


class Host:
    """A fake /sys/class/net and a recorder of the `ip` commands run."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.commands: list[list[str]] = []
        monkeypatch.setattr(links, "SYSFS", root)
        monkeypatch.setattr(links, "run", self.run)

    def link(self, name: str, up: bool = True, master: str | None = None) -> None:
        (self.root / name).mkdir(parents=True, exist_ok=True)
        (self.root / name / "flags").write_text("0x1003" if up else "0x1002")
        if master is not None:
            (self.root / name / "master").symlink_to(self.root / master)

    def run(self, argv: Sequence[str], **_: object) -> subprocess.CompletedProcess[str]:
        self.commands.append(list(argv))
        return subprocess.CompletedProcess(list(argv), 0, "", "")


def test_vlan_link_made_on_the_parent_inside_an_owned_bridge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = Host(tmp_path, monkeypatch)
    host.link("trunk0")
    link = NetworkLink(kind=NetworkKind.VLAN, parent="trunk0", vlan_id=100)
    links.ensure_network("ostv100-lan", link)
    assert ["ip", "link", "add", "name", "ostv100-lan", "type", "bridge"] in host.commands
    assert [
        "ip", "link", "add", "link", "trunk0", "name", "trunk0.100", "type", "vlan", "id", "100"
    ] in host.commands  # fmt: skip
    assert ["ip", "link", "set", "dev", "trunk0.100", "master", "ostv100-lan"] in host.commands
    assert not [c for c in host.commands if "addr" in c or c[-1] == "trunk0"]  # parent untouched
    assert links.vlan_ifname("a-very-long-nic", 4094) == "a-very-lon.4094"  # 15 characters


def test_existing_bridge_and_macvlan_parent_are_never_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = Host(tmp_path, monkeypatch)
    with pytest.raises(links.MissingLink, match=r"bridge br0 \(existing-bridge\) does not exist"):
        links.ensure_network("br0", NetworkLink(kind=NetworkKind.EXISTING_BRIDGE), "10.0.0.1/24")
    mac = NetworkLink(kind=NetworkKind.MACVLAN, parent="eth9")
    with pytest.raises(links.MissingLink, match="parent interface eth9"):
        links.ensure_network("eth9", mac)
    host.link("br0")
    host.link("eth9")
    links.ensure_network("br0", NetworkLink(kind=NetworkKind.EXISTING_BRIDGE), "10.0.0.1/24")
    links.ensure_network("eth9", mac)
    assert host.commands == []  # the operator's links: not one command


def test_faults_name_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host(tmp_path, monkeypatch)
    owned = NetworkLink()
    assert links.network_fault("ostium0", owned) == "bridge ostium0 is gone"
    host.link("ostium0", up=False)
    assert links.network_fault("ostium0", owned) == "bridge ostium0 is down"
    host.link("ostium0")
    assert links.network_fault("ostium0", owned) is None
    assert links.port_fault("amp-v1", "ostium0") == "veth amp-v1 is gone"
    host.link("amp-v1")
    assert links.port_fault("amp-v1", "ostium0") == "veth amp-v1 is not in bridge ostium0"
    host.link("amp-v2", up=False, master="ostium0")
    assert links.port_fault("amp-v2", "ostium0") == "veth amp-v2 is down"
    vlan = NetworkLink(kind=NetworkKind.VLAN, parent="trunk0", vlan_id=7)
    host.link("ostv7")
    assert links.network_fault("ostv7", vlan) == "parent interface trunk0 is gone"
    host.link("trunk0")
    assert links.network_fault("ostv7", vlan) == "VLAN link trunk0.7 is not in bridge ostv7"
    host.link("trunk0.7", master="ostv7")
    assert links.network_fault("ostv7", vlan) is None
