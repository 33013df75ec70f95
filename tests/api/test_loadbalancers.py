"""Load balancer lifecycle, graph create, status tree, stats, failover, cascade."""

from __future__ import annotations

import re

from tests.api.conftest import Api

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")

LB_FIELDS = set(
    [
        "additional_vips",
        "admin_state_up",
        "availability_zone",
        "created_at",
        "description",
        "flavor_id",
        "id",
        "listeners",
        "name",
        "operating_status",
        "pools",
        "project_id",
        "provider",
        "provisioning_status",
        "tags",
        "tenant_id",
        "updated_at",
        "vip_address",
        "vip_network_id",
        "vip_port_id",
        "vip_qos_policy_id",
        "vip_sg_ids",
        "vip_subnet_id",
        "vip_vnic_type",
    ]
)


def test_create_show_update_delete(api: Api) -> None:
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {"vip_subnet_id": api.subnet_id, "name": "web", "tags": ["a", "b", "a"]}},
    )
    assert r.status_code == 201
    lb = r.json()["loadbalancer"]
    assert set(lb) == LB_FIELDS
    assert lb["provisioning_status"] == "PENDING_CREATE"
    assert lb["operating_status"] == "OFFLINE"
    assert lb["tenant_id"] == lb["project_id"] == "admin"
    assert lb["description"] == "" and lb["updated_at"] is None
    assert TS.match(lb["created_at"])
    assert lb["tags"] == ["a", "b"]
    assert lb["vip_address"].startswith("198.18.0.") and lb["vip_address"] != "198.18.0.1"
    assert lb["vip_network_id"] == api.network_id and lb["provider"] == "amphora"
    # Any write while PENDING is refused with 409.
    r = api.put(f"/v2/lbaas/loadbalancers/{lb['id']}", {"loadbalancer": {"name": "x"}})
    assert r.status_code == 409
    assert r.json()["faultstring"] == (
        f"Invalid state PENDING_CREATE of loadbalancer resource {lb['id']}"
    )
    api.settle()
    shown = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]
    assert shown["provisioning_status"] == "ACTIVE" and shown["operating_status"] == "ONLINE"
    r = api.put(
        f"/v2/lbaas/loadbalancers/{lb['id']}",
        {"loadbalancer": {"name": "web2", "description": "d", "admin_state_up": "f"}},
    )
    assert r.status_code == 200
    up = r.json()["loadbalancer"]
    assert up["name"] == "web2" and up["provisioning_status"] == "PENDING_UPDATE"
    assert up["admin_state_up"] is False
    api.settle()
    shown = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]
    assert TS.match(shown["updated_at"]) and shown["operating_status"] == "OFFLINE"
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    assert api.lb_status(lb["id"]) == "PENDING_DELETE"
    api.settle()
    assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 404
    assert api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []


def test_vip_address_requested_and_conflicting(api: Api) -> None:
    lb = api.lb(vip_address="198.18.0.77")
    assert lb["vip_address"] == "198.18.0.77"
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {"vip_subnet_id": api.subnet_id, "vip_address": "198.18.0.77"}},
    )
    assert r.status_code == 409
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {"vip_network_id": api.network_id, "vip_address": "10.0.0.1"}},
    )
    assert r.status_code == 400 and "10.0.0.1" in r.json()["faultstring"]
    # network only: picks the subnet of that network
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_network_id": api.network_id}})
    assert r.status_code == 201 and r.json()["loadbalancer"]["vip_subnet_id"] == api.subnet_id


def test_vip_is_required_and_unknown_subnet_is_400(api: Api) -> None:
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"name": "x"}})
    assert r.status_code == 400
    assert r.json()["faultstring"] == (
        "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id."
    )
    sid = "11111111-2222-3333-4444-555555555555"
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": sid}})
    assert r.status_code == 400 and r.json()["faultstring"] == f"Subnet {sid} not found."
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {"vip_subnet_id": api.subnet_id, "provider": "f5"}},
    )
    assert r.json()["faultstring"] == "Provider 'f5' is not enabled."


def test_graph_create_returns_the_full_tree(api: Api) -> None:
    body = {
        "loadbalancer": {
            "vip_subnet_id": api.subnet_id,
            "name": "graph",
            "listeners": [
                {
                    "protocol": "HTTP",
                    "protocol_port": 80,
                    "name": "web",
                    "default_pool": {"name": "p1"},
                    "l7policies": [
                        {
                            "action": "REDIRECT_TO_POOL",
                            "redirect_pool": {"name": "p2"},
                            "rules": [
                                {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}
                            ],
                        }
                    ],
                }
            ],
            "pools": [
                {
                    "name": "p1",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2},
                    "members": [
                        {"address": "198.18.1.10", "protocol_port": 8080},
                        {"address": "198.18.1.11", "protocol_port": 8080},
                    ],
                },
                {"name": "p2", "protocol": "HTTP", "lb_algorithm": "LEAST_CONNECTIONS"},
            ],
        }
    }
    r = api.post("/v2/lbaas/loadbalancers", body)
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    (li,) = lb["listeners"]
    assert "loadbalancers" not in li
    assert li["l7policies"][0]["rules"][0]["value"] == "/api"
    pools = {p["name"]: p for p in lb["pools"]}
    assert pools["p1"]["healthmonitor"]["type"] == "HTTP"
    assert "pools" not in pools["p1"]["healthmonitor"]
    assert len(pools["p1"]["members"]) == 2 and pools["p2"]["healthmonitor"] is None
    assert li["default_pool_id"] == pools["p1"]["id"]
    assert all(
        x["provisioning_status"] == "PENDING_CREATE"
        for x in [li, *lb["pools"], *pools["p1"]["members"]]
    )
    api.settle()
    status = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}/status").json()["statuses"]
    tree = status["loadbalancer"]
    assert tree["provisioning_status"] == "ACTIVE"
    (sli,) = tree["listeners"]
    assert {p["name"] for p in sli["pools"]} == {"p1", "p2"}
    p1 = next(p for p in sli["pools"] if p["name"] == "p1")
    assert p1["health_monitor"]["type"] == "HTTP"
    assert {m["address"] for m in p1["members"]} == {"198.18.1.10", "198.18.1.11"}
    assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}/statuses").status_code == 200


