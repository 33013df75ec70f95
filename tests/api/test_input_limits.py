"""Never a 500 from input (issue 9, track C): each kind of hostile input the fuzzer and
the load test found is a 4xx in Octavia's fault shape, on SQLite and on PostgreSQL, and
the connection that carried it stays usable."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm.exc import StaleDataError

from ostium.control.api.app import create_app
from ostium.control.db.engine import Database
from ostium.control.services.context import ServiceContext
from ostium.control.settings import load_settings
from ostium.model.limits import MAX_JSON_DEPTH, MAX_SORT_KEYS, MAX_TAG_FILTER_VALUES
from tests.api.conftest import Api, _truncate


def assert_fault(r: Any, status: int, *needles: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}, body
    for needle in needles:
        assert needle in body["faultstring"], body
    return str(body["faultstring"])


# ---- 1. nesting depth -------------------------------------------------------------


def test_deeply_nested_body_is_400_naming_the_limit(api: Api) -> None:
    lb = api.lb()
    deep = '{"loadbalancer": {"name": "x", "tags": ' + "[" * 1000 + "]" * 1000 + "}}"
    for method, path in (
        ("POST", "/v2/lbaas/loadbalancers"),
        ("PUT", f"/v2/lbaas/loadbalancers/{lb['id']}"),
    ):
        r = api.req(method, path, deep, headers={"Content-Type": "application/json"})
        assert_fault(r, 400, f"limit of {MAX_JSON_DEPTH} levels")
    # An unclosed deep body too, and a legitimate deep graph still passes.
    r = api.post("/v2/lbaas/loadbalancers", "[" * 100_000)
    assert_fault(r, 400, str(MAX_JSON_DEPTH))
    r = api.put(f"/v2/lbaas/loadbalancers/{lb['id']}", {"loadbalancer": {"name": "ok"}})
    assert r.status_code == 200, r.text


# ---- 2. integer ranges --------------------------------------------------------------


@pytest.mark.parametrize("value", [2**31, 2**63, "9223372036854775808", -(2**31) - 1])
def test_integer_beyond_the_column_range_is_400_naming_field_and_value(
    api: Api, value: Any
) -> None:
    stack = api.stack()
    li = stack["listener"]
    r = api.put(f"/v2/lbaas/listeners/{li['id']}", {"listener": {"connection_limit": value}})
    assert_fault(r, 400, "connection_limit", f"Value: '{value}'")
    body = {"loadbalancer_id": stack["lb"]["id"], "protocol": "TCP", "protocol_port": 81}
    for field in ("connection_limit", "hsts_max_age", "timeout_client_data"):
        r = api.post("/v2/lbaas/listeners", {"listener": {**body, field: value}})
        assert_fault(r, 400, field, f"Value: '{value}'")
    sp = {"type": "APP_COOKIE", "cookie_name": "c", "persistence_timeout": value}
    r = api.put(f"/v2/lbaas/pools/{stack['pool']['id']}", {"pool": {"session_persistence": sp}})
    assert_fault(r, 400, "session_persistence.persistence_timeout")
    r = api.put("/v2/lbaas/quotas/p1", {"quota": {"listener": value}})
    assert_fault(r, 400, "listener")
    # The largest value the column holds is accepted.
    r = api.put(f"/v2/lbaas/listeners/{li['id']}", {"listener": {"connection_limit": 2**31 - 1}})
    assert r.status_code == 200, r.text
    assert r.json()["listener"]["connection_limit"] == 2**31 - 1


def test_integer_filter_beyond_the_column_range_is_400(api: Api) -> None:
    api.stack()
    r = api.get("/v2/lbaas/listeners?connection_limit=99999999999999999999")
    assert_fault(r, 400, "connection_limit", "99999999999999999999")
    r = api.get("/v2/lbaas/listeners?limit=99999999999999999999")
    assert r.status_code == 200, r.text


# ---- 4. list request caps -----------------------------------------------------------


def test_too_many_tag_values_or_sort_keys_is_400_naming_the_cap(api: Api) -> None:
    api.lb(tags=["t1"])
    tags = ",".join(f"t{i}" for i in range(1000))
    r = api.get(f"/v2/lbaas/loadbalancers?tags-any={tags}")
    assert_fault(r, 400, f"at most {MAX_TAG_FILTER_VALUES}")
    sort = ",".join(["name:asc"] * 3000)
    r = api.get(f"/v2/lbaas/loadbalancers?sort={sort}")
    assert_fault(r, 400, f"at most {MAX_SORT_KEYS}")
    keys = "&".join(f"sort_key=name&sort_dir=asc&x{i}=1" for i in range(200))
    r = api.get(f"/v2/lbaas/loadbalancers?{keys}")
    assert_fault(r, 400, "Too many query parameters")
    # At the caps, the lists work on both databases.
    tags = ",".join(f"t{i}" for i in range(MAX_TAG_FILTER_VALUES - 1))
    r = api.get(f"/v2/lbaas/loadbalancers?tags-any={tags}&not-tags-any=zz")
    assert r.status_code == 200 and len(r.json()["loadbalancers"]) == 1, r.text
    sort = ",".join(["name:asc", "id:desc"] * (MAX_SORT_KEYS // 2))
    r = api.get(f"/v2/lbaas/loadbalancers?sort={sort}&limit=1")
    assert r.status_code == 200, r.text


def test_nul_in_a_path_id_or_a_filter_is_a_client_error(api: Api) -> None:
    assert api.get("/v2/lbaas/loadbalancers/ab%00cd").status_code == 404
    assert_fault(api.get("/v2/lbaas/loadbalancers?name=a%00b"), 400, "NUL")


# ---- 6. project ids -----------------------------------------------------------------


def test_long_or_odd_project_id_header_is_400(api: Api) -> None:
    for bad in ("p" * 10_000, "p" * 256, "a b", "a/b", "x'y"):
        r = api.post(
            "/v2/lbaas/loadbalancers",
            {"loadbalancer": {"vip_subnet_id": api.subnet_id}},
            headers={"X-Project-Id": bad},
        )
        assert_fault(r, 400, "X-Project-Id", "255")
        assert_fault(api.get("/v2/lbaas/loadbalancers", headers={"X-Tenant-Id": bad}), 400)
    r = api.put("/v2/lbaas/quotas/" + "q" * 300, {"quota": {"listener": 1}})
    assert_fault(r, 400, "project_id", "255")
    ok = "team-a_1.prod:x@y" + "0" * 200
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {"vip_subnet_id": api.subnet_id}},
        headers={"X-Project-Id": ok},
    )
    assert r.status_code == 201 and r.json()["loadbalancer"]["project_id"] == ok, r.text


# ---- 7. content type ----------------------------------------------------------------


def test_body_that_is_not_json_by_content_type_is_415_as_octavia(api: Api) -> None:
    body = json.dumps({"loadbalancer": {"vip_subnet_id": api.subnet_id}})
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/xml", ""):
        r = api.post("/v2/lbaas/loadbalancers", body, headers={"Content-Type": ctype})
        mimetype = ctype
        assert_fault(r, 415, f"Unknown mimetype: {mimetype}")
    lb = api.lb()
    r = api.put(
        f"/v2/lbaas/loadbalancers/{lb['id']}",
        '{"loadbalancer": {}}',
        headers={"Content-Type": "text/plain"},
    )
    assert_fault(r, 415, "Unknown mimetype: text/plain")
    # JSON by any name WSME reads as JSON, with parameters, or without a Content-Type.
    for ctype in ("application/json; charset=UTF-8", "Application/JSON", "text/javascript"):
        r = api.post("/v2/lbaas/loadbalancers", body, headers={"Content-Type": ctype})
        assert r.status_code == 201, (ctype, r.text)
    r = api.post("/v2/lbaas/loadbalancers", body.encode())
    assert r.status_code == 201, r.text


# ---- 3 and 5: a live server, raw HTTP/1.1 on one connection ---------------------------


class Server:
    def __init__(self, app: Any) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def connect(self) -> Conn:
        return Conn(socket.create_connection(("127.0.0.1", self.port), timeout=30))


class Conn:
    """One keep-alive HTTP/1.1 connection, read response by response."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            assert self._fill(), f"connection closed before a response: {self.buf!r}"
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
        length = int(headers["content-length"])
        while len(self.buf) < length:
            assert self._fill(), "connection closed in the middle of a response"
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server(database: Database, tmp_path: Path) -> Iterator[tuple[Server, FastAPI]]:
    _truncate(database)
    settings = load_settings(state_dir=str(tmp_path), compute_driver="noop")
    app = create_app(ServiceContext(db=database, settings=settings, wake=lambda: None))
    inner: FastAPI = app.app  # type: ignore[attr-defined]
    with Server(app) as srv:
        yield srv, inner


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()


