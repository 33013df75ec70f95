"""The UDP/SCTP data plane's pure parts: who gets new flows, the rendered table (checked
by `nft -c` in a throw-away namespace, with hostile values too), SCTP packets, the
conntrack parsing, and the words the heartbeat carries."""

from __future__ import annotations

import collections
import ipaddress
import os
import shutil
import subprocess
import tempfile
from typing import Any

import pytest
from agent_spec_factory import listener, member, pool, spec
from hypothesis import given, settings
from hypothesis import strategies as st

from ostium.agent.nftables import checks, statistics
from ostium.agent.nftables.ruleset import render
from ostium.agent.nftables.services import least_connections_weights, virtual_services
from ostium.model.spec import AmphoraSpec


def udp(members: list[dict[str, Any]], **pool_kw: Any) -> AmphoraSpec:
    p = pool("UDP", members=members, **pool_kw)
    return spec([listener("UDP", 53, default_pool_id=p["id"])], [p])


def names(s: AmphoraSpec, verdicts: dict[str, bool] | None = None) -> list[str]:
    (svc,) = virtual_services(s, verdicts or {})
    return [str(t.address) for t in svc.slots]


def nft_check(text: str) -> None:
    if os.geteuid() != 0 or shutil.which("nft") is None:
        pytest.skip("nft -c needs root (a throw-away network namespace)")
    with tempfile.NamedTemporaryFile("w", suffix=".nft") as f:
        f.write(text)
        f.flush()
        proc = subprocess.run(
            ["unshare", "-n", "sh", "-c", f"nft -f {f.name} && nft -c -f {f.name}"],
            capture_output=True,
            text=True,
        )
    assert proc.returncode == 0, proc.stderr + text


def test_weights_become_interleaved_slots() -> None:
    s = udp([member("198.18.1.11", weight=1), member("198.18.1.12", weight=3)])
    slots = names(s)
    assert collections.Counter(slots) == {"198.18.1.11": 1, "198.18.1.12": 3}
    s = udp([member("198.18.1.11", weight=2), member("198.18.1.12", weight=2)])
    assert len(names(s)) == 2  # reduced by the greatest common divisor
    many = udp([member(f"198.18.1.{i}", weight=256) for i in range(10, 30)] + [member(weight=1)])
    assert len(names(many)) <= 256 + 20


def test_drained_disabled_down_members_get_no_new_flows_and_backups_step_in() -> None:
    m = [
        member("198.18.1.11", weight=0),
        member("198.18.1.12", admin_state_up=False),
        member("198.18.1.13"),
        member("198.18.1.14", backup=True),
    ]
    hm = {"id": member()["id"], "type": "UDP-CONNECT", "delay": 3, "timeout": 1, "max_retries": 1}
    s = udp(m, healthmonitor=hm)
    assert names(s) == ["198.18.1.13"]
    assert names(s, {m[2]["id"]: False}) == ["198.18.1.14"]
    no_monitor = udp(m)
    assert names(no_monitor, {m[2]["id"]: False}) == ["198.18.1.13"]  # verdicts need a monitor


def test_both_amphorae_of_a_pair_hash_alike() -> None:
    s = udp([member("198.18.1.11"), member("198.18.1.12")], lb_algorithm="SOURCE_IP")
    twin = s.model_copy(update={"amphora_id": member()["id"]})
    assert render(s, {}).text == render(twin, {}).text


def test_least_connections_shares_follow_conntrack_counts() -> None:
    assert least_connections_weights([(1, 0), (1, 0)]) == [64, 64]
    assert least_connections_weights([(1, 9), (1, 99)]) == [64, 6]
    assert least_connections_weights([(2, 0), (1, 0)]) == [64, 32]
    m = [member("198.18.1.11"), member("198.18.1.12")]
    s = udp(m, lb_algorithm="LEAST_CONNECTIONS")
    (svc,) = virtual_services(s, {}, {m[0]["id"]: 30, m[1]["id"]: 0})
    seen = collections.Counter(str(t.address) for t in svc.slots)
    assert seen["198.18.1.12"] > 10 * seen["198.18.1.11"]


