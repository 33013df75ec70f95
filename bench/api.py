"""API latency benchmark for ostium (Octavia v2 API, noop compute driver).

Starts its own `ostium serve` on a free loopback port with a fresh temporary state
directory (and, for PostgreSQL, a freshly created database `ostium_bench_<random>`),
drives it with httpx and prints ONE JSON document on stdout:

* create load balancer (POST only), show, update (PUT name);
* list with 1,000 load balancers in the database (`?limit=1000`);
* full stack (LB + HTTP listener + pool + 2 members + HTTP health monitor) to ACTIVE,
  (a) step by step, polling the LB every ~5 ms until ACTIVE after each POST, and
  (b) as one single-call graph create, polled until ACTIVE.

Latencies are client-side wall-clock times (httpx over loopback, keep-alive), in
milliseconds. The default `vip-net` (198.18.0.0/17, subnet `vip-subnet`) holds 32,765
VIPs, so the server runs with its defaults; `--n` beyond that is refused.

Everything the script starts or creates (server processes, temp dirs, databases) is
removed at the end, also on failure, Ctrl-C or SIGTERM.

    .venv/bin/python bench/api.py [--db sqlite|postgresql|both] [--n N]
        [--api-workers N] [--old-tree /path/to/other/checkout]

`--old-tree` runs the same measurements against another checkout's `ostium` (its own
`.venv`) right before this one's, database by database, and prints both
(`results.<db>.old` / `.new`): before/after figures from one run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _concurrency
import httpx

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
LIST_SIZE = 1000
POLL_INTERVAL = 0.005
ACTIVE_TIMEOUT = 30.0
TARGETS = {
    "full_stack_create_to_active_ms": {"below": 300, "text": "full stack ACTIVE < 300 ms"},
    "list_1000_ms": {"below": 100, "text": "list of 1000 < 100 ms"},
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Terminated(BaseException):
    """Raised from the SIGTERM/SIGHUP handler so `finally` blocks run."""


def _on_signal(signum: int, _frame: Any) -> None:
    raise Terminated(signal.Signals(signum).name)


# --------------------------------------------------------------------------- statistics


def percentile(sorted_ms: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_ms:
        return math.nan
    pos = (len(sorted_ms) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (pos - lo)


def summary(samples_s: list[float]) -> dict[str, Any]:
    ms = sorted(x * 1000.0 for x in samples_s)
    return {
        "samples": len(ms),
        "p50_ms": round(percentile(ms, 0.50), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
        "min_ms": round(ms[0], 3) if ms else None,
        "max_ms": round(ms[-1], 3) if ms else None,
        "mean_ms": round(sum(ms) / len(ms), 3) if ms else None,
    }


# --------------------------------------------------------------------------- environment


def machine_facts() -> dict[str, Any]:
    model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "src"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        if dirty:
            commit += "+dirty(src)"
    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "cpu_model": model,
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "ostium_commit": commit,
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def tree_commit(tree: Path) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out or None
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vip_cidr(needed: int) -> str:
    """The default VIP network, checked to have room for `needed` VIPs (a wider one
    would overlap the default demo network, which ostium refuses at start)."""
    if needed > (2 ** (32 - 17)) - 3:
        raise SystemExit(f"--n too large: {needed} VIPs do not fit in 198.18.0.0/17")
    return "198.18.0.0/17"


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """Create a fresh database for this run and drop it afterwards."""
    import psycopg

    name = f"ostium_bench_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        log(f"created PostgreSQL database {name}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log(f"dropped PostgreSQL database {name}")


def pg_server_version() -> str | None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else None


class Server:
    """One `ostium serve` subprocess in its own session (Ctrl-C reaches only us; we stop
    it explicitly by pid)."""

    def __init__(
        self,
        state_dir: Path,
        database_url: str | None,
        vip_needed: int,
        workers: int = 1,
        tree: Path = REPO,
    ) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = state_dir / "bench.ini"
        config.write_text(
            "[network:vip-net]\n"
            f"cidr = {vip_cidr(vip_needed)}\n"
            "subnet_name = vip-subnet\n"
            "gateway = 198.18.0.1\n"
            "bridge = ostium0\n"
        )
        cmd = [
            str(tree / ".venv" / "bin" / "ostium"),
            "serve",
            "--config-file",
            str(config),
            "--state-dir",
            str(state_dir),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--compute-driver",
            "noop",
            "--workers",
            str(workers),
        ]
        if database_url:
            cmd += ["--database-url", database_url]
        self.log_path = state_dir / "server.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=state_dir,
        )
        log(f"started ostium serve pid {self.proc.pid} on {self.base}")

    def wait_ready(self, client: httpx.Client, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"ostium serve exited with {self.proc.returncode}:\n" + self.log_tail()
                )
            try:
                if client.get(f"{self.base}/").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError("ostium serve did not become ready:\n" + self.log_tail())
        # A bind failure makes the process exit; make sure we talk to *our* server and
        # that its database is fresh.
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"ostium serve exited with {self.proc.returncode}:\n" + self.log_tail()
            )
        existing = client.get(f"{self.base}/v2/lbaas/loadbalancers").json()["loadbalancers"]
        if existing:
            raise RuntimeError(f"{self.base} is not a fresh ostium (has {len(existing)} LBs)")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log(f"ostium serve pid {self.proc.pid} ignored SIGTERM, killing it")
                self.proc.kill()
                self.proc.wait(timeout=15)
            log(f"stopped ostium serve pid {self.proc.pid} (exit {self.proc.returncode})")
        self._log.close()


# --------------------------------------------------------------------------- API helpers


class Api:
    def __init__(self, client: httpx.Client, base: str) -> None:
        self.c = client
        self.base = base

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        r = self.c.request(method, f"{self.base}{path}", json=body)
        if r.status_code != expect:
            raise RuntimeError(
                f"{method} {path} -> {r.status_code} (expected {expect}): {r.text[:500]}"
            )
        return r.json() if r.content else None

    def timed(
        self, method: str, path: str, body: Any = None, expect: int = 200
    ) -> tuple[float, Any]:
        t0 = time.perf_counter()
        out = self.call(method, path, body, expect)
        return time.perf_counter() - t0, out

    def lb_status(self, lb_id: str) -> str:
        return str(
            self.call("GET", f"/v2/lbaas/loadbalancers/{lb_id}")["loadbalancer"][
                "provisioning_status"
            ]
        )

    def wait_active(self, lb_id: str, interval: float = POLL_INTERVAL) -> int:
        """Poll the LB until ACTIVE; returns the number of GETs."""
        deadline = time.monotonic() + ACTIVE_TIMEOUT
        polls = 0
        while True:
            polls += 1
            status = self.lb_status(lb_id)
            if status == "ACTIVE":
                return polls
            if status == "ERROR":
                raise RuntimeError(f"load balancer {lb_id} went to ERROR")
            if time.monotonic() > deadline:
                raise RuntimeError(f"load balancer {lb_id} still {status} after {ACTIVE_TIMEOUT} s")
            time.sleep(interval)

    def wait_all_active(self, expected: int, timeout: float = 120.0) -> None:
        """Until at least `expected` load balancers exist and none, on any page, is
        pending (the writers' graphs lie beyond the first page of 1,000)."""
        deadline = time.monotonic() + timeout
        fields = "fields=id&fields=provisioning_status"
        while True:
            seen = len(
                self.call("GET", f"/v2/lbaas/loadbalancers?limit={expected}&fields=id")[
                    "loadbalancers"
                ]
            )
            pending: list[str] = []
            for status in ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE", "ERROR"):
                rows = self.call(
                    "GET", f"/v2/lbaas/loadbalancers?provisioning_status={status}&{fields}"
                )["loadbalancers"]
                if status == "ERROR" and rows:
                    raise RuntimeError(f"load balancers in ERROR: {[r['id'] for r in rows[:5]]}")
                pending += [r["id"] for r in rows]
            if seen >= expected and not pending:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} load balancers still pending")
            time.sleep(0.05)


