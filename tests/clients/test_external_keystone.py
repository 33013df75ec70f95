"""ostium behind a REAL Keystone (`auth_strategy = keystone` + `[keystone_authtoken]`).

A Keystone from PyPI (its own virtualenv, `make keystone-venv`) runs on loopback with
SQLite for this module: a service user `ostium` (role `service`) in project `service`,
users alice (member) and rita (reader) in project alpha, bob (member) in beta. Its
catalog lists ostium as `load-balancer` and `network`, so the openstack CLI finds ostium
the way it finds Octavia: `--os-auth-url` and a password, nothing else. Then:

* the CLI as alice creates and lists a load balancer, which belongs to alpha;
* rita (reader) sees it and may not create one; bob (beta) neither sees nor reads it;
* no token, a forged token: 401 with Keystone's body and `WWW-Authenticate` naming
  `www_authenticate_uri`; no token and no service password in ostium's log;
* the validator itself against the same Keystone: an application credential as the
  service identity, a revoked token remembered for `token_cache_time` only, ostium's own
  token renewed after Keystone revoked it, Keystone unreachable or refusing ostium's
  credentials: 503 (never a 401 that would blame the user), and no secret in the log.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tools.keystone_local import Keystone, start_keystone

from ostium.control.identity.external import ExternalKeystone
from ostium.control.settings_authtoken import KeystoneAuthtokenSettings
from ostium.model.errors import ServiceUnavailable
from tests.clients.conftest import OPENSTACK, OSTIUM, _free_port, client_env

PASSWORDS = {name: secrets.token_urlsafe(12) for name in ("ostium", "alice", "rita", "bob")}


@dataclasses.dataclass
class World:
    keystone: Keystone
    ostium_url: str
    ostium_log: Path
    projects: dict[str, str]
    users: dict[str, str]
    tokens: list[str] = dataclasses.field(default_factory=list)
    lb: str = ""

    def token(self, user: str, project: str) -> str:
        token = self.keystone.token(user, PASSWORDS[user], project)
        self.tokens.append(token)
        return token

    def api(self, path: str, token: str | None = None) -> httpx.Response:
        headers = {"X-Auth-Token": token} if token is not None else {}
        return httpx.get(self.ostium_url + path, headers=headers, timeout=30)

    def authtoken(self, **changes: Any) -> KeystoneAuthtokenSettings:
        base = KeystoneAuthtokenSettings(
            auth_url=self.keystone.url,
            username="ostium",
            password=PASSWORDS["ostium"],
            project_name="service",
            http_request_max_retries=0,
        )
        return dataclasses.replace(base, **changes)


def _config(tmp: Path, keystone_url: str) -> Path:
    config = tmp / "ostium.ini"
    config.touch(mode=0o600)
    config.write_text(
        "[api_settings]\nauth_strategy = keystone\n"
        "[keystone_authtoken]\n"
        f"www_authenticate_uri = {keystone_url}/v3\n"
        f"auth_url = {keystone_url}\n"
        "auth_type = password\n"
        "username = ostium\n"
        f"password = {PASSWORDS['ostium']}\n"
        "project_name = service\n"
        "user_domain_name = Default\nproject_domain_name = Default\n"
        "memcached_servers = 127.0.0.1:11211\n"  # Octavia's option: accepted, unused
    )
    return config


def _serve(tmp: Path, config: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    """Start `ostium serve` (it does not ask Keystone anything before a request comes)."""
    log = tmp / "ostium.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *OSTIUM,
                "serve",
                "--config-file",
                str(config),
                "--state-dir",
                str(tmp / "state"),
                "--bind",
                f"127.0.0.1:{port}",
                "--compute-driver",
                "noop",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return proc, log


def _wait(proc: subprocess.Popen[bytes], log: Path, url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"ostium exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"ostium did not answer:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("external-keystone")
    keystone_port, port = _free_port(), _free_port()
    url = f"http://127.0.0.1:{port}"
    # ostium starts while Keystone is being set up: the two start-ups overlap
    proc, log = _serve(tmp, _config(tmp, f"http://127.0.0.1:{keystone_port}"), port)
    keystone: Keystone | None = None
    try:
        keystone = start_keystone(tmp / "keystone", keystone_port)
        users = {
            "ostium": keystone.user("ostium", PASSWORDS["ostium"], "service", ["service"]),
            "alice": keystone.user("alice", PASSWORDS["alice"], "alpha", ["member"]),
            "rita": keystone.user("rita", PASSWORDS["rita"], "alpha", ["reader"]),
            "bob": keystone.user("bob", PASSWORDS["bob"], "beta", ["member"]),
        }
        projects = {name: keystone.project(name) for name in ("alpha", "beta", "service")}
        keystone.service("load-balancer", "octavia", url)
        keystone.service("network", "neutron", url)
        _wait(proc, log, url)
        yield World(keystone, url, log, projects, users)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if keystone is not None:
            keystone.stop()


@dataclasses.dataclass
class Session:
    docs: list[Any]
    """The JSON documents printed, in order (commands that failed print none)."""
    stderr: str


def openstack(world: World, user: str, project: str, *commands: str) -> Session:
    """One interactive `openstack` session as `user` on `project` (one start-up and one
    token for several commands): auth URL and names as flags, the password in
    OS_PASSWORD (never on a command line); ostium is found in Keystone's catalog."""
    proc = subprocess.run(
        [
            OPENSTACK,
            "--os-auth-url",
            world.keystone.v3,
            "--os-username",
            user,
            "--os-project-name",
            project,
            "--os-user-domain-name",
            "Default",
            "--os-project-domain-name",
            "Default",
            "--os-region-name",
            "RegionOne",
        ],
        input="".join(c + "\n" for c in commands),
        capture_output=True,
        text=True,
        timeout=180,
        env={**client_env(), "OS_PASSWORD": PASSWORDS[user]},
    )
    docs: list[Any] = []
    decoder = json.JSONDecoder()
    out, pos = proc.stdout, 0
    while True:
        while pos < len(out) and out[pos] not in "[{":
            pos += 1
        if pos >= len(out):
            return Session(docs, proc.stderr)
        doc, pos = decoder.raw_decode(out, pos)
        docs.append(doc)


