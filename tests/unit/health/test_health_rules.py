"""Pure health rules: operating status derivation, counter resets, the circuit breaker,
metrics rendering."""

from __future__ import annotations

import uuid

import pytest

from ostium.control.health.counters import ListenerCounters, increment
from ostium.control.health.status import (
    LbShape,
    ListenerShape,
    MemberShape,
    PoolShape,
    derive,
)
from ostium.control.health.watchdog import plan
from ostium.control.metrics import Registry
from ostium.model.heartbeat import HaproxyState, Heartbeat, ListenerReport, PoolReport
from ostium.model.member_status import from_haproxy as member_status

LI, POOL, M1, M2 = (str(uuid.uuid4()) for _ in range(4))


def lb(
    admin: bool = True,
    prov: str = "ACTIVE",
    listener_admin: bool = True,
    pool_admin: bool = True,
    m2: str = "OFFLINE",
) -> LbShape:
    return LbShape(
        id="lb",
        admin_state_up=admin,
        provisioning_status=prov,
        operating_status="ONLINE",
        listeners=(ListenerShape(LI, listener_admin, "ONLINE"),),
        pools=(
            PoolShape(
                POOL,
                pool_admin,
                "ONLINE",
                (MemberShape(M1, True, "OFFLINE"), MemberShape(M2, True, m2)),
            ),
        ),
    )


def hb(
    members: dict[str, str] | None = None,
    backend: str = "UP",
    listener: str = "OPEN",
    haproxy: HaproxyState = HaproxyState.RUNNING,
    pool: bool = True,
) -> Heartbeat:
    return Heartbeat(
        amphora_id=str(uuid.uuid4()),
        seq=1,
        timestamp=0.0,
        generation=1,
        agent_version="t",
        haproxy=haproxy,
        listeners={LI: ListenerReport(listener)} if listener else {},
        pools={POOL: PoolReport(backend, members if members is not None else {M1: "UP", M2: "UP"})}
        if pool
        else {},
    )


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("UP", "ONLINE"),
        ("UP 1/3", "ONLINE"),
        ("DOWN", "ERROR"),
        ("DOWN 1/2", "ERROR"),
        ("DRAIN", "DRAINING"),
        ("NOLB", "DRAINING"),
        ("MAINT", "OFFLINE"),
        ("MAINT (via x/y)", "OFFLINE"),
        ("no check", "NO_MONITOR"),
        ("RESTARTING", None),
    ],
)
def test_member_words(word: str, status: str | None) -> None:
    assert member_status(word) == status


def test_all_up() -> None:
    out = derive(lb(), hb())
    assert (out.load_balancer, out.listeners[LI], out.pools[POOL]) == ("ONLINE",) * 3
    assert out.members == {M1: "ONLINE", M2: "ONLINE"}


def test_one_member_down_degrades_pool_and_lb_not_listener() -> None:
    out = derive(lb(), hb({M1: "UP", M2: "DOWN"}))
    assert out.members[M2] == "ERROR" and out.pools[POOL] == "DEGRADED"
    assert out.listeners[LI] == "ONLINE" and out.load_balancer == "DEGRADED"


def test_pool_down_is_error_and_error_wins_over_degraded() -> None:
    out = derive(lb(), hb({M1: "DOWN", M2: "DOWN"}, backend="DOWN", listener="FULL"))
    assert out.pools[POOL] == "ERROR" and out.listeners[LI] == "DEGRADED"
    assert out.load_balancer == "ERROR"


def test_absent_member_offline_unless_no_monitor() -> None:
    assert derive(lb(), hb({M1: "UP"})).members[M2] == "OFFLINE"
    assert derive(lb(m2="NO_MONITOR"), hb({M1: "UP"})).members[M2] == "NO_MONITOR"


def test_unknown_word_keeps_the_current_status() -> None:
    assert derive(lb(m2="ERROR"), hb({M1: "UP", M2: "RESTARTING"})).members[M2] == "ERROR"


def test_unreported_pool_and_listener() -> None:
    out = derive(lb(), hb(listener="", pool=False))
    assert out.pools[POOL] == "OFFLINE" and out.listeners[LI] == "ERROR"
    assert M1 not in out.members  # members of an unreported pool are left alone
    assert derive(lb(prov="ERROR"), hb(listener="")).listeners[LI] == "OFFLINE"


def test_admin_down() -> None:
    out = derive(lb(admin=False), hb(listener="", pool=False))
    assert out.load_balancer == "OFFLINE" and out.listeners[LI] == "OFFLINE"
    assert out.pools[POOL] == "OFFLINE"
    assert derive(lb(listener_admin=False), hb(listener="")).listeners[LI] == "OFFLINE"
    assert derive(lb(pool_admin=False), hb()).pools[POOL] == "OFFLINE"


def test_haproxy_not_running_is_an_error_only_with_listeners_to_serve() -> None:
    assert (
        derive(lb(), hb(haproxy=HaproxyState.DOWN, listener="", pool=False)).load_balancer
        == "ERROR"
    )
    assert (
        derive(
            lb(listener_admin=False), hb(haproxy=HaproxyState.DOWN, listener="", pool=False)
        ).load_balancer
        == "ONLINE"
    )


def test_counter_increments_and_resets() -> None:
    assert increment(None, 10) == 10
    assert increment(10, 15) == 5
    assert increment(15, 15) == 0
    assert increment(15, 4) == 4  # reset: everything reported now is new
    c = ListenerCounters.empty()
    assert c.advance(ListenerReport("OPEN", 2, 10, 100, 200, 1))
    assert not c.advance(ListenerReport("OPEN", 2, 10, 100, 200, 1))  # a duplicate adds 0
    assert c.advance(ListenerReport("OPEN", 0, 3, 30, 60, 0))
    assert c.totals == {
        "total_connections": 13,
        "bytes_in": 130,
        "bytes_out": 260,
        "request_errors": 1,
    }
    assert c.active_connections == 0


def test_circuit_breaker() -> None:
    assert plan(5, 0)  # no threshold
    assert plan(2, 2)
    assert not plan(3, 2)


def test_metrics_rendering() -> None:
    r = Registry()
    c = r.counter("x_total", "things", ("reason",))
    c.inc(reason='a"b')
    c.inc(2, reason="c")
    h = r.histogram("d_seconds", "durations")
    h.observe(0.02)
    h.observe(100)
    text = r.render()
    assert '# TYPE x_total counter\nx_total{reason="a\\"b"} 1\nx_total{reason="c"} 2' in text
    assert 'd_seconds_bucket{le="0.025"} 1' in text and 'd_seconds_bucket{le="+Inf"} 2' in text
    assert "d_seconds_count 2" in text and "d_seconds_sum 100.02" in text
    with pytest.raises(ValueError):
        c.inc(other="x")
    with pytest.raises(ValueError):
        r.gauge("x_total", "again")