def lb_body(subnet: str, name: str) -> dict[str, Any]:
    return {"loadbalancer": {"name": name, "vip_subnet_id": subnet}}


HM = {
    "type": "HTTP",
    "delay": 5,
    "timeout": 3,
    "max_retries": 3,
    "http_method": "GET",
    "url_path": "/healthz",
    "expected_codes": "200",
}
MEMBERS = [
    {"address": "198.19.0.11", "protocol_port": 8080},
    {"address": "198.19.0.12", "protocol_port": 8080},
]


def full_stack_steps(
    api: Api, subnet: str, name: str
) -> tuple[float, dict[str, tuple[float, float]]]:
    """Each POST, then poll the LB until ACTIVE before the next. Returns total seconds
    and, by step, (POST seconds, POST + wait-for-ACTIVE seconds)."""
    steps: dict[str, tuple[float, float]] = {}
    t_start = time.perf_counter()

    def step(label: str, lb_id: str, path: str, body: Any) -> Any:
        t0 = time.perf_counter()
        out = api.call("POST", path, body, 201)
        t_post = time.perf_counter() - t0
        api.wait_active(lb_id or out["loadbalancer"]["id"])
        steps[label] = (t_post, time.perf_counter() - t0)
        return out

    lb = step("loadbalancer", "", "/v2/lbaas/loadbalancers", lb_body(subnet, name))
    lb_id = lb["loadbalancer"]["id"]
    li = step(
        "listener",
        lb_id,
        "/v2/lbaas/listeners",
        {
            "listener": {
                "loadbalancer_id": lb_id,
                "name": f"{name}-http",
                "protocol": "HTTP",
                "protocol_port": 80,
            }
        },
    )
    pool = step(
        "pool",
        lb_id,
        "/v2/lbaas/pools",
        {
            "pool": {
                "listener_id": li["listener"]["id"],
                "name": f"{name}-pool",
                "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN",
            }
        },
    )
    pool_id = pool["pool"]["id"]
    for i, member in enumerate(MEMBERS, 1):
        step(
            f"member{i}",
            lb_id,
            f"/v2/lbaas/pools/{pool_id}/members",
            {"member": {**member, "name": f"{name}-m{i}"}},
        )
    step(
        "healthmonitor",
        lb_id,
        "/v2/lbaas/healthmonitors",
        {"healthmonitor": {**HM, "pool_id": pool_id, "name": f"{name}-hm"}},
    )
    return time.perf_counter() - t_start, steps