def _lb_ids(listing: list[dict[str, Any]]) -> set[str]:
    return {lb["id"] for lb in listing}


# ---- through ostium, with the openstack CLI -----------------------------------------


def test_member_creates_and_lists_through_keystone(world: World) -> None:
    create = "loadbalancer create --name ks-lb --vip-subnet-id vip-subnet -f json"
    alice = openstack(world, "alice", "alpha", create, "loadbalancer list -f json")
    assert len(alice.docs) == 2, alice.stderr
    lb, listing = alice.docs
    assert lb["name"] == "ks-lb" and lb["project_id"] == world.projects["alpha"]
    assert lb["id"] in _lb_ids(listing)
    world.lb = lb["id"]


def test_reader_reads_but_may_not_write(world: World) -> None:
    create = "loadbalancer create --name nope --vip-subnet-id vip-subnet -f json"
    rita = openstack(world, "rita", "alpha", "loadbalancer list -f json", create)
    assert len(rita.docs) == 1, rita.stderr  # the list; the create printed an error
    assert world.lb in _lb_ids(rita.docs[0])
    assert "Policy does not allow this request to be performed. (HTTP 403)" in rita.stderr


def test_other_project_sees_nothing_and_is_refused(world: World) -> None:
    bob = openstack(world, "bob", "beta", "loadbalancer list -f json")
    assert bob.docs == [[]], bob.stderr
    shown = world.api(f"/v2/lbaas/loadbalancers/{world.lb}", world.token("bob", "beta"))
    assert shown.status_code == 403
    assert shown.json()["faultstring"] == "Policy does not allow this request to be performed."
    # alice's token asking for beta's objects
    alice = world.token("alice", "alpha")
    other = world.api(f"/v2/lbaas/loadbalancers?project_id={world.projects['beta']}", alice)
    assert other.status_code == 403
    # Keystone's admin (admin project) sees every project's load balancers
    admin = world.keystone.admin_token()
    world.tokens.append(admin)
    everyone = world.api("/v2/lbaas/loadbalancers", admin).json()["loadbalancers"]
    assert world.lb in {x["id"] for x in everyone}


