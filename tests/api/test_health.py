"""The health manager on a real database (SQLite and PostgreSQL), fed crafted heartbeats:
operating status derivation seen through the API, statistics, replays, silent amphorae
and failover, the circuit breaker, several health managers at once, housekeeping."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from ostium.control import metrics
from ostium.control.db import models as m
from ostium.control.health.receiver import HeartbeatReceiver
from ostium.control.health.updater import ACCEPTED, HealthUpdater
from ostium.control.health.watchdog import Watchdog
from ostium.control.housekeeping import purge
from ostium.model.heartbeat import (
    HaproxyState,
    Heartbeat,
    ListenerReport,
    PoolReport,
    encode,
)
from tests.api.conftest import Api

KEY = b"k"


class Clock:
    def __init__(self) -> None:
        self.now = m.utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclasses.dataclass
class Stack:
    api: Api
    lb: str
    listener: str
    pool: str
    members: list[str]
    clock: Clock
    updater: HealthUpdater
    seq: int = 0

    @property
    def amphora(self) -> str:
        with self.api.db.read() as s:
            return str(
                s.scalar(
                    select(m.Amphora.id).where(
                        m.Amphora.load_balancer_id == self.lb,
                        m.Amphora.role.is_not(None),
                        m.Amphora.status != "DELETED",
                    )
                )
            )

    def heartbeat(
        self,
        members: dict[int, str] | None = None,
        backend: str = "UP",
        listener: str = "OPEN",
        haproxy: HaproxyState = HaproxyState.RUNNING,
        amphora: str | None = None,
        seq: int | None = None,
        **counters: int,
    ) -> Heartbeat:
        if seq is None:
            self.seq += 1
            seq = self.seq
        words = members if members is not None else dict.fromkeys(range(len(self.members)), "UP")
        running = haproxy == HaproxyState.RUNNING
        return Heartbeat(
            amphora_id=amphora or self.amphora,
            seq=seq,
            timestamp=1e9,
            generation=1,
            agent_version="t",
            haproxy=haproxy,
            listeners={self.listener: ListenerReport(listener, **counters)} if running else {},
            pools={self.pool: PoolReport(backend, {self.members[i]: w for i, w in words.items()})}
            if running
            else {},
        )

    def send(self, *heartbeats: Heartbeat) -> dict[str, int]:
        return dict(self.updater.process(list(heartbeats)))

    def status(self) -> dict[str, Any]:
        tree = self.api.get(f"/v2/lbaas/loadbalancers/{self.lb}/status").json()["statuses"]
        lb = tree["loadbalancer"]
        (li,) = lb["listeners"]
        (pool,) = li["pools"]
        return {
            "lb": lb["operating_status"],
            "listener": li["operating_status"],
            "pool": pool["operating_status"],
            "members": [
                next(x["operating_status"] for x in pool["members"] if x["id"] == mid)
                for mid in self.members
            ],
        }

    def stats(self) -> dict[str, int]:
        return dict(self.api.get(f"/v2/lbaas/loadbalancers/{self.lb}/stats").json()["stats"])


def make_stack(api: Api, monitor: bool = True, members: int = 2) -> Stack:
    s = api.stack()
    lb, li, pool = s["lb"]["id"], s["listener"]["id"], s["pool"]["id"]
    ids = [
        api.child(
            f"/v2/lbaas/pools/{pool}/members",
            "member",
            {"address": f"198.18.1.{10 + i}", "protocol_port": 8080},
        )["id"]
        for i in range(members)
    ]
    if monitor:
        api.child(
            "/v2/lbaas/healthmonitors",
            "healthmonitor",
            {"pool_id": pool, "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 2},
        )
    clock = Clock()
    return Stack(api, lb, li, pool, ids, clock, HealthUpdater(api.db, clock))


@pytest.fixture
def stack(api: Api) -> Stack:
    return make_stack(api)


# ------------------------------------------------------------------ operating status


def test_member_down_degrades_pool_and_lb_and_recovers(stack: Stack) -> None:
    assert stack.send(stack.heartbeat({0: "UP", 1: "DOWN"})) == {ACCEPTED: 1}
    assert stack.status() == {
        "lb": "DEGRADED",
        "listener": "ONLINE",
        "pool": "DEGRADED",
        "members": ["ONLINE", "ERROR"],
    }
    stack.send(stack.heartbeat({0: "UP", 1: "UP 1/2"}))
    assert stack.status() == {
        "lb": "ONLINE",
        "listener": "ONLINE",
        "pool": "ONLINE",
        "members": ["ONLINE", "ONLINE"],
    }
    stack.send(stack.heartbeat({0: "DOWN", 1: "DOWN 1/2"}, backend="DOWN"))
    assert stack.status() == {
        "lb": "ERROR",
        "listener": "ONLINE",
        "pool": "ERROR",
        "members": ["ERROR", "ERROR"],
    }
    # A full listener degrades it and the load balancer.
    stack.send(stack.heartbeat(listener="FULL"))
    assert stack.status()["lb"] == "DEGRADED" and stack.status()["listener"] == "DEGRADED"


def test_drain_admin_down_and_no_monitor(api: Api) -> None:
    stack = make_stack(api, monitor=False)
    stack.send(stack.heartbeat({0: "no check", 1: "no check"}))
    assert stack.status()["members"] == ["NO_MONITOR", "NO_MONITOR"]
    assert stack.status()["lb"] == "ONLINE"
    stack.send(stack.heartbeat({0: "DRAIN", 1: "MAINT"}))
    assert stack.status()["members"] == ["DRAINING", "OFFLINE"]
    assert stack.status()["pool"] == "ONLINE"
    # A member absent from its pool's report: OFFLINE (NO_MONITOR stays NO_MONITOR).
    stack.send(stack.heartbeat({0: "UP"}))
    assert stack.status()["members"] == ["ONLINE", "OFFLINE"]


def test_haproxy_down_and_missing_listener(stack: Stack) -> None:
    stack.send(stack.heartbeat(haproxy=HaproxyState.DOWN))
    st = stack.status()
    assert st["listener"] == "ERROR" and st["lb"] == "ERROR" and st["pool"] == "OFFLINE"
    stack.send(stack.heartbeat())
    assert stack.status()["lb"] == "ONLINE"


def test_worker_keeps_health_statuses_once_heartbeats_arrive(stack: Stack) -> None:
    stack.send(stack.heartbeat({0: "UP", 1: "DOWN"}))
    r = stack.api.put(f"/v2/lbaas/loadbalancers/{stack.lb}", {"loadbalancer": {"name": "x"}})
    assert r.status_code == 200
    stack.api.settle()
    assert stack.status()["lb"] == "DEGRADED" and stack.status()["pool"] == "DEGRADED"


def test_pending_load_balancer_statuses_are_left_to_the_worker(stack: Stack) -> None:
    stack.send(stack.heartbeat())
    with stack.api.db.write() as s:
        s.execute(
            update(m.LoadBalancer)
            .where(m.LoadBalancer.id == stack.lb)
            .values(provisioning_status="PENDING_UPDATE")
        )
    stack.send(stack.heartbeat({0: "DOWN", 1: "DOWN"}, backend="DOWN"))
    with stack.api.db.read() as s:
        assert s.get(m.LoadBalancer, stack.lb).operating_status == "ONLINE"  # type: ignore[union-attr]


def test_repeated_heartbeats_are_not_derived_again_but_checked_within_seconds(stack: Stack) -> None:
    ticks = [0.0]
    stack.updater = HealthUpdater(
        stack.api.db, stack.clock, remember=10.0, monotonic=lambda: ticks[0]
    )
    stack.send(stack.heartbeat({0: "UP", 1: "DOWN"}))
    assert stack.status()["members"] == ["ONLINE", "ERROR"]

    def tamper() -> None:  # another writer that does not bump the generation
        with stack.api.db.write() as s:
            s.execute(
                update(m.Member)
                .where(m.Member.id == stack.members[1])
                .values(operating_status="ONLINE")
            )

    tamper()
    stack.send(stack.heartbeat({0: "UP", 1: "DOWN"}))  # same content: not derived again
    assert stack.status()["members"] == ["ONLINE", "ONLINE"]
    ticks[0] = 11.0
    stack.send(stack.heartbeat({0: "UP", 1: "DOWN"}))  # remembered too long: derived
    assert stack.status()["members"] == ["ONLINE", "ERROR"]
    tamper()
    stack.send(stack.heartbeat({0: "UP", 1: "DOWN 1/2"}))  # new content: derived at once
    assert stack.status()["members"] == ["ONLINE", "ERROR"]
    # Statistics and last seen are applied every time.
    stack.send(stack.heartbeat({0: "UP", 1: "DOWN 1/2"}, total_connections=3))
    assert stack.stats()["total_connections"] == 3


# ------------------------------------------------------------------ replays, unknowns


def test_replayed_and_unknown_heartbeats_change_nothing(stack: Stack) -> None:
    good = stack.heartbeat({0: "UP", 1: "UP"}, total_connections=5)
    assert stack.send(good) == {ACCEPTED: 1}
    bad = stack.heartbeat(
        {0: "DOWN", 1: "DOWN"}, backend="DOWN", seq=good.seq, total_connections=50
    )
    older = dataclasses.replace(bad, seq=good.seq - 1)
    assert stack.send(bad) == {"replayed": 1}
    assert stack.send(older) == {"replayed": 1}
    unknown = dataclasses.replace(bad, amphora_id=str(uuid.uuid4()), seq=good.seq + 10)
    assert stack.send(unknown) == {"unknown_amphora": 1}
    assert stack.status()["lb"] == "ONLINE"
    assert stack.stats()["total_connections"] == 5
    # Within one batch only the newest heartbeat of an amphora counts.
    newer = stack.heartbeat({0: "UP", 1: "DOWN"})
    assert stack.send(stack.heartbeat(seq=newer.seq - 1), newer) == {ACCEPTED: 1, "replayed": 1}


# ------------------------------------------------------------------ statistics


def test_statistics_are_cumulative_across_resets(stack: Stack) -> None:
    stack.send(
        stack.heartbeat(
            total_connections=10,
            bytes_in=1000,
            bytes_out=5000,
            active_connections=3,
            request_errors=1,
        )
    )
    stack.send(
        stack.heartbeat(
            total_connections=15,
            bytes_in=1500,
            bytes_out=7000,
            active_connections=2,
            request_errors=1,
        )
    )
    assert stack.stats() == {
        "total_connections": 15,
        "bytes_in": 1500,
        "bytes_out": 7000,
        "active_connections": 2,
        "request_errors": 1,
    }
    # The source lost its counters (they went down): what it reports now is all new.
    stack.send(stack.heartbeat(total_connections=4, bytes_in=400, bytes_out=100))
    assert stack.stats()["total_connections"] == 19 and stack.stats()["bytes_in"] == 1900
    # 64-bit counters.
    stack.send(stack.heartbeat(total_connections=4, bytes_in=400 + 5 * 2**32))
    assert stack.stats()["bytes_in"] == 1900 + 5 * 2**32
    li = stack.api.get(f"/v2/lbaas/listeners/{stack.listener}/stats").json()["stats"]
    assert li == stack.stats()
    amp = stack.api.get(f"/v2/octavia/amphorae/{stack.amphora}/stats").json()["amphora_stats"]
    assert amp[0]["total_connections"] == 19 and amp[0]["listener_id"] == stack.listener


# ------------------------------------------------------------------ silence and failover


def _watchdog(stack: Stack, **health: Any) -> Watchdog:
    settings = dataclasses.replace(stack.api.settings.health, **health)
    return Watchdog(stack.api.db, settings, registry=metrics.Registry(), clock=stack.clock)


def test_silent_amphora_is_failed_over_with_the_same_vip(stack: Stack) -> None:
    old = stack.amphora
    vip = stack.api.get(f"/v2/lbaas/loadbalancers/{stack.lb}").json()["loadbalancer"]["vip_address"]
    stack.send(stack.heartbeat(total_connections=7, bytes_in=70))
    dog = _watchdog(stack, heartbeat_timeout=6.0)
    stack.clock.advance(5)
    assert dog.scan().failed_over == []  # not silent long enough
    stack.clock.advance(2)
    assert dog.scan().failed_over == [old]
    assert stack.api.lb_status(stack.lb) == "PENDING_UPDATE"
    assert dog.scan().failed_over == []  # already failing over: not twice
    stack.api.settle()
    lb = stack.api.get(f"/v2/lbaas/loadbalancers/{stack.lb}").json()["loadbalancer"]
    assert lb["provisioning_status"] == "ACTIVE" and lb["vip_address"] == vip
    new = stack.amphora
    assert new != old
    with stack.api.db.read() as s:
        assert s.get(m.Amphora, old).status == "DELETED"  # type: ignore[union-attr]
    # Traffic counted by the old amphora stays in the totals; the new one adds to them.
    stack.send(stack.heartbeat(amphora=new, total_connections=2, bytes_in=20))
    assert stack.stats()["total_connections"] == 9 and stack.stats()["bytes_in"] == 90
    # A new amphora that never reported is not "silent".
    stack.clock.advance(60)
    stack.send(stack.heartbeat(amphora=new))
    assert dog.scan().failed_over == []


def test_amphora_reporting_without_its_listeners_goes_stale(stack: Stack) -> None:
    stack.send(stack.heartbeat())
    dog = _watchdog(stack, heartbeat_timeout=6.0)
    for _ in range(4):
        stack.clock.advance(2)
        stack.send(stack.heartbeat(haproxy=HaproxyState.DOWN))
    assert dog.scan().failed_over == [stack.amphora]


def test_lost_namespace_goes_stale(stack: Stack) -> None:
    stack.send(stack.heartbeat())
    dog = _watchdog(stack, heartbeat_timeout=6.0)
    for _ in range(4):
        stack.clock.advance(2)
        stack.send(stack.heartbeat(haproxy=HaproxyState.NO_NAMESPACE))
    assert dog.scan().failed_over == [stack.amphora]


def test_failed_failover_ends_in_error_with_the_reason(stack: Stack) -> None:
    from ostium.model.errors import PermanentError
    from tests.api.test_worker import _Failing

    stack.send(stack.heartbeat())
    stack.clock.advance(10)
    assert _watchdog(stack, heartbeat_timeout=6.0).scan().failed_over
    stack.api.worker.reconciler.driver = _Failing(PermanentError("host gone"))
    stack.api.settle()
    lb = stack.api.get(f"/v2/lbaas/loadbalancers/{stack.lb}").json()["loadbalancer"]
    assert lb["provisioning_status"] == "ERROR"
    with stack.api.db.read() as s:
        assert "host gone" in (s.get(m.LoadBalancer, stack.lb).error_reason or "")  # type: ignore[union-attr]


def test_circuit_breaker_stops_mass_failover(api: Api) -> None:
    a, b = make_stack(api), None
    # A second load balancer with its own amphora, same clock.
    b = make_stack_on(api, a.clock)
    for st in (a, b):
        st.send(st.heartbeat())
    a.clock.advance(10)
    dog = _watchdog(a, heartbeat_timeout=6.0, failover_threshold=1)
    result = dog.scan()
    assert result.failed_over == [] and sorted(result.stopped) == sorted([a.amphora, b.amphora])
    assert api.lb_status(a.lb) == "ACTIVE" and api.lb_status(b.lb) == "ACTIVE"
    amps = api.get("/v2/octavia/amphorae").json()["amphorae"]
    assert {x["status"] for x in amps} == {"FAILOVER_STOPPED"}
    assert dog.scan().failed_over == []  # still too many silent: stays stopped
    # One comes back: ALLOCATED again. The admin fails the other over by hand.
    a.send(a.heartbeat())
    assert api.get(f"/v2/octavia/amphorae/{a.amphora}").json()["amphora"]["status"] == "ALLOCATED"
    stuck = b.amphora
    assert api.put(f"/v2/octavia/amphorae/{stuck}/failover").status_code == 202
    api.settle()
    assert api.lb_status(b.lb) == "ACTIVE" and b.amphora != stuck


def make_stack_on(api: Api, clock: Clock) -> Stack:
    lb = api.lb(name="second")
    li = api.child(
        "/v2/lbaas/listeners",
        "listener",
        {"loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 81},
    )
    pool = api.child(
        "/v2/lbaas/pools",
        "pool",
        {"listener_id": li["id"], "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"},
    )
    mb = api.child(
        f"/v2/lbaas/pools/{pool['id']}/members",
        "member",
        {"address": "198.18.1.50", "protocol_port": 80},
    )
    return Stack(
        api,
        lb["id"],
        li["id"],
        pool["id"],
        [mb["id"]],
        clock,
        HealthUpdater(api.db, clock),
        seq=1000,
    )


def test_several_health_managers_fail_over_exactly_once(stack: Stack) -> None:
    stack.send(stack.heartbeat())
    stack.clock.advance(10)
    with stack.api.db.read() as s:
        before = s.get(m.LoadBalancer, stack.lb).generation  # type: ignore[union-attr]
    dogs = [_watchdog(stack, heartbeat_timeout=6.0) for _ in range(4)]
    results: list[list[str]] = []
    barrier = threading.Barrier(len(dogs))

    def scan(dog: Watchdog) -> None:
        barrier.wait()
        results.append(dog.scan().failed_over)

    threads = [threading.Thread(target=scan, args=(d,)) for d in dogs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    with stack.api.db.read() as s:
        assert s.get(m.LoadBalancer, stack.lb).generation == before + 1  # type: ignore[union-attr]


def test_several_health_managers_apply_each_heartbeat_once(stack: Stack) -> None:
    updaters = [HealthUpdater(stack.api.db, stack.clock) for _ in range(4)]
    hb = stack.heartbeat(total_connections=10)
    barrier = threading.Barrier(len(updaters))
    outcomes: list[dict[str, int]] = []

    def process(u: HealthUpdater) -> None:
        barrier.wait()
        outcomes.append(dict(u.process([hb])))

    threads = [threading.Thread(target=process, args=(u,)) for u in updaters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.get(ACCEPTED, 0) for o in outcomes) == [0, 0, 0, 1]
    assert stack.stats()["total_connections"] == 10


# ------------------------------------------------------------------ the UDP receiver


@pytest.fixture
def receiver(stack: Stack) -> Iterator[tuple[HeartbeatReceiver, metrics.Registry]]:
    registry = metrics.Registry()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    rx = HeartbeatReceiver(sock, KEY, stack.updater, registry)
    rx.start()
    try:
        yield rx, registry
    finally:
        rx.stop()
        sock.close()


def test_receiver_drops_forged_truncated_oversized_and_replayed(
    stack: Stack, receiver: tuple[HeartbeatReceiver, metrics.Registry]
) -> None:
    rx, registry = receiver
    target = rx.sock.getsockname()
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    good = encode(stack.heartbeat(total_connections=3), KEY)
    out.sendto(good, target)
    _wait(lambda: metrics.heartbeats_accepted(registry).get() == 1)
    evil = stack.heartbeat({0: "DOWN", 1: "DOWN"}, backend="DOWN", total_connections=999)
    datagrams = {
        "bad_signature": encode(evil, b"wrong key"),
        "unsigned": encode(evil, KEY)[:-32],
        "replayed": good,
        "oversized": b"\x00" * 65100,
    }
    for data in datagrams.values():
        out.sendto(data, target)
    out.sendto(encode(evil, KEY)[:-5], target)  # truncated
    out.sendto(b"\x01\x02", target)
    dropped = metrics.heartbeats_dropped(registry)
    _wait(lambda: sum(dropped.values.values()) >= 6)
    rx.flush()
    assert dropped.get(reason="replayed") == 1 and dropped.get(reason="oversized") == 1
    assert dropped.get(reason="unsigned") == 1
    assert dropped.get(reason="bad_signature") == 3  # forged, truncated, junk
    assert stack.status()["lb"] == "ONLINE" and stack.stats()["total_connections"] == 3
    out.close()


def _wait(predicate: Any, timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


# ------------------------------------------------------------------ metrics, housekeeping


def test_metrics_endpoint(stack: Stack) -> None:
    stack.api.get(f"/v2/lbaas/loadbalancers/{stack.lb}")
    r = stack.api.get("/metrics", headers={"Accept": "text/plain"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert (
        'ostium_api_requests_total{method="GET",route="/v2/lbaas/loadbalancers/{lb_id}",'
        'status="200"}' in text
    )
    assert "ostium_reconcile_duration_seconds_bucket" in text
    assert 'ostium_amphorae{status="ALLOCATED"} 1' in text
    assert "ostium_reconcile_queue_depth 0" in text
    assert 'ostium_stale_amphorae{status="ALLOCATED"} 0' in text


def test_housekeeping_purges_old_deleted_rows(stack: Stack) -> None:
    api = stack.api
    amp = stack.amphora
    assert api.delete(f"/v2/lbaas/loadbalancers/{stack.lb}?cascade=true").status_code == 204
    api.settle()
    now = m.utcnow()
    report = purge(api.db, api.settings, now)
    assert report.load_balancers == [] and report.amphorae == []
    later = now + dt.timedelta(days=8)
    report = purge(api.db, api.settings, later)
    assert report.load_balancers == [stack.lb] and report.amphorae == [amp]
    with api.db.read() as s:
        assert s.get(m.LoadBalancer, stack.lb) is None and s.get(m.Amphora, amp) is None


# ------------------------------------------------------------------ batching, held statistics


def _held(stack: Stack, ticks: list[float], interval: float = 5.0) -> HealthUpdater:
    """An updater that holds statistics for `interval` seconds of the `ticks` clock."""
    return HealthUpdater(
        stack.api.db, stack.clock, monotonic=lambda: ticks[0], stats_interval=interval
    )


def test_a_status_change_is_never_lost_by_batching_or_remembering(stack: Stack) -> None:
    ticks = [0.0]
    stack.updater = _held(stack, ticks)
    down = stack.heartbeat({0: "UP", 1: "DOWN"})
    up = stack.heartbeat({0: "UP", 1: "UP"})
    # DOWN then UP in one batch (either order on the wire): the newest one counts.
    assert stack.send(up, down) == {ACCEPTED: 1, "replayed": 1}
    assert stack.status()["members"] == ["ONLINE", "ONLINE"]
    # In consecutive batches, back and forth, each one shows at once.
    for words, want in (({1: "DOWN"}, "ERROR"), ({1: "UP"}, "ONLINE"), ({1: "DOWN"}, "ERROR")):
        stack.send(stack.heartbeat({0: "UP", **words}))
        assert stack.status()["members"] == ["ONLINE", want]
    stack.send(stack.heartbeat({0: "UP", 1: "UP"}))
    assert stack.status() == {
        "lb": "ONLINE",
        "listener": "ONLINE",
        "pool": "ONLINE",
        "members": ["ONLINE", "ONLINE"],
    }


def test_down_then_up_datagrams_back_to_back_end_up(
    stack: Stack, receiver: tuple[HeartbeatReceiver, metrics.Registry]
) -> None:
    rx, registry = receiver
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = rx.sock.getsockname()
    for _ in range(3):
        out.sendto(encode(stack.heartbeat({0: "DOWN", 1: "UP"}, backend="UP"), KEY), target)
        out.sendto(encode(stack.heartbeat({0: "UP", 1: "UP"}), KEY), target)
    _wait(lambda: metrics.heartbeats_accepted(registry).get() >= 1)
    rx.flush()
    assert metrics.heartbeats_dropped(registry).get(reason="error") == 0
    assert stack.status()["members"] == ["ONLINE", "ONLINE"]
    out.sendto(encode(stack.heartbeat({0: "DOWN", 1: "UP"}), KEY), target)
    _wait(lambda: stack.status()["members"] == ["ERROR", "ONLINE"])
    out.close()


def test_held_statistics_are_exact_across_batches_and_resets(stack: Stack) -> None:
    ticks = [0.0]
    stack.updater = _held(stack, ticks)
    stack.send(stack.heartbeat(total_connections=10, bytes_in=100, active_connections=4))
    stack.send(stack.heartbeat(total_connections=15, bytes_in=150, active_connections=5))
    assert stack.stats()["total_connections"] == 0  # held: not written before 5 s
    # The agent lost its counters in between: what it had counted before stays counted.
    stack.send(stack.heartbeat(total_connections=3, bytes_in=30, active_connections=1))
    stack.send(stack.heartbeat(total_connections=7, bytes_in=70, active_connections=2))
    ticks[0] = 5.0
    stack.send(stack.heartbeat(total_connections=9, bytes_in=90, active_connections=2))
    assert stack.stats() == {
        "total_connections": 15 + 9,
        "bytes_in": 150 + 90,
        "bytes_out": 0,
        "active_connections": 2,
        "request_errors": 0,
    }
    # Held again; no heartbeat needed to write them once due.
    stack.send(stack.heartbeat(total_connections=20, bytes_in=200))
    ticks[0] = 10.0
    assert stack.updater.flush_stats() == 1
    assert stack.stats()["total_connections"] == 15 + 20


def test_held_statistics_of_several_health_managers_count_each_report_once(
    stack: Stack,
) -> None:
    ticks = [0.0]
    a, b = _held(stack, ticks), _held(stack, ticks)
    # Each manager accepts some of the amphora's heartbeats (whichever gets it first).
    a.process([stack.heartbeat(total_connections=10, bytes_in=100)])
    b.process([stack.heartbeat(total_connections=15, bytes_in=150)])
    a.process([stack.heartbeat(total_connections=20, bytes_in=200)])
    # A writes its newer report first: B's older one must be neither added nor taken
    # for a reset (its counters are below what is stored).
    assert a.flush_stats(force=True) == 1
    assert b.flush_stats(force=True) == 0
    assert stack.stats()["total_connections"] == 20 and stack.stats()["bytes_in"] == 200
    b.process([stack.heartbeat(total_connections=26, bytes_in=260)])
    b.flush_stats(force=True)
    assert stack.stats()["total_connections"] == 26


def test_held_statistics_are_written_when_the_receiver_stops(stack: Stack) -> None:
    ticks = [0.0]
    updater = _held(stack, ticks, interval=3600.0)
    registry = metrics.Registry()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    rx = HeartbeatReceiver(sock, KEY, updater, registry)
    rx.start()
    try:
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        out.sendto(encode(stack.heartbeat(total_connections=42), KEY), sock.getsockname())
        out.close()
        _wait(lambda: metrics.heartbeats_accepted(registry).get() == 1)
        rx.flush()
        assert stack.stats()["total_connections"] == 0  # held
    finally:
        rx.stop()
        sock.close()
    assert stack.stats()["total_connections"] == 42


def test_silence_fails_over_and_replays_are_refused_after_a_restart(stack: Stack) -> None:
    ticks = [0.0]
    stack.updater = _held(stack, ticks, interval=3600.0)  # statistics held all along
    old = stack.amphora
    last = stack.heartbeat(total_connections=5)
    stack.send(last)
    # A restarted health manager (nothing in memory) still knows the newest seq.
    stack.updater = _held(stack, ticks, interval=3600.0)
    assert stack.send(last) == {"replayed": 1}
    dog = _watchdog(stack, heartbeat_timeout=6.0)
    stack.clock.advance(5)
    assert dog.scan().failed_over == []
    stack.clock.advance(2)
    assert dog.scan().failed_over == [old]
