"""A real Keystone on loopback, for the external-Keystone tests and `make tempest`.

`start_keystone(workdir, port)` writes a keystone.conf (SQLite, Fernet tokens, fast
password hashing) and the Fernet key repositories, copies an empty database made once
by `keystone-manage db_sync` (`make_template`), runs `keystone-manage bootstrap`
(admin user and project, roles admin > manager > member > reader and service, an
`identity` endpoint in region RegionOne), then starts `keystone_wsgi.py` with the
Python of Keystone's own virtualenv (`make keystone-venv`, default `var/keystone-venv`:
Keystone's pins clash with ostium's) and waits until `GET /v3` answers. The returned
`Keystone` drives the identity admin API with httpx (projects, users, role grants,
catalog entries, application credentials); `stop()` ends the process (the caller owns
`workdir`).
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
KEYSTONE_VENV = Path(
    os.environ.get("OSTIUM_KEYSTONE_VENV", ROOT / "var" / "keystone-venv")
).resolve()
REGION = "RegionOne"

CONF = """\
[DEFAULT]
log_file = {work}/keystone.log
debug = false
[database]
connection = sqlite:///{work}/keystone.sqlite
[token]
provider = fernet
expiration = 7200
[fernet_tokens]
key_repository = {work}/fernet-keys
[fernet_receipts]
key_repository = {work}/fernet-receipts
[credential]
key_repository = {work}/credential-keys
[identity]
password_hash_rounds = 4
"""


class KeystoneMissing(RuntimeError):
    pass


@dataclass
class Keystone:
    url: str
    """Base URL (no version); the identity API is `url + "/v3"`."""
    admin_password: str
    workdir: Path
    proc: subprocess.Popen[bytes]
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    _admin_token: str | None = None
    _roles: dict[str, str] = field(default_factory=dict)
    _projects: dict[str, str] = field(default_factory=dict)

    @property
    def v3(self) -> str:
        return self.url + "/v3"

    def log(self) -> str:
        path = self.workdir / "keystone.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # ---- tokens ----------------------------------------------------------------

    def token(
        self, user: str, password: str, project: str | None = None, domain: str = "Default"
    ) -> str:
        """A token for `user` (name in `domain`), scoped to `project` (name) if given."""
        auth: dict[str, Any] = {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"name": domain}, "password": password}
                },
            }
        }
        if project is not None:
            auth["scope"] = {"project": {"name": project, "domain": {"name": domain}}}
        r = self.client.post(self.v3 + "/auth/tokens?nocatalog", json={"auth": auth})
        assert r.status_code == 201, f"token for {user}: {r.status_code} {r.text[:300]}"
        return r.headers["X-Subject-Token"]

    def admin_token(self) -> str:
        if self._admin_token is None:
            self._admin_token = self.token("admin", self.admin_password, "admin")
        return self._admin_token

    def revoke(self, token: str) -> None:
        r = self.client.delete(
            self.v3 + "/auth/tokens",
            headers={"X-Auth-Token": self.admin_token(), "X-Subject-Token": token},
        )
        assert r.status_code == 204, r.text

    # ---- identity admin API ------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        r = self._send(method, path, body, token)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text[:300]}"
        return r.json() if r.content else None

    def _send(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> httpx.Response:
        headers = {"X-Auth-Token": token or self.admin_token()}
        return self.client.request(method, self.v3 + path, json=body, headers=headers)

    def _create(self, kind: str, body: dict[str, Any], name: str) -> str:
        """POST first (one call on a fresh Keystone); on 409 the existing one by name."""
        r = self._send("POST", f"/{kind}s", {kind: body})
        if r.status_code == 409:
            return str(self.call("GET", f"/{kind}s?name={name}")[f"{kind}s"][0]["id"])
        assert r.status_code == 201, f"POST /{kind}s: {r.status_code} {r.text[:300]}"
        return str(r.json()[kind]["id"])

    def project(self, name: str) -> str:
        if name not in self._projects:
            body = {"name": name, "domain_id": "default"}
            self._projects[name] = self._create("project", body, name)
        return self._projects[name]

    def role(self, name: str) -> str:
        if not self._roles:  # bootstrap made admin, manager, member, reader, service
            self._roles = {r["name"]: r["id"] for r in self.call("GET", "/roles")["roles"]}
        if name not in self._roles:
            self._roles[name] = self._create("role", {"name": name}, name)
        return self._roles[name]

    def user(self, name: str, password: str, project: str, roles: list[str]) -> str:
        """A user with `roles` on `project` (names; both created when missing)."""
        project_id = self.project(project)
        body = {"name": name, "password": password, "domain_id": "default"}
        user_id = self._create("user", body, name)
        for role in roles:
            self.call("PUT", f"/projects/{project_id}/users/{user_id}/roles/{self.role(role)}")
        return user_id

    def service(self, kind: str, name: str, url: str) -> None:
        """Catalog: service `kind` with public, internal and admin endpoints at `url`
        (replacing any endpoint that service had)."""
        services = self.call("GET", f"/services?type={kind}")["services"]
        if services:
            service_id = services[0]["id"]
            for ep in self.call("GET", f"/endpoints?service_id={service_id}")["endpoints"]:
                self.call("DELETE", f"/endpoints/{ep['id']}")
        else:
            body = {"service": {"type": kind, "name": name, "enabled": True}}
            service_id = self.call("POST", "/services", body)["service"]["id"]
        for interface in ("public", "internal", "admin"):
            endpoint = {
                "service_id": service_id,
                "interface": interface,
                "url": url,
                "region_id": REGION,
            }
            self.call("POST", "/endpoints", {"endpoint": endpoint})

    def application_credential(self, user_id: str, user_token: str, name: str) -> tuple[str, str]:
        """(id, secret) of a new application credential of the user (own token)."""
        body = {"application_credential": {"name": name}}
        cred = self.call("POST", f"/users/{user_id}/application_credentials", body, user_token)
        return str(cred["application_credential"]["id"]), str(
            cred["application_credential"]["secret"]
        )

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def _manage(conf: Path, *args: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(
        [str(KEYSTONE_VENV / "bin" / "keystone-manage"), "--config-file", str(conf), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"keystone-manage {args[0]} failed:\n{proc.stderr[-3000:]}")


def _fernet_repository(path: Path) -> None:
    """What `keystone-manage fernet_setup` writes (key 0 staged, key 1 primary), without
    starting one more Keystone process."""
    path.mkdir(mode=0o700, exist_ok=True)
    for name in ("0", "1"):
        key = path / name
        if not key.exists():
            key.touch(mode=0o600)
            key.write_bytes(base64.urlsafe_b64encode(secrets.token_bytes(32)))


def make_template() -> Path:
    """An empty Keystone database (`db_sync` done) kept next to Keystone's virtualenv:
    `make keystone-venv` makes it once, each start copies it (one Keystone process
    fewer per start). Made again whenever missing."""
    template = KEYSTONE_VENV / "keystone-template.sqlite"
    if not template.exists():
        with tempfile.TemporaryDirectory(prefix="ostium-keystone-") as tmp:
            work = Path(tmp)
            conf = work / "keystone.conf"
            conf.write_text(CONF.format(work=work))
            _manage(conf, "db_sync")
            shutil.copyfile(work / "keystone.sqlite", template.with_suffix(".tmp"))
        template.with_suffix(".tmp").rename(template)
    return template


def start_keystone(workdir: Path, port: int, host: str = "127.0.0.1") -> Keystone:
    python = KEYSTONE_VENV / "bin" / "python"
    if not (KEYSTONE_VENV / "bin" / "keystone-manage").exists():
        raise KeystoneMissing(
            f"no Keystone in {KEYSTONE_VENV}: run `make keystone-venv` (the `make test` "
            "and `make tempest` targets do)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "keystone.conf"
    conf.write_text(CONF.format(work=workdir))
    url = f"http://{host}:{port}"
    password = secrets.token_urlsafe(18)
    for repo in ("fernet-keys", "fernet-receipts", "credential-keys"):
        _fernet_repository(workdir / repo)
    template = make_template()
    shutil.copyfile(template, workdir / "keystone.sqlite")
    # the password reaches keystone-manage through its environment, not its argv
    _manage(
        conf,
        "bootstrap",
        "--bootstrap-public-url",
        url + "/v3",
        "--bootstrap-internal-url",
        url + "/v3",
        "--bootstrap-admin-url",
        url + "/v3",
        "--bootstrap-region-id",
        REGION,
        env={"OS_BOOTSTRAP_PASSWORD": password},
    )
    out = (workdir / "keystone-wsgi.log").open("wb")
    proc = subprocess.Popen(
        [
            str(python),
            "-W",
            "ignore",
            str(ROOT / "tools" / "keystone_wsgi.py"),
            str(conf),
            host,
            str(port),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    out.close()
    keystone = Keystone(url=url, admin_password=password, workdir=workdir, proc=proc)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"keystone exited with {proc.returncode}:\n"
                + (workdir / "keystone-wsgi.log").read_text(errors="replace")[-3000:]
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/v3", timeout=2).status_code == 200:
                return keystone
        if time.monotonic() > deadline:
            keystone.stop()
            raise RuntimeError(f"keystone did not answer on {url}:\n{keystone.log()}")
        time.sleep(0.2)


if __name__ == "__main__":
    # `python -m tools.keystone_local template`: what `make keystone-venv` runs.
    if sys.argv[1:] != ["template"]:
        raise SystemExit("usage: python -m tools.keystone_local template")
    print(make_template())
