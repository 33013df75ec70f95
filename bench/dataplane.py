"""Data-plane benchmark for ostium: real `ostium serve`, agent, namespaces and haproxy.

Needs root (namespaces, bridges, haproxy). Starts its own `ostium serve` (SQLite, fresh
state directory /tmp/ostb-*, free ports, its own health manager port) whose INI declares
only two networks of its own: the VIP network `ostb-vip0` 198.19.20.0/24 (host side
198.19.20.1) and the member network `ostb-back0` 198.19.21.0/24. Backends are three
haproxy responders (`http-request return`, answering their name) in namespaces
`ostb-a1..3` (198.19.21.11-13:8080); amphorae use the agent name prefix `ostb`.
Everything goes through the Octavia v2 API (httpx); traffic is sent from the host to
the VIPs only. Measured, in one run:

* full stack: POST load balancer, listener, pool, 2 members, HTTP health monitor, each
  waited until the load balancer is ACTIVE again (polled every 5 ms), then GET through
  the VIP until the first 200: time from the first POST to that response, N runs;
* request -> its access-log line: a GET through the VIP on a new path, then the API's
  long poll of the load balancer's logs (`ostium logs --follow`) until a line with that
  path is in it (not with --no-access-log);
* member added -> time until it receives traffic: a poller sends GETs through the VIP
  (new connection each) while a third member is POSTed; time from the POST to the first
  response from that member;
* failed requests during 100 member changes (add / remove of a third member, each
  waited until ACTIVE) while the load tool hits the VIP;
* requests/s through the VIP divided by requests/s through a hand-written minimal
  haproxy (namespace `ostb-ref` on the same two bridges, same backends, same load tool,
  rounds interleaved, medians);
* memory per load balancer with 100 load balancers (listener + pool + 2 members each):
  sum of haproxy RSS (every process of the amphorae) / 100, plus the agent's RSS growth / 100 (PSS
  reported too, since RSS counts shared pages once per process).

The load tool is `wrk` when installed (keep-alive connections), else a Python generator
(threads, one connection per request); the JSON says which. Prints ONE JSON document on
stdout (progress on stderr). Everything it creates (processes, namespaces, veths,
bridges, files) is removed at the end, also on failure, Ctrl-C or SIGTERM; the JSON
lists anything that had to be removed by force.

    .venv/bin/python bench/dataplane.py [--quick] [--runs N] [--lbs N]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from _common import Terminated, free_port, responder_lines, sh

REPO = Path(__file__).resolve().parent.parent
PREFIX = "ostb"  # agent name prefix: amphora namespaces are ostb<12 hex>
VIP_BRIDGE, VIP_NET, VIP_GW = "ostb-vip0", "198.19.20", "198.19.20.1"
BACK_BRIDGE, BACK_NET = "ostb-back0", "198.19.21"
REF_NS, REF_VIP, REF_BACK = "ostb-ref", "198.19.20.250", "198.19.21.250"
BACKENDS = 3
POLL = 0.005
RECONCILE_LINE = re.compile(r"reconcile done in ([0-9.]+) ms, now \w+: ([^\n]*)")
STEP = re.compile(r"([a-z_.]+)=([0-9.]+)ms")
TARGETS = {
    "full_stack_p50_ms": "< 1000",
    "member_add_to_traffic_p50_ms": "< 200",
    "failed_requests_during_member_changes": "== 0",
    "throughput_ratio_vs_minimal_haproxy": ">= 0.95",
    "memory_per_lb_mb": "< 10",
}


def log(msg: str) -> None:
    print(f"[dataplane {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def summary(values_s: list[float]) -> dict[str, Any]:
    ms = [round(v * 1000, 1) for v in values_s]
    return {
        "n": len(ms),
        "p50": round(pct(ms, 0.5), 1),
        "p90": round(pct(ms, 0.9), 1),
        "min": min(ms),
        "max": max(ms),
        "samples": ms,
    }


def get(host: str, path: str = "/", timeout: float = 2.0) -> tuple[int, str]:
    conn = http.client.HTTPConnection(host, 80, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace").strip()
    finally:
        conn.close()


def processes(marker: str) -> list[int]:
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
            out.append(int(entry))
    return out


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB, 0 if the process is gone."""
    rss = pss = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def step_summary(lines: list[tuple[float, dict[str, float]]], means: bool = True) -> dict[str, Any]:
    """Count, total p50 and p50 per step (ms) of reconcile log lines (total, steps)."""
    totals = [total for total, _ in lines]
    steps: dict[str, list[float]] = {}
    for _, line in lines:
        for name, ms in line.items():
            steps.setdefault(name, []).append(ms)
    out: dict[str, Any] = {
        "reconciles": len(totals),
        "total_p50_ms": round(pct(totals, 0.5), 1),
        "steps_p50_ms": {k: round(pct(v, 0.5), 1) for k, v in steps.items()},
    }
    if means and totals:
        out["steps_mean_ms"] = {k: round(sum(v) / len(totals), 1) for k, v in steps.items()}
    return out