def test_the_table_loads_and_a_member_leaving_flushes_persistence() -> None:
    m = [member("198.18.1.11"), member("198.18.1.12")]
    sp = {"type": "SOURCE_IP", "persistence_timeout": 30, "persistence_granularity": "255.255.0.0"}
    s = udp(m, session_persistence=sp)
    first = render(s, {})
    assert "jhash" not in first.text and "numgen inc mod 2" in first.text
    assert "ip saddr & 255.255.0.0 map @p_" in first.text
    nft_check(first.text)
    s2 = udp([m[0]], session_persistence=sp)
    s2 = s2.model_copy(
        update={
            "listeners": s.listeners,
            "pools": [s2.pools[0].model_copy(update={"id": s.pools[0].id})],
        }
    )
    second = render(s2, {}, first)
    assert "delete table" not in second.text and "flush map inet ostium_amphora p_" in second.text


def test_ipv6_vip_hashes_the_source_instead_of_keeping_entries() -> None:
    m = [member("2001:2::11"), member("2001:2::12")]
    p = pool("UDP", members=m, session_persistence={"type": "SOURCE_IP"})
    s = spec([listener("UDP", 53, default_pool_id=p["id"])], [p])
    s = s.model_copy(
        update={"vip": s.vip.model_copy(update={"address": ipaddress.ip_address("2001:2::1")})}
    )
    text = render(s, {}).text
    assert "jhash ip6 saddr mod 2" in text and "@p_" not in text
    nft_check(text)


@settings(max_examples=25, deadline=None)
@given(
    port=st.integers(1, 65535),
    weights=st.lists(st.integers(0, 256), min_size=1, max_size=6),
    timeout=st.integers(0, 31_536_000),
    mask=st.ip_addresses(v=4),
    cidr=st.tuples(st.ip_addresses(v=4), st.integers(0, 32)),
    limit=st.integers(-1, 2**31),
    algorithm=st.sampled_from(["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"]),
    proto=st.sampled_from(["UDP", "SCTP"]),
)
def test_any_valid_spec_renders_a_table_nft_accepts(
    port: int,
    weights: list[int],
    timeout: int,
    mask: ipaddress.IPv4Address,
    cidr: tuple[ipaddress.IPv4Address, int],
    limit: int,
    algorithm: str,
    proto: str,
) -> None:
    m = [member(f"198.18.1.{10 + i}", port=port, weight=w) for i, w in enumerate(weights)]
    sp = {"type": "SOURCE_IP", "persistence_timeout": timeout, "persistence_granularity": str(mask)}
    p = pool(proto, algorithm, members=m, session_persistence=sp)
    li = listener(
        proto,
        port,
        default_pool_id=p["id"],
        allowed_cidrs=[str(ipaddress.ip_network(f"{cidr[0]}/{cidr[1]}", strict=False))],
        connection_limit=limit,
    )
    nft_check(render(spec([li], [p]), {}).text)


def test_sctp_packets() -> None:
    assert checks.crc32c(b"123456789") == 0xE3069283
    packet = checks.sctp_packet(5000, 3868, 0, checks.init_chunk(7, 7))
    parsed = checks.parse_sctp(packet, has_ip_header=False)
    assert parsed is not None and parsed[:4] == (5000, 3868, 0, checks.SCTP_INIT)
    body = packet[:8] + b"\0\0\0\0" + packet[12:]
    assert checks.crc32c(body).to_bytes(4, "little") == packet[8:12]


def test_conntrack_lines_count_flows_per_member() -> None:
    line = (
        "ipv4     2 udp      17 29 src=198.19.40.1 dst=198.19.40.10 sport=40000 dport=53 "
        "src=198.19.41.11 dst=198.19.41.2 sport=5353 dport=40000 mark={mark} zone=0 use=2"
    )
    text = "\n".join([line.format(mark=7), line.format(mark=7), line.format(mark=0)])
    assert statistics.parse_member_flows(text) == {(7, "198.19.41.11", 5353): 2}


def test_member_words_follow_haproxy() -> None:
    hm = {"id": member()["id"], "type": "UDP-CONNECT", "delay": 3, "timeout": 1, "max_retries": 1}
    m = [member(), member(weight=0), member(admin_state_up=False)]
    s = udp(m, healthmonitor=hm)
    words = [
        statistics.member_word(s.pools[0], x, {s.pools[0].members[0].id: False})
        for x in s.pools[0].members
    ]
    assert words == ["DOWN", "DRAIN", "MAINT"]
    plain = udp([member()])
    assert statistics.member_word(plain.pools[0], plain.pools[0].members[0], {}) == "no check"
