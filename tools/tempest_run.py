"""`make tempest`: Octavia's own API tests (octavia-tempest-plugin) against ostium.

By default everything is started here and stopped at the end, also on failure: a real
Keystone (`tools/keystone_local.py`, `make keystone-venv`) with a service user for
ostium and ostium in its catalog as `load-balancer`, `network` and `key-manager`, and `ostium serve`
(`auth_strategy = keystone` against that Keystone, noop compute driver, its own state
directory, free loopback ports). `--builtin-keystone` starts no Keystone: tempest then
uses ostium's own `/v3`, catalog and identity admin API. Any other Keystone can be used
(`--identity-uri`, `--admin-*`) with any running ostium (`--ostium-url`: it must be in
that Keystone's catalog already).

Then a tempest workspace in `--workdir` (default `var/tempest`) gets a tempest.conf:
dynamic credentials (tempest creates projects and users with the admin account), no
isolated networks, `test_network_override` = ostium's `vip-net` (`test_subnet_override`
stays unset: octavia-tempest-plugin 3.5.0 keeps the `{"subnet": ...}` wrapper of that
lookup and every class setup fails with `KeyError: 'id'`; see docs/TEMPEST.md), and
feature flags for what ostium supports today (PROMETHEUS listeners and UDP/SCTP on;
the TERMINATED_HTTPS tests with `--tls`, which also says barbican is available; the
IPv6 tests off: not yet tried with the `vip-subnet-v6` subnet of `vip-net`). `tempest run` runs
`octavia_tempest_plugin.tests.api` (or `--regex`), and this prints ONE JSON document:
the run's figures, failures grouped by cause and skips grouped by reason
(`tools/tempest_results.py`). Exit status 0 whatever the figures: this reports, it does
not gate.

    .venv/bin/python -m tools.tempest_run [--concurrency 2] [--regex R] [--identity-uri U ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tools.keystone_local import ROOT, Keystone, start_keystone

TEMPEST_VENV = Path(os.environ.get("OSTIUM_TEMPEST_VENV", ROOT / "var" / "tempest-venv")).resolve()
OSTIUM = [sys.executable, "-m", "ostium"]
DRIVERS = (
    "amphora:ostium amphora driver: HAProxy in Linux network namespaces.,"
    "octavia:Deprecated alias of the amphora driver."
)
"""`GET /v2/lbaas/providers` as ostium answers it (the plugin compares the texts)."""

TEMPEST_CONF = """\
[DEFAULT]
log_file = {work}/tempest.log
debug = false

[auth]
use_dynamic_credentials = true
create_isolated_networks = false
admin_username = {admin_user}
admin_password = {admin_password}
admin_project_name = {admin_project}
admin_domain_name = {admin_domain}
default_credentials_domain_name = {admin_domain}

[identity]
uri_v3 = {identity_uri}
auth_version = v3
region = {region}
v3_endpoint_type = public
admin_role = admin

[identity-feature-enabled]
api_v2 = false

[service_available]
load_balancer = true
neutron = true
nova = true
glance = true
cinder = false
swift = false
barbican = {tls}

[network]
project_networks_reachable = true

[validation]
run_validation = false

[load_balancer]
region = {region}
endpoint_type = publicURL
provider = amphora
enabled_provider_drivers = {drivers}
RBAC_test_type = keystone_default_roles
test_with_noop = false
test_with_ipv6 = false
test_network_override = {network_id}
loadbalancer_topology = SINGLE
build_interval = 0.5
build_timeout = 120
lb_build_interval = 0.5
lb_build_timeout = 120
check_interval = 0.5
check_timeout = 60
log_user_roles = false
availability_zone = ostium-az1
availability_zone2 = ostium-az2
availability_zone3 = ostium-az3

[loadbalancer-feature-enabled]
not_implemented_is_error = true
health_monitor_enabled = true
terminated_tls_enabled = {tls}
l7_protocol_enabled = true
pool_algorithms_enabled = true
l4_protocol = TCP
session_persistence_enabled = true
spare_pool_enabled = false
log_offload_enabled = false
prometheus_listener_enabled = true

