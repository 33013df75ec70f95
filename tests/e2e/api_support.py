"""Helpers for the e2e tests that drive ostium only through its REST API.

`Ostium` runs real `ostium serve` (or `ostium api` + `ostium worker`) processes on a
fresh state directory under /tmp/ostt-* with an INI declaring only the test's own
networks and a test-only agent name prefix; `Lbaas` speaks the Octavia v2 API in user
terms (create, wait until ACTIVE, cascade delete); `Load` keeps a VIP busy and counts
failures; `Backends` are HTTP servers in their own namespaces (ostium.devtools.demo_backends).

Naming (the session leak check in conftest covers every name starting with "ostt"):
agents started here use the name prefix "ostt" or "osttw" (namespaces "ostt<12 hex>",
never "ostt-..." which belongs to the agent-level tests), bridges "ostt-vip<N>" and
"ostt-back<N>", backend namespaces "ostt-a<N>", backend servers named "ostt-a<N>".
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ostium.devtools.demo_backends import Backend, DemoNetwork, _wait_listening

REPO = Path(__file__).resolve().parents[2]
OSTIUM = [sys.executable, "-m", "ostium"]


def sh(*argv: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    predicate: Callable[[], object],
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(interval)


# ------------------------------------------------------------------ networks and backends


@dataclass(frozen=True)
class Net:
    name: str
    cidr: str  # a /24 inside 198.18.0.0/15
    bridge: str
    subnet_name: str
    options: tuple[str, ...] = ()
    """More `key = value` lines of its `[network:...]` section (kind, gateway, ...)."""

    def host(self, last: int) -> str:
        return self.cidr.rsplit(".", 1)[0] + f".{last}"


class Backends:
    """HTTP servers in their own namespaces on a member bridge (no host address).

    Backend i answers with its name `<prefix><i>` at host address `.10+i` port 8080.
    """

    def __init__(self, net: Net, prefix: str = "ostt-a", count: int = 3) -> None:
        self.net = net
        self.demo = DemoNetwork(bridge=net.bridge, cidr=net.cidr, prefix=prefix, host_address=False)
        self.prefix = prefix
        try:
            self.demo.create_bridge()
            for i in range(1, count + 1):
                self.demo.add_backend(i, 8080, name=f"{prefix}{i}")
        except BaseException:
            self.demo.destroy()
            raise

    def __getitem__(self, i: int) -> Backend:
        return self.demo.backends[i - 1]

    def name(self, i: int) -> str:
        return self[i].name

    def address(self, i: int) -> str:
        return self[i].address

    def stop(self, i: int) -> None:
        self.demo.stop_backend(self[i])

    def start(self, i: int) -> None:
        """(Re)start backend i's server in its existing namespace."""
        b = self[i]
        if b.process is not None and b.process.poll() is None:
            return
        argv = [
            "ip",
            "netns",
            "exec",
            b.namespace,
            sys.executable,
            "-m",
            "ostium.devtools.demo_backends",
            "serve",
            "--name",
            b.name,
            "--bind",
            b.address,
            "--port",
            str(b.port),
        ]
        b.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_listening(b.namespace, b.address, b.port)

    def destroy(self) -> None:
        self.demo.destroy()

    def __enter__(self) -> Backends:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()


@contextlib.contextmanager
def client_namespace(
    bridge: str, address: str, prefixlen: int = 24, name: str = "ostt-c9"
) -> Iterator[str]:
    """A namespace with one veth on `bridge` at `address`, to send traffic from."""
    host, peer = f"{name}h", f"{name}p"
    try:
        sh("ip", "netns", "add", name, check=True)
        sh("ip", "link", "add", host, "type", "veth", "peer", "name", peer, check=True)
        sh("ip", "link", "set", peer, "netns", name, check=True)
        sh("ip", "link", "set", host, "master", bridge, "up", check=True)
        sh(
            "ip",
            "netns",
            "exec",
            name,
            "ip",
            "addr",
            "add",
            f"{address}/{prefixlen}",
            "dev",
            peer,
            check=True,
        )
        sh("ip", "netns", "exec", name, "ip", "link", "set", peer, "up", check=True)
        sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up", check=True)
        yield name
    finally:
        for pid in sh("ip", "netns", "pids", name).stdout.split():
            sh("kill", "-9", pid)
        sh("ip", "netns", "del", name)
        sh("ip", "link", "del", host)


# ------------------------------------------------------------------ HTTP through the VIP


