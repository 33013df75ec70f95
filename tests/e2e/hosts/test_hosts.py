"""Many hosts (`make test-hosts`): agents in their own namespaces join with one-time
tokens, load balancers spread over the hosts, a drained host gives its amphorae away,
and a host that dies loses its load balancers to failover on the others, with the VIP
back for a client on the fabric. See `fabric.py` for the picture."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from api_support import Ostium, wait_for
from fabric import HostFabric, amphora_host, http_lb


@pytest.fixture(scope="module")
def fabric() -> Iterator[HostFabric]:
    f = HostFabric(hosts=2)
    left: list[str] = []
    try:
        f.build()
        f.start_ostium()
        f.join(1)
        f.join(2)
        yield f
    finally:
        left = f.destroy()
    assert left == [], f"left behind: {left}"


@pytest.fixture(scope="module")
def ostium(fabric: HostFabric) -> Ostium:
    assert fabric.ostium is not None
    return fabric.ostium


def test_hosts_join_and_load_balancers_spread_over_them(fabric: HostFabric, ostium: Ostium) -> None:
    hosts = ostium.api.http.get("/v2/ostium/hosts").json()["hosts"]
    assert [(h["name"], h["state"]) for h in hosts] == [("host1", "ACTIVE"), ("host2", "ACTIVE")]
    lbs = [http_lb(ostium, f"spread{i}") for i in range(3)]
    where = {amphora_host(ostium, lb["id"]) for lb in lbs}  # type: ignore[arg-type]
    assert where == {"127.0.0.1", "198.19.210.11", "198.19.210.12"}  # one each: least loaded
    for lb in lbs:
        vip = str(lb["vip_address"])
        assert wait_for(lambda vip=vip: fabric.fetch(vip) == "ostt-bk", 15, what=f"{vip}")
    for lb in lbs:
        ostium.api.delete_lb(str(lb["id"]))


def test_a_drained_host_gives_its_amphorae_away(fabric: HostFabric, ostium: Ostium) -> None:
    lbs = [http_lb(ostium, f"drain{i}") for i in range(3)]
    (on2,) = [lb for lb in lbs if amphora_host(ostium, str(lb["id"])) == "198.19.210.12"]
    r = ostium.api.http.put("/v2/ostium/hosts/host2", json={"host": {"state": "DRAINING"}})
    assert r.status_code == 200, r.text

    def moved() -> bool:
        return amphora_host(ostium, str(on2["id"])) not in ("", "198.19.210.12")

    wait_for(moved, 30, 0.2, "amphora moved off host2")
    ostium.api.wait_active(str(on2["id"]))
    vip = str(on2["vip_address"])
    assert wait_for(lambda: fabric.fetch(vip) == "ostt-bk", 15, what="VIP after the drain")
    (host2,) = [
        h for h in ostium.api.http.get("/v2/ostium/hosts").json()["hosts"] if h["name"] == "host2"
    ]
    assert (host2["state"], host2["amphorae"]) == ("DRAINING", 0)
    r = ostium.api.http.put("/v2/ostium/hosts/host2", json={"host": {"state": "ACTIVE"}})
    assert r.status_code == 200
    for lb in lbs:
        ostium.api.delete_lb(str(lb["id"]))


def test_a_dead_host_loses_its_load_balancers_to_the_others(
    fabric: HostFabric, ostium: Ostium
) -> None:
    lbs = [http_lb(ostium, f"loss{i}") for i in range(3)]
    (on1,) = [lb for lb in lbs if amphora_host(ostium, str(lb["id"])) == "198.19.210.11"]
    vip = str(on1["vip_address"])
    assert wait_for(lambda: fabric.fetch(vip) == "ostt-bk", 15, what="VIP before")
    time.sleep(1.5)  # a few heartbeats from every host
    fabric.kill(1)
    assert fabric.fetch(vip) == ""
    # heartbeat_timeout 3 s, then the failover: a new amphora on a live host
    assert wait_for(lambda: fabric.fetch(vip) == "ostt-bk", 30, 0.2, what="VIP back")
    where = wait_for(lambda: amphora_host(ostium, str(on1["id"])), 30, what="old one gone")
    assert where in {"127.0.0.1", "198.19.210.12"}
    lb = ostium.api.lb(str(on1["id"]))
    assert lb is not None and lb["provisioning_status"] == "ACTIVE"
    for other in lbs:
        if other is not on1:  # the others never noticed
            assert fabric.fetch(str(other["vip_address"])) == "ostt-bk"
    for lb_ in lbs:
        ostium.api.delete_lb(str(lb_["id"]))
    # The operator forgets the dead host (it holds nothing any more).
    assert ostium.api.http.delete("/v2/ostium/hosts/host1").status_code == 204
