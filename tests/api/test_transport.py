"""Transport conventions clients break on: versions, /v2.0, envelopes, error shapes."""

from __future__ import annotations

import re

from tests.api.conftest import Api


def test_version_document_is_ascending_with_current_last(api: Api) -> None:
    r = api.get("/")
    assert r.status_code == 200
    versions = r.json()["versions"]
    assert versions[0]["id"] == "v2.0" and versions[-1]["id"] == "v2.30"
    assert [v["status"] for v in versions].count("CURRENT") == 1
    assert versions[-1]["status"] == "CURRENT"
    assert all(v["links"][0]["href"].endswith("/v2") for v in versions)


def test_v2_and_v2_0_are_the_same_tree(api: Api) -> None:
    lb = api.lb(name="x")
    a = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()
    b = api.get(f"/v2.0/lbaas/loadbalancers/{lb['id']}").json()
    c = api.get(f"/v2.0/lbaas/loadbalancers/{lb['id']}.json").json()
    assert a == b == c
    assert api.get("/v2.0").json() == "v2"


def test_every_response_has_a_request_id(api: Api) -> None:
    r = api.get("/v2/lbaas/loadbalancers")
    assert re.fullmatch(r"req-[0-9a-f-]{36}", r.headers["x-openstack-request-id"])


def test_unknown_route_and_method_use_webob_shape(api: Api) -> None:
    r = api.get("/v2/lbaas/nothing")
    assert r.status_code == 404 and r.json()["code"] == 404
    r = api.req("PATCH", "/v2/lbaas/loadbalancers")
    assert r.status_code == 405 and r.json()["title"] == "Method Not Allowed"


def test_accept_without_json_is_406(api: Api) -> None:
    # Raised before the handler, so in the webob shape (spec 4.2), like Octavia's.
    r = api.get("/v2/lbaas/loadbalancers", headers={"Accept": "text/html"})
    assert r.status_code == 406
    assert r.json() == {
        "code": 406,
        "title": "Not Acceptable",
        "description": "Only content type application/json is accepted.",
    }


def test_bad_json_empty_object_and_wrong_root_are_400(api: Api) -> None:
    r = api.post(
        "/v2/lbaas/loadbalancers", b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json() == {
        "faultcode": "Client",
        "faultstring": "Request is not in valid JSON format",
        "debuginfo": None,
    }
    for body in ({}, [], {"loadbalancer": []}, {"loadbalancer": {}}, {"lb": {}}, "null"):
        r = api.post("/v2/lbaas/loadbalancers", body)
        assert r.status_code == 400, body
        assert r.json()["faultstring"]


def test_huge_body_is_413(api: Api) -> None:
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"description": "x" * 200_000}})
    assert r.status_code == 413


def test_delete_of_unknown_and_malformed_ids_is_404(api: Api) -> None:
    r = api.get("/v2/lbaas/loadbalancers/SEAN")
    assert r.status_code == 404
    assert r.json()["faultstring"] == "Load Balancer SEAN not found."
    assert api.delete("/v2/lbaas/pools/00000000-0000-0000-0000-00000000000a").status_code == 404


def test_neutron_shaped_lookups_used_by_the_cli(api: Api) -> None:
    for prefix in ("/v2", "/v2.0"):
        subnets = api.get(f"{prefix}/subnets?name=vip-subnet").json()["subnets"]
        assert [s["id"] for s in subnets] == [api.subnet_id]
        assert subnets[0]["cidr"] == "198.18.0.0/17"
        assert api.get(f"{prefix}/subnets?id={api.subnet_id}").json()["subnets"]
        assert api.get(f"{prefix}/subnets?name=nope").json()["subnets"] == []
        nets = api.get(f"{prefix}/networks?name=vip-net").json()["networks"]
        assert nets[0]["id"] == api.network_id and nets[0]["subnets"][0] == api.subnet_id
        # vip-net is dual-stack: its second subnet is vip-subnet-v6.
        v6 = api.get(f"{prefix}/subnets?name=vip-subnet-v6").json()["subnets"]
        assert nets[0]["subnets"] == [api.subnet_id, v6[0]["id"]]
        assert v6[0]["network_id"] == api.network_id and v6[0]["ip_version"] == 6
    assert api.get(f"/v2.0/subnets/{api.subnet_id}").json()["subnet"]["name"] == "vip-subnet"