# --------------------------------------------------------------------------- load tools


class PythonLoad:
    """Threads sending GETs on keep-alive connections (like wrk), counting successes and
    failures; a failed connection is replaced by a new one."""

    name = "python (threads, keep-alive connections)"

    def __init__(self, host: str, threads: int = 4) -> None:
        self.host = host
        self.stop_event = threading.Event()
        self.ok = 0
        self.failed = 0
        self.errors: dict[str, int] = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        self.started = self.stopped = 0.0

    def _run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self.stop_event.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, 80, timeout=5)
                conn.request("GET", "/")
                resp = conn.getresponse()
                resp.read()
                err = None if resp.status == 200 else f"status {resp.status}"
            except (OSError, http.client.HTTPException) as exc:
                err = type(exc).__name__
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                if err is None:
                    self.ok += 1
                else:
                    self.failed += 1
                    self.errors[err] = self.errors.get(err, 0) + 1

    def start(self) -> None:
        self.started = time.monotonic()
        for t in self.threads:
            t.start()

    def stop(self) -> dict[str, Any]:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=10)
        self.stopped = time.monotonic()
        secs = self.stopped - self.started
        return {
            "requests": self.ok + self.failed,
            "failed": self.failed,
            "errors": self.errors,
            "rps": round((self.ok + self.failed) / secs, 1),
            "seconds": round(secs, 2),
        }


class WrkLoad:
    """`wrk` in the background until stopped with SIGINT (it then prints its report)."""

    name = "wrk (keep-alive connections)"

    def __init__(self, host: str, threads: int = 1, connections: int = 8) -> None:
        self.argv = ["wrk", f"-t{threads}", f"-c{connections}", "-d3600s", f"http://{host}/"]
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        time.sleep(0.2)

    def stop(self) -> dict[str, Any]:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return parse_wrk(out)


def parse_wrk(out: str) -> dict[str, Any]:
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if not m:
        raise RuntimeError(f"cannot parse wrk output: {out!r}")
    requests = int(m.group(1))
    secs = float(m.group(2)) * {"ms": 0.001, "s": 1, "m": 60}.get(m.group(3), 1)
    errors: dict[str, int] = {}
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if se:
        for k, v in zip(("connect", "read", "write", "timeout"), se.groups(), strict=True):
            if int(v):
                errors[k] = int(v)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors["non_2xx_3xx"] = int(non2xx.group(1))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {
        "requests": requests,
        "failed": sum(errors.values()),
        "errors": errors,
        "rps": float(rps.group(1)) if rps else round(requests / secs, 1),
        "seconds": round(secs, 2),
    }


