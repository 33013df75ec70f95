"""Pagination, sorting, filters, tag filters and field selection."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.api.conftest import Api


def _walk(api: Api, url: str) -> list[str]:
    names: list[str] = []
    pages = 0
    while url:
        body = api.get(url).json()
        names += [lb["name"] for lb in body["loadbalancers"]]
        nxt = [link["href"] for link in body["loadbalancers_links"] if link["rel"] == "next"]
        url = urlsplit(nxt[0])._replace(scheme="", netloc="").geturl() if nxt else ""
        pages += 1
        assert pages < 20
    return names


def test_pagination_sort_and_links(api: Api) -> None:
    for i in range(7):
        api.lb(name=f"lb{i}", tags=["even"] if i % 2 == 0 else ["odd"])
    body = api.get("/v2/lbaas/loadbalancers?limit=3").json()
    assert len(body["loadbalancers"]) == 3
    (nxt,) = body["loadbalancers_links"]
    assert nxt["rel"] == "next" and "marker=" in nxt["href"]
    assert _walk(api, "/v2/lbaas/loadbalancers?limit=3") == [f"lb{i}" for i in range(7)]
    assert _walk(api, "/v2.0/lbaas/loadbalancers?limit=2&sort=name:desc") == [
        f"lb{i}" for i in reversed(range(7))
    ]
    # Filters are carried into the links.
    page = api.get("/v2/lbaas/loadbalancers?limit=1&tags=odd").json()
    href = page["loadbalancers_links"][0]["href"]
    assert parse_qs(urlsplit(href).query)["tags"] == ["odd"]
    assert _walk(api, "/v2/lbaas/loadbalancers?limit=1&tags=odd") == ["lb1", "lb3", "lb5"]
    # previous link when a marker was given
    second = api.get(urlsplit(href)._replace(scheme="", netloc="").geturl()).json()
    assert {link["rel"] for link in second["loadbalancers_links"]} == {"next", "previous"}
    assert (
        api.get("/v2/lbaas/loadbalancers?sort_key=name&sort_dir=desc").json()["loadbalancers"][0][
            "name"
        ]
        == "lb6"
    )


def test_pagination_errors(api: Api) -> None:
    r = api.get("/v2/lbaas/loadbalancers?marker=nope")
    assert r.status_code == 400
    assert r.json()["faultstring"] == "Supplied pagination marker 'nope' is not valid."
    r = api.get("/v2/lbaas/loadbalancers?sort=bogus:asc")
    assert r.json()["faultstring"] == "Supplied sort key 'bogus' is not valid."
    r = api.get("/v2/lbaas/loadbalancers?sort=name:up")
    assert r.status_code == 400
    assert r.json()["description"] == "Supplied sort direction 'up' is not valid."
    r = api.get("/v2/lbaas/loadbalancers?limit=ten")
    assert r.status_code == 400
    for unlimited in ("0", "-1", "infinite"):
        r = api.get(f"/v2/lbaas/loadbalancers?limit={unlimited}")
        assert r.status_code == 200 and r.json()["loadbalancers_links"] == []
    r = api.get("/v2/lbaas/loadbalancers?color=blue")
    assert r.status_code == 400
    assert r.json()["faultstring"] == "One or more arguments are either duplicate or invalid"


def test_filters_fields_and_tags(api: Api) -> None:
    a = api.lb(name="a", tags=["t1", "t2"])
    api.lb(name="b", tags=["t2"])
    api.lb(name="c", admin_state_up=False)

    def names(q: str) -> list[str]:
        return sorted(
            x["name"] for x in api.get(f"/v2/lbaas/loadbalancers?{q}").json()["loadbalancers"]
        )

    assert names("name=a") == ["a"]
    assert names(f"id={a['id']}") == ["a"]
    assert names("admin_state_up=false") == ["c"]
    assert names("tags=t1,t2") == ["a"]
    assert names("tags=t2") == ["a", "b"]
    assert names("tags-any=t1&tags-any=zzz") == ["a"]
    assert names("not-tags=t1,t2") == ["b", "c"]
    assert names("not-tags-any=t2") == ["c"]
    assert names("project_id=admin") == ["a", "b", "c"]
    assert names(f"vip_address={a['vip_address']}") == ["a"]
    only = api.get("/v2/lbaas/loadbalancers?fields=id&fields=name").json()["loadbalancers"]
    assert all(set(x) == {"id", "name"} for x in only)
    both = api.get("/v2/lbaas/loadbalancers?fields=id,name").json()["loadbalancers"]
    assert all(set(x) == {"id", "name"} for x in both)
    shown = api.get(f"/v2/lbaas/loadbalancers/{a['id']}?fields=name").json()
    assert shown == {"loadbalancer": {"name": "a"}}


def test_child_list_filters(api: Api) -> None:
    s = api.stack()
    lb2 = api.lb(name="other")
    api.child(
        "/v2/lbaas/listeners",
        "listener",
        {"loadbalancer_id": lb2["id"], "protocol": "TCP", "protocol_port": 22},
    )
    lis = api.get(f"/v2/lbaas/listeners?loadbalancer_id={s['lb']['id']}").json()["listeners"]
    assert [x["id"] for x in lis] == [s["listener"]["id"]]
    pools = api.get(f"/v2/lbaas/pools?loadbalancer_id={s['lb']['id']}&name=pool").json()
    assert [p["id"] for p in pools["pools"]] == [s["pool"]["id"]]
    assert (
        api.get("/v2/lbaas/listeners?protocol_port=22").json()["listeners"][0]["protocol"] == "TCP"
    )
