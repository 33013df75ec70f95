"""`ostium serve --workers 2`: two API processes on one port, one reconciler.

The worker polls only once an hour here, so every load balancer created through either
API process can reach ACTIVE only if that process woke the reconciler of `serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.test_processes import _port

STARTUP = 90.0
"""Seconds a process may take to answer (imports and migrations on a busy machine)."""


def _wait(url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer: {log.read_text()[-2000:]}")


OSTIUM = [sys.executable, "-m", "ostium"]


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def test_serve_with_two_api_processes(tmp_path: Path) -> None:
    ini = tmp_path / "ostium.ini"
    ini.write_text("[controller_worker]\npoll_interval = 3600\n")
    port = _port()
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        [
            *OSTIUM,
            "serve",
            "--state-dir",
            str(tmp_path),
            "--config-file",
            str(ini),
            "--bind",
            f"127.0.0.1:{port}",
            "--compute-driver",
            "noop",
            "--workers",
            "2",
        ],
        stderr=log,
    )
    children: list[int] = []
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/", tmp_path / "serve.log")
        children = [
            pid
            for pid in _children(serve.pid)
            if b"serve" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(children) == 1  # the second API process, forked by serve
        subnet = httpx.get(f"{base}/v2.0/subnets?name=vip-subnet").json()["subnets"][0]["id"]
        ids = []
        for i in range(8):  # a new connection each: the kernel spreads them
            r = httpx.post(
                f"{base}/v2/lbaas/loadbalancers",
                json={"loadbalancer": {"vip_subnet_id": subnet, "name": f"w{i}"}},
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["loadbalancer"]["id"])
        deadline = time.monotonic() + 30
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            listed = httpx.get(f"{base}/v2/lbaas/loadbalancers").json()["loadbalancers"]
            pending = {lb["id"] for lb in listed if lb["provisioning_status"] != "ACTIVE"}
            time.sleep(0.05)
        assert not pending
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=20)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
        log.close()
    assert serve.returncode == 0
    for pid in children:  # the API child stopped with serve
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_separate_worker_woken_by_notify(pg_database: str, tmp_path: Path) -> None:
    """`ostium api` and `ostium worker` apart on PostgreSQL: the worker polls once an
    hour, so the load balancer reaches ACTIVE only through the API's NOTIFY."""
    ini = tmp_path / "ostium.ini"
    ini.write_text("[controller_worker]\npoll_interval = 3600\n")
    common = ["--state-dir", str(tmp_path), "--database-url", pg_database]
    common += ["--config-file", str(ini)]
    subprocess.run([*OSTIUM, "db", "upgrade", *common], check=True, capture_output=True)
    port = _port()
    log = (tmp_path / "api.log").open("wb")
    api = subprocess.Popen([*OSTIUM, "api", *common, "--bind", f"127.0.0.1:{port}"], stderr=log)
    worker = subprocess.Popen(
        [*OSTIUM, "worker", *common, "--compute-driver", "noop"], stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/", tmp_path / "api.log")
        time.sleep(2)  # let the worker make its first (empty) pass: then it only listens
        subnet = httpx.get(f"{base}/v2.0/subnets?name=vip-subnet").json()["subnets"][0]["id"]
        ids = []
        for i in range(3):
            r = httpx.post(
                f"{base}/v2/lbaas/loadbalancers",
                json={"loadbalancer": {"vip_subnet_id": subnet, "name": f"n{i}"}},
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["loadbalancer"]["id"])
            deadline = time.monotonic() + 30
            status = ""
            while status != "ACTIVE" and time.monotonic() < deadline:
                lb = httpx.get(f"{base}/v2/lbaas/loadbalancers/{ids[-1]}").json()
                status = lb["loadbalancer"]["provisioning_status"]
                time.sleep(0.05)
            assert status == "ACTIVE"
    finally:
        for proc in (api, worker):
            proc.send_signal(signal.SIGTERM)
        for proc in (api, worker):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
    assert worker.returncode == 0
