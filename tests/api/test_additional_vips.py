"""Dual-stack load balancers: `additional_vips` (Octavia API 2.26) on the default VIP
network, whose second subnet is vip-subnet-v6 (2001:2::/64)."""

from __future__ import annotations

import ipaddress
from typing import Any

from tests.api.conftest import Api


def _subnet(api: Api, name: str) -> dict[str, Any]:
    (subnet,) = api.get(f"/v2.0/subnets?name={name}").json()["subnets"]
    return dict(subnet)


def _create(api: Api, **fields: Any) -> Any:
    body = {"vip_subnet_id": api.subnet_id, **fields}
    return api.post("/v2/lbaas/loadbalancers", {"loadbalancer": body})


def test_dual_stack_load_balancer_shows_and_releases_its_ipv6_vip(api: Api) -> None:
    v6 = _subnet(api, "vip-subnet-v6")
    r = _create(api, additional_vips=[{"subnet_id": v6["id"]}])
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    (extra,) = lb["additional_vips"]
    assert extra["subnet_id"] == v6["id"] and extra["port_id"] == lb["vip_port_id"]
    address = ipaddress.ip_address(extra["ip_address"])
    assert address in ipaddress.ip_network("2001:2::/64") and str(address) != "2001:2::1"
    api.settle()
    shown = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]
    assert shown["additional_vips"] == lb["additional_vips"]
    assert shown["provisioning_status"] == "ACTIVE"
    (listed,) = api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]
    assert listed["additional_vips"] == lb["additional_vips"]
    # The VIP port carries both addresses, as Neutron shows Octavia's one VIP port.
    port = api.get(f"/v2.0/ports/{lb['vip_port_id']}").json()["port"]
    assert {ip["ip_address"] for ip in port["fixed_ips"]} == {lb["vip_address"], str(address)}
    # Asking for the same IPv6 address again while it is taken: 409.
    again = _create(api, additional_vips=[{"subnet_id": v6["id"], "ip_address": str(address)}])
    assert again.status_code == 409
    assert str(address) in again.json()["faultstring"]
    # Deleted, the address goes back to IPAM and can be asked for by name.
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    api.settle()
    reuse = _create(api, additional_vips=[{"subnet_id": v6["id"], "ip_address": str(address)}])
    assert reuse.status_code == 201, reuse.text
    assert reuse.json()["loadbalancer"]["additional_vips"][0]["ip_address"] == str(address)


def test_additional_vips_are_checked_as_octavia_checks_them(api: Api) -> None:
    v6 = _subnet(api, "vip-subnet-v6")
    demo = _subnet(api, "demo-subnet")
    missing = "4b9f3b3e-3a6e-4a51-9d1a-2f0c4c2b1a11"
    cases = [
        ([{"subnet_id": missing}], f"Subnet {missing} not found."),
        ([{"subnet_id": api.subnet_id}], "Duplicate VIP subnet(s) specified"),
        ([{"subnet_id": v6["id"]}, {"subnet_id": v6["id"]}], "Duplicate VIP subnet(s)"),
        ([{"subnet_id": demo["id"]}], "is not on the primary VIP's network"),
        ([{"subnet_id": v6["id"], "ip_address": "2001:3::5"}], "is not in subnet"),
        ([{"subnet_id": v6["id"], "ip_address": "198.18.0.9"}], "is not in subnet"),
        ([{"subnet_id": v6["id"], "ip_address": "2001:2::1"}], "is reserved"),
        ([{"subnet_id": v6["id"], "port_id": missing}], f"Port {missing} not found."),
        ([{"ip_address": "2001:2::5"}], "subnet_id"),
    ]
    for additional, message in cases:
        r = _create(api, additional_vips=additional)
        assert r.status_code == 400, (additional, r.text)
        assert message in r.json()["faultstring"], (additional, r.text)
    # Nothing was allocated by the refused requests.
    ok = _create(api, additional_vips=[{"subnet_id": v6["id"], "ip_address": "2001:2::5"}])
    assert ok.status_code == 201, ok.text


def test_network_alone_picks_the_subnet_of_the_vip_address(api: Api) -> None:
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {"vip_network_id": api.network_id, "vip_address": "2001:2::77"}},
    )
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    assert lb["vip_subnet_id"] == _subnet(api, "vip-subnet-v6")["id"]
    plain = api.post(
        "/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_network_id": api.network_id}}
    )
    assert plain.json()["loadbalancer"]["vip_subnet_id"] == api.subnet_id  # IPv4 first


def test_allowed_cidrs_of_either_family_on_a_dual_stack_load_balancer(api: Api) -> None:
    v6 = _subnet(api, "vip-subnet-v6")
    dual = api.lb(additional_vips=[{"subnet_id": v6["id"]}])
    plain = api.lb()
    body = {
        "protocol": "TCP",
        "protocol_port": 22,
        "allowed_cidrs": ["2001:db8::/32", "10.0.0.0/8"],
    }
    r = api.post("/v2/lbaas/listeners", {"listener": {**body, "loadbalancer_id": dual["id"]}})
    assert r.status_code == 201, r.text
    assert r.json()["listener"]["allowed_cidrs"] == ["2001:db8::/32", "10.0.0.0/8"]
    r = api.post("/v2/lbaas/listeners", {"listener": {**body, "loadbalancer_id": plain["id"]}})
    assert r.status_code == 400
    assert "2001:db8::/32 IP version incompatible" in r.json()["faultstring"]
