"""`GET /v2/lbaas/loadbalancers/{id}/logs` (ostium's extension) on the API: the lines the
receiver holds, to those who may read the load balancer; the receiver's parsing and its
bounds. The real path (haproxy -> agent -> receiver -> `ostium logs --follow`) is in
`tests/e2e/test_dashboard.py`."""

from __future__ import annotations

from ostium.control.access_log_receiver import LogReceiver, LogStore
from tests.api.conftest import Api, make_token


def _with_store(api: Api, keep: int = 3) -> LogStore:
    store = LogStore(keep)
    api.client.app.app.state.svc.access_logs = store  # type: ignore[attr-defined]
    return store


def _receive(store: LogStore, text: str) -> None:
    LogReceiver(None, store).take(f"<134>Nov 30 08:00:00 haproxy[7]: {text}".encode())  # type: ignore[arg-type]


def test_lines_of_one_load_balancer_in_order_and_bounded(api: Api) -> None:
    store = _with_store(api)
    a, b = api.lb(name="a")["id"], api.lb(name="b")["id"]
    for i in range(5):
        _receive(store, f"admin {a} request {i}")
    _receive(store, f"admin {b} other")
    _receive(store, "admin not-a-uuid spoofed")
    r = api.get(f"/v2/lbaas/loadbalancers/{a}/logs")
    assert r.status_code == 200
    page = r.json()["logs"]
    assert [x["line"] for x in page["lines"]] == [f"admin {a} request {i}" for i in (2, 3, 4)]
    after = page["next"]
    assert api.get(f"/v2/lbaas/loadbalancers/{a}/logs?after={after}").json()["logs"]["lines"] == []
    _receive(store, f"admin {a} request 5")
    newer = api.get(f"/v2/lbaas/loadbalancers/{a}/logs?after={after}").json()["logs"]
    assert [x["line"] for x in newer["lines"]] == [f"admin {a} request 5"]


def test_bad_parameters_and_unknown_load_balancers(api: Api) -> None:
    _with_store(api)
    lb = api.lb(name="a")["id"]
    for value in ("abc", "nan", "inf", "1e999"):
        r = api.get(f"/v2/lbaas/loadbalancers/{lb}/logs?after={value}")
        assert r.status_code == 400, (value, r.text)
        assert "after" in r.json()["faultstring"]
    assert (
        api.get("/v2/lbaas/loadbalancers/00000000-0000-0000-0000-000000000000/logs").status_code
        == 404
    )


def test_only_the_owner_reads_the_lines(token_api: Api) -> None:
    api = token_api
    store = _with_store(api)
    alice, bob = make_token(api.db, "p1", "member"), make_token(api.db, "p2", "member")
    api.headers = {"X-Auth-Token": alice}
    lb = api.lb(name="alices")["id"]
    _receive(store, f"p1 {lb} secret-path")
    api.headers = {"X-Auth-Token": bob}
    r = api.get(f"/v2/lbaas/loadbalancers/{lb}/logs")
    assert r.status_code == 403 and "secret-path" not in r.text
    api.headers = {"X-Auth-Token": alice}
    assert api.get(f"/v2/lbaas/loadbalancers/{lb}/logs").json()["logs"]["lines"]