[enforce_scope]
octavia = false
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@contextlib.contextmanager
def _serve(work: Path, port: int, driver: str, config_text: str) -> Iterator[str]:
    """`ostium serve` on loopback with this config until the block ends; its URL."""
    url = f"http://127.0.0.1:{port}"
    proc: subprocess.Popen[bytes] | None = None
    try:
        config = work / "ostium.ini"
        config.touch(mode=0o600)
        config.write_text(config_text)
        with (work / "ostium.log").open("wb") as out:
            proc = subprocess.Popen(
                [*OSTIUM, "serve", "--config-file", str(config), "--state-dir",
                 str(work / "ostium-state"), "--bind", f"127.0.0.1:{port}",
                 "--compute-driver", driver],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"ostium exited; see {work / 'ostium.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"ostium did not answer; see {work / 'ostium.log'}")
            time.sleep(0.2)
        yield url
    finally:
        if proc is not None:
            _stop(proc)


@contextlib.contextmanager
def _local_stack(work: Path, driver: str) -> Iterator[tuple[Keystone, str]]:
    """A real Keystone and `ostium serve` validating tokens against it."""
    keystone_port, port = _free_port(), _free_port()
    url = f"http://127.0.0.1:{port}"
    keystone = start_keystone(work / "keystone", keystone_port)
    try:
        password = secrets.token_urlsafe(18)
        keystone.user("ostium", password, "service", ["service"])
        keystone.service("load-balancer", "octavia", url)
        keystone.service("network", "neutron", url)
        keystone.service("key-manager", "barbican", f"{url}/key-manager")  # ostium's /v1
        config = (
            "[api_settings]\nauth_strategy = keystone\n"
            "[keystone_authtoken]\n"
            f"www_authenticate_uri = {keystone.v3}\nauth_url = {keystone.url}\n"
            f"username = ostium\npassword = {password}\nproject_name = service\n"
        )
        with _serve(work, port, driver, config):
            yield keystone, url
    finally:
        keystone.stop()


@contextlib.contextmanager
def _builtin_stack(work: Path, driver: str) -> Iterator[tuple[str, str]]:
    """`ostium serve` with its built-in Keystone: (its URL, the admin password it wrote
    on its first start)."""
    config = "[api_settings]\nauth_strategy = keystone\n"
    with _serve(work, _free_port(), driver, config) as url:
        password_file = work / "ostium-state" / "admin-password"
        yield url, password_file.read_text().strip()


def _admin_token(args: argparse.Namespace) -> str:
    auth = {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": {
                    "name": args.admin_user,
                    "domain": {"name": args.admin_domain},
                    "password": args.admin_password,
                }
            },
        },
        "scope": {"project": {"name": args.admin_project, "domain": {"name": args.admin_domain}}},
    }
    r = httpx.post(args.identity_uri.rstrip("/") + "/auth/tokens", json={"auth": auth}, timeout=30)
    if r.status_code != 201:
        raise RuntimeError(f"admin login at {args.identity_uri}: {r.status_code}")
    return r.headers["X-Subject-Token"]


def _vip_ids(ostium_url: str, token: str) -> tuple[str, str]:
    headers = {"X-Auth-Token": token}
    nets = httpx.get(f"{ostium_url}/v2.0/networks?name=vip-net", headers=headers, timeout=30)
    subs = httpx.get(f"{ostium_url}/v2.0/subnets?name=vip-subnet", headers=headers, timeout=30)
    nets.raise_for_status()
    subs.raise_for_status()
    return nets.json()["networks"][0]["id"], subs.json()["subnets"][0]["id"]


