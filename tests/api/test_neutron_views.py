"""The read-only Neutron answers clients make during load balancer workflows: each load
balancer's VIP port (`GET /v2.0/ports`, `/v2.0/ports/{id}`), floating IPs and security
groups (ostium has none: empty lists). Ansible's `openstack.cloud.loadbalancer` asks
for the floating IPs of the VIP port right after creating a load balancer."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, make_token


def _ports(api: Api, query: str = "") -> list[dict[str, Any]]:
    r = api.get(f"/v2.0/ports{query}")
    assert r.status_code == 200, r.text
    return list(r.json()["ports"])


def test_vip_port_as_octavia_creates_it_in_neutron(api: Api) -> None:
    lb = api.lb(name="web")
    r = api.get(f"/v2.0/ports/{lb['vip_port_id']}")
    assert r.status_code == 200, r.text
    port = r.json()["port"]
    assert port["id"] == lb["vip_port_id"]
    assert port["name"] == f"octavia-lb-{lb['id']}"
    assert port["device_id"] == f"lb-{lb['id']}" and port["device_owner"] == "Octavia"
    assert port["network_id"] == lb["vip_network_id"] == api.network_id
    assert port["fixed_ips"] == [{"subnet_id": api.subnet_id, "ip_address": lb["vip_address"]}]
    assert port["project_id"] == port["tenant_id"] == lb["project_id"]
    # Octavia's VIP port is administratively down (the VIP lives on the amphorae).
    assert (port["admin_state_up"], port["status"]) == (False, "DOWN")
    assert port["security_groups"] == [] and port["mac_address"].startswith("fa:16:3e:")
    # The same object under /v2 (ostium serves /v2.0 as /v2).
    assert api.get(f"/v2/ports/{lb['vip_port_id']}").json()["port"] == port


def test_port_filters_as_neutron_filters(api: Api) -> None:
    a, b = api.lb(name="a"), api.lb(name="b")
    both = {a["vip_port_id"], b["vip_port_id"]}
    assert {p["id"] for p in _ports(api)} == both
    by_ip = _ports(api, f"?fixed_ips=ip_address={a['vip_address']}")
    assert [p["id"] for p in by_ip] == [a["vip_port_id"]]
    by_ip_subnet = _ports(
        api, f"?fixed_ips=ip_address={a['vip_address']}&fixed_ips=subnet_id={api.subnet_id}"
    )
    assert [p["id"] for p in by_ip_subnet] == [a["vip_port_id"]]
    assert [p["id"] for p in _ports(api, f"?device_id=lb-{b['id']}")] == [b["vip_port_id"]]
    assert [p["id"] for p in _ports(api, f"?name=octavia-lb-{a['id']}")] == [a["vip_port_id"]]
    # Several values of one attribute are alternatives; different attributes all apply.
    two = _ports(api, f"?id={a['vip_port_id']}&id={b['vip_port_id']}")
    assert {p["id"] for p in two} == both
    query = f"?network_id={api.network_id}&device_owner=Octavia&admin_state_up=false"
    assert {p["id"] for p in _ports(api, query)} == both
    assert _ports(api, "?device_owner=network:router_interface") == []
    assert _ports(api, f"?fixed_ips=subnet_id={api.settings.networks[1].subnet_id}") == []
    assert _ports(api, f"?device_id={a['id']}") == []  # Octavia's device id is lb-<id>
    only = _ports(api, f"?id={a['vip_port_id']}&fields=id&fields=fixed_ips")
    assert only == [{"id": a["vip_port_id"], "fixed_ips": by_ip[0]["fixed_ips"]}]
    r = api.get("/v2.0/ports?colour=red")
    assert r.status_code == 400 and "colour" in r.json()["faultstring"]
    r = api.get("/v2.0/ports?fixed_ips=10.0.0.1")
    assert r.status_code == 400 and "fixed_ips" in r.json()["faultstring"]


def test_unknown_or_deleted_port_is_404_as_neutron_words_it(api: Api) -> None:
    missing = "5c3ec4f6-0e2a-4b1e-9f0e-000000000000"
    r = api.get(f"/v2.0/ports/{missing}")
    assert r.status_code == 404
    assert r.json()["faultstring"] == f"Port {missing} could not be found."
    lb = api.lb()
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    api.settle()
    assert api.get(f"/v2.0/ports/{lb['vip_port_id']}").status_code == 404
    assert _ports(api) == []


def test_no_floating_ips_and_no_security_groups(api: Api) -> None:
    lb = api.lb()
    query = f"?fixed_ip_address={lb['vip_address']}&port_id={lb['vip_port_id']}"
    r = api.get(f"/v2.0/floatingips{query}")
    assert r.status_code == 200 and r.json() == {"floatingips": []}
    r = api.get("/v2.0/floatingips?floating_ip_address=198.19.0.5&floating_network_id=x")
    assert r.json() == {"floatingips": []}
    r = api.get("/v2.0/security-groups?name=default&project_id=admin&fields=id")
    assert r.status_code == 200 and r.json() == {"security_groups": []}
    r = api.get("/v2.0/floatingips?colour=red")
    assert r.status_code == 400 and "colour" in r.json()["faultstring"]


def test_vip_ports_are_scoped_by_project(token_api: Api) -> None:
    api = token_api
    alice = make_token(api.db, "p1", "member")
    bob = make_token(api.db, "p2", "member")
    admin = make_token(api.db, "ops", "admin")
    nobody = make_token(api.db, "p1")
    api.headers = {"X-Auth-Token": alice}
    lb = api.lb(name="alice")
    port_id = lb["vip_port_id"]
    assert [p["id"] for p in _ports(api)] == [port_id]
    assert api.get(f"/v2.0/ports/{port_id}").json()["port"]["project_id"] == "p1"
    api.headers = {"X-Auth-Token": bob}
    assert _ports(api) == []
    # Neutron does not tell another project that the port exists.
    assert api.get(f"/v2.0/ports/{port_id}").status_code == 404
    assert api.get("/v2.0/floatingips").json() == {"floatingips": []}
    api.headers = {"X-Auth-Token": admin}
    assert [p["id"] for p in _ports(api)] == [port_id]
    assert api.get(f"/v2.0/ports/{port_id}").status_code == 200
    api.headers = {"X-Auth-Token": nobody}
    assert api.get("/v2.0/ports").status_code == 403
    assert api.get("/v2.0/floatingips").status_code == 403
    api.headers = {}
    assert api.get("/v2.0/ports").status_code == 401
