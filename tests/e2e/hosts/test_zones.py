"""Availability zones as host groups on the host fabric (`make test-hosts`): host1 joins
in compute zone `rack-a`, host2 in `rack-b` (`ostium host add NAME --zone Z`), the
local agent is in none. A load balancer of an availability zone whose profile names
`compute_zone` lands on that zone's host, stays there through a failover, and goes to
ERROR with the reason when no host of its zone is live; a zone without any host is a
400 at create. See `fabric.py` for the picture."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import api_support
import fabric
import pytest
from api_support import Ostium, wait_for
from fabric import HostFabric, amphora_host, http_lb

HOST1, HOST2 = "198.19.210.11", "198.19.210.12"


def join_in_zone(f: HostFabric, n: int, zone: str) -> None:
    """`HostFabric.join`, the host added with `--zone` as an operator would."""

    def sh_with_zone(*argv: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        if argv[1:5] == ("-m", "ostium", "host", "add"):
            argv = (*argv, "--zone", zone)
        return api_support.sh(*argv, check=check)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fabric, "sh", sh_with_zone)
        f.join(n)


class NoauthOstium(api_support.Ostium):
    """The fabric's ostium with `auth_strategy = noauth` unless it sets one already: it
    binds a non-loopback address, where the default is keystone."""

    def __post_init__(self) -> None:
        api = self.sections.setdefault("api_settings", [])
        if not any(line.startswith("auth_strategy") for line in api):
            api.append("auth_strategy = noauth")
        super().__post_init__()


@pytest.fixture(scope="module")
def zoned() -> Iterator[HostFabric]:
    f = HostFabric(hosts=2)
    left: list[str] = []
    try:
        f.build()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(fabric, "Ostium", NoauthOstium)
            o = f.start_ostium()
        join_in_zone(f, 1, "rack-a")
        join_in_zone(f, 2, "rack-b")
        for az, zone in (("az-a", "rack-a"), ("az-b", "rack-b"), ("az-c", "rack-c")):
            profile = o.api.http.post(
                "/v2/lbaas/availabilityzoneprofiles",
                json={
                    "availability_zone_profile": {
                        "name": f"{az}-profile",
                        "provider_name": "amphora",
                        "availability_zone_data": json.dumps({"compute_zone": zone}),
                    }
                },
            ).json()["availability_zone_profile"]
            body = {"name": az, "availability_zone_profile_id": profile["id"]}
            r = o.api.http.post("/v2/lbaas/availabilityzones", json={"availability_zone": body})
            assert r.status_code == 201, r.text
        yield f
    finally:
        left = f.destroy()
    assert left == [], f"left behind: {left}"


@pytest.fixture(scope="module")
def ostium(zoned: HostFabric) -> Ostium:
    assert zoned.ostium is not None
    return zoned.ostium


def test_amphorae_stay_in_their_zone_through_a_failover(zoned: HostFabric, ostium: Ostium) -> None:
    hosts = ostium.api.http.get("/v2/ostium/hosts").json()["hosts"]
    assert {h["name"]: h["zone"] for h in hosts} == {"host1": "rack-a", "host2": "rack-b"}
    # Least loaded would spread these over three hosts: the zone keeps them on host1.
    in_a = [http_lb(ostium, f"zone-a{i}", availability_zone="az-a") for i in range(2)]
    in_b = http_lb(ostium, "zone-b", availability_zone="az-b")
    assert [amphora_host(ostium, str(lb["id"])) for lb in in_a] == [HOST1, HOST1]
    assert amphora_host(ostium, str(in_b["id"])) == HOST2
    for lb in [*in_a, in_b]:
        vip = str(lb["vip_address"])
        assert wait_for(lambda vip=vip: zoned.fetch(vip) == "ostt-bk", 15, what=vip)
    # A failover builds the new amphora in the same zone (host1 again, never elsewhere).
    lb_id = str(in_a[0]["id"])
    old = {a["id"] for a in ostium.api.amphorae(lb_id)}
    r = ostium.api.http.put(f"/v2/lbaas/loadbalancers/{lb_id}/failover")
    assert r.status_code == 202, r.text

    def replaced() -> bool:
        amps = [a for a in ostium.api.amphorae(lb_id) if a["status"] != "DELETED"]
        return len(amps) == 1 and amps[0]["id"] not in old

    wait_for(replaced, 30, 0.2, "a new amphora")
    ostium.api.wait_active(lb_id)
    assert amphora_host(ostium, lb_id) == HOST1
    vip = str(in_a[0]["vip_address"])
    assert wait_for(lambda: zoned.fetch(vip) == "ostt-bk", 15, what="VIP after the failover")
    for lb in [*in_a, in_b]:
        ostium.api.delete_lb(str(lb["id"]))


def test_a_zone_without_a_live_host_fails_clearly(ostium: Ostium) -> None:
    subnet = ostium.api.subnet_id(fabric.VIP.subnet_name)
    body = {"vip_subnet_id": subnet, "availability_zone": "az-c"}
    r = ostium.api.http.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    assert r.status_code == 400
    assert "no host is in its compute zone 'rack-c'" in r.json()["faultstring"]
    # rack-b's only host drained: a new load balancer of az-b ends in ERROR, saying why.
    r = ostium.api.http.put("/v2/ostium/hosts/host2", json={"host": {"state": "DRAINING"}})
    assert r.status_code == 200, r.text
    body = {"vip_subnet_id": subnet, "availability_zone": "az-b"}
    r = ostium.api.http.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    assert r.status_code == 201, r.text
    lb_id = r.json()["loadbalancer"]["id"]

    def status() -> str:
        lb = ostium.api.lb(lb_id)
        return "" if lb is None else str(lb["provisioning_status"])

    assert wait_for(lambda: status() == "ERROR", 30, 0.2, "ERROR")
    assert ostium.api.amphorae(lb_id) == [] or all(
        a["status"] == "DELETED" for a in ostium.api.amphorae(lb_id)
    )
    assert "no host of compute zone 'rack-b'" in ostium.log("serve")
    ostium.api.delete_lb(lb_id)
    r = ostium.api.http.put("/v2/ostium/hosts/host2", json={"host": {"state": "ACTIVE"}})
    assert r.status_code == 200
