"""The dashboard through the ASGI app: login, forms with Octavia's messages next to the
field, escaping of everything a user named, RBAC, and the writes only its own pages can
make. The browser test (`tests/e2e/test_dashboard.py`) drives the same pages in Chromium.
"""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ostium.control.db.engine import Database
from tests.api.conftest import Api, make_token

HX = {"HX-Request": "true"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _post(api: Api, path: str, data: dict[str, str]) -> object:
    return api.client.post(path, data=data, headers=HX)


def test_noauth_lists_and_creates_through_the_form(api: Api) -> None:
    page = api.get("/dashboard")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "No load balancers yet" in page.text
    assert api.subnet_id in page.text  # the VIP subnet is a choice of the form

    r = api.client.post(
        "/dashboard/lbs", data={"name": "web", "vip_subnet_id": api.subnet_id}, headers=HX
    )
    assert r.status_code == 200, r.text
    target = r.headers["hx-redirect"]
    lb_id = target.rsplit("/", 1)[1]
    lb = api.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
    assert lb["name"] == "web"
    api.settle()

    rows = api.get("/dashboard/rows").text
    assert "web" in rows and 'data-status="ACTIVE"' in rows
    page = api.get(target)
    assert page.status_code == 200
    assert 'class="tree"' in page.text and lb_id in page.text


def test_validation_message_is_next_to_its_field(api: Api) -> None:
    lb = api.lb(name="lb")
    r = api.client.post(
        f"/dashboard/lbs/{lb['id']}/listener",
        data={"protocol": "HTTP", "protocol_port": "70000"},
        headers=HX,
    )
    assert r.status_code == 200
    assert "hx-redirect" not in r.headers
    errors = re.findall(r'data-field="(\w+)">([^<]*)<', r.text)
    assert len(errors) == 1
    field, message = errors[0]
    assert field == "protocol_port"
    # the very words the API answers for the same value
    api_answer = api.post(
        "/v2/lbaas/listeners",
        {"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 70000}},
    ).json()["faultstring"]
    assert html.unescape(message) == api_answer
    assert 'value="70000"' in r.text  # what the user typed stays in the form
    assert api.get(f"/v2/lbaas/listeners?loadbalancer_id={lb['id']}").json()["listeners"] == []


def test_a_conflict_is_shown_at_the_top_of_the_form(api: Api) -> None:
    lb = api.lb(name="lb")
    ok = _post(
        api, f"/dashboard/lbs/{lb['id']}/listener", {"protocol": "TCP", "protocol_port": "80"}
    )
    assert "hx-redirect" in ok.headers  # type: ignore[attr-defined]
    # the load balancer is PENDING_UPDATE until the worker runs: Octavia's 409
    r = _post(
        api, f"/dashboard/lbs/{lb['id']}/listener", {"protocol": "TCP", "protocol_port": "81"}
    )
    text = r.text  # type: ignore[attr-defined]
    assert 'class="error"' in text and "immutable" in text


def test_edit_and_delete_from_the_tree(api: Api) -> None:
    stack = api.stack()
    pool = stack["pool"]
    form = api.get(f"/dashboard/forms/pool?lb={stack['lb']['id']}&obj={pool['id']}")
    assert 'value="pool"' in form.text
    r = api.client.put(
        f"/dashboard/lbs/{stack['lb']['id']}/pool/{pool['id']}",
        data={"name": "renamed", "lb_algorithm": "LEAST_CONNECTIONS", "admin_state_up": "true"},
        headers=HX,
    )
    assert "hx-redirect" in r.headers, r.text
    shown = api.get(f"/v2/lbaas/pools/{pool['id']}").json()["pool"]
    assert (shown["name"], shown["lb_algorithm"]) == ("renamed", "LEAST_CONNECTIONS")
    api.settle()
    r = api.client.delete(
        f"/dashboard/lbs/{stack['lb']['id']}/loadbalancer/{stack['lb']['id']}", headers=HX
    )
    assert r.headers["hx-redirect"] == "/dashboard"
    api.settle()
    assert api.get(f"/v2/lbaas/loadbalancers/{stack['lb']['id']}").status_code == 404


def test_writes_need_the_dashboards_own_page(api: Api) -> None:
    """A form posted from another site carries no HX-Request header: refused."""
    r = api.client.post("/dashboard/lbs", data={"name": "x", "vip_subnet_id": api.subnet_id})
    assert r.status_code == 403
    assert api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []


def test_token_login_logout_and_project_scope(
    token_api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api = token_api
    alice = make_token(api.db, "p1", "member")
    bob = make_token(api.db, "p2", "member")
    api.headers = {"X-Auth-Token": bob}
    api.lb(name="bobs-lb")
    api.headers = {}

    r = api.client.get("/dashboard", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/login"
    assert 'name="token"' in api.get("/dashboard/login").text

    bad = api.client.post("/dashboard/login", data={"token": "nope"}, follow_redirects=False)
    assert bad.status_code == 401 and "not accepted" in bad.text
    ok = api.client.post("/dashboard/login", data={"token": alice}, follow_redirects=False)
    assert ok.status_code == 303
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie

    page = api.client.get("/dashboard")
    assert page.status_code == 200 and "bobs-lb" not in page.text
    assert alice not in page.text  # the token is never written into a page
    bobs = api.client.get("/v2/lbaas/loadbalancers", headers={"X-Auth-Token": bob}).json()
    other = api.client.get(f"/dashboard/lbs/{bobs['loadbalancers'][0]['id']}")
    assert other.status_code == 403 and "bobs-lb" not in other.text

    api.client.post("/dashboard/logout", follow_redirects=False)
    assert api.client.get("/dashboard", follow_redirects=False).status_code == 303
    assert not [r for r in caplog.records if alice in r.getMessage()]  # never logged


def test_static_files_are_served_and_nothing_else(api: Api) -> None:
    js = api.get("/dashboard/static/htmx.min.js")
    assert js.status_code == 200 and "htmx" in js.text
    assert api.get("/dashboard/static/dashboard.css").status_code == 200
    assert api.get("/dashboard/static/..%2f..%2fsettings.py").status_code == 404
    assert api.get("/dashboard/static/htmx-LICENSE.txt").status_code == 404


XSS = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"


def test_names_are_escaped_everywhere(api: Api) -> None:
    stack = api.stack()
    lb_id = stack["lb"]["id"]
    api.put(f"/v2/lbaas/loadbalancers/{lb_id}", {"loadbalancer": {"name": XSS, "description": XSS}})
    api.put(f"/v2/lbaas/pools/{stack['pool']['id']}", {"pool": {"name": XSS}})
    api.settle()
    for path in (
        "/dashboard",
        "/dashboard/rows",
        f"/dashboard/lbs/{lb_id}",
        f"/dashboard/lbs/{lb_id}/tree",
    ):
        text = api.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, path


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(max_size=40))
def test_any_form_value_is_answered_and_escaped(api: Api, value: str) -> None:
    """Whatever a user types, the answer is the form again (or a redirect), never a 500,
    and what was typed comes back escaped."""
    r = api.client.post(
        "/dashboard/lbs",
        data={"name": value, "vip_subnet_id": api.subnet_id, "vip_address": value},
        headers=HX,
    )
    assert r.status_code == 200
    assert "<script" not in r.text.replace('<script src="', "")
    if "hx-redirect" not in r.headers and value.strip():
        assert html.escape(value.strip(), quote=True) in r.text or "field-error" in r.text


def test_keystone_login_with_user_password_and_project(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from ostium.control.identity.keystone.bootstrap import bootstrap
    from tests.api.conftest import make_api
    from tests.api.test_keystone import ADMIN_PASSWORD, CONFIG

    caplog.set_level(logging.DEBUG)
    for api in make_api(database, tmp_path, config=CONFIG):
        bootstrap(api.db, api.settings.identity, password=ADMIN_PASSWORD)
        api.headers = {}
        r = api.client.get("/dashboard", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/dashboard/login"
        page = api.get("/dashboard/login").text
        assert 'name="username"' in page and 'name="project"' in page
        wrong = {"username": "admin", "password": "nope", "project": "admin"}
        bad = api.client.post("/dashboard/login", data=wrong, follow_redirects=False)
        assert bad.status_code == 401 and "not accepted" in bad.text
        right = {"username": "admin", "password": ADMIN_PASSWORD, "project": "admin"}
        ok = api.client.post("/dashboard/login", data=right, follow_redirects=False)
        assert ok.status_code == 303 and "HttpOnly" in ok.headers["set-cookie"]
        listing = api.client.get("/dashboard")
        assert listing.status_code == 200 and "Load balancers" in listing.text
        assert not [r for r in caplog.records if ADMIN_PASSWORD in r.getMessage()]
