"""Density benchmark: how ostium grows from 10 to 1,000 load balancers on one host.

Needs root (namespaces, bridges, haproxy). Starts its own `ostium serve` (SQLite, fresh
state directory /tmp/ostb-*, free ports) like `bench/dataplane.py`, whose set-up it
reuses, but with /22 networks so that 1,000 VIPs and 1,000 member-side addresses fit:
the VIP network `ostb-vip0` 198.19.96.0/22 and the member network `ostb-back0`
198.19.100.0/22 (three haproxy responders `ostb-a1..3` at 198.19.100.11-13:8080). Every
load balancer is SINGLE with an HTTP listener, a pool and two members (one graph POST).

For each point of the curve (`--points`, default 10,100,1000; `--quick` 10,50) it grows
the number of load balancers to that point and prints, per point:

* create: POSTs of the new load balancers (`--posters` threads) until all are ACTIVE,
  wall time and seconds per load balancer, and where the reconciles spent their time
  (p50 per step of the worker's log line, as in `bench/dataplane.py`);
* member change: `--changes` add/remove changes of a third member on the first load
  balancer, each POST/DELETE until ACTIVE again (p50/max, ms);
* memory: RSS and PSS of every haproxy process of the amphorae (sum / load balancers;
  PSS shares a page between the processes mapping it, so it is the figure that adds
  up), the number of haproxy processes, the agent's and the server's RSS / PSS;
* health-manager lag: the age of each amphora's `last_heartbeat` in the database,
  sampled `--lag-samples` times 1 s apart (p50/max, s) against the agents' heartbeat
  interval (2 s): an age well above the interval means heartbeats wait to be written,
  and the failovers the health manager started so far (amphorae silent longer than
  `--heartbeat-timeout`: on a saturated host a storm of them stops the curve);
* idle CPU: for `--idle-seconds` (10) while nothing changes, the cores used by the
  agent (with the commands it runs), `ostium serve`, the amphorae's haproxy processes
  and the whole machine, from /proc: what watching the load balancers costs (heartbeat
  rounds, supervision, the health manager), taken from the creates' share of the CPU.

`--repo PATH` runs another checkout's code (its .venv) with the same benchmark, for
old-vs-new figures from one session. One JSON document on stdout (progress on stderr);
everything created is removed at the end, also on failure, Ctrl-C or SIGTERM.

    .venv/bin/python bench/density.py [--quick] [--points 10,100,1000] [--repo /work/main]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

import dataplane as dp
import httpx
from _common import Terminated, free_port, responder_lines, sh

dp.VIP_NET, dp.VIP_GW = "198.19.96", "198.19.96.1"
dp.BACK_NET = "198.19.100"
HEARTBEAT_INTERVAL = 2.0
FAILING_OVER = "failing over"


def log(msg: str) -> None:
    print(f"[density {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def mb(kb: float) -> float:
    return round(kb / 1024.0, 2)


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system time of `pid` and of its children it reaped (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return sum(int(f) for f in fields[11:15]) / _TICK


def machine_busy_seconds() -> float:
    """CPU seconds every CPU of the machine spent not idle (nor waiting for I/O)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / _TICK


