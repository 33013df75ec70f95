"""ACTIVE_STANDBY on the agent side: keepalived.conf rendering (checked with
`keepalived -t` in a throw-away network namespace), haproxy `peers`, the VRRP spec's
rules, the check/notify scripts, and the process-exit watcher."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from agent_spec_factory import assert_valid, listener, pool, render, spec, uid
from pydantic import ValidationError

from ostium.agent import keepalived
from ostium.agent.errors import InvalidSpec
from ostium.agent.keepalived import KeepalivedPaths
from ostium.agent.keepalived_config import KeepalivedFiles, build_view, render_keepalived
from ostium.agent.watcher import ProcessWatcher
from ostium.model.enums import VrrpState
from ostium.model.spec import AmphoraSpec

FILES = KeepalivedFiles(
    check_script="/var/lib/ostium/a/vrrp_check.sh",
    notify_script="/var/lib/ostium/a/vrrp_notify.sh",
    track_file="/var/lib/ostium/a/haproxy.track",
)
PEER = uid()


def vrrp(**kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "role": "MASTER",
        "priority": 100,
        "vrrp_id": 42,
        "vrrp_ip": "198.18.0.5",
        "peers": [{"amphora_id": PEER, "address": "198.18.0.6"}],
    }
    data.update(kw)
    return data


def pair_spec(persistence: str | None = None, **vrrp_kw: Any) -> AmphoraSpec:
    p = pool(
        session_persistence={"type": persistence, "cookie_name": "SID"} if persistence else None
    )
    return spec([listener(default_pool_id=p["id"])], [p], vrrp=vrrp(**vrrp_kw))


def keepalived_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`keepalived -t` where an interface `eth1` exists: a new network namespace."""
    if os.geteuid() != 0 or shutil.which("keepalived") is None:
        pytest.skip("keepalived -t needs root (a network namespace with eth1) and keepalived")
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    script = f"ip link add eth1 type veth peer name eth1p && keepalived -t -f {conf}"
    return subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True)


# --------------------------------------------------------------------------- keepalived.conf


