"""The worker's lease holds (DESIGN decision 2): a worker renews it while it works, even
through agent calls slower than the lease, so two workers never push the same load
balancer at once; a worker that lost its lease stops before pushing anything more."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select, update

from ostium.control.db import models as m
from ostium.control.settings import Settings
from ostium.control.worker.loop import WorkerLoop
from ostium.drivers.compute.base import AmphoraInfo
from ostium.drivers.compute.noop import NoopDriver
from ostium.model.spec import AmphoraPlug, AmphoraSpec
from tests.api.conftest import Api

LEASE = 1.0
SLOW = 2.0 * LEASE
"""How long one agent call takes: longer than the lease."""


class SlowDriver(NoopDriver):
    """Every call takes `SLOW` seconds and is recorded per load balancer; a call that
    starts while another one for the same load balancer runs is an overlap."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: Counter[str] = Counter()
        self.lb_of: dict[str, str] = {}
        self.overlaps: list[str] = []
        self.applied: Counter[str] = Counter()

    @contextmanager
    def _call(self, lb_id: str) -> Iterator[None]:
        with self.lock:
            if self.running[lb_id]:
                self.overlaps.append(lb_id)
            self.running[lb_id] += 1
        try:
            time.sleep(SLOW)
            yield
        finally:
            with self.lock:
                self.running[lb_id] -= 1

    def build(self, plug: AmphoraPlug) -> AmphoraInfo:
        self.lb_of[plug.amphora_id] = plug.loadbalancer_id
        with self._call(plug.loadbalancer_id):
            return super().build(plug)

    def apply(self, spec: AmphoraSpec) -> int:
        with self._call(spec.loadbalancer_id):
            self.applied[spec.loadbalancer_id] += 1
            return super().apply(spec)

    def destroy(self, amphora_id: str) -> None:
        with self._call(self.lb_of.get(amphora_id, amphora_id)):
            super().destroy(amphora_id)


def _short_lease(settings: Settings) -> Settings:
    worker = dataclasses.replace(
        settings.worker, lease_seconds=LEASE, poll_interval=0.05, retry_backoff=0.01
    )
    return dataclasses.replace(settings, worker=worker)


def _create(api: Api) -> str:
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": api.subnet_id}})
    assert r.status_code == 201, r.text
    return str(r.json()["loadbalancer"]["id"])


def _wait_settled(api: Api, ids: list[str], patience: float = 60.0) -> None:
    """Wait until no load balancer has work left (a wait, not an assertion on time)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        with api.db.read() as s:
            pending = s.scalars(
                select(m.LoadBalancer.id).where(
                    m.LoadBalancer.id.in_(ids),
                    m.LoadBalancer.generation != m.LoadBalancer.applied_generation,
                )
            ).all()
        if not pending:
            return
        time.sleep(0.1)
    raise AssertionError(f"load balancers still unsettled: {pending}")


def test_two_workers_never_push_the_same_load_balancer_at_once(api: Api) -> None:
    settings = _short_lease(api.settings)
    driver = SlowDriver()
    ids = [_create(api) for _ in range(3)]
    workers = [WorkerLoop(api.db, settings, driver) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        _wait_settled(api, ids)
        # A change while both workers watch: still one push at a time.
        for lb_id in ids:
            r = api.put(f"/v2/lbaas/loadbalancers/{lb_id}", {"loadbalancer": {"name": "x"}})
            assert r.status_code == 200, r.text
        _wait_settled(api, ids)
    finally:
        for w in workers:
            w.stop()
    assert driver.overlaps == []
    for lb_id in ids:
        assert api.lb_status(lb_id) == "ACTIVE"
        assert driver.applied[lb_id] == 2  # one push per generation: nobody pushed twice


class StealingDriver(NoopDriver):
    """While it builds, another worker takes the load balancer's lease."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.steal = True
        self.applied: list[str] = []

    def build(self, plug: AmphoraPlug) -> AmphoraInfo:
        if self.steal:
            with self.api.db.write() as s:
                s.execute(
                    update(m.LoadBalancer)
                    .where(m.LoadBalancer.id == plug.loadbalancer_id)
                    .values(
                        lease_owner="another-worker",
                        lease_expires=m.utcnow() + dt.timedelta(seconds=60),
                    )
                )
        return super().build(plug)

    def apply(self, spec: AmphoraSpec) -> int:
        self.applied.append(spec.loadbalancer_id)
        return super().apply(spec)


def test_a_worker_that_lost_its_lease_pushes_nothing_and_leaves_it_to_the_holder(
    api: Api,
) -> None:
    driver = StealingDriver(api)
    api.worker.reconciler.driver = driver
    lb_id = _create(api)
    api.settle()
    assert driver.applied == []  # stopped before the push
    with api.db.read() as s:
        lb = s.get(m.LoadBalancer, lb_id)
        assert lb is not None
        assert lb.lease_owner == "another-worker" and lb.error_reason is None
    assert api.lb_status(lb_id) == "PENDING_CREATE"  # not ERROR: the holder finishes it
    # The other worker died: its lease runs out and this one finishes the job.
    driver.steal = False
    with api.db.write() as s:
        s.execute(
            update(m.LoadBalancer)
            .where(m.LoadBalancer.id == lb_id)
            .values(lease_expires=m.utcnow() - dt.timedelta(seconds=1))
        )
    api.settle()
    assert driver.applied == [lb_id]
    assert api.lb_status(lb_id) == "ACTIVE"