def get(
    vip: str,
    path: str = "/",
    port: int = 80,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, str, dict[str, str]]:
    """One request on a new connection: (status, body stripped, lower-cased headers)."""
    conn = http.client.HTTPConnection(vip, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace").strip()
        return resp.status, body, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def names(vip: str, n: int, path: str = "/", **kw: Any) -> list[str]:
    out = []
    for _ in range(n):
        status, body, _ = get(vip, path, **kw)
        assert status == 200, (status, body)
        out.append(body)
    return out


def answered_only_by(vip: str, expected: set[str], n: int = 4, **kw: Any) -> bool:
    """True if `n` requests all succeed and exactly the backends `expected` answer."""
    seen = set()
    for _ in range(n):
        try:
            status, body, _ = get(vip, timeout=2.0, **kw)
        except OSError:
            return False
        if status != 200:
            return False
        seen.add(body)
    return seen == expected


def serves(vip: str, port: int = 80) -> bool:
    try:
        return get(vip, port=port, timeout=1.0)[0] == 200
    except OSError:
        return False


class Load:
    """Threads sending GETs to the VIP (a new connection each), counting failures."""

    def __init__(self, vip: str, threads: int = 4, port: int = 80) -> None:
        self.vip, self.port = vip, port
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.seen: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                status, body, _ = get(self.vip, port=self.port)
            except OSError as exc:
                with self.lock:
                    self.failures.append(repr(exc))
                continue
            with self.lock:
                if status == 200:
                    self.ok += 1
                    self.seen[body] += 1
                else:
                    self.failures.append(f"status {status}: {body[:80]}")

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)


# ------------------------------------------------------------------ the Octavia API


def trust(verify: str | bool) -> ssl.SSLContext | bool:
    """httpx's `verify`: a CA file becomes an SSL context (a path is deprecated)."""
    return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify


class ApiError(AssertionError):
    pass


@contextlib.contextmanager
def topology_flavor(api: Lbaas, name: str, topology: str) -> Iterator[str]:
    """A flavor (and its profile) whose profile sets `loadbalancer_topology`; its id,
    both removed afterwards."""
    profile = api.http.post(
        "/v2/lbaas/flavorprofiles",
        json={
            "flavorprofile": {
                "name": name,
                "provider_name": "amphora",
                "flavor_data": json.dumps({"loadbalancer_topology": topology}),
            }
        },
    ).json()["flavorprofile"]
    flavor = api.http.post(
        "/v2/lbaas/flavors", json={"flavor": {"name": name, "flavor_profile_id": profile["id"]}}
    ).json()["flavor"]
    try:
        yield str(flavor["id"])
    finally:
        api.http.delete(f"/v2/lbaas/flavors/{flavor['id']}")
        api.http.delete(f"/v2/lbaas/flavorprofiles/{profile['id']}")


