"""Many hosts (part of `make test`; `make test-hosts` runs them alone): agents in their
own namespaces join with one-time tokens, load balancers spread over the hosts, a
drained host gives its amphorae away, and a host that dies loses its load balancers to
failover on the others, with the VIP back for a client on the fabric (an
ACTIVE_STANDBY pair's peer keeps it, the lost half rebuilt on another host). See
`fabric.py` for the picture. No timed assertions: every wait is generous."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from api_support import Ostium, wait_for
from fabric import HostFabric, amphora_host, hosts_of, http_lb, pair_lb


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
        assert wait_for(lambda vip=vip: fabric.fetch(vip) == "ostt-bk", 60, what=f"{vip}")
    for lb in lbs:
        ostium.api.delete_lb(str(lb["id"]), 90)


def test_a_drained_host_gives_its_amphorae_away(fabric: HostFabric, ostium: Ostium) -> None:
    lbs = [http_lb(ostium, f"drain{i}") for i in range(3)]
    (on2,) = [lb for lb in lbs if amphora_host(ostium, str(lb["id"])) == "198.19.210.12"]
    r = ostium.api.http.put("/v2/ostium/hosts/host2", json={"host": {"state": "DRAINING"}})
    assert r.status_code == 200, r.text

    def moved() -> bool:
        return amphora_host(ostium, str(on2["id"])) not in ("", "198.19.210.12")

    wait_for(moved, 90, 0.2, "amphora moved off host2")
    ostium.api.wait_active(str(on2["id"]), 90)
    vip = str(on2["vip_address"])
    assert wait_for(lambda: fabric.fetch(vip) == "ostt-bk", 60, what="VIP after the drain")
    (host2,) = [
        h for h in ostium.api.http.get("/v2/ostium/hosts").json()["hosts"] if h["name"] == "host2"
    ]
    assert (host2["state"], host2["amphorae"]) == ("DRAINING", 0)
    r = ostium.api.http.put("/v2/ostium/hosts/host2", json={"host": {"state": "ACTIVE"}})
    assert r.status_code == 200
    for lb in lbs:
        ostium.api.delete_lb(str(lb["id"]), 90)


def test_a_dead_host_loses_its_load_balancers_to_the_others(
    fabric: HostFabric, ostium: Ostium
) -> None:
    """SINGLE: a new amphora on a live host serves the VIP again. ACTIVE_STANDBY: the
    peer on another host serves it, and the lost half is rebuilt on a third host."""
    pair = pair_lb(ostium, "pair")
    pair_id, pair_vip = str(pair["id"]), str(pair["vip_address"])
    ostium.api.wait_active(pair_id, 60)
    before = hosts_of(ostium, pair_id)
    assert set(before) == {"MASTER", "BACKUP"} and len(set(before.values())) == 2
    # the pair is on two of the three hosts: one of them a host that can die
    n = 1 if "198.19.210.11" in before.values() else 2
    dying = f"198.19.210.1{n}"
    lbs = [http_lb(ostium, f"loss{i}") for i in range(3)]
    (single,) = [lb for lb in lbs if amphora_host(ostium, str(lb["id"])) == dying]
    vip = str(single["vip_address"])
    assert wait_for(lambda: fabric.fetch(vip) == "ostt-bk", 60, what="VIP before")
    assert wait_for(lambda: fabric.fetch(pair_vip) == "ostt-bk", 60, what="pair VIP before")
    time.sleep(1.5)  # a few heartbeats from every host
    fabric.kill(n)
    assert fabric.fetch(vip) == ""
    # heartbeat_timeout 3 s, then the failover: a new amphora on a live host
    assert wait_for(lambda: fabric.fetch(vip) == "ostt-bk", 60, 0.2, what="VIP back")
    where = wait_for(lambda: amphora_host(ostium, str(single["id"])), 60, what="old one gone")
    assert where != dying and where in {"127.0.0.1", "198.19.210.11", "198.19.210.12"}
    assert wait_for(lambda: fabric.fetch(pair_vip) == "ostt-bk", 60, what="pair VIP")

    def rebuilt() -> dict[str, str] | None:
        lb = ostium.api.lb(pair_id)
        now = hosts_of(ostium, pair_id)
        done = lb is not None and lb["provisioning_status"] == "ACTIVE" and len(now) == 2
        return now if done and dying not in now.values() else None

    after = wait_for(rebuilt, 60, 0.2, what="the pair rebuilt")
    assert set(after) == {"MASTER", "BACKUP"} and len(set(after.values())) == 2
    survivor = set(before.values()) - {dying}
    assert survivor <= set(after.values())  # the half that lived is kept
    assert fabric.fetch(pair_vip) == "ostt-bk"
    lb = ostium.api.lb(str(single["id"]))
    assert lb is not None and lb["provisioning_status"] == "ACTIVE"
    for other in lbs:
        if other is not single:  # the others never noticed
            assert fabric.fetch(str(other["vip_address"])) == "ostt-bk"
    for lb_ in [*lbs, pair]:
        ostium.api.delete_lb(str(lb_["id"]), 90)
    # The operator forgets the dead host (it holds nothing any more).
    assert ostium.api.http.delete(f"/v2/ostium/hosts/host{n}").status_code == 204
