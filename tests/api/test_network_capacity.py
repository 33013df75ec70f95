"""Address capacity of ostium's local subnets: the default VIP network holds thousands
of load balancers, a full subnet answers 409 naming itself, and an address freed in a
full subnet is handed out again."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ostium.control.api.app import create_app
from ostium.control.db import ipam
from ostium.control.db.engine import Database
from ostium.control.services.context import ServiceContext
from ostium.control.settings import NetworkSettings, load_settings
from ostium.control.worker.loop import WorkerLoop
from ostium.drivers.compute.noop import NoopDriver
from ostium.model.errors import Conflict
from tests.api.conftest import Api, _truncate

# A /29: six host addresses, one of them the host side (gateway): five VIPs fit.
TINY = NetworkSettings(
    name="tiny-net",
    cidr="198.19.250.0/29",
    bridge="ostt-tiny",
    gateway="198.19.250.1",
    subnet_name="tiny-subnet",
)


@pytest.fixture
def tiny_api(database: Database, tmp_path: Path) -> Iterator[Api]:
    _truncate(database)
    settings = load_settings(state_dir=str(tmp_path), compute_driver="noop")
    settings = dataclasses.replace(
        settings,
        networks=(TINY,),
        database=dataclasses.replace(settings.database, connection=database.url),
    )
    worker = WorkerLoop(database, settings, NoopDriver())
    svc = ServiceContext(db=database, settings=settings, wake=lambda: None)
    with TestClient(create_app(svc), raise_server_exceptions=False) as client:
        yield Api(client, worker, database, settings)
    worker.pool.shutdown(wait=True)


def _create(api: Api) -> tuple[int, dict[str, object]]:
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": TINY.subnet_id}})
    return r.status_code, r.json()


def test_full_subnet_answers_409_naming_it(tiny_api: Api) -> None:
    api = tiny_api
    created = [api.lb() for _ in range(5)]
    assert sorted(lb["vip_address"] for lb in created) == [f"198.19.250.{i}" for i in range(2, 7)]
    status, body = _create(api)
    assert status == 409
    assert body["faultstring"] == (
        f"No more IP addresses available on subnet {TINY.subnet_id} (tiny-subnet, 198.19.250.0/29)."
    )
    # An address freed in a full subnet is found again, wherever it lies.
    freed = created[1]
    assert api.delete(f"/v2/lbaas/loadbalancers/{freed['id']}").status_code == 204
    api.settle()
    status, body = _create(api)
    assert status == 201, body
    assert body["loadbalancer"]["vip_address"] == freed["vip_address"]  # type: ignore[index]
    assert _create(api)[0] == 409


def test_default_vip_subnet_holds_thousands_of_load_balancers(api: Api) -> None:
    """ACTIVE_STANDBY takes three addresses per load balancer (VIP + two VRRP): the
    default VIP subnet has room for 4,000 such load balancers, inside 198.18.0.0/15."""
    subnets = api.get("/v2.0/subnets?name=vip-subnet").json()["subnets"]
    (vip,) = subnets
    net = ipaddress.IPv4Network(vip["cidr"])
    assert net.subnet_of(ipaddress.IPv4Network("198.18.0.0/15"))
    assert vip["gateway_ip"] == "198.18.0.1"
    (pool,) = vip["allocation_pools"]
    size = int(ipaddress.ip_address(pool["end"])) - int(ipaddress.ip_address(pool["start"])) + 1
    assert size - 1 >= 3 * 4000  # minus the host side
    demo = api.get("/v2.0/subnets?name=demo-subnet").json()["subnets"][0]
    assert ipaddress.ip_network(demo["cidr"]).num_addresses - 3 >= 2 * 4000
    assert not net.overlaps(ipaddress.ip_network(demo["cidr"]))


def test_many_released_addresses_are_all_found_again(database: Database) -> None:
    """More addresses freed below the in-use count than the allocator's quick look-ups
    cover: every one is handed out again before the subnet is full."""
    _truncate(database)
    net = dataclasses.replace(TINY, cidr="198.19.251.0/27", gateway="198.19.251.1")
    with database.write() as s:
        first = [ipam.allocate(s, net, f"owner-{i}", None) for i in range(29)]
    assert len(set(first)) == 29 and "198.19.251.1" not in first
    with database.write() as s, pytest.raises(Conflict):
        ipam.allocate(s, net, "one-too-many", None)
    with database.write() as s:
        for i in range(20):
            ipam.release(s, f"owner-{i}")
    with database.write() as s:
        again = [ipam.allocate(s, net, f"again-{i}", None) for i in range(20)]
    assert sorted(again, key=ipaddress.ip_address) == sorted(first[:20], key=ipaddress.ip_address)
    with database.write() as s, pytest.raises(Conflict, match=r"198\.19\.251\.0/27"):
        ipam.allocate(s, net, "one-too-many", None)