def test_defaults_render_a_fast_unicast_nopreempt_instance(tmp_path: Path) -> None:
    s = pair_spec()
    text = render_keepalived(s, FILES)
    lines = [ln.strip() for ln in text.splitlines()]
    for expected in (
        "vrrp_version 3",
        "state BACKUP",
        "nopreempt",
        "advert_int 0.1",
        "priority 100",
        "virtual_router_id 42",
        "unicast_src_ip 198.18.0.5",
        "198.18.0.6",
        "198.18.0.10/32 dev eth1",
        "interface eth1",
        "script_user root",
        "enable_script_security",
        'script "/bin/sh /var/lib/ostium/a/vrrp_check.sh"',
        'file "/var/lib/ostium/a/haproxy.track"',
        'notify "/bin/sh /var/lib/ostium/a/vrrp_notify.sh"',
        "vrrp_garp_master_repeat 3",
    ):
        assert expected in lines, (expected, text)
    assert "state MASTER" not in text  # nopreempt only works when both start BACKUP
    proc = keepalived_check(text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr + text


def test_octavia_timing_renders_vrrp2_whole_seconds_without_the_watch(tmp_path: Path) -> None:
    s = pair_spec(
        version=2,
        advert_interval=1,
        check_interval=5,
        watch_haproxy=False,
        garp_refresh=5,
        garp_refresh_repeat=2,
        role="BACKUP",
        priority=90,
    )
    text = render_keepalived(s, FILES)
    lines = [ln.strip() for ln in text.splitlines()]
    for expected in (
        "vrrp_version 2",
        "advert_int 1",
        "interval 5",
        "priority 90",
        "vrrp_garp_master_refresh 5",
        "vrrp_garp_master_refresh_repeat 2",
    ):
        assert expected in lines, (expected, text)
    assert "track_file" not in text
    proc = keepalived_check(text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr + text


@pytest.mark.parametrize(
    ("advert", "rendered"), [(0.05, "0.05"), (0.25, "0.25"), (2.0, "2"), (0.123, "0.12")]
)
def test_advert_interval_in_centiseconds(advert: float, rendered: str) -> None:
    assert build_view(pair_spec(advert_interval=advert), FILES)["advert_interval"] == rendered


def test_peers_are_sorted_and_only_unicast() -> None:
    peers = [
        {"amphora_id": uid(), "address": "198.18.0.9"},
        {"amphora_id": uid(), "address": "198.18.0.7"},
    ]
    view = build_view(pair_spec(peers=peers), FILES)
    assert view["peers"] == ["198.18.0.7", "198.18.0.9"]


def test_ipv6_vip_needs_vrrp3() -> None:
    data = pair_spec(version=2, advert_interval=1).model_dump(mode="json")
    data["vip"].update(address="2001:db8::10", prefixlen=64, gateway="2001:db8::1")
    data["vrrp"].update(
        vrrp_ip="2001:db8::5", peers=[{"amphora_id": PEER, "address": "2001:db8::6"}]
    )
    with pytest.raises(InvalidSpec, match="needs VRRP version 3"):
        build_view(AmphoraSpec.model_validate(data), FILES)
    data["vrrp"].update(version=3)
    assert build_view(AmphoraSpec.model_validate(data), FILES)["vips"] == ["2001:db8::10/128"]


def test_the_vip_cannot_also_be_a_vrrp_address() -> None:
    with pytest.raises(InvalidSpec, match="also a vrrp_ip"):
        build_view(pair_spec(vrrp_ip="198.18.0.10"), FILES)


def test_paths_with_spaces_are_refused() -> None:
    files = KeepalivedFiles("/var/lib/my state/check.sh", FILES.notify_script, FILES.track_file)
    with pytest.raises(InvalidSpec, match="cannot appear"):
        render_keepalived(pair_spec(), files)


@pytest.mark.parametrize(
    "bad",
    [
        {"version": 2, "advert_interval": 0.5},  # VRRPv2 counts whole seconds
        {"version": 3, "advert_interval": 41},
        {"advert_interval": 0.001},
        {"priority": 255},  # the address owner never gives the VIP up
        {"vrrp_id": 0},
        {"role": "STANDALONE"},
        {"peers": []},
        {"peers": [{"amphora_id": PEER, "address": "198.18.0.5"}]},  # itself
    ],
)
def test_vrrp_spec_rules(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        pair_spec(**bad)


def test_vrrp_address_family_must_match_the_vip() -> None:
    with pytest.raises(ValidationError, match="same IP family"):
        pair_spec(vrrp_ip="2001:db8::5", peers=[{"amphora_id": PEER, "address": "2001:db8::6"}])


def test_plug_carries_the_vrrp_address() -> None:
    s = pair_spec()
    assert str(s.plug().vrrp_ip) == "198.18.0.5"
    assert spec([], []).plug().vrrp_ip is None


# --------------------------------------------------------------------------- haproxy peers


@pytest.mark.parametrize("persistence", ["SOURCE_IP", "APP_COOKIE"])
def test_stick_tables_are_shared_with_the_peer(persistence: str, tmp_path: Path) -> None:
    s = pair_spec(persistence)
    text = render(s)
    section = "peers_" + s.loadbalancer_id.replace("-", "")
    assert f"    localpeer {s.amphora_id}\n" in text
    assert f"\npeers {section}\n" in text
    assert f"    peer {s.amphora_id} 198.18.0.5:1025\n" in text
    assert f"    peer {PEER} 198.18.0.6:1025\n" in text
    stick = [ln for ln in text.splitlines() if "stick-table" in ln]
    assert stick and all(ln.endswith(f" peers {section}") for ln in stick)
    assert_valid(text, tmp_path)


def test_single_amphora_has_no_peers(tmp_path: Path) -> None:
    p = pool(session_persistence={"type": "SOURCE_IP"})
    text = render(spec([listener(default_pool_id=p["id"])], [p]))
    assert "peers" not in text and "localpeer" not in text
    assert_valid(text, tmp_path)


def test_peer_port_is_configurable(tmp_path: Path) -> None:
    text = render(pair_spec("SOURCE_IP", peer_port=7777))
    assert "198.18.0.6:7777" in text
    assert_valid(text, tmp_path)


# --------------------------------------------------------------------------- files


def test_scripts_track_file_and_state(tmp_path: Path) -> None:
    paths = KeepalivedPaths.in_dir(tmp_path)
    keepalived.write_scripts(paths, tmp_path / "stats.sock")
    assert paths.check_script.stat().st_mode & 0o777 == 0o755
    assert "stats.sock" in paths.check_script.read_text()
    # No haproxy answers on that socket: the check fails, as keepalived must see it.
    assert subprocess.run(["/bin/sh", str(paths.check_script)]).returncode != 0
    subprocess.run(
        ["/bin/sh", str(paths.notify_script), "INSTANCE", "lb_x", "MASTER", "100"], check=True
    )
    assert paths.state.read_text() == "MASTER\n"
    keepalived.set_track(paths, False)
    assert paths.track.read_text() == "1\n"
    before = paths.track.stat().st_mtime_ns
    keepalived.set_track(paths, False)  # unchanged: not rewritten (keepalived rereads on write)
    assert paths.track.stat().st_mtime_ns == before
    keepalived.set_track(paths, True)
    assert paths.track.read_text() == "0\n"
    # No keepalived runs with this config, whatever the state file says.
    assert keepalived.current_state(paths) == VrrpState.STOP


# --------------------------------------------------------------------------- watcher


def test_watcher_reports_an_exit_at_once() -> None:
    watcher = ProcessWatcher()
    watcher.start()
    proc = subprocess.Popen(["sleep", "30"])
    seen = threading.Event()
    got: list[int] = []
    try:
        watcher.watch(proc.pid, lambda pid: (got.append(pid), seen.set()))
        assert watcher.watching(proc.pid)
        assert not seen.wait(0.2)
        started = time.monotonic()
        proc.kill()
        assert seen.wait(2)
        assert time.monotonic() - started < 0.5
        assert got == [proc.pid] and not watcher.watching(proc.pid)
    finally:
        proc.kill()
        proc.wait()
        watcher.stop()


def test_watching_a_process_already_gone_reports_it_at_once() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    watcher = ProcessWatcher()
    got: list[int] = []
    watcher.watch(proc.pid, got.append)
    assert got == [proc.pid]