# --------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="ostb-", dir="/tmp"))
        self.state_dir = self.workdir / "state"
        self.api_port = free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.serve: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=60)
        self.subnet_id = ""
        self.wrk = shutil.which("wrk") is not None and not args.python_load
        self.lbs: list[str] = []
        self.python = sys.executable  # another checkout's interpreter: compare old code
        self.repo = REPO

    # ---- set-up -------------------------------------------------------------------

    def write_config(self) -> Path:
        ini = self.workdir / "ostium.ini"
        ini.write_text(
            "\n".join(
                [
                    "[networking]",
                    "default_networks = false",
                    "[network:ostb-vip]",
                    f"cidr = {VIP_NET}.0/24",
                    f"bridge = {VIP_BRIDGE}",
                    "subnet_name = ostb-vip-subnet",
                    "[network:ostb-back]",
                    f"cidr = {BACK_NET}.0/24",
                    f"bridge = {BACK_BRIDGE}",
                    "subnet_name = ostb-back-subnet",
                    "[haproxy_amphora]",
                    f"bind_port = {free_port()}",
                    f"name_prefix = {PREFIX}",
                    f"connection_logging = {str(not self.args.no_access_log).lower()}",
                    "[amphora_agent]",
                    f"log_receiver_port = {free_port(socket.SOCK_DGRAM)}",
                    "[controller_worker]",
                    "lease_seconds = 10",
                    "[health_manager]",
                    f"bind_port = {free_port(socket.SOCK_DGRAM)}",
                    "",
                ]
            )
        )
        return ini

    def veth(self, ns: str, host: str, peer: str, bridge: str, cidr: str) -> None:
        sh("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
        sh("ip", "link", "set", peer, "netns", ns)
        sh("ip", "link", "set", host, "master", bridge, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", cidr, "dev", peer)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", peer, "up")

    def haproxy(self, ns: str, name: str, config: str) -> None:
        cfg = self.workdir / f"{name}.cfg"
        cfg.write_text(config)
        sh(
            "ip",
            "netns",
            "exec",
            ns,
            "haproxy",
            "-D",
            "-p",
            str(self.workdir / f"{name}.pid"),
            "-f",
            str(cfg),
        )

    def start_backends(self) -> None:
        for bridge in (VIP_BRIDGE, BACK_BRIDGE):
            if Path("/sys/class/net", bridge).exists():
                raise RuntimeError(f"{bridge} already exists: another bench running?")
        sh("ip", "link", "add", "name", BACK_BRIDGE, "type", "bridge")
        sh("ip", "link", "set", BACK_BRIDGE, "up")
        for i in range(1, BACKENDS + 1):
            ns, addr = f"ostb-a{i}", f"{BACK_NET}.{10 + i}"
            sh("ip", "netns", "add", ns)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            self.veth(ns, f"{ns}h", f"{ns}p", BACK_BRIDGE, f"{addr}/24")
            self.haproxy(
                ns,
                ns,
                "\n".join([*responder_lines(ns, addr), ""]),
            )

    def start_reference(self) -> None:
        """The hand-written minimal haproxy, on the same bridges as the amphorae."""
        sh("ip", "netns", "add", REF_NS)
        sh("ip", "netns", "exec", REF_NS, "ip", "link", "set", "lo", "up")
        self.veth(REF_NS, "ostb-refvh", "ostb-refvp", VIP_BRIDGE, f"{REF_VIP}/24")
        self.veth(REF_NS, "ostb-refbh", "ostb-refbp", BACK_BRIDGE, f"{REF_BACK}/24")
        self.haproxy(
            REF_NS,
            "reference",
            "\n".join(
                [
                    "global",
                    "    maxconn 9000",
                    "defaults",
                    "    mode http",
                    "    timeout client 50s",
                    "    timeout server 50s",
                    "    timeout connect 5s",
                    "frontend fe",
                    f"    bind {REF_VIP}:80",
                    "    default_backend be",
                    "backend be",
                    "    balance roundrobin",
                    f"    server a1 {BACK_NET}.11:8080",
                    f"    server a2 {BACK_NET}.12:8080",
                    "",
                ]
            ),
        )

    def start_ostium(self) -> None:
        ini = self.write_config()
        log_file = (self.workdir / "serve.log").open("ab")
        try:
            self.serve = subprocess.Popen(
                [
                    self.python,
                    "-m",
                    "ostium",
                    "serve",
                    "--state-dir",
                    str(self.state_dir),
                    "--config-file",
                    str(ini),
                    "--bind",
                    f"127.0.0.1:{self.api_port}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                cwd=self.repo,
                start_new_session=True,
            )
        finally:
            log_file.close()
        deadline = time.monotonic() + 60
        while True:
            if self.serve.poll() is not None:
                raise RuntimeError("ostium serve exited; see " + str(self.workdir / "serve.log"))
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get("/").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("ostium serve did not answer within 60 s")
            time.sleep(0.1)
        r = self.http.get("/v2.0/subnets", params={"name": "ostb-vip-subnet"})
        self.subnet_id = r.json()["subnets"][0]["id"]

    # ---- API helpers --------------------------------------------------------------

    def post(self, path: str, root: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(path, json={root: body})
        if r.status_code != 201:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text}")
        return dict(r.json()[root])

    def lb_status(self, lb_id: str) -> str:
        r = self.http.get(f"/v2/lbaas/loadbalancers/{lb_id}")
        return (
            "GONE" if r.status_code == 404 else str(r.json()["loadbalancer"]["provisioning_status"])
        )

    def toggle_member(
        self, lb_id: str, path: str, member_id: str | None, timeout: float = 60
    ) -> str | None:
        """Add the third backend as a member of the pool at `path` when `member_id` is
        None, else delete that member; wait until ACTIVE. The member's id, or None."""
        if member_id is None:
            body = {"address": f"{BACK_NET}.13", "protocol_port": 8080}
            member_id = self.post(path, "member", body)["id"]
        else:
            r = self.http.delete(f"{path}/{member_id}")
            if r.status_code != 204:
                raise RuntimeError(f"member delete: {r.status_code} {r.text}")
            member_id = None
        self.wait_active(lb_id, timeout=timeout)
        return member_id

    def wait_active(self, lb_id: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            status = self.lb_status(lb_id)
            if status == "ACTIVE":
                return
            if status in ("ERROR", "GONE") or time.monotonic() > deadline:
                raise RuntimeError(f"load balancer {lb_id}: {status}")
            time.sleep(POLL)

    def create_lb(self, **body: Any) -> dict[str, Any]:
        lb = self.post(
            "/v2/lbaas/loadbalancers", "loadbalancer", {"vip_subnet_id": self.subnet_id, **body}
        )
        self.lbs.append(lb["id"])
        return lb

    def delete_lbs(self, ids: list[str], timeout: float = 300) -> None:
        for lb_id in ids:
            self.http.delete(f"/v2/lbaas/loadbalancers/{lb_id}", params={"cascade": "true"})
        deadline = time.monotonic() + timeout
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            listing = self.http.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]
            alive = {x["id"]: x["provisioning_status"] for x in listing}
            for lb_id in list(pending):
                if alive.get(lb_id, "DELETED") == "DELETED":
                    pending.discard(lb_id)
                elif alive[lb_id] in ("ERROR", "ACTIVE"):
                    # Again from ERROR, or after a 409: the load balancer was PENDING_*
                    # when asked (a failover's rebuild, say).
                    self.http.delete(f"/v2/lbaas/loadbalancers/{lb_id}", params={"cascade": "true"})
            time.sleep(0.05)
        self.lbs = [x for x in self.lbs if x not in ids or x in pending]
        if pending:
            raise RuntimeError(f"{len(pending)} load balancers not deleted in {timeout}s")

    def graph(self, name: str, members: int = 2, hm: bool = False) -> dict[str, Any]:
        pool: dict[str, Any] = {
            "name": "p",
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "members": [
                {"address": f"{BACK_NET}.{10 + i}", "protocol_port": 8080}
                for i in range(1, members + 1)
            ],
        }
        if hm:
            pool["healthmonitor"] = {
                "type": "HTTP",
                "delay": 5,
                "timeout": 3,
                "max_retries": 2,
                "url_path": "/",
            }
        return {
            "name": name,
            "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p"}}],
            "pools": [pool],
        }

    def load(self, host: str) -> WrkLoad | PythonLoad:
        return WrkLoad(host) if self.wrk else PythonLoad(host)

    # ---- where the time goes ------------------------------------------------------

    def log_offset(self) -> int:
        path = self.workdir / "serve.log"
        return path.stat().st_size if path.exists() else 0

    def reconcile_steps(self, since: int) -> dict[str, Any]:
        """p50 per step of the reconciles logged since byte `since` of serve.log (the
        worker's one line per reconcile: total, then wake, claim, load, spec, push and
        the agent's own steps: plug, lock, render, check, runtime/reload/start, record),
        overall and by kind: how the agent made the change live (`start` of haproxy,
        seamless `reload`, `runtime` API), or `other` (a delete)."""
        with (self.workdir / "serve.log").open("rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
        lines: list[tuple[float, dict[str, float]]] = []
        for match in RECONCILE_LINE.finditer(text):
            steps = {name: float(ms) for name, ms in STEP.findall(match.group(2))}
            lines.append((float(match.group(1)), steps))
        out = step_summary(lines)
        kinds: dict[str, list[tuple[float, dict[str, float]]]] = {}
        for line in lines:
            kind = next(
                (k for k in ("start", "reload", "runtime") if f"agent.{k}" in line[1]), "other"
            )
            kinds.setdefault(kind, []).append(line)
        out["by_kind"] = {k: step_summary(v, means=False) for k, v in sorted(kinds.items())}
        return out

    # ---- measurements -------------------------------------------------------------

    def full_stack(self, runs: int) -> dict[str, Any]:
        since = self.log_offset()
        totals: list[float] = []
        steps: dict[str, list[float]] = {}
        for run in range(runs):
            t0 = time.monotonic()
            marks: list[tuple[str, float]] = []
            lb = self.create_lb(name=f"full-{run}")
            self.wait_active(lb["id"])
            marks.append(("loadbalancer", time.monotonic()))
            li = self.post(
                "/v2/lbaas/listeners",
                "listener",
                {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80},
            )
            self.wait_active(lb["id"])
            marks.append(("listener", time.monotonic()))
            pool = self.post(
                "/v2/lbaas/pools",
                "pool",
                {"listener_id": li["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"},
            )
            self.wait_active(lb["id"])
            marks.append(("pool", time.monotonic()))
            for i in (1, 2):
                self.post(
                    f"/v2/lbaas/pools/{pool['id']}/members",
                    "member",
                    {"address": f"{BACK_NET}.{10 + i}", "protocol_port": 8080},
                )
                self.wait_active(lb["id"])
                marks.append((f"member{i}", time.monotonic()))
            self.post(
                "/v2/lbaas/healthmonitors",
                "healthmonitor",
                {
                    "pool_id": pool["id"],
                    "type": "HTTP",
                    "delay": 5,
                    "timeout": 3,
                    "max_retries": 2,
                    "url_path": "/",
                },
            )
            self.wait_active(lb["id"])
            marks.append(("healthmonitor", time.monotonic()))
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(OSError):
                    if get(lb["vip_address"], timeout=1)[0] == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("no successful request through the VIP in 30 s")
                time.sleep(0.002)
            marks.append(("first_request", time.monotonic()))
            totals.append(marks[-1][1] - t0)
            prev = t0
            for step, t in marks:
                steps.setdefault(step, []).append(t - prev)
                prev = t
            log(f"full stack run {run + 1}/{runs}: {totals[-1] * 1000:.0f} ms")
            self.delete_lbs([lb["id"]])
        out = summary(totals)
        out["steps_p50_ms"] = {k: round(pct(v, 0.5) * 1000, 1) for k, v in steps.items()}
        out["reconcile"] = self.reconcile_steps(since)
        return out

    def log_delay(self, runs: int) -> dict[str, Any]:
        """A request through the VIP until its access-log line is in the API's answer
        (`GET .../logs?after=N&wait=S`, what `ostium logs --follow` polls)."""
        lb = self.create_lb(**self.graph("log-delay"))
        self.wait_active(lb["id"])
        vip, url = lb["vip_address"], f"/v2/lbaas/loadbalancers/{lb['id']}/logs"
        after = self.http.get(url).json()["logs"]["next"]
        delays: list[float] = []
        for run in range(runs):
            path = f"/log-delay-{run}"
            t0 = time.monotonic()
            get(vip, path)
            found = None
            while found is None and time.monotonic() < t0 + 10:
                page = self.http.get(url, params={"after": after, "wait": 5}).json()["logs"]
                after = page["next"]
                if any(path in line["line"] for line in page["lines"]):
                    found = time.monotonic()
            if found is None:
                raise RuntimeError(f"no access-log line for {path} within 10 s")
            delays.append(found - t0)
        return summary(delays)

    def member_add(self, runs: int) -> dict[str, Any]:
        lb = self.create_lb(**self.graph("member-add"))
        self.wait_active(lb["id"])
        vip = lb["vip_address"]
        pool = self.http.get("/v2/lbaas/pools", params={"loadbalancer_id": lb["id"]}).json()[
            "pools"
        ][0]
        seen: list[tuple[float, str]] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                with contextlib.suppress(OSError):
                    status, body = get(vip, timeout=1)
                    if status == 200:
                        seen.append((time.monotonic(), body))

        threads = [threading.Thread(target=poll, daemon=True)]
        for t in threads:
            t.start()
        to_traffic: list[float] = []
        to_active: list[float] = []
        try:
            for run in range(runs):
                time.sleep(0.1)
                t0 = time.monotonic()
                m = self.post(
                    f"/v2/lbaas/pools/{pool['id']}/members",
                    "member",
                    {"address": f"{BACK_NET}.13", "protocol_port": 8080},
                )
                self.wait_active(lb["id"])
                to_active.append(time.monotonic() - t0)
                deadline = time.monotonic() + 10
                first = None
                while first is None and time.monotonic() < deadline:
                    first = next((t for t, b in list(seen) if t >= t0 and b == "ostb-a3"), None)
                    time.sleep(0.005)
                if first is None:
                    raise RuntimeError("the added member never received traffic")
                to_traffic.append(first - t0)
                r = self.http.delete(f"/v2/lbaas/pools/{pool['id']}/members/{m['id']}")
                if r.status_code != 204:
                    raise RuntimeError(f"member delete: {r.status_code} {r.text}")
                self.wait_active(lb["id"])
                log(
                    f"member add run {run + 1}/{runs}: traffic after {to_traffic[-1] * 1000:.0f} ms"
                )
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=5)
        self.delete_lbs([lb["id"]])
        out = summary(to_traffic)
        out["api_active_p50_ms"] = round(pct(to_active, 0.5) * 1000, 1)
        return out

    def churn_and_throughput(
        self, changes: int, rounds: int, seconds: float
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        lb = self.create_lb(**self.graph("churn"))
        self.wait_active(lb["id"])
        vip = lb["vip_address"]
        pool = self.http.get("/v2/lbaas/pools", params={"loadbalancer_id": lb["id"]}).json()[
            "pools"
        ][0]
        path = f"/v2/lbaas/pools/{pool['id']}/members"

        # -- failed requests during member changes
        since = self.log_offset()
        load = self.load(vip)
        timings: list[float] = []
        load.start()
        try:
            time.sleep(0.5)
            member_id = None
            for i in range(changes):
                t0 = time.monotonic()
                member_id = self.toggle_member(lb["id"], path, member_id)
                timings.append(time.monotonic() - t0)
                if (i + 1) % 20 == 0:
                    log(f"member changes under load: {i + 1}/{changes}")
            time.sleep(0.5)
        finally:
            result = load.stop()
        churn = {
            "changes": changes,
            **result,
            "change_to_active_ms": {k: v for k, v in summary(timings).items() if k != "samples"},
            "reconcile": self.reconcile_steps(since),
        }
        if member_id is not None:
            self.http.delete(f"{path}/{member_id}")
            self.wait_active(lb["id"])

        # -- throughput: the amphora vs the minimal haproxy, interleaved rounds
        vip_rps: list[float] = []
        ref_rps: list[float] = []
        for host in (vip, REF_VIP):  # warm up both
            self.measure_rps(host, 1.0)
        for r in range(rounds):
            for host, into in ((REF_VIP, ref_rps), (vip, vip_rps)):
                into.append(self.measure_rps(host, seconds))
            log(
                f"throughput round {r + 1}/{rounds}: vip {vip_rps[-1]:.0f} rps, "
                f"reference {ref_rps[-1]:.0f} rps"
            )
        self.delete_lbs([lb["id"]])
        ratio = statistics.median(vip_rps) / statistics.median(ref_rps)
        throughput = {
            "vip_rps": vip_rps,
            "reference_rps": ref_rps,
            "vip_rps_median": statistics.median(vip_rps),
            "reference_rps_median": statistics.median(ref_rps),
            "ratio": round(ratio, 3),
            "rounds": rounds,
            "seconds_per_round": seconds,
            "reference": "haproxy in namespace ostb-ref on the same bridges: "
            "defaults mode http, roundrobin, same 2 backends",
        }
        return churn, throughput

    def measure_rps(self, host: str, seconds: float) -> float:
        if self.wrk:
            proc = subprocess.run(
                ["wrk", "-t2", "-c64", f"-d{max(1, round(seconds))}s", f"http://{host}/"],
                capture_output=True,
                text=True,
                timeout=seconds + 30,
            )
            res = parse_wrk(proc.stdout)
            if res["failed"]:
                log(f"warning: {res['failed']} failed requests to {host}: {res['errors']}")
            return float(res["rps"])
        load = PythonLoad(host, threads=8)
        load.start()
        time.sleep(seconds)
        return float(load.stop()["rps"])

    def agent_pid(self) -> int:
        pids = processes(f"--state-dir {self.state_dir}/agent")
        if len(pids) != 1:
            raise RuntimeError(f"expected one agent process, found {pids}")
        return pids[0]

    def memory(self, count: int) -> dict[str, Any]:
        agent = self.agent_pid()
        time.sleep(1)
        agent_before = memory_kb(agent)
        t0 = time.monotonic()
        ids = []
        for i in range(count):
            ids.append(self.create_lb(**self.graph(f"mem-{i}"))["id"])
        deadline = time.monotonic() + 600
        while True:
            listing = self.http.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]
            states = [x["provisioning_status"] for x in listing if x["id"] in ids]
            if "ERROR" in states:
                raise RuntimeError("a load balancer went to ERROR")
            if states.count("ACTIVE") == count:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {states.count('ACTIVE')}/{count} ACTIVE")
            time.sleep(0.2)
        created = time.monotonic() - t0
        log(f"{count} load balancers ACTIVE in {created:.1f} s")
        time.sleep(3)  # let workers settle, a heartbeat or two go out
        haproxy = [
            p
            for p in processes(f"{self.state_dir}/agent/amphorae/")
            if "haproxy" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")
        ]
        mem = [memory_kb(p) for p in haproxy]
        agent_after = memory_kb(agent)
        rss_sum, pss_sum = sum(m[0] for m in mem), sum(m[1] for m in mem)
        agent_growth_rss = agent_after[0] - agent_before[0]
        agent_growth_pss = agent_after[1] - agent_before[1]
        t1 = time.monotonic()
        self.delete_lbs(ids, timeout=600)
        deleted = time.monotonic() - t1
        log(f"{count} load balancers deleted in {deleted:.1f} s")
        mb = 1024.0
        per_lb = (rss_sum + agent_growth_rss) / count / mb
        return {
            "load_balancers": count,
            "haproxy_processes": len(haproxy),
            "haproxy_rss_sum_mb": round(rss_sum / mb, 1),
            "haproxy_rss_per_lb_mb": round(rss_sum / count / mb, 2),
            "haproxy_pss_per_lb_mb": round(pss_sum / count / mb, 2),
            "agent_rss_before_mb": round(agent_before[0] / mb, 1),
            "agent_rss_after_mb": round(agent_after[0] / mb, 1),
            "agent_rss_growth_per_lb_mb": round(agent_growth_rss / count / mb, 3),
            "per_lb_mb": round(per_lb, 2),
            "per_lb_pss_mb": round((pss_sum + agent_growth_pss) / count / mb, 2),
            "create_all_to_active_s": round(created, 1),
            "delete_all_s": round(deleted, 1),
        }

    # ---- clean-up -----------------------------------------------------------------

    def cleanup(self) -> list[str]:
        """Delete load balancers through the API, stop ostium, then remove by force
        whatever is left; returns what had to be removed by force."""
        if self.lbs and self.serve is not None and self.serve.poll() is None:
            try:
                self.delete_lbs(list(self.lbs), timeout=300)
            except Exception as exc:  # fall through to the forced clean-up
                log(f"cascade delete failed: {exc!r}")
        if self.serve is not None and self.serve.poll() is None:
            self.serve.send_signal(signal.SIGTERM)
            try:
                self.serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.serve.kill()
                self.serve.wait()
        self.http.close()
        forced: list[str] = []
        for name in ("reference", *(f"ostb-a{i}" for i in range(1, BACKENDS + 1))):
            pidfile = self.workdir / f"{name}.pid"
            with contextlib.suppress(OSError, ValueError):
                for pid in pidfile.read_text().split():
                    os.kill(int(pid), signal.SIGTERM)
        time.sleep(0.3)
        for pid in processes(str(self.workdir)):
            name = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
            if name != "haproxy" or f"{self.state_dir}/agent" in Path(
                f"/proc/{pid}/cmdline"
            ).read_text(errors="replace"):
                forced.append(f"process {pid} {name}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
            ns = line.split()[0] if line.split() else ""
            if ns.startswith(PREFIX):
                if not ns.startswith("ostb-"):
                    forced.append(f"netns {ns}")
                for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
                sh("ip", "netns", "del", ns, check=False)
        for line in sh("ip", "-o", "link", "show", check=False).stdout.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith(PREFIX):
                if not name.startswith(("ostb-a", "ostb-ref", BACK_BRIDGE, VIP_BRIDGE)):
                    forced.append(f"link {name}")
                sh("ip", "link", "del", name, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return forced


def host_info() -> dict[str, Any]:
    haproxy = sh("haproxy", "-v", check=False).stdout.splitlines()
    wrk = shutil.which("wrk")
    return {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "haproxy": haproxy[0] if haproxy else None,
        "wrk": wrk is not None,
    }


def verdicts(result: dict[str, Any]) -> dict[str, Any]:
    values = {
        "full_stack_p50_ms": result.get("full_stack_first_post_to_first_request_ms", {}).get("p50"),
        "member_add_to_traffic_p50_ms": result.get("member_added_to_traffic_ms", {}).get("p50"),
        "failed_requests_during_member_changes": result.get("member_changes_under_load", {}).get(
            "failed"
        ),
        "throughput_ratio_vs_minimal_haproxy": result.get("throughput", {}).get("ratio"),
        "memory_per_lb_mb": result.get("memory", {}).get("per_lb_mb"),
    }
    checks: dict[str, Callable[[float], bool]] = {
        "full_stack_p50_ms": lambda v: v < 1000,
        "member_add_to_traffic_p50_ms": lambda v: v < 200,
        "failed_requests_during_member_changes": lambda v: v == 0,
        "throughput_ratio_vs_minimal_haproxy": lambda v: v >= 0.95,
        "memory_per_lb_mb": lambda v: v < 10,
    }
    return {
        k: {"value": v, "target": TARGETS[k], "met": None if v is None else checks[k](v)}
        for k, v in values.items()
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="smaller run (~1 minute)")
    p.add_argument("--runs", type=int, help="full-stack and member-add runs (default 10/3)")
    p.add_argument("--changes", type=int, help="member changes under load (default 100/20)")
    p.add_argument("--lbs", type=int, help="load balancers for the memory figure (100/10)")
    p.add_argument("--rounds", type=int, help="throughput rounds per target (default 3/1)")
    p.add_argument("--seconds", type=float, help="seconds per throughput round (5/3)")
    p.add_argument("--python-load", action="store_true", help="do not use wrk")
    p.add_argument(
        "--no-access-log",
        action="store_true",
        help="[haproxy_amphora] connection_logging = false (the reference logs nothing)",
    )
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print(json.dumps({"error": "needs root (namespaces, bridges, haproxy)"}))
        return 2
    quick = args.quick
    runs = args.runs or (3 if quick else 10)
    changes = args.changes or (20 if quick else 100)
    lbs = args.lbs or (10 if quick else 100)
    rounds = args.rounds or (1 if quick else 3)
    seconds = args.seconds or (3.0 if quick else 5.0)

    def terminate(signum: int, frame: object) -> None:
        raise Terminated(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    started = time.monotonic()
    bench = Bench(args)
    result: dict[str, Any] = {
        "benchmark": "ostium data plane",
        "quick": quick,
        "access_log": not args.no_access_log,
        "host": host_info(),
        "load_tool": WrkLoad.name if bench.wrk else PythonLoad.name,
    }
    rc = 0
    try:
        log(f"workdir {bench.workdir}")
        bench.start_backends()
        bench.start_ostium()
        log("ostium serving; full stack runs")
        result["full_stack_first_post_to_first_request_ms"] = bench.full_stack(runs)
        result["member_added_to_traffic_ms"] = bench.member_add(runs)
        if not args.no_access_log:
            result["request_to_access_log_line_ms"] = bench.log_delay(max(runs, 10))
        bench.start_reference()
        churn, throughput = bench.churn_and_throughput(changes, rounds, seconds)
        result["member_changes_under_load"] = churn
        result["throughput"] = throughput
        result["memory"] = bench.memory(lbs)
    except (Exception, KeyboardInterrupt, Terminated) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        rc = 1
    finally:
        log("cleaning up")
        with contextlib.suppress(KeyboardInterrupt, Terminated):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            result["cleanup"] = {"removed_by_force": bench.cleanup()}
    result["targets"] = verdicts(result)
    result["duration_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))
    return rc


if __name__ == "__main__":
    sys.exit(main())