def _run_tempest(args: argparse.Namespace, work: Path, ostium_url: str) -> dict[str, Any]:
    network_id, _subnet_id = _vip_ids(ostium_url, _admin_token(args))
    workspace = work / "workspace"
    if workspace.exists():
        shutil.rmtree(workspace)
    tempest = str(TEMPEST_VENV / "bin" / "tempest")
    subprocess.run(
        [tempest, "init", "--name", f"ostium-{secrets.token_hex(3)}", str(workspace)],
        check=True, capture_output=True, cwd=work,
        env={**os.environ, "HOME": str(work)},
    )  # fmt: skip
    conf = workspace / "etc" / "tempest.conf"
    conf.write_text(
        TEMPEST_CONF.format(
            work=workspace,
            admin_user=args.admin_user,
            admin_password=args.admin_password,
            admin_project=args.admin_project,
            admin_domain=args.admin_domain,
            identity_uri=args.identity_uri,
            region=args.region,
            network_id=network_id,
            drivers=DRIVERS,
            tls=str(args.tls).lower(),
        )
    )
    conf.chmod(0o600)
    started = time.monotonic()
    run = subprocess.run(
        [tempest, "run", "--regex", args.regex, "--concurrency", str(args.concurrency)],
        cwd=workspace, capture_output=True, text=True,
        env={**os.environ, "HOME": str(work)},
    )  # fmt: skip
    seconds = round(time.monotonic() - started, 1)
    (work / "tempest-run.out").write_text(run.stdout + run.stderr)
    stream = subprocess.run(
        [str(TEMPEST_VENV / "bin" / "stestr"), "last", "--subunit"],
        cwd=workspace, capture_output=True,
    )  # fmt: skip
    parsed = subprocess.run(
        [str(TEMPEST_VENV / "bin" / "python"), str(ROOT / "tools" / "tempest_results.py")],
        input=stream.stdout, capture_output=True, check=True,
    )  # fmt: skip
    summary: dict[str, Any] = json.loads(parsed.stdout)
    summary["seconds"] = seconds
    summary["tempest_exit_status"] = run.returncode
    summary["output"] = str(work / "tempest-run.out")
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--identity-uri", help="Keystone v3 URL (default: start a real Keystone)")
    p.add_argument("--admin-user", default="admin")
    p.add_argument("--admin-password", default=os.environ.get("OSTIUM_TEMPEST_ADMIN_PASSWORD"))
    p.add_argument("--admin-project", default="admin")
    p.add_argument("--admin-domain", default="Default")
    p.add_argument("--region", default="RegionOne")
    p.add_argument("--ostium-url", help="a running ostium in that Keystone's catalog")
    p.add_argument("--compute-driver", default="noop", help="for the ostium started here")
    p.add_argument("--regex", default=r"^octavia_tempest_plugin\.tests\.api\.")
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument(
        "--tls",
        action="store_true",
        help="run the TERMINATED_HTTPS tests too (their secrets go to ostium's /v1, which "
        "the Keystone catalog must list as key-manager)",
    )
    p.add_argument(
        "--builtin-keystone",
        action="store_true",
        help="no external Keystone: tempest authenticates with ostium's own /v3 (its admin "
        "from the first start's admin-password file)",
    )
    p.add_argument("--workdir", default=str(ROOT / "var" / "tempest"))
    args = p.parse_args()
    if not (TEMPEST_VENV / "bin" / "tempest").exists():
        raise SystemExit(f"no tempest in {TEMPEST_VENV}: run `make tempest`")
    work = Path(args.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=work))
    if args.builtin_keystone:
        with _builtin_stack(run_dir, args.compute_driver) as (url, admin_password):
            args.identity_uri = f"{url}/v3"
            args.admin_password = admin_password
            summary = _run_tempest(args, run_dir, url)
        summary["keystone"] = "built-in"
    elif args.identity_uri:
        if not (args.ostium_url and args.admin_password):
            raise SystemExit("--identity-uri needs --ostium-url and --admin-password")
        summary = _run_tempest(args, run_dir, args.ostium_url)
    else:
        with _local_stack(run_dir, args.compute_driver) as (keystone, url):
            args.identity_uri = keystone.v3
            args.admin_password = keystone.admin_password
            summary = _run_tempest(args, run_dir, url)
    summary["workdir"] = str(run_dir)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
