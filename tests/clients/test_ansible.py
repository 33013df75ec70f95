"""Ansible's `openstack.cloud.loadbalancer` module (from the `ansible` package) against
`ostium serve`: a play creates a load balancer, the same play again changes nothing,
the play with `state: absent` deletes it, and again changes nothing.

`ansible-playbook` runs the play on localhost (connection local) with this
interpreter, so the module finds the same openstacksdk; the connection is a `cloud`
dictionary as a user without Keystone would write it (`auth_type: none` or
`admin_token`, plus endpoint overrides for the load-balancer and network services).
After creating, the module asks for the floating IPs of the VIP port, which is why
ostium answers `GET /v2.0/floatingips`. Every run is bounded by a timeout and whatever
a test created is deleted through the API at the end, whatever failed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import Ostium, client_env

ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
MODULE_TIMEOUT = 60  # the module's own wait for ACTIVE / for the delete

# The openstack.cloud collection that the `ansible` package ships for Python 3.11
# (2.5.x) reads `openstack.version.__version__`; openstacksdk >= 4.15 still has the
# module but no longer imports it by itself (collection 2.6 reads the version another
# way). A user pairing the two meets the same error; the module's interpreter imports
# it first here. Nothing of ostium is involved.
SDK_VERSION_SHIM = """\
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import openstack.version  # noqa: F401
    except ImportError:
        pass
"""


def cloud(server: Ostium, token: str | None = None) -> dict[str, Any]:
    auth: dict[str, str] = {"endpoint": server.url}
    if token is not None:
        auth["token"] = token
    return {
        "auth_type": "admin_token" if token is not None else "none",
        "auth": auth,
        "load_balancer_endpoint_override": server.url,
        "network_endpoint_override": server.url,
    }


def play(
    tmp: Path, connection: dict[str, Any], name: str, state: str, check: bool = False
) -> dict[str, Any]:
    """Run a one-task play; the task's result (changed, load_balancer, ...)."""
    shim = tmp / "sdk-shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(SDK_VERSION_SHIM)
    task = {
        "name": "load balancer",
        "environment": {"PYTHONPATH": str(shim)},
        "openstack.cloud.loadbalancer": {
            "cloud": connection,
            "name": name,
            "vip_subnet": "vip-subnet",
            "description": "made by ansible",
            "state": state,
            "wait": True,
            "timeout": MODULE_TIMEOUT,
        },
    }
    book = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": sys.executable},
            "tasks": [task],
        }
    ]
    path = tmp / f"{name}-{state}.yml"
    path.write_text(json.dumps(book))  # JSON is YAML
    env = {
        **client_env(),
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_CONFIG": str(tmp / "no-ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    }
    argv = [ANSIBLE_PLAYBOOK, "-i", "localhost,", str(path), *(["--check"] if check else [])]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=MODULE_TIMEOUT * 3,
        env=env,
        cwd=tmp,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"ansible-playbook rc={proc.returncode}\n{proc.stdout[-4000:]}"
    out = json.loads(proc.stdout)
    (result,) = [t["hosts"]["localhost"] for p in out["plays"] for t in p["tasks"]]
    return dict(result)


def lbs_named(server: Ostium, name: str, token: str | None = None) -> list[dict[str, Any]]:
    r = server.get(f"/v2/lbaas/loadbalancers?name={name}", token)
    assert r.status_code == 200, r.text
    return list(r.json()["loadbalancers"])


@pytest.fixture
def cleanup() -> Iterator[Callable[[Ostium, str, str | None], None]]:
    """Register (server, name, token): whatever load balancer of that name is left is
    deleted (cascade) when the test ends."""
    left: list[tuple[Ostium, str, str | None]] = []

    def register(server: Ostium, name: str, token: str | None) -> None:
        left.append((server, name, token))

    yield register
    for server, name, token in left:
        for lb in lbs_named(server, name, token):
            httpx.delete(
                f"{server.url}/v2/lbaas/loadbalancers/{lb['id']}?cascade=true",
                headers=server.headers(token),
                timeout=10,
            )


def test_create_rerun_delete_noauth(
    ostium_server: Callable[[str], Ostium],
    tmp_path: Path,
    cleanup: Callable[[Ostium, str, str | None], None],
) -> None:
    server = ostium_server("noauth")
    conn = cloud(server)
    cleanup(server, "ansible-lb", None)
    assert play(tmp_path, conn, "ansible-lb", "present", check=True)["changed"] is True
    assert lbs_named(server, "ansible-lb") == []

    created = play(tmp_path, conn, "ansible-lb", "present")
    assert created["changed"] is True
    lb = created["load_balancer"]
    assert lb["provisioning_status"] == "ACTIVE" and lb["description"] == "made by ansible"
    assert "floating_ip" not in created  # ostium has none; the module looked them up
    (seen,) = lbs_named(server, "ansible-lb")
    assert seen["id"] == lb["id"] and seen["vip_address"] == lb["vip_address"]

    again = play(tmp_path, conn, "ansible-lb", "present")
    assert again["changed"] is False and again["load_balancer"]["id"] == lb["id"]
    assert [x["id"] for x in lbs_named(server, "ansible-lb")] == [lb["id"]]

    assert play(tmp_path, conn, "ansible-lb", "absent")["changed"] is True
    assert lbs_named(server, "ansible-lb") == []
    assert server.get(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 404
    assert play(tmp_path, conn, "ansible-lb", "absent")["changed"] is False


def test_create_and_delete_with_a_token(
    ostium_server: Callable[[str], Ostium],
    tmp_path: Path,
    cleanup: Callable[[Ostium, str, str | None], None],
) -> None:
    server = ostium_server("token")
    token = server.token("ansible-project", "member")
    conn = cloud(server, token)
    cleanup(server, "ansible-tok", token)
    created = play(tmp_path, conn, "ansible-tok", "present")
    assert created["changed"] is True
    assert created["load_balancer"]["project_id"] == "ansible-project"
    assert play(tmp_path, conn, "ansible-tok", "present")["changed"] is False
    assert play(tmp_path, conn, "ansible-tok", "absent")["changed"] is True
    assert lbs_named(server, "ansible-tok", token) == []