def test_graph_create_reference_errors(api: Api) -> None:
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {
            "loadbalancer": {
                "vip_subnet_id": api.subnet_id,
                "listeners": [
                    {"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "missing"}}
                ],
            }
        },
    )
    assert r.status_code == 400
    assert r.json()["faultstring"] == (
        "Pool 'missing' was referenced but no full definition was found."
    )
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {
            "loadbalancer": {
                "vip_subnet_id": api.subnet_id,
                "pools": [{"name": "p", "protocol": "HTTP"}],
            }
        },
    )
    assert r.status_code == 400
    assert api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []


def test_graph_create_refuses_one_member_twice_in_a_pool(api: Api) -> None:
    member = {"address": "198.18.1.10", "protocol_port": 80}
    pool = {"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    body = {
        "loadbalancer": {
            "vip_subnet_id": api.subnet_id,
            "listeners": [
                {
                    "protocol": "HTTP",
                    "protocol_port": 80,
                    "default_pool": {**pool, "members": [member, {**member, "name": "again"}]},
                }
            ],
        }
    }
    r = api.post("/v2/lbaas/loadbalancers", body)
    assert r.status_code == 409
    assert r.json()["faultstring"] == (
        "Another member on this pool is already using ip 198.18.1.10 on protocol_port 80"
    )
    assert api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []
    other = {**member, "protocol_port": 81}  # the same address on another port is fine
    body["loadbalancer"]["listeners"][0]["default_pool"]["members"] = [member, other]  # type: ignore[index]
    r = api.post("/v2/lbaas/loadbalancers", body)
    assert r.status_code == 201, r.text
    assert len(r.json()["loadbalancer"]["pools"][0]["members"]) == 2


def test_graph_create_refuses_two_listeners_on_one_port(api: Api) -> None:
    listener = {"protocol": "HTTP", "protocol_port": 80}
    body = {"loadbalancer": {"vip_subnet_id": api.subnet_id, "listeners": [listener, listener]}}
    r = api.post("/v2/lbaas/loadbalancers", body)
    assert r.status_code == 409
    assert r.json()["faultstring"] == (
        "Another Listener on this Load Balancer is already using protocol HTTP and protocol_port 80"
    )
    assert api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []
    udp = {"protocol": "UDP", "protocol_port": 80}  # another port family: no clash
    body = {"loadbalancer": {"vip_subnet_id": api.subnet_id, "listeners": [listener, udp]}}
    r = api.post("/v2/lbaas/loadbalancers", body)
    assert r.status_code == 201, r.text
    assert len(r.json()["loadbalancer"]["listeners"]) == 2


def test_delete_with_children_needs_cascade(api: Api) -> None:
    s = api.stack()
    lb_id = s["lb"]["id"]
    r = api.delete(f"/v2/lbaas/loadbalancers/{lb_id}")
    assert r.status_code == 400
    assert r.json()["faultstring"] == (
        f"Validation failure: Cannot delete Load Balancer {lb_id} - it has children"
    )
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=True").status_code == 204
    api.settle()
    assert api.get(f"/v2/lbaas/loadbalancers/{lb_id}").status_code == 404
    assert api.get(f"/v2/lbaas/listeners/{s['listener']['id']}").status_code == 404
    assert api.get(f"/v2/lbaas/pools/{s['pool']['id']}").status_code == 404
    # The VIP address is free again.
    lb2 = api.lb(vip_address=s["lb"]["vip_address"])
    assert lb2["vip_address"] == s["lb"]["vip_address"]


def test_stats_failover_and_amphorae(api: Api) -> None:
    lb = api.lb()
    stats = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}/stats").json()
    assert stats == {
        "stats": {
            "active_connections": 0,
            "bytes_in": 0,
            "bytes_out": 0,
            "request_errors": 0,
            "total_connections": 0,
        }
    }
    (amp,) = api.get(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}").json()["amphorae"]
    assert amp["role"] == "STANDALONE" and amp["status"] == "ALLOCATED"
    assert "project_id" not in amp
    r = api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover")
    assert r.status_code == 202 and r.content == b""
    assert api.lb_status(lb["id"]) == "PENDING_UPDATE"
    assert api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 409
    api.settle()
    assert api.lb_status(lb["id"]) == "ACTIVE"
    (new,) = api.get(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}").json()["amphorae"]
    assert new["id"] != amp["id"]
    old = api.get(f"/v2/octavia/amphorae/{amp['id']}")  # kept until housekeeping
    assert old.status_code == 200 and old.json()["amphora"]["status"] == "DELETED"
    r = api.put(f"/v2/octavia/amphorae/{new['id']}/failover")
    assert r.status_code == 202
    api.settle()
    assert api.lb_status(lb["id"]) == "ACTIVE"
    r = api.get(f"/v2/octavia/amphorae/{new['id']}/stats")
    assert r.status_code == 404
    r = api.delete(f"/v2/octavia/amphorae/{new['id']}")
    assert r.status_code == 404  # failed over: gone