class Lbaas:
    """The Octavia v2 API in user terms (httpx, noauth)."""

    def __init__(self, base_url: str, verify: str | bool = True) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30, verify=trust(verify))

    def close(self) -> None:
        self.http.close()

    def subnet_id(self, name: str) -> str:
        r = self.http.get("/v2.0/subnets", params={"name": name})
        r.raise_for_status()
        (subnet,) = r.json()["subnets"]
        return str(subnet["id"])

    def _ok(self, r: httpx.Response, *codes: int) -> httpx.Response:
        if r.status_code not in codes:
            raise ApiError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}")
        return r

    def lb(self, lb_id: str) -> dict[str, Any] | None:
        r = self.http.get(f"/v2/lbaas/loadbalancers/{lb_id}")
        if r.status_code == 404:
            return None
        return dict(self._ok(r, 200).json()["loadbalancer"])

    def wait_active(self, lb_id: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            lb = self.lb(lb_id)
            assert lb is not None, f"load balancer {lb_id} is gone"
            if lb["provisioning_status"] == "ACTIVE":
                return lb
            if lb["provisioning_status"] == "ERROR":
                raise ApiError(f"load balancer {lb_id} went to ERROR")
            if time.monotonic() > deadline:
                raise ApiError(f"load balancer {lb_id} still {lb['provisioning_status']}")
            time.sleep(0.02)

    def create_lb(self, subnet_id: str, wait: bool = True, **body: Any) -> dict[str, Any]:
        r = self._ok(
            self.http.post(
                "/v2/lbaas/loadbalancers",
                json={"loadbalancer": {"vip_subnet_id": subnet_id, **body}},
            ),
            201,
        )
        lb = dict(r.json()["loadbalancer"])
        if wait:
            self.wait_active(lb["id"])
        return lb

    def create(self, path: str, root: str, lb_id: str, **body: Any) -> dict[str, Any]:
        """POST a child and wait until its load balancer is ACTIVE again."""
        r = self._ok(self.http.post(path, json={root: body}), 201)
        self.wait_active(lb_id)
        return dict(r.json()[root])

    def update(self, path: str, root: str, lb_id: str, **body: Any) -> dict[str, Any]:
        r = self._ok(self.http.put(path, json={root: body}), 200, 202)
        self.wait_active(lb_id)
        return dict(r.json()[root])

    def remove(self, path: str, lb_id: str) -> None:
        self._ok(self.http.delete(path), 204)
        self.wait_active(lb_id)

    def delete_lb(self, lb_id: str, timeout: float = 30.0) -> None:
        """Cascade delete and wait until the load balancer is gone."""
        r = self.http.delete(f"/v2/lbaas/loadbalancers/{lb_id}", params={"cascade": "true"})
        if r.status_code == 409:  # busy: let the current change finish first
            with contextlib.suppress(ApiError):
                self.wait_active(lb_id, timeout)
            r = self.http.delete(f"/v2/lbaas/loadbalancers/{lb_id}", params={"cascade": "true"})
        self._ok(r, 204, 404)

        def gone() -> bool:
            lb = self.lb(lb_id)
            return lb is None or lb["provisioning_status"] == "DELETED"

        wait_for(gone, timeout, what=f"deletion of {lb_id}")

    def amphorae(self, lb_id: str) -> list[dict[str, Any]]:
        r = self._ok(self.http.get("/v2/octavia/amphorae", params={"loadbalancer_id": lb_id}), 200)
        return list(r.json()["amphorae"])

    def all_lbs(self) -> list[dict[str, Any]]:
        return list(self._ok(self.http.get("/v2/lbaas/loadbalancers"), 200).json()["loadbalancers"])


# ------------------------------------------------------------------ ostium processes


def host_leftovers(prefixes: tuple[str, ...], marker: str) -> list[str]:
    """Namespaces/links starting with one of `prefixes`, processes mentioning `marker`."""
    found: list[str] = []
    for line in sh("ip", "netns", "list").stdout.splitlines():
        if line.startswith(prefixes):
            found.append(f"netns {line.split()[0]}")
    for line in sh("ip", "-o", "link", "show").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(prefixes):
            found.append(f"link {name}")
    for pid, cmd in processes(marker):
        found.append(f"process {pid} {cmd}")
    return found


def processes(marker: str) -> list[tuple[int, str]]:
    """Live processes (not zombies, not us) whose command line contains `marker`."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            out.append((int(entry), cmd.strip()))
    return out


def kill_namespaces(prefixes: tuple[str, ...]) -> None:
    for line in sh("ip", "netns", "list").stdout.splitlines():
        if line.startswith(prefixes):
            ns = line.split()[0]
            for pid in sh("ip", "netns", "pids", ns).stdout.split():
                sh("kill", "-9", pid)
            sh("ip", "netns", "del", ns)


@dataclass
class Ostium:
    """One ostium installation: INI + state dir under /tmp/ostt-*, and its processes."""

    networks: list[Net]
    name_prefix: str = "ostt"
    lease_seconds: float = 3.0
    workdir: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="ostt-", dir="/tmp"))
    )
    api_port: int = field(default_factory=free_port)
    agent_port: int = field(default_factory=free_port)
    health_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    bind_host: str = "127.0.0.1"
    sections: dict[str, list[str]] = field(default_factory=dict)
    """More `key = value` lines per INI section (e.g. `api_settings`, `health_manager`)."""
    verify: str | bool = True
    """What the test's HTTP client trusts when the API serves HTTPS."""

    def __post_init__(self) -> None:
        lines = ["[networking]", "default_networks = false"]
        for n in self.networks:
            lines += [
                f"[network:{n.name}]",
                f"cidr = {n.cidr}",
                f"bridge = {n.bridge}",
                f"subnet_name = {n.subnet_name}",
                *n.options,
            ]
        lines += [
            "[haproxy_amphora]",
            f"bind_port = {self.agent_port}",
            f"name_prefix = {self.name_prefix}",
            "respawn_interval = 0.5",
            "[controller_worker]",
            f"lease_seconds = {self.lease_seconds}",
            "[health_manager]",
            f"bind_port = {self.health_port}",
        ]
        for section, extra in self.sections.items():
            at = lines.index(f"[{section}]") + 1 if f"[{section}]" in lines else len(lines)
            lines[at:at] = extra if at < len(lines) else [f"[{section}]", *extra]
        self.config.write_text("\n".join(lines) + "\n")
        self.api = Lbaas(self.url, self.verify)

    @property
    def config(self) -> Path:
        return self.workdir / "ostium.ini"

    @property
    def state_dir(self) -> Path:
        return self.workdir / "state"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "ostium.sqlite"

    @property
    def url(self) -> str:
        tls = any(ln.startswith("tls_cert_file") for ln in self.sections.get("api_settings", []))
        return f"{'https' if tls else 'http'}://{self.bind_host}:{self.api_port}"

    def start(
        self, role: str, key: str | None = None, wait: float = 30.0
    ) -> subprocess.Popen[bytes]:
        """Start `ostium serve|api|worker`; `serve` and `api` return once the API answers
        (within `wait` seconds)."""
        key = key or role
        argv = [
            *OSTIUM,
            role,
            "--state-dir",
            str(self.state_dir),
            "--config-file",
            str(self.config),
        ]
        if role in ("serve", "api"):
            argv += ["--bind", f"{self.bind_host}:{self.api_port}"]
        log = (self.workdir / f"{key}.log").open("ab")
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=REPO
            )
        finally:
            log.close()
        self.procs[key] = proc
        if role in ("serve", "api"):

            def up() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(f"ostium {role} exited: {self.log(key)[-2000:]}")
                try:
                    r = httpx.get(self.url + "/", timeout=1, verify=trust(self.verify))
                    return r.status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(up, wait, 0.1, f"ostium {role} answering")
        return proc

    def log(self, key: str) -> str:
        path = self.workdir / f"{key}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, key: str, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        proc = self.procs.pop(key, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def lease_owner(self, lb_id: str) -> str | None:
        """Read `load_balancer.lease_owner` straight from the SQLite database."""
        try:
            with contextlib.closing(
                sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=1)
            ) as db:
                row = db.execute(
                    "SELECT lease_owner FROM load_balancer WHERE id = ?", (lb_id,)
                ).fetchone()
        except sqlite3.Error:
            return None
        return None if row is None else row[0]

    def namespaces(self) -> list[str]:
        """Amphora namespaces of this installation's agent."""
        from ostium.agent.naming import Names

        probe = Names(self.name_prefix, "00000000-0000-0000-0000-000000000000")
        return [
            line.split()[0]
            for line in sh("ip", "netns", "list").stdout.splitlines()
            if probe.owns_namespace(line.split()[0])
        ]

    def namespace(self, amphora: dict[str, Any]) -> str:
        """The namespace of an amphora (its `compute_id` is a UUID, as in Octavia)."""
        from ostium.agent.naming import Names

        return Names(self.name_prefix, amphora["id"]).namespace

    def links(self) -> list[str]:
        """Host-side veths of this installation's amphorae (`<prefix>[vpmq]<hex>`)."""
        out = []
        n = len(self.name_prefix)
        for line in sh("ip", "-o", "link", "show").stdout.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            rest = name[n + 1 :]
            if (
                name.startswith(self.name_prefix)
                and len(name) == 15
                and name[n] in "vpmq"
                and all(c in "0123456789abcdef" for c in rest)
            ):
                out.append(name)
        return out

    def amphora_dirs(self) -> list[Path]:
        root = self.state_dir / "agent" / "amphorae"
        return sorted(root.iterdir()) if root.is_dir() else []

    def leftovers(self) -> list[str]:
        """What this installation still has on the host (after everything stopped)."""
        found = [f"netns {ns}" for ns in self.namespaces()]
        found += [f"link {name}" for name in self.links()]
        found += [f"process {pid} {cmd}" for pid, cmd in processes(str(self.workdir))]
        found += [f"agent state {p}" for p in self.amphora_dirs()]
        return found

    def shutdown(self) -> list[str]:
        """Delete every load balancer (cascade), stop the processes, remove whatever is
        left by force; return what had to be removed by force (empty = clean)."""
        errors: list[str] = []
        if any(k in self.procs for k in ("serve", "api")):
            try:
                for lb in self.api.all_lbs():
                    self.api.delete_lb(lb["id"])
            except Exception as exc:
                errors.append(f"cascade delete failed: {exc!r}")
        for key in list(self.procs):
            self.stop(key)
        self.api.close()
        left = self.leftovers()
        for pid, _ in processes(str(self.workdir)):
            sh("kill", "-9", str(pid))
        from ostium.agent.naming import Names

        probe = Names(self.name_prefix, "00000000-0000-0000-0000-000000000000")
        for ns in sh("ip", "netns", "list").stdout.splitlines():
            if ns and probe.owns_namespace(ns.split()[0]):
                kill_namespaces((ns.split()[0],))
        for name in self.links():
            sh("ip", "link", "del", name)
        for n in self.networks:  # ostium keeps them while a bridge of its is busy
            family = "-6" if ":" in n.cidr else "-4"
            sh("ip", family, "route", "del", "unreachable", n.cidr, "metric", "4242")
        return errors + left

    def remove_workdir(self) -> None:
        import shutil

        shutil.rmtree(self.workdir, ignore_errors=True)