def graph_body(subnet: str, name: str) -> dict[str, Any]:
    return {
        "loadbalancer": {
            "name": name,
            "vip_subnet_id": subnet,
            "listeners": [
                {
                    "name": f"{name}-http",
                    "protocol": "HTTP",
                    "protocol_port": 80,
                    "default_pool": {
                        "name": f"{name}-pool",
                        "protocol": "HTTP",
                        "lb_algorithm": "ROUND_ROBIN",
                        "members": [
                            {**m, "name": f"{name}-m{i}"} for i, m in enumerate(MEMBERS, 1)
                        ],
                        "healthmonitor": {**HM, "name": f"{name}-hm"},
                    },
                }
            ],
        }
    }


def full_stack_graph(api: Api, subnet: str, name: str) -> tuple[float, float, int]:
    """One POST with the whole graph, then poll until ACTIVE. Returns total seconds,
    POST seconds and number of polls."""
    body = graph_body(subnet, name)
    t0 = time.perf_counter()
    out = api.call("POST", "/v2/lbaas/loadbalancers", body, 201)
    t_post = time.perf_counter() - t0
    lb = out["loadbalancer"]
    if (
        len(lb["listeners"]) != 1
        or len(lb["pools"]) != 1
        or len(lb["pools"][0]["members"]) != 2
        or not lb["pools"][0]["healthmonitor"]
    ):
        raise RuntimeError(f"graph create returned an incomplete graph: {lb}")
    polls = api.wait_active(lb["id"])
    return time.perf_counter() - t0, t_post, polls


