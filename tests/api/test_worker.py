"""The worker loop: leases, takeover after a dead worker, ERROR with a reason."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from ostium.control.db import models as m
from ostium.control.worker.loop import WorkerLoop
from ostium.drivers.compute.base import AmphoraInfo
from ostium.drivers.compute.noop import NoopDriver
from ostium.model.errors import PermanentError, TransientError
from ostium.model.spec import AmphoraPlug, AmphoraSpec
from tests.api.conftest import Api


def _create(api: Api) -> str:
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": api.subnet_id}})
    assert r.status_code == 201
    return str(r.json()["loadbalancer"]["id"])


def test_live_lease_is_respected_and_expired_lease_is_taken_over(api: Api) -> None:
    lb_id = _create(api)
    future = m.utcnow() + dt.timedelta(seconds=60)
    with api.db.write() as s:
        s.execute(
            update(m.LoadBalancer)
            .where(m.LoadBalancer.id == lb_id)
            .values(lease_owner="dead-worker", lease_expires=future)
        )
    api.settle()
    assert api.lb_status(lb_id) == "PENDING_CREATE"  # someone else holds it
    with api.db.write() as s:
        s.execute(
            update(m.LoadBalancer)
            .where(m.LoadBalancer.id == lb_id)
            .values(lease_expires=m.utcnow() - dt.timedelta(seconds=1))
        )
    api.settle()
    assert api.lb_status(lb_id) == "ACTIVE"


def test_two_workers_never_claim_the_same_load_balancer(api: Api) -> None:
    lb_id = _create(api)
    other = WorkerLoop(api.db, api.settings, api.worker.reconciler.driver)
    try:
        assert api.worker.claim(lb_id) is True
        assert other.claim(lb_id) is False
    finally:
        other.pool.shutdown(wait=True)


class _Failing(NoopDriver):
    name = "failing"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc
        self.destroyed: list[str] = []

    def build(self, plug: AmphoraPlug) -> AmphoraInfo:
        raise self.exc

    def apply(self, spec: AmphoraSpec) -> int:
        return spec.generation

    def destroy(self, amphora_id: str) -> None:
        self.destroyed.append(amphora_id)


def test_permanent_failure_ends_in_error_with_reason_and_no_leak(api: Api) -> None:
    driver = _Failing(PermanentError("no capacity on host"))
    api.worker.reconciler.driver = driver
    lb_id = _create(api)
    api.settle()
    assert api.lb_status(lb_id) == "ERROR"
    with api.db.read() as s:
        row = s.get(m.LoadBalancer, lb_id)
        assert row is not None and "no capacity on host" in (row.error_reason or "")
    assert len(driver.destroyed) == 1  # the half-built amphora was removed
    # From ERROR the user can still delete it.
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb_id}").status_code == 204
    api.settle()
    assert api.get(f"/v2/lbaas/loadbalancers/{lb_id}").status_code == 404


def test_transient_failures_are_retried_then_error(api: Api) -> None:
    import dataclasses

    driver = _Failing(TransientError("agent busy"))
    api.worker.reconciler.driver = driver
    api.worker.settings = dataclasses.replace(
        api.settings,
        worker=dataclasses.replace(api.settings.worker, max_retries=2, retry_backoff=0.01),
    )
    lb_id = _create(api)
    api.settle()
    assert api.lb_status(lb_id) == "ERROR"
    assert len(driver.destroyed) == 3  # first try + 2 retries, each cleaned up
