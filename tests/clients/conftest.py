"""Real OpenStack clients against a real `ostium serve` process.

`ostium_server` starts `ostium serve` (noop compute driver, temp state dir, free port)
as a subprocess, waits until `GET /` answers and always terminates it. Helpers here
run the `openstack` CLI installed next to this interpreter and wait for a load
balancer to settle by polling the API directly (much faster than `--wait`, which
sleeps 3 s per poll).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

OSTIUM = [sys.executable, "-m", "ostium"]
OPENSTACK = str(Path(sys.executable).parent / "openstack")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client_env() -> dict[str, str]:
    """The caller's environment minus anything that would point a client elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = "/nonexistent/clouds.yaml"
    return env


@dataclass
class Ostium:
    url: str
    state_dir: Path
    auth_strategy: str
    proc: subprocess.Popen[bytes]
    log: Path
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    keystone_token: str | None = None
    """auth_strategy = keystone: the token `headers()` sends when given none."""

    def token(self, project: str, role: str) -> str:
        """A token from `ostium token create` (cached per project and role)."""
        key = (project, role)
        if key not in self.tokens:
            out = subprocess.run(
                [
                    *OSTIUM,
                    "token",
                    "create",
                    "--state-dir",
                    str(self.state_dir),
                    "--project",
                    project,
                    "--role",
                    role,
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            self.tokens[key] = out.stdout.strip().splitlines()[-1]
        return self.tokens[key]

    def make_tokens(self, *wanted: tuple[str, str]) -> None:
        """Create several (project, role) tokens concurrently."""
        with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
            list(pool.map(lambda pr: self.token(*pr), wanted))

    def headers(self, token: str | None = None) -> dict[str, str]:
        if self.auth_strategy == "keystone":
            return {"X-Auth-Token": token or self.keystone_token or ""}
        if self.auth_strategy == "token":
            return {"X-Auth-Token": token or self.token("admin", "admin")}
        return {}

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        return httpx.get(self.url + path, headers=self.headers(token), timeout=10)

    def delete(self, path: str, token: str | None = None) -> httpx.Response:
        return httpx.delete(self.url + path, headers=self.headers(token), timeout=10)

    def wait_lb(self, lb_id: str, token: str | None = None, timeout: float = 30) -> None:
        """Poll the load balancer until it leaves PENDING_* (fails on ERROR)."""
        deadline = time.monotonic() + timeout
        status = "?"
        while time.monotonic() < deadline:
            r = self.get(f"/v2/lbaas/loadbalancers/{lb_id}", token)
            assert r.status_code == 200, r.text
            status = r.json()["loadbalancer"]["provisioning_status"]
            if status == "ACTIVE":
                return
            assert status != "ERROR", f"load balancer {lb_id} went to ERROR"
            time.sleep(0.1)
        raise AssertionError(f"load balancer {lb_id} stuck in {status}")

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _start(tmp: Path, auth_strategy: str, config: str | None = None) -> Ostium:
    state = tmp / "state"
    state.mkdir(parents=True)
    log = tmp / "ostium.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *OSTIUM,
                "serve",
                "--state-dir",
                str(state),
                "--bind",
                f"127.0.0.1:{port}",
                "--compute-driver",
                "noop",
                "--auth-strategy",
                auth_strategy,
                *(["--config-file", _write(tmp / "ostium.ini", config)] if config else []),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Ostium(url=url, state_dir=state, auth_strategy=auth_strategy, proc=proc, log=log)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"ostium serve exited with {proc.returncode}:\n{server.logs()}")
        try:
            if httpx.get(url + "/", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            _stop(server)
            raise AssertionError(f"ostium serve did not answer on {url}:\n{server.logs()}")
        time.sleep(0.1)


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _stop(server: Ostium) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=15)


@pytest.fixture(scope="module")
def ostium_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Ostium]]:
    """Factory: `ostium_server("noauth" | "token" | "keystone", config=INI text)` starts
    a server for this module;
    every server started is terminated when the module is done."""
    started: list[Ostium] = []

    def start(auth_strategy: str = "noauth", config: str | None = None) -> Ostium:
        server = _start(tmp_path_factory.mktemp(f"ostium-{auth_strategy}"), auth_strategy, config)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            _stop(server)


@dataclass
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return (
            f"openstack {' '.join(self.args)} -> rc={self.returncode}\n"
            f"stdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-2000:]}"
        )


class Cli:
    """Runs the `openstack` CLI against one endpoint with one identity.

    `run`/`ok`/`json`/`fails` start one process per command and pass the identity as
    global options (`--os-auth-type none|admin_token --os-endpoint URL [--os-token=T]`).
    `batch` feeds several commands that print JSON to one interactive `openstack`
    process (identity via OS_* variables) to save the CLI's start-up time.
    """

    def __init__(self, endpoint: str, auth_type: str = "none", token: str | None = None) -> None:
        self.global_args = ["--os-auth-type", auth_type, "--os-endpoint", endpoint]
        self.env = {"OS_AUTH_TYPE": auth_type, "OS_ENDPOINT": endpoint}
        if token is not None:
            # `=` form: generated tokens may start with "-".
            self.global_args.append(f"--os-token={token}")
            self.env["OS_TOKEN"] = token

    def run(self, *args: str, timeout: float = 120) -> CliResult:
        proc = subprocess.run(
            [OPENSTACK, *self.global_args, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=client_env(),
            stdin=subprocess.DEVNULL,
        )
        return CliResult(list(args), proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str) -> CliResult:
        """Run and require success."""
        res = self.run(*args)
        assert res.returncode == 0, str(res)
        return res

    def json(self, *args: str) -> Any:
        """Run with `-f json` and return the parsed output."""
        return self.ok(*args, "-f", "json").json

    def fails(self, *args: str) -> CliResult:
        res = self.run(*args)
        assert res.returncode != 0, str(res)
        return res

    def run_many(self, *commands: list[str]) -> list[CliResult]:
        """Run independent commands concurrently (one process each), results in order."""
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            return list(pool.map(lambda c: self.run(*c), commands))

    def batch(self, *commands: list[str], timeout: float = 120) -> list[Any]:
        """Run commands that each print one JSON document (pass `-f json` yourself) in
        one interactive session; return the parsed documents in order."""
        script = "".join(shlex.join(c) + "\n" for c in commands)
        proc = subprocess.run(
            [OPENSTACK],
            input=script,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**client_env(), **self.env},
        )
        docs: list[Any] = []
        decoder = json.JSONDecoder()
        out, pos = proc.stdout, 0
        while True:
            while pos < len(out) and out[pos].isspace():
                pos += 1
            if pos >= len(out):
                break
            doc, pos = decoder.raw_decode(out, pos)
            docs.append(doc)
        assert len(docs) == len(commands), (
            f"{len(commands)} commands, {len(docs)} JSON outputs\nscript:\n{script}"
            f"stdout: {out[-2000:]}\nstderr: {proc.stderr[-2000:]}"
        )
        return docs
