"""The agent side of heartbeats: haproxy stats parsing, counters carried over reloads
and restarts, sequence numbers that survive restarts, controller address parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ostium.agent.counters import CounterCarry
from ostium.agent.haproxy_stats import FrontendStats, Snapshot, parse_info_pid, parse_stat
from ostium.agent.heartbeat import SEQ_BLOCK, SequenceSource, parse_targets

HEADER = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,"  # noqa: E501 (haproxy 2.6 `show stat` header)
L1 = "11111111-1111-1111-1111-111111111111"
L2 = "22222222-2222-2222-2222-222222222222"
P1 = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
M1, M2, M3, M4, M5 = (f"{c * 8}-{c * 4}-{c * 4}-{c * 4}-{c * 12}" for c in "bcdef")


def _row(px: str, sv: str, **values: str) -> str:
    fields = HEADER.lstrip("# ").split(",")
    row = dict.fromkeys(fields, "")
    row.update(pxname=px, svname=sv, **values)
    return ",".join(row[f] for f in fields)


def _csv(*rows: str) -> str:
    return "\n".join([HEADER, *rows, ""])


def test_parse_stat_listeners_pools_members() -> None:
    text = _csv(
        _row(L1, "FRONTEND", status="OPEN", scur="3", stot="40", bin="1000", bout="9000", ereq="2"),
        _row(L2, "FRONTEND", status="FULL", scur="50"),
        _row("stats", "FRONTEND", status="OPEN"),
        _row(f"{P1}:{L1}", M1, status="UP", weight="1"),
        _row(f"{P1}:{L1}", M2, status="DOWN 1/2", weight="1"),
        _row(f"{P1}:{L1}", M3, status="UP", weight="0"),
        _row(f"{P1}:{L1}", M4, status="no check", weight="0"),
        _row(f"{P1}:{L1}", M5, status="MAINT", weight="1"),
        _row(f"{P1}:{L1}", "BACKEND", status="UP"),
        _row(f"{P1}:{L2}", M1, status="DOWN", weight="1"),
        _row(f"{P1}:{L2}", "BACKEND", status="DOWN"),
        _row("other", "BACKEND", status="UP"),
    )
    frontends, pools = parse_stat(text)
    assert set(frontends) == {L1, L2}
    assert frontends[L1] == FrontendStats(
        "OPEN",
        3,
        {"total_connections": 40, "bytes_in": 1000, "bytes_out": 9000, "request_errors": 2},
    )
    assert frontends[L2].status == "FULL" and frontends[L2].counters["bytes_in"] == 0
    assert list(pools) == [P1]
    # The pool behind two listeners: the worst report of each member and backend wins.
    assert pools[P1].status == "DOWN"
    assert pools[P1].members == {M1: "DOWN", M2: "DOWN 1/2", M3: "DRAIN", M4: "DRAIN", M5: "MAINT"}


def test_parse_stat_garbage() -> None:
    assert parse_stat("") == ({}, {})
    assert parse_stat("Unknown command.\n") == ({}, {})
    assert parse_info_pid("Name: HAProxy\nPid: 4242\nUptime: 1s\n") == 4242
    assert parse_info_pid("nothing") == 0


def _snap(pid: int, **totals: int) -> Snapshot:
    counters = {
        "total_connections": totals.get("conns", 0),
        "bytes_in": totals.get("rx", 0),
        "bytes_out": totals.get("tx", 0),
        "request_errors": 0,
    }
    return Snapshot(pid, {L1: FrontendStats("OPEN", 0, counters)}, {})


def test_counters_carry_over_reloads_and_agent_restarts(tmp_path: Path) -> None:
    path = tmp_path / "counters.json"
    carry = CounterCarry(path)
    assert carry.observe(_snap(100, conns=5, rx=50))[L1]["total_connections"] == 5
    assert carry.observe(_snap(100, conns=8, rx=80))[L1]["bytes_in"] == 80
    # A stale (older) reading of the same worker never makes totals go down.
    assert carry.observe(_snap(100, conns=6, rx=60))[L1]["total_connections"] == 8
    # Reload: the new worker starts from zero; totals continue from 8.
    after = carry.observe(_snap(200, conns=1, rx=10))[L1]
    assert after["total_connections"] == 9 and after["bytes_in"] == 90
    # Agent restart: state comes back from the file; a worker that changed meanwhile
    # (e.g. respawned) is noticed too.
    carry.save()
    again = CounterCarry(path)
    assert again.observe(_snap(200, conns=2, rx=20))[L1]["total_connections"] == 10
    assert again.observe(_snap(300, conns=1, rx=5))[L1]["total_connections"] == 11


def test_unreadable_counter_file_starts_from_zero(tmp_path: Path) -> None:
    path = tmp_path / "counters.json"
    path.write_text("{broken")
    assert CounterCarry(path).observe(_snap(1, conns=3))[L1]["total_connections"] == 3


def test_sequence_grows_across_restarts_even_if_the_clock_goes_back(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat.seq"
    first = SequenceSource(path, clock=lambda: 1000.0)
    a = [first() for _ in range(3)]
    assert a == sorted(a) and len(set(a)) == 3
    second = SequenceSource(path, clock=lambda: 10.0)  # clock stepped back
    assert second() > a[-1]
    third = SequenceSource(path, clock=lambda: 5000.0)
    assert third() >= 5000 * 1_000_000
    assert int(path.read_text()) > 5000 * 1_000_000
    assert SEQ_BLOCK > 1000


def test_parse_targets() -> None:
    assert parse_targets("127.0.0.1:5555, [::1]:6000") == [("127.0.0.1", 5555), ("::1", 6000)]
    assert parse_targets("") == []
    with pytest.raises(ValueError):
        parse_targets("127.0.0.1")
    with pytest.raises(ValueError):
        parse_targets("host:port")


# ------------------------------------------------------------------ the sender


class _FakeManager:
    def __init__(self, probes: list[object]) -> None:
        self._probes = probes
        self.on_applied: list[object] = []

    def probes(self) -> list[object]:
        return self._probes


def test_sender_signs_one_datagram_per_amphora_per_target_and_pokes(tmp_path: Path) -> None:
    import socket

    from ostium.agent.amphora import AmphoraProbe
    from ostium.agent.counters import CounterCarry
    from ostium.agent.haproxy_process import HaproxyPaths
    from ostium.agent.heartbeat import HeartbeatSender, HeartbeatSettings
    from ostium.model.heartbeat import HaproxyState, decode

    rx = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for s in rx:
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
    paths = HaproxyPaths(*(tmp_path / n for n in ("cfg", "pid", "s.sock", "log")))
    probe = AmphoraProbe(L1, "ostt-no-such-namespace", 3, paths, CounterCarry(tmp_path / "c"))
    seq = iter(range(100, 200))
    sender = HeartbeatSender(
        _FakeManager([probe]),  # type: ignore[arg-type]
        HeartbeatSettings([s.getsockname() for s in rx], b"key", interval=3600),
        sequence=lambda: next(seq),
        clock=lambda: 1234.5,
    )
    assert sender.beat() == 2
    first = [decode(s.recv(65535), b"key") for s in rx]
    assert first[0] == first[1]
    hb = first[0]
    assert (hb.amphora_id, hb.seq, hb.timestamp, hb.generation) == (L1, 100, 1234.5, 3)
    assert hb.haproxy == HaproxyState.NO_NAMESPACE and hb.listeners == {}
    # The loop: one beat at start, then (interval is an hour) only what is poked.
    sender.start()
    try:
        assert decode(rx[0].recv(65535), b"key").seq == 101
        sender.poke(L1)
        assert decode(rx[0].recv(65535), b"key").seq > 101
    finally:
        sender.stop()
        for s in rx:
            s.close()
    assert sender._thread is not None and not sender._thread.is_alive()  # stop() not lost
