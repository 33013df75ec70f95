"""The built-in Keystone (`auth_strategy = keystone`) through the ASGI app: tokens by
password, token and application credential; the catalog; the identity admin API that
tempest's dynamic credentials use; Octavia's RBAC with Keystone tokens; and everything
a client may get wrong answered with Keystone's 401/403/404 bodies, never a 500."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from ostium.control.db.engine import Database
from ostium.control.db.identity_rows import IdentityToken, IdentityUser
from ostium.control.identity.keystone.bootstrap import bootstrap
from tests.api.conftest import Api, make_api

CONFIG = """
[api_settings]
auth_strategy = keystone
[identity]
failure_delay = 0
lockout_failure_attempts = 3
lockout_duration = 600
password_hash_memory_kib = 8192
password_hash_time_cost = 1
"""
ADMIN_PASSWORD = "correct horse battery staple"
SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
"""For tests of logic that no database changes (the rest also run on PostgreSQL)."""
UNAUTHORIZED = {
    "error": {
        "code": 401,
        "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }
}


@pytest.fixture
def ks(database: Database, tmp_path: Path) -> Iterator[Api]:
    yield from make_api(database, tmp_path, config=CONFIG)


def password(user: str, secret: str, project: str | None = "admin", **scope: Any) -> Any:
    body: dict[str, Any] = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"name": "Default"}, "password": secret}
                },
            }
        }
    }
    if project is not None:
        body["auth"]["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    if scope:
        body["auth"]["scope"] = scope
    return body


def login(api: Api, user: str, secret: str, project: str | None = "admin") -> str:
    r = api.post("/v3/auth/tokens", password(user, secret, project))
    assert r.status_code == 201, r.text
    return str(r.headers["X-Subject-Token"])


def as_(token: str) -> dict[str, str]:
    return {"X-Auth-Token": token}


def assert_401(r: Any) -> None:
    assert r.status_code == 401, r.text
    assert r.json() == UNAUTHORIZED
    assert r.headers["WWW-Authenticate"] == 'Keystone uri="http://testserver/v3"'


class Cloud:
    """An admin token plus helpers to make projects and users through the admin API."""

    def __init__(self, api: Api) -> None:
        self.api = api
        bootstrap(api.db, api.settings.identity, password=ADMIN_PASSWORD)
        self.admin = login(api, "admin", ADMIN_PASSWORD)
        self.roles = {
            r["name"]: r["id"]
            for r in api.get("/v3/roles", headers=as_(self.admin)).json()["roles"]
        }

    def project(self, name: str) -> str:
        r = self.api.post("/v3/projects", {"project": {"name": name}}, headers=as_(self.admin))
        assert r.status_code == 201, r.text
        return str(r.json()["project"]["id"])

    def user(self, name: str, project: str, *roles: str) -> str:
        body = {"user": {"name": name, "password": f"pw-{name}", "domain_id": "default"}}
        r = self.api.post("/v3/users", body, headers=as_(self.admin))
        assert r.status_code == 201, r.text
        uid = str(r.json()["user"]["id"])
        for role in roles:
            path = f"/v3/projects/{project}/users/{uid}/roles/{self.roles[role]}"
            assert self.api.put(path, headers=as_(self.admin)).status_code == 204
        return uid


def test_discovery_and_password_token(ks: Api) -> None:
    r = ks.get("/v3")
    assert r.status_code == 200
    assert r.json()["version"]["id"] == "v3.14"
    assert r.json()["version"]["links"] == [{"rel": "self", "href": "http://testserver/v3/"}]
    assert ks.get("/").json()["versions"][-1]["status"] == "CURRENT"  # Octavia's, unchanged
    bootstrap(ks.db, ks.settings.identity, password=ADMIN_PASSWORD)
    r = ks.post("/v3/auth/tokens", password("admin", ADMIN_PASSWORD))
    assert r.status_code == 201, r.text
    token = r.headers["X-Subject-Token"]
    assert len(token) >= 43 and token not in r.text  # 256 bits, only in the header
    body = r.json()["token"]
    assert body["methods"] == ["password"]
    assert body["user"]["name"] == "admin" and body["user"]["domain"] == {
        "id": "default",
        "name": "Default",
    }
    assert body["project"]["name"] == "admin"
    assert {x["name"] for x in body["roles"]} == {"admin", "member", "reader"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000Z", body["expires_at"])
    issued = dt.datetime.strptime(body["issued_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    expires = dt.datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert expires - issued == dt.timedelta(seconds=3600)
    catalog = {s["type"]: s for s in body["catalog"]}
    assert set(catalog) == {"identity", "load-balancer", "network", "key-manager"}
    for service in catalog.values():
        assert sorted(e["interface"] for e in service["endpoints"]) == [
            "admin",
            "internal",
            "public",
        ]
        assert {e["region"] for e in service["endpoints"]} == {"RegionOne"}
    assert catalog["identity"]["endpoints"][0]["url"] == "http://testserver/v3"
    assert catalog["load-balancer"]["endpoints"][0]["url"] == "http://testserver"
    nocat = ks.post("/v3/auth/tokens?nocatalog", password("admin", ADMIN_PASSWORD))
    assert "catalog" not in nocat.json()["token"]
    # The database keeps hashes only.
    with ks.db.read() as s:
        hashes = s.scalars(select(IdentityToken.token_hash)).all()
        stored = s.scalar(select(IdentityUser.password_hash))
    assert token not in hashes and len(hashes) == 2
    assert stored is not None and stored.startswith("$argon2id$") and ADMIN_PASSWORD not in stored
    # The token works on the Octavia API, and validates.
    assert ks.get("/v2/lbaas/loadbalancers", headers=as_(token)).status_code == 200
    r = ks.get("/v3/auth/tokens", headers={**as_(token), "X-Subject-Token": token})
    assert r.status_code == 200 and r.headers["X-Subject-Token"] == token
    assert r.json()["token"]["user"]["name"] == "admin"
    head = ks.req("HEAD", "/v3/auth/tokens", headers={**as_(token), "X-Subject-Token": token})
    assert head.status_code == 200


@SQLITE_ONLY
def test_scopes_and_methods(ks: Api) -> None:
    cloud = Cloud(ks)
    p1 = cloud.project("p1")
    uid = cloud.user("alice", p1, "member")
    by_ids = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"id": uid, "password": "pw-alice"}},
            },
            "scope": {"project": {"id": p1}},
        }
    }
    r = ks.post("/v3/auth/tokens", by_ids)
    assert r.status_code == 201 and r.json()["token"]["project"]["id"] == p1
    assert {x["name"] for x in r.json()["token"]["roles"]} == {"member", "reader"}
    unscoped = ks.post("/v3/auth/tokens", password("alice", "pw-alice", None))
    assert unscoped.status_code == 201 and "project" not in unscoped.json()["token"]
    # No scope asked: the default project, if the user has a role there.
    body = {"user": {"name": "dora", "password": "pw-dora", "default_project_id": p1}}
    assert ks.post("/v3/users", body, headers=as_(cloud.admin)).status_code == 201
    r = ks.post("/v3/auth/tokens", password("dora", "pw-dora", None))
    assert r.status_code == 201 and "project" not in r.json()["token"]  # no role yet
    cloud.user("erin", p1, "reader")
    with ks.db.write() as s:
        s.execute(
            update(IdentityUser).where(IdentityUser.name == "erin").values(default_project_id=p1)
        )
    r = ks.post("/v3/auth/tokens", password("erin", "pw-erin", None))
    assert r.status_code == 201 and r.json()["token"]["project"]["id"] == p1
    free = unscoped.headers["X-Subject-Token"]
    assert ks.get("/v2/lbaas/loadbalancers", headers=as_(free)).status_code == 403
    projects = ks.get("/v3/auth/projects", headers=as_(free)).json()["projects"]
    assert [p["name"] for p in projects] == ["p1"]
    # token method: rescope the unscoped token to p1
    rescope = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": free}},
            "scope": {"project": {"name": "p1", "domain": {"name": "Default"}}},
        }
    }
    r = ks.post("/v3/auth/tokens", rescope)
    assert r.status_code == 201 and r.json()["token"]["project"]["name"] == "p1"
    scoped = r.headers["X-Subject-Token"]
    # application credential, made with the scoped token, used by id and by name
    r = ks.post(
        f"/v3/users/{uid}/application_credentials",
        {"application_credential": {"name": "ci"}},
        headers=as_(scoped),
    )
    assert r.status_code == 201, r.text
    cred = r.json()["application_credential"]
    assert {x["name"] for x in cred["roles"]} == {"member", "reader"}
    for ident in (
        {"id": cred["id"], "secret": cred["secret"]},
        {
            "name": "ci",
            "secret": cred["secret"],
            "user": {"name": "alice", "domain": {"id": "default"}},
        },
    ):
        body = {
            "auth": {
                "identity": {"methods": ["application_credential"], "application_credential": ident}
            }
        }
        r = ks.post("/v3/auth/tokens", body)
        assert r.status_code == 201, r.text
        assert r.json()["token"]["project"]["id"] == p1
        assert r.json()["token"]["application_credential"]["id"] == cred["id"]
    wrong = {"id": cred["id"], "secret": cred["secret"] + "x"}
    body = {
        "auth": {
            "identity": {"methods": ["application_credential"], "application_credential": wrong}
        }
    }
    assert_401(ks.post("/v3/auth/tokens", body))


def test_bad_credentials_and_tokens(ks: Api) -> None:
    cloud = Cloud(ks)
    p1, p2 = cloud.project("p1"), cloud.project("p2")
    cloud.user("alice", p1, "member")
    assert_401(ks.post("/v3/auth/tokens", password("admin", "wrong")))
    assert_401(ks.post("/v3/auth/tokens", password("nobody", "pw")))
    assert_401(ks.post("/v3/auth/tokens", password("alice", "pw-alice", "no-such-project")))
    assert_401(ks.post("/v3/auth/tokens", password("alice", "pw-alice", "p2")))  # no role there
    assert_401(ks.post("/v3/auth/tokens", password("alice", "pw-alice", domain={"id": "default"})))
    for bad in ({}, {"auth": {}}, {"auth": {"identity": {"methods": "password"}}}, [1], "x"):
        r = ks.post("/v3/auth/tokens", bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == 400, r.text
    r = ks.post("/v3/auth/tokens", b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["title"] == "Bad Request"
    # Forged, revoked and expired tokens: 401 on the Octavia API, 404 as a subject.
    token = login(ks, "alice", "pw-alice", "p1")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for t in (forged, "", "x" * 5000):
        assert_401(ks.get("/v2/lbaas/loadbalancers", headers=as_(t)))
    assert_401(ks.get("/v2/lbaas/loadbalancers"))
    r = ks.get("/v3/auth/tokens", headers={**as_(cloud.admin), "X-Subject-Token": forged})
    assert r.status_code == 404 and r.json()["error"]["title"] == "Not Found"
    other = login(ks, "alice", "pw-alice", "p1")
    assert (
        ks.delete("/v3/auth/tokens", headers={**as_(other), "X-Subject-Token": token}).status_code
        == 204
    )
    assert_401(ks.get("/v2/lbaas/loadbalancers", headers=as_(token)))
    r = ks.get("/v3/auth/tokens", headers={**as_(cloud.admin), "X-Subject-Token": token})
    assert r.status_code == 404
    with ks.db.write() as s:
        s.execute(update(IdentityToken).values(expires_at=dt.datetime(2000, 1, 1)))
    assert_401(ks.get("/v2/lbaas/loadbalancers", headers=as_(other)))
    assert_401(ks.get("/v3/auth/projects", headers=as_(cloud.admin)))
    # A token scoped to p1 sees nothing of p2.
    fresh = login(ks, "alice", "pw-alice", "p1")
    r = ks.get(f"/v2/lbaas/loadbalancers?project_id={p2}", headers=as_(fresh))
    assert r.status_code == 403 and r.json()["faultstring"].startswith("Policy does not allow")


@SQLITE_ONLY
def test_lockout_slows_guessing(ks: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ostium.identity")
    bootstrap(ks.db, ks.settings.identity, password=ADMIN_PASSWORD)
    for _ in range(3):
        assert_401(ks.post("/v3/auth/tokens", password("admin", "guess")))
    assert "user admin" in caplog.text and "locked for 600s after 3 wrong passwords" in caplog.text
    assert "guess" not in caplog.text and ADMIN_PASSWORD not in caplog.text
    # Locked: even the right password is refused until lockout_duration has passed.
    assert_401(ks.post("/v3/auth/tokens", password("admin", ADMIN_PASSWORD)))
    with ks.db.write() as s:
        s.execute(update(IdentityUser).values(failed_auth_at=dt.datetime(2000, 1, 1)))
    assert ks.post("/v3/auth/tokens", password("admin", ADMIN_PASSWORD)).status_code == 201
    with ks.db.read() as s:
        assert s.scalar(select(IdentityUser.failed_auth_count)) == 0


def test_rbac_with_keystone_tokens(ks: Api) -> None:
    cloud = Cloud(ks)
    p1, p2 = cloud.project("p1"), cloud.project("p2")
    cloud.user("alice", p1, "member")
    cloud.user("rita", p1, "reader")
    cloud.user("bob", p2, "member")
    cloud.user("legacy", p1, "load-balancer_member")
    alice, rita = login(ks, "alice", "pw-alice", "p1"), login(ks, "rita", "pw-rita", "p1")
    bob, legacy = login(ks, "bob", "pw-bob", "p2"), login(ks, "legacy", "pw-legacy", "p1")
    ks.headers = as_(alice)
    lb = ks.lb(name="alice-lb")
    assert lb["project_id"] == p1
    ks.headers = as_(rita)
    assert ks.get(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 200
    r = ks.put(f"/v2/lbaas/loadbalancers/{lb['id']}", {"loadbalancer": {"name": "x"}})
    assert r.status_code == 403
    assert r.json() == {
        "faultcode": "Client",
        "faultstring": "Policy does not allow this request to be performed.",
        "debuginfo": None,
    }
    ks.headers = as_(bob)
    assert ks.get(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 403
    assert ks.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []
    ks.headers = as_(legacy)  # legacy roles are not honoured by default (new defaults)
    assert ks.get("/v2/lbaas/loadbalancers").status_code == 403
    ks.headers = as_(cloud.admin)
    assert [x["id"] for x in ks.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]] == [
        lb["id"]
    ]
    assert ks.get("/v2/octavia/amphorae").status_code == 200
    # A role taken away takes effect on the next request.
    path = f"/v3/projects/{p1}/users/{_uid(ks, cloud, 'alice')}/roles/{cloud.roles['member']}"
    assert ks.delete(path).status_code == 204
    ks.headers = as_(alice)
    assert_401(ks.get("/v2/lbaas/loadbalancers"))


def _uid(api: Api, cloud: Cloud, name: str) -> str:
    users = api.get(f"/v3/users?name={name}", headers=as_(cloud.admin)).json()["users"]
    return str(users[0]["id"])


@SQLITE_ONLY
def test_legacy_roles_when_new_defaults_are_off(database: Database, tmp_path: Path) -> None:
    config = CONFIG + "[oslo_policy]\nenforce_new_defaults = false\n"
    for api in make_api(database, tmp_path, config=config):
        cloud = Cloud(api)
        p1 = cloud.project("p1")
        cloud.user("m", p1, "load-balancer_member")
        cloud.user("o", p1, "load-balancer_observer")
        cloud.user("g", p1, "load-balancer_global_observer")
        member, observer = login(api, "m", "pw-m", "p1"), login(api, "o", "pw-o", "p1")
        api.headers = as_(member)
        lb = api.lb(name="legacy")
        api.headers = as_(observer)
        assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 200
        r = api.put(f"/v2/lbaas/loadbalancers/{lb['id']}", {"loadbalancer": {"name": "x"}})
        assert r.status_code == 403
        api.headers = as_(login(api, "g", "pw-g", "p1"))
        assert api.get("/v2/lbaas/loadbalancers?project_id=elsewhere").status_code == 200
        assert api.get("/v2/octavia/amphorae").status_code == 403


def test_identity_admin_api_as_tempest_uses_it(ks: Api) -> None:
    cloud = Cloud(ks)
    ks.headers = as_(cloud.admin)
    domains = ks.get("/v3/domains?name=Default").json()["domains"]
    assert [d["id"] for d in domains] == ["default"]
    r = ks.post(
        "/v3/projects", {"project": {"name": "t-p", "description": "d", "domain_id": "default"}}
    )
    assert r.status_code == 201
    project = r.json()["project"]
    assert ks.post("/v3/projects", {"project": {"name": "t-p"}}).status_code == 409
    r = ks.post(
        "/v3/users",
        {
            "user": {
                "name": "t-u",
                "password": "pw",
                "domain_id": "default",
                "project_id": project["id"],
            }
        },
    )
    assert r.status_code == 201
    user = r.json()["user"]
    assert ks.get("/v3/roles?name=nosuch").json()["roles"] == []
    role = ks.post("/v3/roles", {"role": {"name": "t-role"}}).json()["role"]
    member = cloud.roles["member"]
    for rid in (role["id"], member):
        path = f"/v3/projects/{project['id']}/users/{user['id']}/roles/{rid}"
        assert ks.put(path).status_code == 204
    r = ks.get(f"/v3/role_assignments?user.id={user['id']}&scope.project.id={project['id']}")
    assigned = {a["role"]["id"] for a in r.json()["role_assignments"]}
    assert assigned == {role["id"], member}
    assert ks.get(f"/v3/roles/{member}").json()["role"]["name"] == "member"
    token = ks.post(
        "/v3/auth/tokens",
        {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"id": user["id"], "password": "pw"}},
                },
                "scope": {"project": {"id": project["id"]}},
            }
        },
    )
    assert token.status_code == 201
    # Non-admins may not use the admin API, but may look at their own project.
    ks.headers = as_(token.headers["X-Subject-Token"])
    for path in ("/v3/projects", "/v3/users", "/v3/roles", "/v3/role_assignments", "/v3/domains"):
        r = ks.get(path)
        assert r.status_code == 403 and r.json()["error"]["title"] == "Forbidden", path
    assert ks.post("/v3/projects", {"project": {"name": "mine"}}).status_code == 403
    assert ks.get(f"/v3/projects/{project['id']}").status_code == 200
    assert ks.get("/v3/projects/x").status_code == 403
    ks.headers = as_(cloud.admin)
    r = ks.req("PATCH", f"/v3/projects/{project['id']}", {"project": {"enabled": False}})
    assert r.status_code == 200 and r.json()["project"]["enabled"] is False
    assert_401(ks.get("/v2/lbaas/loadbalancers", headers=as_(token.headers["X-Subject-Token"])))
    assert ks.get("/v3/projects/nosuch").status_code == 404
    assert (
        ks.get("/v3/projects/nosuch").json()["error"]["message"]
        == "Could not find project: nosuch."
    )
    for path in (
        f"/v3/users/{user['id']}",
        f"/v3/projects/{project['id']}",
        f"/v3/roles/{role['id']}",
    ):
        assert ks.delete(path).status_code == 204
    gone = ks.post("/v3/auth/tokens", password("t-u", "pw", None))
    assert_401(gone)


@SQLITE_ONLY
def test_no_secret_in_logs(ks: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bootstrap(ks.db, ks.settings.identity, password=ADMIN_PASSWORD)
    token = login(ks, "admin", ADMIN_PASSWORD)
    ks.post("/v3/auth/tokens", password("admin", "wrong-secret-xyz"))
    ks.get("/v2/lbaas/loadbalancers", headers=as_(token))
    ks.get("/v3/auth/tokens", headers={**as_(token), "X-Subject-Token": token + "x"})
    for secret in (ADMIN_PASSWORD, "wrong-secret-xyz", token):
        assert secret not in caplog.text


_TEXT = st.one_of(st.none(), st.text(max_size=20), st.integers(), st.booleans())
_BODIES = st.recursive(
    st.fixed_dictionaries(
        {
            "auth": st.fixed_dictionaries(
                {
                    "identity": st.fixed_dictionaries(
                        {
                            "methods": st.lists(
                                st.sampled_from(
                                    ["password", "token", "application_credential", "totp", ""]
                                ),
                                max_size=2,
                            )
                        },
                        optional={
                            "password": st.fixed_dictionaries(
                                {},
                                optional={
                                    "user": st.dictionaries(
                                        st.sampled_from(["id", "name", "password", "domain"]), _TEXT
                                    )
                                },
                            ),
                            "token": st.dictionaries(st.just("id"), _TEXT),
                            "application_credential": st.dictionaries(
                                st.sampled_from(["id", "name", "secret", "user"]), _TEXT
                            ),
                        },
                    )
                },
                optional={
                    "scope": st.one_of(
                        _TEXT,
                        st.dictionaries(
                            st.sampled_from(["project", "domain", "system", "unscoped"]),
                            st.one_of(
                                _TEXT,
                                st.dictionaries(st.sampled_from(["id", "name", "domain"]), _TEXT),
                            ),
                        ),
                    )
                },
            )
        }
    ),
    lambda children: st.dictionaries(st.text(max_size=5), children, max_size=2),
    max_leaves=3,
)


@SQLITE_ONLY
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_BODIES)
def test_fuzzed_token_requests_never_500(ks: Api, body: Any) -> None:
    r = ks.post("/v3/auth/tokens", body)
    assert r.status_code in (400, 401), r.text
    assert r.json()["error"]["code"] == r.status_code


@SQLITE_ONLY
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(["project", "user", "role"]),
    fields=st.dictionaries(
        st.sampled_from(["name", "password", "domain_id", "description", "default_project_id"]),
        st.one_of(
            st.none(), st.text(max_size=300), st.integers(), st.lists(st.integers(), max_size=2)
        ),
    ),
)
def test_fuzzed_admin_bodies_never_500(ks: Api, kind: str, fields: dict[str, Any]) -> None:
    if not hasattr(ks, "admin_token"):
        bootstrap(ks.db, ks.settings.identity, password=ADMIN_PASSWORD)
        ks.admin_token = login(ks, "admin", ADMIN_PASSWORD)  # type: ignore[attr-defined]
    r = ks.post(f"/v3/{kind}s", {kind: fields}, headers=as_(ks.admin_token))  # type: ignore[attr-defined]
    assert r.status_code in (201, 400, 404, 409), r.text
    if r.status_code != 201:
        assert r.json()["error"]["code"] == r.status_code


@SQLITE_ONLY
def test_unknown_identity_routes_answer_in_keystones_shape(ks: Api) -> None:
    r = ks.get("/v3/no-such-thing")
    assert r.status_code == 404 and r.json()["error"]["code"] == 404
    r = ks.req("PATCH", "/v3/auth/tokens")
    assert r.status_code == 405 and r.json()["error"]["title"] == "Method Not Allowed"


@SQLITE_ONLY
def test_token_documents_become_request_identities(ks: Api) -> None:
    """`validator.identity_from_token` reads the token documents ostium answers (the
    same shape a real Keystone answers, for an external validator)."""
    from ostium.control.identity.validator import Identity, identity_from_token

    bootstrap(ks.db, ks.settings.identity, password=ADMIN_PASSWORD)
    r = ks.post("/v3/auth/tokens", password("admin", ADMIN_PASSWORD))
    got = identity_from_token(r.json())
    assert got is not None and got.project_id == r.json()["token"]["project"]["id"]
    assert got.roles == {"admin", "member", "reader"}
    body = password("admin", ADMIN_PASSWORD, None)
    body["auth"]["scope"] = "unscoped"  # admin has a default project
    unscoped = identity_from_token(ks.post("/v3/auth/tokens", body).json())
    assert unscoped == Identity(project_id=None, user_id=got.user_id, roles=frozenset())
    for junk in (None, [], {"token": 1}, {"token": {"user": "x"}}, {"error": {}}):
        assert identity_from_token(junk) is None


@SQLITE_ONLY
def test_application_credential_roles_and_expiry(ks: Api) -> None:
    cloud = Cloud(ks)
    p1 = cloud.project("p1")
    uid = cloud.user("alice", p1, "member")
    alice = login(ks, "alice", "pw-alice", "p1")
    path = f"/v3/users/{uid}/application_credentials"

    def make(**fields: Any) -> Any:
        return ks.post(path, {"application_credential": fields}, headers=as_(alice))

    def use(cred: dict[str, Any]) -> Any:
        ident = {"id": cred["id"], "secret": cred["secret"]}
        body = {
            "auth": {
                "identity": {"methods": ["application_credential"], "application_credential": ident}
            }
        }
        return ks.post("/v3/auth/tokens", body)

    reader = make(name="ro", roles=[{"name": "reader"}])
    assert reader.status_code == 201, reader.text
    r = use(reader.json()["application_credential"])
    assert {x["name"] for x in r.json()["token"]["roles"]} == {"reader"}
    ro = as_(r.headers["X-Subject-Token"])
    assert ks.get("/v2/lbaas/loadbalancers", headers=ro).status_code == 200
    body = {"loadbalancer": {"vip_subnet_id": ks.subnet_id}}
    assert ks.post("/v2/lbaas/loadbalancers", body, headers=ro).status_code == 403
    member = make(name="rw", roles=[{"name": "member"}]).json()["application_credential"]
    assert {x["name"] for x in use(member).json()["token"]["roles"]} == {"member", "reader"}
    assert make(name="up", roles=[{"name": "admin"}]).status_code == 404  # not held
    assert make(name="bad", roles="admin").status_code == 400
    assert make(name="when", expires_at="tomorrow").status_code == 400
    old = make(name="old", expires_at="2001-01-01T00:00:00Z")
    assert old.status_code == 201
    assert_401(use(old.json()["application_credential"]))
    soon = make(name="later", expires_at="2999-01-01T00:00:00.000000Z").json()
    assert soon["application_credential"]["expires_at"] == "2999-01-01T00:00:00.000000Z"
    assert use(soon["application_credential"]).status_code == 201
