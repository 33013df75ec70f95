"""Real clients authenticating against ostium's built-in Keystone (`ostium serve
--auth-strategy keystone`), one server for the whole module: the openstack CLI with
`--os-auth-url/--os-username/--os-password/--os-project-name` and with the clouds.yaml
that `ostium identity clouds-yaml` prints, openstacksdk's `openstack.connect(cloud=...)`,
Ansible's openstack.cloud modules, and a gophercloud program doing Kubernetes'
cloud-provider-openstack load balancer flow (built with Debian's Go and gophercloud in
GOPATH mode). Nothing is given an endpoint: every client finds load-balancer, network
and identity in the token's catalog.

Users (made with `ostium identity ...` and with the CLI as admin): `alice` is a member
of project `demo`, `rita` a reader there.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import openstack
import pytest

from ostium.control.cli import main
from tests.clients.conftest import OPENSTACK, Ostium, client_env
from tests.clients.test_ansible import play

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:openstack.*")
GOPHERCLOUD = Path("/usr/share/gocode")
LBFLOW = Path(__file__).parent / "gophercloud" / "lbflow.go"
ALICE_PW = "alice-has-a-long-passphrase"


@dataclass
class Cloud:
    server: Ostium
    admin_password: str
    demo_id: str
    clouds_yaml: Path
    tmp: Path

    @property
    def auth_url(self) -> str:
        return self.server.url + "/v3"

    def ostium(self, *args: str) -> str:
        """`ostium <args>` run in this process (its start-up is most of a command's
        time) against the server's state directory; its standard output."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = main([*args, "--state-dir", str(self.server.state_dir)])
        assert rc == 0, out.getvalue()
        return out.getvalue()

    def token(self, user: str, password: str, project: str = "demo") -> str:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": user, "domain": {"name": "Default"}, "password": password}
                    },
                },
                "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
            }
        }
        r = httpx.post(self.auth_url + "/auth/tokens", json=body, timeout=30)
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"]

    def cli(self, user: str, password: str, project: str = "demo") -> list[str]:
        return [
            OPENSTACK,
            f"--os-auth-url={self.auth_url}",
            f"--os-username={user}",
            f"--os-password={password}",
            f"--os-project-name={project}",
            "--os-user-domain-name=Default",
            "--os-project-domain-name=Default",
        ]


def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        env={**client_env(), **(env or {})},
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def cloud(ostium_server: Callable[..., Ostium], tmp_path_factory: pytest.TempPathFactory) -> Cloud:
    server = ostium_server("keystone")
    tmp = tmp_path_factory.mktemp("keystone-clients")
    secret = server.state_dir / "admin-password"
    admin_password = secret.read_text().strip()
    c = Cloud(server, admin_password, "", tmp / "clouds.yaml", tmp)
    c.demo_id = c.ostium("identity", "project", "create", "demo").strip()
    (tmp / "alice.pw").write_text(ALICE_PW + "\n")
    c.ostium(
        "identity",
        "user",
        "create",
        "alice",
        "--project",
        "demo",
        "--password-file",
        str(tmp / "alice.pw"),
    )
    c.ostium("identity", "role", "add", "member", "--user", "alice", "--project", "demo")
    admin = json.loads(c.ostium("identity", "clouds-yaml", "--url", server.url))
    demo = json.loads(
        c.ostium(
            "identity",
            "clouds-yaml",
            "--url",
            server.url,
            "--cloud",
            "demo",
            "--username",
            "alice",
            "--project",
            "demo",
            "--password-file",
            str(tmp / "alice.pw"),
        )
    )
    c.clouds_yaml.write_text(json.dumps({"clouds": {**admin["clouds"], **demo["clouds"]}}))
    server.keystone_token = c.token("admin", admin_password, "admin")
    return c


def wait_lb(cloud: Cloud, token: str, lb_id: str, gone: bool = False) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = cloud.server.get(f"/v2/lbaas/loadbalancers/{lb_id}", token)
        if gone and r.status_code == 404:
            return
        assert r.status_code == 200, r.text
        status = r.json()["loadbalancer"]["provisioning_status"]
        if status == "ACTIVE" and not gone:
            return
        assert status != "ERROR"
        time.sleep(0.1)
    raise AssertionError(f"load balancer {lb_id} did not settle")


def test_admin_password_written_once_and_never_logged(cloud: Cloud) -> None:
    path = cloud.server.state_dir / "admin-password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(cloud.admin_password) >= 32
    assert cloud.admin_password not in cloud.server.logs()
    out = cloud.ostium("identity", "bootstrap")
    assert "unchanged" in out and cloud.admin_password not in out
    (cloud.tmp / "rita.pw").write_text("rita-pw\n")
    cloud.ostium(
        "identity", "user", "create", "rita", "--password-file", str(cloud.tmp / "rita.pw")
    )
    cloud.ostium("identity", "role", "add", "reader", "--user", "rita", "--project", "demo")


def test_openstack_cli_with_password_flags(cloud: Cloud) -> None:
    alice = cloud.cli("alice", ALICE_PW)
    r = run(
        [
            *alice,
            "loadbalancer",
            "create",
            "--name",
            "cli-lb",
            "--vip-subnet-id",
            "vip-subnet",
            "-f",
            "json",
        ]
    )
    assert r.returncode == 0, r.stderr
    lb = json.loads(r.stdout)
    assert lb["project_id"] == cloud.demo_id
    token = cloud.token("alice", ALICE_PW)
    wait_lb(cloud, token, lb["id"])
    with ThreadPoolExecutor(max_workers=2) as pool:
        wrong, reader = pool.map(
            run,
            [
                [*cloud.cli("alice", "wrong-password"), "loadbalancer", "list"],
                [*cloud.cli("rita", "rita-pw"), "loadbalancer", "delete", "cli-lb"],
            ],
        )
    assert wrong.returncode != 0 and "401" in wrong.stderr, wrong.stderr
    assert ALICE_PW not in wrong.stderr
    assert reader.returncode != 0 and "Policy does not allow" in reader.stderr, reader.stderr


