"""The read cache (`api/read_cache.py`): a repeated GET is answered from memory, and
never with data older than a committed write, or with another caller's answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text

from ostium.control.db.engine import Database
from tests.api.conftest import Api, make_token

LBS = "/v2/lbaas/loadbalancers"


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements the API runs through its engines meanwhile."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    engines = {db.read_engine, db.write_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def _names(api: Api, path: str, **kw: Any) -> list[str]:
    r = api.get(path, **kw)
    assert r.status_code == 200, r.text
    return sorted(lb["name"] for lb in r.json()["loadbalancers"])


def test_a_repeated_get_reads_nothing_from_the_tables(api: Api) -> None:
    lb = api.lb(name="one")
    # A PostgreSQL server shared with others sees their commits too (each one ends the
    # reuse): a few tries for one pair of GETs with no commit in between.
    for _ in range(20):
        first = api.get(f"{LBS}/{lb['id']}")
        listing = api.get(LBS)
        with statements(api.db) as seen:
            again = api.get(f"{LBS}/{lb['id']}")
            listing_again = api.get(LBS)
        if not seen:
            break
    assert seen == []
    assert again.content == first.content and listing_again.content == listing.content
    # Every answer keeps its own request id.
    ids = [r.headers.get_list("x-openstack-request-id") for r in (first, again)]
    assert len(ids[0]) == len(ids[1]) == 1 and ids[0] != ids[1]


def test_a_write_through_the_api_is_seen_at_once(api: Api) -> None:
    lb = api.lb(name="before")
    for path in (f"{LBS}/{lb['id']}", LBS, f"{LBS}?name=after", f"{LBS}/{lb['id']}/status"):
        assert api.get(path).status_code == 200  # kept
    r = api.put(f"{LBS}/{lb['id']}", {"loadbalancer": {"name": "after"}})
    assert r.status_code == 200
    shown = api.get(f"{LBS}/{lb['id']}").json()["loadbalancer"]
    assert (shown["name"], shown["provisioning_status"]) == ("after", "PENDING_UPDATE")
    assert _names(api, LBS) == ["after"]
    assert _names(api, f"{LBS}?name=after") == ["after"]
    tree = api.get(f"{LBS}/{lb['id']}/status").json()["statuses"]["loadbalancer"]
    assert tree["provisioning_status"] == "PENDING_UPDATE"
    api.settle()  # the worker's commit
    assert api.lb_status(lb["id"]) == "ACTIVE"


def test_a_write_by_another_connection_is_seen_at_once(api: Api) -> None:
    """What the worker and the health manager write, from other connections or other
    processes, changes the answer of the next GET."""
    lb = api.lb(name="lb")
    api.child("/v2/lbaas/pools", "pool", _pool(lb["id"]))
    path = f"{LBS}?fields=name&fields=operating_status"
    assert api.get(path).json()["loadbalancers"] == [{"name": "lb", "operating_status": "ONLINE"}]
    assert api.get(f"{LBS}/{lb['id']}").json()["loadbalancer"]["operating_status"] == "ONLINE"
    with api.db.write() as s:
        s.execute(
            text("UPDATE load_balancer SET operating_status = 'ERROR' WHERE id = :id"),
            {"id": lb["id"]},
        )
    assert api.get(path).json()["loadbalancers"] == [{"name": "lb", "operating_status": "ERROR"}]
    assert api.get(f"{LBS}/{lb['id']}").json()["loadbalancer"]["operating_status"] == "ERROR"
    pools = api.get("/v2/lbaas/pools").json()["pools"]
    assert len(pools) == 1
    with api.db.write() as s:
        s.execute(text("UPDATE pool SET name = 'renamed' WHERE id = :id"), {"id": pools[0]["id"]})
    assert [p["name"] for p in api.get("/v2/lbaas/pools").json()["pools"]] == ["renamed"]


def _pool(lb_id: str) -> dict[str, Any]:
    return {"loadbalancer_id": lb_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}


def test_answers_never_cross_projects_or_roles(token_api: Api) -> None:
    api = token_api
    alice = {"X-Auth-Token": make_token(api.db, "p1", "member")}
    bob = {"X-Auth-Token": make_token(api.db, "p2", "member")}
    admin = {"X-Auth-Token": make_token(api.db, "ops", "admin")}
    api.headers = alice
    lb = api.lb(name="alice-lb")
    api.headers = {}
    for _ in range(2):  # the second round is answered from memory where allowed
        assert _names(api, LBS, headers=alice) == ["alice-lb"]
        assert _names(api, LBS, headers=bob) == []
        assert _names(api, LBS, headers=admin) == ["alice-lb"]
        assert api.get(f"{LBS}/{lb['id']}", headers=alice).status_code == 200
        assert api.get(f"{LBS}/{lb['id']}", headers=bob).status_code == 403
        assert api.get(LBS).status_code == 401  # no token, same path
        assert api.get(LBS, headers={"X-Auth-Token": "bogus"}).status_code == 401


def test_a_revoked_token_is_refused_even_for_a_kept_answer(token_api: Api) -> None:
    api = token_api
    token = make_token(api.db, "p1", "member")
    api.headers = {"X-Auth-Token": token}
    api.lb(name="x")
    assert api.get(LBS).status_code == 200
    assert api.get(LBS).status_code == 200
    with api.db.write() as s:
        s.execute(text("DELETE FROM api_token"))
    assert api.get(LBS).status_code == 401


def test_filters_fields_and_pages_are_answers_of_their_own(api: Api) -> None:
    for name in ("a", "b", "c"):
        api.lb(name=name)
    assert _names(api, f"{LBS}?name=a") == ["a"]
    assert _names(api, f"{LBS}?name=b") == ["b"]
    assert list(api.get(f"{LBS}?fields=name").json()["loadbalancers"][0]) == ["name"]
    assert list(api.get(f"{LBS}?fields=id").json()["loadbalancers"][0]) == ["id"]
    page = api.get(f"{LBS}?limit=1&sort=name:asc").json()
    assert [lb["name"] for lb in page["loadbalancers"]] == ["a"]
    back = api.get(f"{LBS}?limit=1&sort=name:desc").json()
    assert [lb["name"] for lb in back["loadbalancers"]] == ["c"]
    # The links name the URL the client used.
    via_v20 = api.get("/v2.0/lbaas/loadbalancers?limit=1&sort=name:asc").json()
    assert via_v20["loadbalancers_links"][0]["href"].startswith("http://testserver/v2.0/")
    assert page["loadbalancers_links"][0]["href"].startswith("http://testserver/v2/")
