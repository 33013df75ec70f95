"""Token mode: default RBAC rules, project scoping, quotas."""

from __future__ import annotations

from tests.api.conftest import Api, make_token


def _as(api: Api, token: str) -> dict[str, str]:
    return {"X-Auth-Token": token}


def test_token_required(token_api: Api) -> None:
    r = token_api.get("/v2/lbaas/loadbalancers")
    assert r.status_code == 401 and r.json()["error"]["code"] == 401
    r = token_api.get("/v2/lbaas/loadbalancers", headers={"X-Auth-Token": "bogus"})
    assert r.status_code == 401
    assert token_api.get("/").status_code == 200  # version document needs no auth


def test_project_scoping_and_roles(token_api: Api) -> None:
    api = token_api
    alice = make_token(api.db, "p1", "member")
    bob = make_token(api.db, "p2", "member")
    reader = make_token(api.db, "p1", "reader")
    admin = make_token(api.db, "ops", "admin")
    nobody = make_token(api.db, "p1")
    api.headers = _as(api, alice)
    lb = api.lb(name="alice")
    assert lb["project_id"] == "p1"
    api.headers = _as(api, bob)
    r = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}")
    assert r.status_code == 403
    assert r.json()["faultstring"] == "Policy does not allow this request to be performed."
    assert api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []
    assert api.get("/v2/lbaas/loadbalancers?project_id=p1").status_code == 403
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 403
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {"vip_subnet_id": api.subnet_id, "project_id": "p1"}},
    )
    assert r.status_code == 403
    api.headers = _as(api, reader)
    assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 200
    r = api.put(f"/v2/lbaas/loadbalancers/{lb['id']}", {"loadbalancer": {"name": "x"}})
    assert r.status_code == 403
    assert api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 403
    api.headers = _as(api, nobody)
    assert api.get("/v2/lbaas/loadbalancers").status_code == 403
    api.headers = _as(api, admin)
    assert [x["name"] for x in api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]] == [
        "alice"
    ]
    assert api.get("/v2/octavia/amphorae").status_code == 200
    assert api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 202
    api.headers = _as(api, alice)
    assert api.get("/v2/octavia/amphorae").status_code == 403
    assert api.get("/v2/lbaas/flavorprofiles").status_code == 403
    assert api.get("/v2/lbaas/flavors").status_code == 200


def test_quota_enforced_and_both_spellings(token_api: Api) -> None:
    api = token_api
    admin = make_token(api.db, "ops", "admin")
    user = make_token(api.db, "p1", "member")
    api.headers = _as(api, user)
    assert api.put("/v2/lbaas/quotas/p1", {"quota": {"loadbalancer": 1}}).status_code == 403
    q = api.get("/v2/lbaas/quotas/p1").json()["quota"]
    assert q["load_balancer"] == q["loadbalancer"] == -1
    api.headers = _as(api, admin)
    r = api.put("/v2/lbaas/quotas/p1", {"quota": {"load_balancer": 1, "health_monitor": 0}})
    assert r.status_code == 202
    q = r.json()["quota"]
    assert q["loadbalancer"] == 1 and q["healthmonitor"] == q["health_monitor"] == 0
    assert [x["project_id"] for x in api.get("/v2/lbaas/quotas").json()["quotas"]] == ["p1"]
    defaults = api.get("/v2/lbaas/quotas/defaults").json()["quota"]
    assert defaults["loadbalancer"] == -1
    api.headers = _as(api, user)
    assert api.get("/v2/lbaas/quotas/defaults").status_code == 200
    api.lb()
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": api.subnet_id}})
    assert r.status_code == 403
    assert r.json()["faultstring"] == "Quota has been met for resources: Load Balancer"
    api.headers = _as(api, admin)
    assert api.delete("/v2/lbaas/quotas/p1").status_code == 202
    assert api.delete("/v2/lbaas/quotas/p1").status_code == 202  # a reset again, as Octavia
    assert api.delete("/v2/lbaas/quotas/never-seen").status_code == 404
    api.headers = _as(api, user)
    assert (
        api.post(
            "/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": api.subnet_id}}
        ).status_code
        == 201
    )