def test_openstack_secret_cli_finds_the_key_manager_in_the_catalog(cloud: Cloud) -> None:
    # No --os-key-manager-url: barbicanclient discovers v1 at the catalog's endpoint.
    alice = cloud.cli("alice", ALICE_PW)
    r = run([*alice, "secret", "store", "--name", "kc", "--payload", "kc-payload", "-f", "json"])
    assert r.returncode == 0, r.stderr
    ref = json.loads(r.stdout)["Secret href"]
    assert "/key-manager/v1/secrets/" in ref
    r = run([*alice, "secret", "get", "--payload", ref, "-f", "value"])
    assert (r.returncode, r.stdout.strip()) == (0, "kc-payload"), r.stderr
    assert run([*alice, "secret", "delete", ref]).returncode == 0


def test_openstack_cli_with_clouds_yaml(cloud: Cloud) -> None:
    """The admin's cloud from `ostium identity clouds-yaml`; `--project demo` is
    resolved through the identity API of the catalog."""
    env = {"OS_CLIENT_CONFIG_FILE": str(cloud.clouds_yaml)}
    theirs = run(
        [
            OPENSTACK,
            "--os-cloud",
            "ostium",
            "loadbalancer",
            "list",
            "--project",
            "demo",
            "-f",
            "json",
        ],
        env,
    )
    assert theirs.returncode == 0, theirs.stderr
    (lb,) = json.loads(theirs.stdout)
    assert lb["name"] == "cli-lb"
    r = cloud.server.delete(f"/v2/lbaas/loadbalancers/{lb['id']}")
    assert r.status_code == 204, r.text


def test_openstacksdk_connect_cloud(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(cloud.clouds_yaml))
    conn = openstack.connect(cloud="demo")
    try:
        subnet = conn.network.find_subnet("vip-subnet")
        assert subnet is not None
        lb = conn.load_balancer.create_load_balancer(name="sdk-ks", vip_subnet_id=subnet.id)
        assert lb.project_id == cloud.demo_id
        lb = conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.1, wait=60)  # type: ignore[arg-type]
        assert lb.provisioning_status == "ACTIVE"
        assert conn.current_project_id == cloud.demo_id
        conn.load_balancer.delete_load_balancer(lb.id)
        conn.load_balancer.wait_for_delete(lb, interval=0.1, wait=60)  # type: ignore[arg-type]
    finally:
        conn.close()


def test_ansible_with_keystone_password(cloud: Cloud) -> None:
    clouds = json.loads(cloud.clouds_yaml.read_text())["clouds"]
    created = play(cloud.tmp, clouds["demo"], "ansible-ks", "present")
    assert created["changed"] is True
    lb = created["load_balancer"]
    assert lb["provisioning_status"] == "ACTIVE" and lb["project_id"] == cloud.demo_id
    r = cloud.server.delete(f"/v2/lbaas/loadbalancers/{lb['id']}")
    assert r.status_code == 204, r.text


def test_gophercloud_cloud_provider_openstack_flow(cloud: Cloud) -> None:
    go = shutil.which("go")
    assert go is not None, "`go` not found: `make test` installs golang-go (Makefile DEBS)"
    assert (GOPHERCLOUD / "src/github.com/gophercloud/gophercloud").is_dir(), (
        "gophercloud not found: `make test` installs golang-github-gophercloud-gophercloud-dev"
    )
    gopath = cloud.tmp / "gopath"
    (gopath / "src" / "lbflow").mkdir(parents=True)
    shutil.copy(LBFLOW, gopath / "src" / "lbflow" / "main.go")
    env = {
        **client_env(),
        "GOPATH": f"{gopath}:{GOPHERCLOUD}",
        "GO111MODULE": "off",
        "GOFLAGS": "",
        "HOME": os.environ.get("HOME", str(cloud.tmp)),
    }
    binary = cloud.tmp / "lbflow"
    built = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=gopath / "src" / "lbflow",
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert built.returncode == 0, built.stderr
    token = cloud.token("alice", ALICE_PW)
    alice = httpx.get(
        cloud.auth_url + "/auth/tokens",
        headers={"X-Auth-Token": token, "X-Subject-Token": token},
        timeout=10,
    ).json()["token"]["user"]["id"]
    r = httpx.post(
        f"{cloud.auth_url}/users/{alice}/application_credentials",
        json={"application_credential": {"name": "cpo"}},
        headers={"X-Auth-Token": token},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    cred = r.json()["application_credential"]
    # What cloud-provider-openstack's cloud.conf [Global] section carries.
    conf = {
        "OS_AUTH_URL": cloud.auth_url,
        "OS_REGION_NAME": "RegionOne",
        "OS_USERNAME": "alice",
        "OS_PASSWORD": ALICE_PW,
        "OS_PROJECT_NAME": "demo",
        "OS_DOMAIN_NAME": "Default",
        "OS_APPLICATION_CREDENTIAL_ID": cred["id"],
        "OS_APPLICATION_CREDENTIAL_SECRET": cred["secret"],
    }
    flow = subprocess.run(
        [str(binary)], capture_output=True, text=True, timeout=300, env={**env, **conf}
    )
    assert flow.returncode == 0, flow.stdout + flow.stderr
    steps = [line.removeprefix("ok ") for line in flow.stdout.splitlines()]
    assert steps[:4] == [
        "password auth",
        "application credential auth",
        "token auth",
        "wrong password refused",
    ]
    assert steps[-1] == "load balancer gone" and len(steps) == 22
