"""Listeners, pools, members (incl. batch), health monitors, L7 policies and rules."""

from __future__ import annotations

from tests.api.conftest import Api


def test_listener_defaults_update_and_duplicates(api: Api) -> None:
    lb = api.lb()
    li = api.child(
        "/v2/lbaas/listeners",
        "listener",
        {
            "loadbalancer_id": lb["id"],
            "protocol": "HTTP",
            "protocol_port": "80",
            "connection_limit": "100",
            "insert_headers": {"X-Forwarded-For": "true"},
            "allowed_cidrs": ["10.0.0.5/8"],
        },
    )
    assert li["protocol_port"] == 80 and li["connection_limit"] == 100
    assert li["timeout_client_data"] == 50000 and li["timeout_member_connect"] == 5000
    assert li["allowed_cidrs"] == ["10.0.0.0/8"]
    assert li["sni_container_refs"] == [] and li["loadbalancers"] == [{"id": lb["id"]}]
    r = api.post(
        "/v2/lbaas/listeners",
        {"listener": {"loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 80}},
    )
    assert r.status_code == 409
    assert "protocol_port 80" in r.json()["faultstring"]
    r = api.put(
        f"/v2/lbaas/listeners/{li['id']}",
        {"listener": {"connection_limit": None, "timeout_client_data": None, "allowed_cidrs": []}},
    )
    assert r.status_code == 200
    up = r.json()["listener"]
    assert up["connection_limit"] == -1 and up["timeout_client_data"] == 50000
    assert up["allowed_cidrs"] is None and up["provisioning_status"] == "PENDING_UPDATE"
    assert api.lb_status(lb["id"]) == "PENDING_UPDATE"
    api.settle()
    r = api.put(f"/v2/lbaas/listeners/{li['id']}", {"listener": {"protocol_port": 81}})
    assert r.status_code == 400 and "Unknown attribute" in r.json()["faultstring"]
    assert api.delete(f"/v2/lbaas/listeners/{li['id']}").status_code == 204
    api.settle()
    assert api.get(f"/v2/lbaas/listeners/{li['id']}").status_code == 404
    assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]["listeners"] == []


def test_unsupported_protocols_are_refused_by_name(api: Api) -> None:
    lb = api.lb()
    for proto in ("TERMINATED_HTTPS",):  # TERMINATED_HTTPS: no certificate
        r = api.post(
            "/v2/lbaas/listeners",
            {"listener": {"loadbalancer_id": lb["id"], "protocol": proto, "protocol_port": 90}},
        )
        assert r.status_code == 400, proto
        assert proto in r.json()["faultstring"]
    r = api.post(
        "/v2/lbaas/pools",
        {
            "pool": {
                "loadbalancer_id": lb["id"],
                "protocol": "HTTP",
                "lb_algorithm": "SOURCE_IP_PORT",
            }
        },
    )
    assert r.status_code == 501 and "SOURCE_IP_PORT" in r.json()["faultstring"]
    assert api.lb_status(lb["id"]) == "ACTIVE"


def test_pool_rules(api: Api) -> None:
    s = api.stack()
    li, pool = s["listener"], s["pool"]
    assert pool["listeners"] == [{"id": li["id"]}] and "healthmonitor_id" not in pool
    assert pool["session_persistence"] is None
    r = api.post(
        "/v2/lbaas/pools",
        {"pool": {"listener_id": li["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}},
    )
    assert r.status_code == 409
    assert r.json()["faultstring"] == "This listener already has a default pool"
    r = api.post("/v2/lbaas/pools", {"pool": {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}})
    assert r.status_code == 400
    r = api.put(
        f"/v2/lbaas/pools/{pool['id']}",
        {"pool": {"session_persistence": {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"}}},
    )
    assert r.status_code == 200
    assert r.json()["pool"]["session_persistence"] == {
        "type": "APP_COOKIE",
        "cookie_name": "JSESSIONID",
        "persistence_timeout": None,
        "persistence_granularity": None,
    }
    api.settle()
    r = api.put(
        f"/v2/lbaas/pools/{pool['id']}",
        {"pool": {"session_persistence": {"type": "HTTP_COOKIE", "cookie_name": "x"}}},
    )
    assert r.status_code == 400 and "cookie_name" in r.json()["faultstring"]
    r = api.post(
        "/v2/lbaas/pools",
        {
            "pool": {
                "loadbalancer_id": s["lb"]["id"],
                "protocol": "TCP",
                "lb_algorithm": "ROUND_ROBIN",
                "session_persistence": {"type": "HTTP_COOKIE"},
            }
        },
    )
    assert r.status_code == 400 and "HTTP_COOKIE" in r.json()["faultstring"]
    tcp = api.child(
        "/v2/lbaas/pools",
        "pool",
        {"loadbalancer_id": s["lb"]["id"], "protocol": "TCP", "lb_algorithm": "SOURCE_IP"},
    )
    r = api.put(f"/v2/lbaas/listeners/{li['id']}", {"listener": {"default_pool_id": tcp["id"]}})
    assert r.status_code == 400
    assert r.json()["faultstring"] == (
        "Validation failure: The pool protocol 'TCP' is invalid "
        "while the listener protocol is 'HTTP'."
    )


def test_member_lifecycle_and_pool_lock(api: Api) -> None:
    s = api.stack()
    pool = s["pool"]
    base = f"/v2/lbaas/pools/{pool['id']}/members"
    r = api.post(
        base,
        {"member": {"address": "198.18.1.10", "protocol_port": 80, "weight": "5", "backup": "yes"}},
    )
    assert r.status_code == 201
    mb = r.json()["member"]
    assert mb["weight"] == 5 and mb["backup"] is True and mb["operating_status"] == "NO_MONITOR"
    assert "pool_id" not in mb and mb["vnic_type"] == "normal"
    r = api.post(base, {"member": {"address": "198.18.1.11", "protocol_port": 80}})
    assert r.status_code == 409
    assert r.json()["faultstring"] == f"Pool {pool['id']} is immutable and cannot be updated."
    api.settle()
    r = api.post(base, {"member": {"address": "198.18.1.10", "protocol_port": 80}})
    assert r.status_code == 409 and "already using ip 198.18.1.10" in r.json()["faultstring"]
    r = api.post(base, {"member": {"address": "169.254.169.254", "protocol_port": 80}})
    assert r.status_code == 400
    r = api.post(
        base,
        {
            "member": {
                "address": "198.18.1.12",
                "protocol_port": 80,
                "subnet_id": "11111111-2222-3333-4444-555555555555",
            }
        },
    )
    assert r.status_code == 400 and "not found" in r.json()["faultstring"]
    r = api.put(f"{base}/{mb['id']}", {"member": {"weight": None, "name": "n"}})
    assert r.json()["member"]["weight"] == 1
    api.settle()
    other = api.child(
        "/v2/lbaas/pools",
        "pool",
        {"loadbalancer_id": s["lb"]["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"},
    )
    assert api.get(f"/v2/lbaas/pools/{other['id']}/members/{mb['id']}").status_code == 404
    assert api.delete(f"{base}/{mb['id']}").status_code == 204
    api.settle()
    assert api.get(base).json()["members"] == []


def test_member_batch_update(api: Api) -> None:
    s = api.stack()
    base = f"/v2/lbaas/pools/{s['pool']['id']}/members"
    for i in (1, 2, 3):
        api.child(base, "member", {"address": f"198.18.1.{i}", "protocol_port": 80})
    r = api.put(
        base,
        {
            "members": [
                {"address": "198.18.1.2", "protocol_port": 80, "weight": 7},
                {"address": "198.18.1.4", "protocol_port": 80},
            ]
        },
    )
    assert r.status_code == 202 and r.content == b""
    assert api.lb_status(s["lb"]["id"]) == "PENDING_UPDATE"
    api.settle()
    members = {m["address"]: m for m in api.get(base).json()["members"]}
    assert set(members) == {"198.18.1.2", "198.18.1.4"}
    assert members["198.18.1.2"]["weight"] == 7
    r = api.put(
        f"{base}?additive_only=True", {"members": [{"address": "198.18.1.5", "protocol_port": 80}]}
    )
    assert r.status_code == 202
    api.settle()
    assert len(api.get(base).json()["members"]) == 3
    r = api.put(
        base,
        {
            "members": [
                {"address": "198.18.1.9", "protocol_port": 80},
                {"address": "198.18.1.9", "protocol_port": 80},
            ]
        },
    )
    assert r.status_code == 400
    # nothing to change: 202 and no state change
    current = [
        {"address": a, "protocol_port": 80} for a in ("198.18.1.2", "198.18.1.4", "198.18.1.5")
    ]
    assert api.put(f"{base}?additive_only=true", {"members": current}).status_code == 202
    assert api.lb_status(s["lb"]["id"]) == "ACTIVE"
    assert api.put(base, {"members": []}).status_code == 202
    api.settle()
    assert api.get(base).json()["members"] == []


def test_health_monitor(api: Api) -> None:
    s = api.stack()
    pool = s["pool"]
    hm = api.child(
        "/v2/lbaas/healthmonitors",
        "healthmonitor",
        {
            "pool_id": pool["id"],
            "type": "HTTP",
            "delay": "5",
            "timeout": 3,
            "max_retries": 3,
            "http_version": "1.1",
            "domain_name": "example.com",
        },
    )
    assert hm["http_method"] == "GET" and hm["url_path"] == "/"
    assert hm["expected_codes"] == "200" and hm["max_retries_down"] == 3
    assert hm["http_version"] == 1.1 and hm["pools"] == [{"id": pool["id"]}]
    shown = api.get(f"/v2/lbaas/healthmonitors/{hm['id']}").json()["healthmonitor"]
    assert shown["operating_status"] == "ONLINE"
    r = api.post(
        "/v2/lbaas/healthmonitors",
        {
            "healthmonitor": {
                "pool_id": pool["id"],
                "type": "TCP",
                "delay": 5,
                "timeout": 3,
                "max_retries": 3,
            }
        },
    )
    assert r.status_code == 409
    r = api.put(f"/v2/lbaas/healthmonitors/{hm['id']}", {"healthmonitor": {"delay": None}})
    assert r.status_code == 400
    r = api.put(
        f"/v2/lbaas/healthmonitors/{hm['id']}",
        {"healthmonitor": {"expected_codes": "200-204", "url_path": "/health?x=1"}},
    )
    assert r.status_code == 200, r.text
    api.settle()
    assert api.get(f"/v2/lbaas/pools/{pool['id']}").json()["pool"]["healthmonitor_id"] == hm["id"]
    members = f"/v2/lbaas/pools/{pool['id']}/members"
    mb = api.child(members, "member", {"address": "198.18.1.3", "protocol_port": 80})
    assert mb["operating_status"] == "OFFLINE"
    assert api.delete(f"/v2/lbaas/healthmonitors/{hm['id']}").status_code == 204
    api.settle()
    assert api.get(f"{members}/{mb['id']}").json()["member"]["operating_status"] == "NO_MONITOR"


def test_l7_policies_positions_and_rules(api: Api) -> None:
    s = api.stack()
    li = s["listener"]
    p1 = api.child(
        "/v2/lbaas/l7policies", "l7policy", {"listener_id": li["id"], "action": "REJECT"}
    )
    p2 = api.child(
        "/v2/lbaas/l7policies",
        "l7policy",
        {
            "listener_id": li["id"],
            "action": "REDIRECT_TO_URL",
            "redirect_url": "https://example.com/x",
        },
    )
    assert p2["redirect_http_code"] == 302 and p2["position"] == 2
    p3 = api.child(
        "/v2/lbaas/l7policies",
        "l7policy",
        {
            "listener_id": li["id"],
            "redirect_pool_id": s["pool"]["id"],
            "position": 1,
            "action": "REJECT",
        },
    )
    assert p3["action"] == "REDIRECT_TO_POOL" and p3["position"] == 1
    positions = {
        p["id"]: p["position"]
        for p in api.get(f"/v2/lbaas/l7policies?listener_id={li['id']}").json()["l7policies"]
    }
    assert positions == {p3["id"]: 1, p1["id"]: 2, p2["id"]: 3}
    r = api.delete(f"/v2/lbaas/pools/{s['pool']['id']}")
    assert r.status_code == 409 and "in use by L7 policy" in r.json()["faultstring"]
    rules = f"/v2/lbaas/l7policies/{p3['id']}/rules"
    rule = api.child(
        rules,
        "rule",
        {
            "type": "HEADER",
            "compare_type": "EQUAL_TO",
            "key": "X-Env",
            "value": "prod",
            "invert": "true",
        },
    )
    assert rule["invert"] is True and "name" not in rule
    r = api.put(f"{rules}/{rule['id']}", {"rule": {"key": None}})
    assert r.status_code == 400 and "key must be specified" in r.json()["faultstring"]
    r = api.put(f"{rules}/{rule['id']}", {"rule": {"type": "PATH", "key": None, "value": "/api"}})
    assert r.status_code == 200
    api.settle()
    assert api.get(f"{rules}/{rule['id']}").json()["rule"]["type"] == "PATH"
    assert api.get(f"/v2/lbaas/l7policies/{p1['id']}/rules/{rule['id']}").status_code == 404
    pool_view = api.get(f"/v2/lbaas/pools/{s['pool']['id']}").json()["pool"]
    assert pool_view["listeners"] == [{"id": li["id"]}]
    assert api.delete(f"/v2/lbaas/l7policies/{p3['id']}").status_code == 204
    api.settle()
    positions = {
        p["id"]: p["position"] for p in api.get("/v2/lbaas/l7policies").json()["l7policies"]
    }
    assert positions == {p1["id"]: 1, p2["id"]: 2}


def test_l7_policy_on_tcp_listener_is_not_supported(api: Api) -> None:
    lb = api.lb()
    li = api.child(
        "/v2/lbaas/listeners",
        "listener",
        {"loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 22},
    )
    r = api.post(
        "/v2/lbaas/l7policies", {"l7policy": {"listener_id": li["id"], "action": "REJECT"}}
    )
    assert r.status_code == 501


def test_child_write_under_busy_lb_is_409(api: Api) -> None:
    s = api.stack()
    api.put(f"/v2/lbaas/loadbalancers/{s['lb']['id']}", {"loadbalancer": {"name": "busy"}})
    r = api.post(
        "/v2/lbaas/listeners",
        {"listener": {"loadbalancer_id": s["lb"]["id"], "protocol": "HTTP", "protocol_port": 81}},
    )
    assert r.status_code == 409
    assert r.json()["faultstring"] == (
        f"Load Balancer {s['lb']['id']} is immutable and cannot be updated."
    )
    api.settle()
    assert (
        api.get(f"/v2/lbaas/listeners?loadbalancer_id={s['lb']['id']}").json()["listeners"][0][
            "protocol_port"
        ]
        == 80
    )
