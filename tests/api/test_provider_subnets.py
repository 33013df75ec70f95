"""Provider networks and the default IPv6 network through the API: VIPs come from the
allocation range and never take the gateway or the host's address; the Neutron-shaped
views show the range, the gateway and the kind."""

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
from ostium.control.networks_config import parse_network
from ostium.control.services.context import ServiceContext
from ostium.control.settings import DEFAULT_NETWORK_V6, load_settings
from ostium.control.worker import spec_builder
from ostium.control.worker.loop import WorkerLoop
from ostium.drivers.compute.noop import NoopDriver
from tests.api.conftest import Api, _truncate

LAN = parse_network(
    "lan",
    {
        "kind": "existing-bridge",
        "bridge": "br0",
        "cidr": "192.168.7.0/24",
        "gateway": "192.168.7.1",
        "allocation_start": "192.168.7.200",
        "allocation_end": "192.168.7.202",
    },
)
VLAN = parse_network(
    "v42",
    {"kind": "vlan", "parent": "eth0", "vlan_id": "42", "cidr": "10.42.0.0/29"},
)


@pytest.fixture
def lan_api(database: Database, tmp_path: Path) -> Iterator[Api]:
    _truncate(database)
    settings = load_settings(state_dir=str(tmp_path), compute_driver="noop")
    settings = dataclasses.replace(
        settings,
        networks=(LAN, VLAN, DEFAULT_NETWORK_V6),
        database=dataclasses.replace(settings.database, connection=database.url),
    )
    worker = WorkerLoop(database, settings, NoopDriver())
    svc = ServiceContext(db=database, settings=settings, wake=lambda: None)
    with TestClient(create_app(svc), raise_server_exceptions=False) as client:
        yield Api(client, worker, database, settings)
    worker.pool.shutdown(wait=True)


def _vip(api: Api, subnet_id: str) -> tuple[int, str]:
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": subnet_id}})
    return r.status_code, r.json().get("loadbalancer", {}).get("vip_address", r.text)


def test_vips_come_from_the_allocation_range_only(lan_api: Api) -> None:
    got = [_vip(lan_api, LAN.subnet_id) for _ in range(3)]
    assert got == [(201, "192.168.7.200"), (201, "192.168.7.201"), (201, "192.168.7.202")]
    status, body = _vip(lan_api, LAN.subnet_id)
    assert status == 409 and "No more IP addresses" in body
    (subnet,) = lan_api.get("/v2.0/subnets?name=lan-subnet").json()["subnets"]
    assert subnet["gateway_ip"] == "192.168.7.1"
    assert subnet["allocation_pools"] == [{"start": "192.168.7.200", "end": "192.168.7.202"}]
    (net,) = lan_api.get(f"/v2.0/networks/{VLAN.network_id}").json().values()
    assert (net["provider:network_type"], net["provider:segmentation_id"]) == ("vlan", 42)


def test_an_ipv6_vip_out_of_the_box(lan_api: Api) -> None:
    status, vip = _vip(lan_api, DEFAULT_NETWORK_V6.subnet_id)
    assert status == 201
    address = ipaddress.ip_address(vip)
    assert address.version == 6 and address in ipaddress.ip_network("2001:2::/48")
    assert vip not in (DEFAULT_NETWORK_V6.gateway, DEFAULT_NETWORK_V6.host_address)


def test_the_host_address_is_never_handed_out(database: Database) -> None:
    _truncate(database)
    net = parse_network(
        "own",
        {"cidr": "198.19.252.0/29", "gateway": "198.19.252.2", "host_address": "198.19.252.3"},
    )
    with database.write() as s:
        got = [ipam.allocate(s, net, f"o{i}", None) for i in range(4)]
    assert sorted(got) == ["198.19.252.1", "198.19.252.4", "198.19.252.5", "198.19.252.6"]


def test_the_agent_is_told_the_kind_the_gateway_and_no_host_address(lan_api: Api) -> None:
    lb = lan_api.lb(vip_subnet_id=LAN.subnet_id)
    with lan_api.db.read() as s:
        from ostium.control.db import models as m

        row = s.get(m.LoadBalancer, lb["id"])
        assert row is not None
        vip = spec_builder.vip_spec(lan_api.settings, row)
    assert (vip.link.kind, vip.bridge, str(vip.gateway), vip.host_address) == (
        "existing-bridge",
        "br0",
        "192.168.7.1",
        None,
    )