def test_flavors_and_availability_zones(api: Api) -> None:
    r = api.post(
        "/v2/lbaas/flavorprofiles",
        {
            "flavorprofile": {
                "name": "fp",
                "provider_name": "amphora",
                "flavor_data": '{"loadbalancer_topology": "SINGLE"}',
            }
        },
    )
    assert r.status_code == 201
    fp = r.json()["flavorprofile"]
    r = api.post(
        "/v2/lbaas/flavorprofiles",
        {"flavorprofile": {"name": "bad", "provider_name": "amphora", "flavor_data": "not json"}},
    )
    assert r.status_code == 400
    r = api.post(
        "/v2/lbaas/flavorprofiles",
        {
            "flavorprofile": {
                "name": "bad",
                "provider_name": "amphora",
                "flavor_data": '{"color": "red"}',
            }
        },
    )
    assert r.status_code == 501
    fl = api.child("/v2/lbaas/flavors", "flavor", {"name": "small", "flavor_profile_id": fp["id"]})
    assert fl["enabled"] is True and fl["description"] == ""
    r = api.post("/v2/lbaas/flavors", {"flavor": {"name": "small", "flavor_profile_id": fp["id"]}})
    assert r.status_code == 409
    lb = api.lb(flavor_id=fl["id"])
    assert lb["flavor_id"] == fl["id"]
    assert api.delete(f"/v2/lbaas/flavors/{fl['id']}").status_code == 409
    r = api.put(f"/v2/lbaas/flavorprofiles/{fp['id']}", {"flavorprofile": {"flavor_data": "{}"}})
    assert r.status_code == 409
    assert (
        api.put(f"/v2/lbaas/flavors/{fl['id']}", {"flavor": {"enabled": False}}).json()["flavor"][
            "enabled"
        ]
        is False
    )
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {"vip_subnet_id": api.subnet_id, "flavor_id": fl["id"]}},
    )
    assert r.status_code == 400 and "not allowed" in r.json()["faultstring"]
    body = api.get("/v2/lbaas/flavorprofiles").json()
    assert "flavorprofile_links" in body
    nil = "00000000-0000-0000-0000-000000000000"
    assert api.get(f"/v2/lbaas/flavors/{nil}").status_code == 404
    azp = api.child(
        "/v2/lbaas/availabilityzoneprofiles",
        "availability_zone_profile",
        {
            "name": "azp",
            "provider_name": "amphora",
            "availability_zone_data": '{"compute_zone": "az1"}',
        },
    )
    az = api.child(
        "/v2/lbaas/availabilityzones",
        "availability_zone",
        {"name": "az1", "availability_zone_profile_id": azp["id"]},
    )
    assert az == {
        "name": "az1",
        "description": "",
        "enabled": True,
        "availability_zone_profile_id": azp["id"],
    }
    assert "availability_zone_profile_links" in api.get("/v2/lbaas/availabilityzoneprofiles").json()
    # Its compute zone needs a host (else 400): one enrolled in zone az1.
    host = {"host": {"name": "rack1", "zone": "az1"}}
    assert api.post("/v2/ostium/hosts", host).status_code == 201
    assert api.lb(availability_zone="az1")["availability_zone"] == "az1"
    assert api.delete("/v2/lbaas/availabilityzones/az1").status_code == 409
    caps = api.get("/v2/lbaas/providers/amphora/flavor_capabilities").json()
    assert "loadbalancer_topology" in [c["name"] for c in caps["flavor_capabilities"]]
    assert api.get("/v2/lbaas/providers/nope/flavor_capabilities").status_code == 400
    provs = api.get("/v2/lbaas/providers").json()["providers"]
    assert "amphora" in [p["name"] for p in provs]