def check_full_stack(api: Api, lb_id: str) -> None:
    tree = api.call("GET", f"/v2/lbaas/loadbalancers/{lb_id}/status")["statuses"]
    lis = tree["loadbalancer"]["listeners"]
    pools = lis[0]["pools"] if lis else []
    ok = (
        len(lis) == 1
        and len(pools) == 1
        and len(pools[0]["members"]) == 2
        and pools[0]["health_monitor"] is not None
        and all(
            x["provisioning_status"] == "ACTIVE"
            for x in [lis[0], pools[0], pools[0]["health_monitor"], *pools[0]["members"]]
        )
    )
    if not ok:
        raise RuntimeError(f"full stack of {lb_id} is not complete/ACTIVE: {tree}")


# --------------------------------------------------------------------------- the run


def run_one(
    db: str,
    n: int,
    warmup: int,
    fill_workers: int,
    concurrency_seconds: float,
    workers: int,
    tree: Path = REPO,
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="ostium-bench-"))
    server: Server | None = None
    stack = contextlib.ExitStack()
    try:
        database_url = None
        db_version = None
        if db == "postgresql":
            database_url = stack.enter_context(postgres_database())
            db_version = pg_server_version()
        else:
            import sqlite3

            db_version = sqlite3.sqlite_version
        vip_needed = max(LIST_SIZE, n + warmup) + 2 * (n + warmup) + 16
        server = Server(tmp, database_url, vip_needed, workers, tree)
        limits = httpx.Limits(
            max_connections=fill_workers + 2, max_keepalive_connections=fill_workers + 2
        )
        with httpx.Client(
            timeout=60.0, limits=limits, headers={"Accept": "application/json"}
        ) as client:
            server.wait_ready(client)
            api = Api(client, server.base)
            subnets = api.call("GET", "/v2.0/subnets?name=vip-subnet")["subnets"]
            subnet = subnets[0]["id"]
            result: dict[str, Any] = {
                "tree": str(tree),
                "commit": tree_commit(tree),
                "database": db,
                "database_version": db_version,
                "server_pid": server.proc.pid,
            }
            ops: dict[str, Any] = {}

            log(f"[{db}] create load balancer (POST only) x{n}")
            for i in range(warmup):
                api.call("POST", "/v2/lbaas/loadbalancers", lb_body(subnet, f"warm-{i}"), 201)
            samples = []
            created: list[str] = []
            for i in range(n):
                t, out = api.timed(
                    "POST", "/v2/lbaas/loadbalancers", lb_body(subnet, f"bench-{i}"), 201
                )
                samples.append(t)
                created.append(out["loadbalancer"]["id"])
            ops["create_loadbalancer"] = summary(samples)
            api.wait_all_active(n + warmup)

            log(f"[{db}] show x{n}")
            for lb_id in created[:warmup]:
                api.call("GET", f"/v2/lbaas/loadbalancers/{lb_id}")
            samples = []
            for i in range(n):
                t, _ = api.timed("GET", f"/v2/lbaas/loadbalancers/{created[i % len(created)]}")
                samples.append(t)
            ops["show_loadbalancer"] = summary(samples)

            log(f"[{db}] update (PUT name) x{n}")
            samples = []
            for i in range(n):
                # Every created LB is ACTIVE and is updated once, so no 409 from the lock.
                t, out = api.timed(
                    "PUT",
                    f"/v2/lbaas/loadbalancers/{created[i]}",
                    {"loadbalancer": {"name": f"bench-{i}-renamed"}},
                )
                if out["loadbalancer"]["name"] != f"bench-{i}-renamed":
                    raise RuntimeError(f"PUT did not rename: {out}")
                samples.append(t)
            ops["update_loadbalancer"] = summary(samples)
            api.wait_all_active(n + warmup)

            have = n + warmup
            missing = LIST_SIZE - have
            log(f"[{db}] filling to {LIST_SIZE} load balancers (+{max(missing, 0)})")
            t_fill = time.perf_counter()
            if missing > 0:
                ex = concurrent.futures.ThreadPoolExecutor(fill_workers)
                try:
                    futs = [
                        ex.submit(
                            api.call,
                            "POST",
                            "/v2/lbaas/loadbalancers",
                            lb_body(subnet, f"fill-{i}"),
                            201,
                        )
                        for i in range(missing)
                    ]
                    for f in concurrent.futures.as_completed(futs):
                        f.result()
                finally:
                    # On failure or Ctrl-C, drop the queued requests instead of
                    # waiting for all of them.
                    ex.shutdown(wait=True, cancel_futures=True)
            api.wait_all_active(LIST_SIZE, timeout=600)  # a shared machine can be slow
            fill_s = time.perf_counter() - t_fill

            log(f"[{db}] list ?limit={LIST_SIZE} x{n}")
            total = len(
                api.call("GET", f"/v2/lbaas/loadbalancers?limit={LIST_SIZE + 1}")["loadbalancers"]
            )
            if total != max(LIST_SIZE, have):
                raise RuntimeError(f"expected {max(LIST_SIZE, have)} load balancers, found {total}")
            for _ in range(warmup):
                api.call("GET", f"/v2/lbaas/loadbalancers?limit={LIST_SIZE}")
            samples = []
            for _ in range(n):
                t, out = api.timed("GET", f"/v2/lbaas/loadbalancers?limit={LIST_SIZE}")
                if len(out["loadbalancers"]) != LIST_SIZE:
                    raise RuntimeError(f"list returned {len(out['loadbalancers'])} items")
                samples.append(t)
            ops["list_1000_loadbalancers"] = {
                **summary(samples),
                "loadbalancers_in_db": total,
                "fill_seconds": round(fill_s, 2),
                "fill_workers": fill_workers,
            }

            if concurrency_seconds > 0:
                log(f"[{db}] 50 concurrent clients (wrk) with {LIST_SIZE} load balancers")
                one = created[0]
                lbs = f"{server.base}/v2/lbaas/loadbalancers"
                ops["concurrent_50_clients"] = {
                    "list_all": _concurrency.read_load(
                        f"{lbs}?limit={LIST_SIZE}", 50, concurrency_seconds
                    ),
                    "show_one": _concurrency.read_load(f"{lbs}/{one}", 50, concurrency_seconds),
                    "list_limit_50": _concurrency.read_load(
                        f"{lbs}?limit=50", 50, concurrency_seconds
                    ),
                }
                log(f"[{db}] 20 writers creating full graphs")
                ops["concurrent_20_graph_writers"] = _concurrency.writers(
                    server.base,
                    lambda name: graph_body(subnet, name),
                    20,
                    concurrency_seconds,
                )
                api.wait_all_active(LIST_SIZE, timeout=600)

            log(f"[{db}] full stack step by step x{n}")
            for i in range(warmup):
                full_stack_steps(api, subnet, f"warm-steps-{i}")
            samples = []
            per_post: dict[str, list[float]] = {}
            per_step: dict[str, list[float]] = {}
            for i in range(n):
                t, steps = full_stack_steps(api, subnet, f"steps-{i}")
                samples.append(t)
                for k, (t_post, t_step) in steps.items():
                    per_post.setdefault(k, []).append(t_post)
                    per_step.setdefault(k, []).append(t_step)
            first = api.call("GET", "/v2/lbaas/loadbalancers?name=steps-0")["loadbalancers"][0]
            check_full_stack(api, first["id"])
            ops["full_stack_step_by_step_to_active"] = {
                **summary(samples),
                "requests": "6 POSTs, each followed by GET polls of the LB every ~5 ms",
                "per_step_post_p50_ms": {k: summary(v)["p50_ms"] for k, v in per_post.items()},
                "per_step_to_active_p50_ms": {k: summary(v)["p50_ms"] for k, v in per_step.items()},
                "per_step_to_active_p99_ms": {k: summary(v)["p99_ms"] for k, v in per_step.items()},
            }

            log(f"[{db}] full stack single-call graph create x{n}")
            for i in range(warmup):
                full_stack_graph(api, subnet, f"warm-graph-{i}")
            samples, posts, polls = [], [], []
            for i in range(n):
                t, t_post, p = full_stack_graph(api, subnet, f"graph-{i}")
                samples.append(t)
                posts.append(t_post)
                polls.append(p)
            first = api.call("GET", "/v2/lbaas/loadbalancers?name=graph-0")["loadbalancers"][0]
            check_full_stack(api, first["id"])
            ops["full_stack_graph_create_to_active"] = {
                **summary(samples),
                "post_only": summary(posts),
                "polls_p50": sorted(polls)[len(polls) // 2],
            }

            result["operations"] = ops
            result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
            result["targets_met"] = {
                "full stack ACTIVE < 300 ms (step by step, p50/p99)": [
                    ops["full_stack_step_by_step_to_active"]["p50_ms"] < 300,
                    ops["full_stack_step_by_step_to_active"]["p99_ms"] < 300,
                ],
                "full stack ACTIVE < 300 ms (graph create, p50/p99)": [
                    ops["full_stack_graph_create_to_active"]["p50_ms"] < 300,
                    ops["full_stack_graph_create_to_active"]["p99_ms"] < 300,
                ],
                "list of 1000 < 100 ms (p50/p99)": [
                    ops["list_1000_loadbalancers"]["p50_ms"] < 100,
                    ops["list_1000_loadbalancers"]["p99_ms"] < 100,
                ],
            }
            return result
    except BaseException:
        if server is not None:
            log(f"[{db}] failed; server log tail:\n{server.log_tail()}")
        raise
    finally:
        # A second Ctrl-C must not interrupt the cleanup.
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if server is not None:
                server.stop()
            stack.close()
            shutil.rmtree(tmp, ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--n", type=int, default=100, help="samples per operation (default 100)")
    p.add_argument("--warmup", type=int, default=5, help="unmeasured warm-up calls per op")
    p.add_argument(
        "--fill-workers",
        type=int,
        default=4,
        help="concurrent clients used to create the 1,000 LBs for the list test",
    )
    p.add_argument(
        "--concurrency-seconds",
        type=float,
        default=10,
        help="seconds per concurrent-client measurement (0: skip them)",
    )
    p.add_argument(
        "--api-workers", type=int, default=1, help="API processes of the server (--workers)"
    )
    p.add_argument(
        "--old-tree",
        type=Path,
        help="another checkout (with its .venv) measured first, database by database",
    )
    args = p.parse_args(argv)
    if args.n < 1 or args.warmup < 0:
        p.error("--n must be >= 1 and --warmup >= 0")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    # Ctrl-C -> KeyboardInterrupt even when started with SIGINT ignored (background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    doc: dict[str, Any] = {
        "benchmark": "ostium API latency (bench/api.py)",
        "machine": machine_facts(),
        "config": {
            "n": args.n,
            "warmup": args.warmup,
            "compute_driver": "noop",
            "client": f"httpx {httpx.__version__}, one keep-alive connection, loopback",
            "api_workers": args.api_workers,
            "poll_interval_ms": POLL_INTERVAL * 1000,
            "list_size": LIST_SIZE,
            "latency": "client-side wall clock per request, milliseconds",
        },
        "targets": {k: v["text"] for k, v in TARGETS.items()},
        "results": {},
    }
    try:
        for db in dbs:
            run = (db, args.n, args.warmup, args.fill_workers, args.concurrency_seconds)
            if args.old_tree is None:
                doc["results"][db] = run_one(*run, args.api_workers)
                continue
            log(f"[{db}] old tree {args.old_tree}")
            old = run_one(*run, args.api_workers, args.old_tree.resolve())
            log(f"[{db}] new tree {REPO}")
            doc["results"][db] = {"old": old, "new": run_one(*run, args.api_workers)}
    except (KeyboardInterrupt, Terminated) as exc:
        log(f"interrupted ({type(exc).__name__} {exc}); everything was cleaned up")
        return 130
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
