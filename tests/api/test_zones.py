"""Availability zones as host groups: an AZ profile's `compute_zone` restricts the hosts
a load balancer's amphorae may go to (at creation and at failover); hosts without a
`host` row (the local agent) are in `[controller_worker] local_zone`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ostium.control.db import models as m
from ostium.control.db.engine import Database
from ostium.control.worker import host_choice
from ostium.model.enums import HostState
from ostium.model.ids import new_id
from tests.api.conftest import Api, make_api

A1 = "https://198.19.40.2:9443"
A2 = "https://198.19.40.3:9443"
B1 = "https://198.19.40.4:9443"
LOCAL = "https://127.0.0.1:9443"


def _zone(api: Api, name: str, data: dict[str, object]) -> None:
    r = api.post(
        "/v2/lbaas/availabilityzoneprofiles",
        {
            "availability_zone_profile": {
                "name": f"{name}-profile",
                "provider_name": "amphora",
                "availability_zone_data": json.dumps(data),
            }
        },
    )
    assert r.status_code == 201, r.text
    profile = r.json()["availability_zone_profile"]["id"]
    body = {"name": name, "availability_zone_profile_id": profile}
    assert api.post("/v2/lbaas/availabilityzones", {"availability_zone": body}).status_code == 201


def _host(api: Api, name: str, url: str, zone: str | None, state: HostState) -> None:
    with api.db.write() as s:
        s.add(
            m.Host(
                id=new_id(),
                name=name,
                agent_url=url,
                zone=zone,
                state=state,
                networks=",".join(n.name for n in api.settings.networks),
            )
        )


def _create(api: Api, az: str) -> dict[str, object]:
    body = {"vip_subnet_id": api.subnet_id, "availability_zone": az}
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": body})
    assert r.status_code == 201, r.text
    return dict(r.json()["loadbalancer"])


def _eligible(api: Api, lb_id: object, hosts: list[str]) -> list[str]:
    with api.db.read() as s:
        lb = s.get(m.LoadBalancer, lb_id)
        assert lb is not None
        return host_choice.eligible(s, api.settings, hosts, lb)


def test_a_zone_without_any_host_is_refused_at_create(api: Api) -> None:
    _zone(api, "az1", {"compute_zone": "rack-a"})
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {"vip_subnet_id": api.subnet_id, "availability_zone": "az1"}},
    )
    assert r.status_code == 400
    assert r.json()["faultstring"] == (
        "Validation failure: availability zone az1: no host is in its compute zone "
        "'rack-a' (add one with `ostium host add NAME --zone rack-a`)."
    )
    # A zone whose profile names no compute zone places anywhere, as before.
    _zone(api, "any", {})
    lb = api.lb(availability_zone="any")
    assert api.lb_status(str(lb["id"])) == "ACTIVE"


def test_placement_keeps_to_the_live_hosts_of_the_zone(api: Api) -> None:
    _zone(api, "az1", {"compute_zone": "rack-a"})
    _host(api, "a1", A1, "rack-a", HostState.ACTIVE)
    _host(api, "a2", A2, "rack-a", HostState.ACTIVE)
    _host(api, "b1", B1, "rack-b", HostState.ACTIVE)
    lb = _create(api, "az1")
    everyone = [LOCAL, A1, B1, A2]
    # The local host (no row) is in no zone by default; rack-b is another zone.
    assert _eligible(api, lb["id"], everyone) == [A1, A2]
    # A failover re-places through the same rule: a1 drained, only a2 is left, never b1.
    with api.db.write() as s:
        row = s.query(m.Host).filter(m.Host.name == "a1").one()
        row.state = HostState.DRAINING
    assert _eligible(api, lb["id"], everyone) == [A2]
    with api.db.write() as s:
        row = s.query(m.Host).filter(m.Host.name == "a2").one()
        row.state = HostState.DOWN
    with pytest.raises(host_choice.NoHostInZone, match="compute zone 'rack-a'"):
        _eligible(api, lb["id"], everyone)
    # A load balancer without a zone still goes anywhere live.
    plain = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": api.subnet_id}})
    assert _eligible(api, plain.json()["loadbalancer"]["id"], everyone) == [LOCAL, B1]


@pytest.fixture
def local_in_rack_a(database: Database, tmp_path: Path) -> Iterator[Api]:
    yield from make_api(database, tmp_path, "[controller_worker]\nlocal_zone = rack-a\n")


def test_the_local_host_serves_its_zone_and_refuses_another(local_in_rack_a: Api) -> None:
    api = local_in_rack_a
    _zone(api, "az1", {"compute_zone": "rack-a"})
    _zone(api, "az2", {"compute_zone": "rack-b"})
    _host(api, "b1", B1, "rack-b", HostState.DOWN)  # declared, but not live
    lb = api.lb(availability_zone="az1")
    assert api.lb_status(str(lb["id"])) == "ACTIVE"
    # Failover of a zoned load balancer: rebuilt on a host of its zone again.
    assert api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 202
    api.settle()
    assert api.lb_status(str(lb["id"])) == "ACTIVE"
    # rack-b has a host, so the API takes the load balancer; none is live: ERROR, and why.
    other = api.lb(availability_zone="az2")
    assert api.lb_status(str(other["id"])) == "ERROR"
    with api.db.read() as s:
        row = s.get(m.LoadBalancer, other["id"])
        assert row is not None and "no host of compute zone 'rack-b'" in (row.error_reason or "")
