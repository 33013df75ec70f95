"""`ostium db upgrade`, `ostium token create`, and `ostium api` + `ostium worker` as
separate processes sharing one database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ostium.control.db.engine import Database
from tests.api.conftest import _truncate

OSTIUM = [sys.executable, "-m", "ostium"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, timeout: float = 120) -> None:  # a loaded machine: 40 s seen
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_api_and_worker_processes(database: Database, tmp_path: Path) -> None:
    _truncate(database)
    common = ["--state-dir", str(tmp_path), "--database-url", database.url]
    out = subprocess.run(
        [*OSTIUM, "db", "upgrade", *common], capture_output=True, text=True, check=True
    )
    assert "database at head" in out.stdout
    token = subprocess.run(
        [*OSTIUM, "token", "create", *common, "--project", "p1", "--role", "member"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    port = _port()
    api = subprocess.Popen(
        [*OSTIUM, "api", *common, "--bind", f"127.0.0.1:{port}", "--auth-strategy", "token"],
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [*OSTIUM, "worker", *common, "--compute-driver", "noop"], stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/")
        with httpx.Client(base_url=base, headers={"X-Auth-Token": token}) as c:
            subnet = c.get("/v2.0/subnets?name=vip-subnet").json()["subnets"][0]["id"]
            r = c.post(
                "/v2/lbaas/loadbalancers",
                json={"loadbalancer": {"vip_subnet_id": subnet, "name": "split"}},
            )
            assert r.status_code == 201, r.text
            lb_id = r.json()["loadbalancer"]["id"]
            deadline = time.monotonic() + 60
            status = ""
            while time.monotonic() < deadline:
                status = c.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"][
                    "provisioning_status"
                ]
                if status == "ACTIVE":
                    break
                time.sleep(0.05)
            assert status == "ACTIVE"
            assert (
                c.get("/v2/lbaas/loadbalancers", headers={"X-Auth-Token": "x"}).status_code == 401
            )
    finally:
        for proc in (api, worker):
            proc.send_signal(signal.SIGTERM)
        for proc in (api, worker):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert worker.returncode == 0


def test_noauth_refuses_a_public_bind(tmp_path: Path) -> None:
    r = subprocess.run(
        # noauth asked for: a public bind alone now means keystone (issue 12)
        [
            *OSTIUM,
            "api",
            "--state-dir",
            str(tmp_path),
            "--bind",
            "0.0.0.0:0",
            "--auth-strategy",
            "noauth",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ},
    )
    assert r.returncode != 0 and "noauth" in r.stderr