class Density(dp.Bench):
    wait_limit = 900.0
    heartbeat_timeout = 6.0

    def failovers(self) -> int:
        """Amphorae the health manager failed over so far (its log lines)."""
        with contextlib.suppress(OSError):
            return (self.workdir / "serve.log").read_text(errors="replace").count(FAILING_OVER)
        return 0

    def write_config(self) -> Path:
        ini = self.workdir / "ostium.ini"
        ini.write_text(
            "\n".join(
                [
                    "[networking]",
                    "default_networks = false",
                    "[network:ostb-vip]",
                    f"cidr = {dp.VIP_NET}.0/22",
                    f"bridge = {dp.VIP_BRIDGE}",
                    "subnet_name = ostb-vip-subnet",
                    "[network:ostb-back]",
                    f"cidr = {dp.BACK_NET}.0/22",
                    f"bridge = {dp.BACK_BRIDGE}",
                    "subnet_name = ostb-back-subnet",
                    "[haproxy_amphora]",
                    f"bind_port = {free_port()}",
                    f"name_prefix = {dp.PREFIX}",
                    "[controller_worker]",
                    "lease_seconds = 30",
                    "[health_manager]",
                    f"bind_port = {free_port(socket.SOCK_DGRAM)}",
                    f"heartbeat_interval = {HEARTBEAT_INTERVAL}",
                    f"heartbeat_timeout = {self.heartbeat_timeout}",
                    "",
                ]
            )
        )
        return ini

    def start_backends(self) -> None:
        for bridge in (dp.VIP_BRIDGE, dp.BACK_BRIDGE):
            if Path("/sys/class/net", bridge).exists():
                raise RuntimeError(f"{bridge} already exists: another bench running?")
        sh("ip", "link", "add", "name", dp.BACK_BRIDGE, "type", "bridge")
        sh("ip", "link", "set", dp.BACK_BRIDGE, "up")
        for i in range(1, dp.BACKENDS + 1):
            ns, addr = f"ostb-a{i}", f"{dp.BACK_NET}.{10 + i}"
            sh("ip", "netns", "add", ns)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            self.veth(ns, f"{ns}h", f"{ns}p", dp.BACK_BRIDGE, f"{addr}/22")
            self.haproxy(
                ns,
                ns,
                "\n".join([*responder_lines(ns, addr), ""]),
            )

    # ---- one point of the curve ----------------------------------------------------

    def grow(self, target: int, posters: int) -> dict[str, Any]:
        start = len(self.lbs)
        count = target - start
        names = iter(range(start, target))
        lock = threading.Lock()
        errors: list[str] = []
        t0 = time.monotonic()

        def post() -> None:
            client = httpx.Client(base_url=self.url, timeout=120)
            try:
                while True:
                    with lock:
                        i = next(names, None)
                    if i is None or errors:
                        return
                    body = {"vip_subnet_id": self.subnet_id, **self.graph(f"density-{i}")}
                    r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
                    with lock:
                        if r.status_code != 201:
                            errors.append(f"POST: {r.status_code} {r.text[:200]}")
                        else:
                            self.lbs.append(r.json()["loadbalancer"]["id"])
            finally:
                client.close()

        threads = [threading.Thread(target=post, daemon=True) for _ in range(posters)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError(errors[0])
        posted = time.monotonic() - t0
        new = set(self.lbs[start:])
        deadline = time.monotonic() + self.wait_limit
        while True:
            states = [status for lb_id, status in self.statuses() if lb_id in new]
            if "ERROR" in states:
                raise RuntimeError("a load balancer went to ERROR")
            active = states.count("ACTIVE")
            if active == count or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        created = time.monotonic() - t0
        log(f"{active}/{count} load balancers ACTIVE in {created:.1f} s ({target} in all)")
        out: dict[str, Any] = {
            "new_load_balancers": count,
            "posted_s": round(posted, 2),
            "all_active_s": round(created, 2),
            "s_per_lb": round(created / max(active, 1), 4),
        }
        if active < count:  # the curve stops here: the figure is the rate reached
            out["timed_out_with_active"] = active
        return out

    def statuses(self, page: int = 500) -> list[tuple[str, str]]:
        """(id, provisioning status) of every load balancer, page by page (the API caps a
        page at `pagination_max_limit`)."""
        out: list[tuple[str, str]] = []
        params: dict[str, Any] = {"limit": page}
        while True:
            rows = self.http.get("/v2/lbaas/loadbalancers", params=params).json()
            batch = rows["loadbalancers"]
            out += [(x["id"], x["provisioning_status"]) for x in batch]
            if len(batch) < page:
                return out
            params["marker"] = batch[-1]["id"]

    def member_changes(self, changes: int) -> dict[str, Any]:
        lb_id = self.lbs[0]
        pool = self.http.get("/v2/lbaas/pools", params={"loadbalancer_id": lb_id}).json()["pools"][
            0
        ]
        path = f"/v2/lbaas/pools/{pool['id']}/members"
        timings: list[float] = []
        member_id: str | None = None
        for _ in range(changes):
            t0 = time.monotonic()
            member_id = self.toggle_member(lb_id, path, member_id, timeout=120)
            timings.append(time.monotonic() - t0)
        if member_id is not None:
            self.http.delete(f"{path}/{member_id}")
            self.wait_active(lb_id, timeout=120)
        return {k: v for k, v in dp.summary(timings).items() if k != "samples"}

    def memory_now(self, count: int) -> dict[str, Any]:
        haproxy = [
            p
            for p in dp.processes(f"{self.state_dir}/agent/amphorae/")
            if "haproxy" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")
        ]
        mem = [dp.memory_kb(p) for p in haproxy]
        agent = dp.memory_kb(self.agent_pid())
        server = dp.memory_kb(self.serve.pid) if self.serve is not None else (0, 0)
        return {
            "haproxy_processes": len(haproxy),
            "haproxy_rss_per_lb_mb": mb(sum(m[0] for m in mem) / count),
            "haproxy_pss_per_lb_mb": mb(sum(m[1] for m in mem) / count),
            "agent_rss_mb": mb(agent[0]),
            "agent_pss_mb": mb(agent[1]),
            "server_rss_mb": mb(server[0]),
        }

    def idle_cpu(self, seconds: float) -> dict[str, Any]:
        """CPU used while nothing changes, in cores (CPU seconds per second): the
        agent (with the commands it runs), `ostium serve`, the amphorae's haproxy
        processes, and the whole machine, from /proc over `seconds`."""
        haproxy = [
            p
            for p in dp.processes(f"{self.state_dir}/agent/amphorae/")
            if "haproxy" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")
        ]
        groups = {"agent": [self.agent_pid()], "serve": [self.serve.pid if self.serve else 0]}
        groups["haproxy"] = haproxy
        before = {name: sum(cpu_seconds(p) for p in pids) for name, pids in groups.items()}
        machine = machine_busy_seconds()
        started = time.monotonic()
        time.sleep(seconds)
        took = time.monotonic() - started
        cores = {
            name: round((sum(cpu_seconds(p) for p in pids) - before[name]) / took, 3)
            for name, pids in groups.items()
        }
        cores["machine"] = round((machine_busy_seconds() - machine) / took, 3)
        return {"seconds": round(took, 1), "cores": cores}

    def heartbeat_ages(self, samples: int) -> dict[str, Any]:
        db = self.state_dir / "ostium.sqlite"
        ages: list[float] = []
        missing = 0
        for _ in range(samples):
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
            try:
                rows = conn.execute(
                    "SELECT (julianday('now') - julianday(last_heartbeat)) * 86400.0 "
                    "FROM amphora WHERE status != 'DELETED'"
                ).fetchall()
            finally:
                conn.close()
            missing += sum(1 for (age,) in rows if age is None)
            ages.extend(float(age) for (age,) in rows if age is not None)
            time.sleep(1)
        return {
            "heartbeat_interval_s": HEARTBEAT_INTERVAL,
            "age_p50_s": round(dp.pct(ages, 0.5), 2),
            "age_p99_s": round(dp.pct(ages, 0.99), 2),
            "age_max_s": round(max(ages), 2) if ages else None,
            "never_heard": missing,
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="points 10,50 (a few minutes)")
    p.add_argument("--points", help="comma-separated load balancer counts (10,100,1000)")
    p.add_argument("--changes", type=int, default=10, help="member changes per point")
    p.add_argument("--posters", type=int, default=4, help="threads POSTing load balancers")
    p.add_argument("--lag-samples", type=int, default=3)
    p.add_argument(
        "--idle-seconds",
        type=float,
        default=10.0,
        help="per point, seconds of CPU sampling while nothing changes (0: skip)",
    )
    p.add_argument("--repo", type=Path, help="run this checkout's code (its .venv)")
    p.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=6.0,
        help="[health_manager] heartbeat_timeout (6 s, the default): silent longer = failover",
    )
    p.add_argument(
        "--wait", type=float, default=900, help="seconds a point may take to be ACTIVE (900)"
    )
    args = p.parse_args(argv)
    args.python_load = True
    if os.geteuid() != 0:
        print(json.dumps({"error": "needs root (namespaces, bridges, haproxy)"}))
        return 2
    default = "10,50" if args.quick else "10,100,1000"
    points = [int(x) for x in (args.points or default).split(",")]
    if points != sorted(points) or points[-1] > 1000:
        p.error("--points must grow, at most 1000 (the /22 networks)")

    def terminate(signum: int, frame: object) -> None:
        raise Terminated(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    bench = Density(args)
    bench.wait_limit = args.wait
    bench.heartbeat_timeout = args.heartbeat_timeout
    if args.repo is not None:
        bench.repo = args.repo.resolve()
        bench.python = str(bench.repo / ".venv/bin/python")
    commit = sh("git", "-C", str(bench.repo), "rev-parse", "--short", "HEAD", check=False)
    result: dict[str, Any] = {
        "benchmark": "ostium density",
        "code": {"repo": str(bench.repo), "commit": commit.stdout.strip()},
        "host": dp.host_info(),
        "load_average_start": os.getloadavg(),
        "points": [],
    }
    rc = 0
    try:
        log(f"workdir {bench.workdir}")
        bench.start_backends()
        bench.start_ostium()
        for n in points:
            point: dict[str, Any] = {"load_balancers": n}
            since = bench.log_offset()
            point["create"] = bench.grow(n, args.posters)
            point["create"]["reconcile"] = bench.reconcile_steps(since)
            point["failovers_so_far"] = bench.failovers()
            create = point["create"]
            if "timed_out_with_active" in create:
                missing = create["new_load_balancers"] - create["timed_out_with_active"]
                point["memory"] = bench.memory_now(n - missing)
                result["points"].append(point)
                break
            time.sleep(2 * HEARTBEAT_INTERVAL)  # a heartbeat or two from the new ones
            point["memory"] = bench.memory_now(n)
            point["health_manager"] = bench.heartbeat_ages(args.lag_samples)
            if args.idle_seconds > 0:
                point["idle_cpu"] = bench.idle_cpu(args.idle_seconds)
            since = bench.log_offset()
            point["member_change_to_active_ms"] = bench.member_changes(args.changes)
            point["member_change_to_active_ms"]["reconcile"] = bench.reconcile_steps(since)
            log(f"point {n}: {json.dumps(point)}")
            result["points"].append(point)
        t1 = time.monotonic()
        bench.delete_lbs(list(bench.lbs), timeout=900)
        result["delete_all_s"] = round(time.monotonic() - t1, 1)
    except (Exception, KeyboardInterrupt, Terminated) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        rc = 1
    finally:
        log("cleaning up")
        with contextlib.suppress(KeyboardInterrupt, Terminated):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            forced = bench.cleanup()
            result["cleanup"] = {"removed_by_force": len(forced), "first": forced[:10]}
    result["load_average_end"] = os.getloadavg()
    pts = result["points"]
    if pts:
        last = pts[-1]
        result["targets"] = {
            "haproxy_pss_per_lb_mb": {
                "value": last["memory"]["haproxy_pss_per_lb_mb"],
                "target": "<= 5",
                "met": last["memory"]["haproxy_pss_per_lb_mb"] <= 5,
            },
        }
        if last["load_balancers"] == 1000 and "timed_out_with_active" not in last["create"]:
            total = sum(x["create"]["all_active_s"] for x in pts)
            result["targets"]["create_1000_to_active_s"] = {
                "value": round(total, 1),
                "target": "< 120",
                "met": total < 120,
            }
    result["duration_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))
    return rc


if __name__ == "__main__":
    sys.exit(main())