def test_missing_or_forged_token_is_401_pointing_at_keystone(world: World) -> None:
    good = world.token("alice", "alpha")
    forged = good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB")
    for token in (None, "", "not-a-token", forged, "x" * 10000):
        r = world.api("/v2/lbaas/loadbalancers", token)
        assert r.status_code == 401, (token and token[:20], r.text)
        assert r.headers["WWW-Authenticate"] == f'Keystone uri="{world.keystone.v3}"'
        assert r.json() == {
            "error": {
                "code": 401,
                "title": "Unauthorized",
                "message": "The request you have made requires authentication.",
            }
        }
    assert world.api("/v2/lbaas/loadbalancers", good).status_code == 200
    assert world.api("/").status_code == 200  # the version document needs no token


def test_no_token_or_password_in_ostium_log(world: World) -> None:
    text = world.ostium_log.read_text(errors="replace")
    assert world.tokens, "the tests above made tokens"
    for token in world.tokens:
        assert token not in text
    assert PASSWORDS["ostium"] not in text


# ---- the validator against the same Keystone ----------------------------------------


def test_application_credential_as_service_identity(world: World) -> None:
    own = world.token("ostium", "service")
    cred_id, secret = world.keystone.application_credential(
        world.users["ostium"], own, f"ostium-{secrets.token_hex(4)}"
    )
    validator = ExternalKeystone(
        world.authtoken(
            auth_type="v3applicationcredential",
            username="",
            password="",
            project_name="",
            application_credential_id=cred_id,
            application_credential_secret=secret,
        )
    )
    identity = validator.validate(world.token("alice", "alpha"))
    assert identity is not None
    assert identity.project_id == world.projects["alpha"]
    assert identity.user_id == world.users["alice"]
    assert {"member", "reader"} <= identity.roles  # Keystone expands implied roles
    assert validator.validate("gAAAAAB-unknown-token") is None


def test_revoked_token_lives_only_as_long_as_the_cache(world: World) -> None:
    cached = ExternalKeystone(world.authtoken(token_cache_time=300))
    uncached = ExternalKeystone(world.authtoken(token_cache_time=0))
    token = world.token("rita", "alpha")
    assert cached.validate(token) is not None and uncached.validate(token) is not None
    world.keystone.revoke(token)
    calls = cached.keystone_calls
    assert cached.validate(token) is not None  # remembered, as keystonemiddleware does
    assert cached.keystone_calls == calls  # and Keystone was not asked
    assert uncached.validate(token) is None


def test_own_token_renewed_after_keystone_revoked_it(world: World) -> None:
    validator = ExternalKeystone(world.authtoken(token_cache_time=0))
    assert validator.validate(world.token("alice", "alpha")) is not None
    # Disabling a user revokes every token it has: ostium's own token is now dead.
    user = f"/users/{world.users['ostium']}"
    world.keystone.call("PATCH", user, {"user": {"enabled": False}})
    world.keystone.call("PATCH", user, {"user": {"enabled": True}})
    identity = validator.validate(world.token("bob", "beta"))
    assert identity is not None and identity.project_id == world.projects["beta"]


def test_keystone_unreachable_or_refusing_ostium_is_503(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    token = world.token("alice", "alpha")
    caplog.set_level(logging.DEBUG)
    closed = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(ServiceUnavailable):
        ExternalKeystone(world.authtoken(auth_url=closed)).validate(token)
    wrong = "wrong-" + secrets.token_urlsafe(8)
    with pytest.raises(ServiceUnavailable) as refused:
        ExternalKeystone(world.authtoken(password=wrong)).validate(token)
    assert "401" in caplog.text and "user ostium" in caplog.text
    for secret in (wrong, token, PASSWORDS["ostium"]):
        assert secret not in caplog.text and secret not in refused.value.message
