"""The lock and the quota under real concurrency: a live HTTP server, many threads."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from ostium.control.api.app import create_app
from ostium.control.db import models as m
from ostium.control.db.engine import Database
from ostium.control.services.context import ServiceContext
from ostium.control.settings import load_settings
from ostium.control.worker.loop import WorkerLoop
from ostium.drivers.compute.noop import NoopDriver
from tests.api.conftest import _truncate, make_token


@dataclasses.dataclass
class Live:
    url: str
    db: Database
    worker: WorkerLoop
    subnet_id: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["noauth", "token"])
def live(request: pytest.FixtureRequest, database: Database, tmp_path: Path) -> Iterator[Live]:
    _truncate(database)
    settings = load_settings(
        state_dir=str(tmp_path), compute_driver="noop", auth_strategy=request.param
    )
    settings = dataclasses.replace(
        settings, database=dataclasses.replace(settings.database, connection=database.url)
    )
    worker = WorkerLoop(database, settings, NoopDriver())
    app = create_app(ServiceContext(db=database, settings=settings, wake=lambda: None))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield Live(f"http://127.0.0.1:{port}", database, worker, settings.networks[0].subnet_id)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        worker.pool.shutdown(wait=True)


def _parallel(n: int, fn: object) -> list[int]:
    with ThreadPoolExecutor(max_workers=n) as ex:
        return list(ex.map(fn, range(n)))  # type: ignore[arg-type]


def test_fifty_parallel_member_creates_exactly_one_wins(live: Live) -> None:
    token = make_token(live.db, "p1", "member")
    headers = {"X-Auth-Token": token, "X-Project-Id": "p1"}
    with httpx.Client(base_url=live.url, headers=headers, timeout=60) as c:
        lb = c.post(
            "/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": live.subnet_id}}
        ).json()["loadbalancer"]
        live.worker.drain()
        pool = c.post(
            "/v2/lbaas/pools",
            json={
                "pool": {
                    "loadbalancer_id": lb["id"],
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                }
            },
        ).json()["pool"]
        live.worker.drain()
        barrier = threading.Barrier(50)

        def create(i: int) -> int:
            barrier.wait()
            r = c.post(
                f"/v2/lbaas/pools/{pool['id']}/members",
                json={"member": {"address": f"198.18.1.{i + 1}", "protocol_port": 80}},
            )
            return r.status_code

        codes = _parallel(50, create)
    assert sorted(set(codes)) == [201, 409], codes
    assert codes.count(201) == 1
    with live.db.read() as s:
        assert s.scalar(select(func.count()).select_from(m.Member)) == 1
        row = s.get(m.LoadBalancer, lb["id"])
        assert row is not None and row.provisioning_status == "PENDING_UPDATE"
        assert row.generation == 3
    live.worker.drain()
    with live.db.read() as s:
        row = s.get(m.LoadBalancer, lb["id"])
        assert row is not None and row.provisioning_status == "ACTIVE"


def test_quota_is_never_exceeded_under_concurrency(live: Live) -> None:
    admin = make_token(live.db, "ops", "admin")
    user = make_token(live.db, "p9", "member")
    with httpx.Client(base_url=live.url, timeout=60) as c:
        r = c.put(
            "/v2/lbaas/quotas/p9",
            json={"quota": {"loadbalancer": 3}},
            headers={"X-Auth-Token": admin},
        )
        assert r.status_code == 202
        barrier = threading.Barrier(12)

        def create(_: int) -> int:
            barrier.wait()
            return c.post(
                "/v2/lbaas/loadbalancers",
                json={"loadbalancer": {"vip_subnet_id": live.subnet_id}},
                headers={"X-Auth-Token": user, "X-Project-Id": "p9"},
            ).status_code

        codes = _parallel(12, create)
    with live.db.read() as s:
        count = s.scalar(
            select(func.count())
            .select_from(m.LoadBalancer)
            .where(m.LoadBalancer.project_id == "p9")
        )
        addresses = s.scalars(select(m.LoadBalancer.vip_address)).all()
    assert len(set(addresses)) == len(addresses)  # IPAM never hands out one address twice
    if codes.count(403) == 0:  # noauth: quotas are not enforced, as in Octavia
        assert codes == [201] * 12 and count == 12
    else:
        assert codes.count(201) == 3 and codes.count(403) == 9 and count == 3