def test_oversized_body_is_413_however_framed_and_the_connection_stays_usable(
    server: tuple[Server, FastAPI],
) -> None:
    srv, _ = server
    conn = srv.connect()
    head = b"POST /v2/lbaas/loadbalancers HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    chunk = b"x" * 16384
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(10))  # 160 KiB
    conn.send(head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked + b"0\r\n\r\n")
    status, headers, body = conn.response()
    assert status == 413 and "connection" not in headers
    assert json.loads(body)["faultstring"] == "Request is too large."
    big = b"x" * 160_000
    conn.send(head + b"Content-Length: %d\r\n\r\n%s" % (len(big), big))
    status, _, body = conn.response()
    assert status == 413 and json.loads(body)["faultstring"] == "Request is too large."
    # A chunked body under the limit is read whole, on the same connection.
    payload = b'{"loadbalancer": {"name": 7}}'
    conn.send(
        head
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)
    )
    status, _, body = conn.response()
    assert status == 400 and b"name" in body
    conn.send(_get("/v2/lbaas/loadbalancers"))
    assert conn.response()[0] == 200
    conn.close()


def test_unexpected_error_is_a_clean_500_and_the_connection_stays_open(
    server: tuple[Server, FastAPI],
) -> None:
    srv, inner = server

    def boom() -> None:
        raise RuntimeError("a bug")

    inner.add_api_route("/v2/test-boom", boom)
    conn = srv.connect()
    conn.send(_get("/v2/test-boom"))
    status, headers, body = conn.response()
    assert status == 500 and headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "faultcode": "Server",
        "faultstring": "Internal Server Error",
        "debuginfo": None,
    }
    assert "x-openstack-request-id" in headers
    conn.send(_get("/v2/lbaas/loadbalancers"))
    assert conn.response()[0] == 200
    conn.close()


def test_a_write_that_lost_a_race_runs_again(server: tuple[Server, FastAPI]) -> None:
    srv, inner = server
    calls: list[int] = []

    def flaky() -> dict[str, int]:
        calls.append(1)
        if len(calls) < 3:
            raise StaleDataError("UPDATE statement on table 'pool' expected to update 1 row")
        return {"attempts": len(calls)}

    def always() -> None:
        calls.append(1)
        raise StaleDataError("UPDATE statement on table 'pool' expected to update 1 row")

    inner.add_api_route("/v2/test-flaky", flaky)
    inner.add_api_route("/v2/test-always", always)
    conn = srv.connect()
    conn.send(_get("/v2/test-flaky"))
    status, _, body = conn.response()
    assert status == 200 and json.loads(body) == {"attempts": 3}
    calls.clear()
    conn.send(_get("/v2/test-always"))
    assert conn.response()[0] == 500 and len(calls) == 3  # bounded
    conn.send(_get("/v2/lbaas/loadbalancers"))
    assert conn.response()[0] == 200
    conn.close()
