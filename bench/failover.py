"""ACTIVE_STANDBY failover benchmark: the outage a client sees when the MASTER fails.

Needs root (namespaces, bridges, haproxy, keepalived). For each timing profile it starts
its own `ostium serve` (SQLite, fresh state directory /tmp/ostf-*, free ports) with
`loadbalancer_topology = ACTIVE_STANDBY` and the default health manager timing
(heartbeats every 2 s, silent after 6 s: longer than even Octavia's VRRP takeover, so
VRRP alone moves the VIP in both profiles), declaring only its own networks: the VIP
network `ostf-vip0` 198.19.34.0/24 (the host is 198.19.34.1) and the member network
`ostf-back0` 198.19.35.0/24 where two haproxy responders run in namespaces
`ostf-a1..2`. One load balancer (HTTP listener, pool of
both responders) is created through the Octavia v2 API; then, `--runs` times for each
fault, the current MASTER suffers:

* `haproxy_kill`: SIGKILL of every haproxy process of the amphora;
* `haproxy_hang`: SIGSTOP of every haproxy process (alive, not answering: only the
  periodic stats-socket check can tell), SIGCONT after the takeover;
* `keepalived_kill`: SIGKILL of its keepalived (parent and VRRP child);
* `link_down`: its VIP-side veth set down on the bridge (set up again after 1 s);
* `namespace_deleted`: every process in its namespace SIGKILLed and the namespace
  deleted (the health manager then fails the amphora over).

A prober on the host starts a GET through the VIP every 20 ms, each on a new TCP
connection with a 1 s timeout, in its own thread. Per run: `outage_ms` = the longest
time without any successful answer around the fault (between two successful answers'
arrival, minus the 20 ms probe period; 0 if no probe failed), `takeover_ms` = from the
fault until keepalived reports the BACKUP as MASTER (null when the VIP did not move
within 8 s, 15 s for a hang), `recovered_s` = until the killed process runs again
(kills), the old MASTER is BACKUP again after the link came back or haproxy was resumed
(link, hang), or the API shows a whole pair with a replacement amphora (namespace: the
health manager's failover).

Profiles, run one after the other on the same machine: `ostium` (the defaults: VRRPv3,
advert 0.1 s, haproxy watched by the agent, checked every 1 s) and `octavia` (Octavia's
timing: VRRPv2, advert 1 s, check every 5 s with 2 failures, no process watch). The
agent is the same in both, so it respawns a killed haproxy within ~0.1 s in both.
Prints ONE JSON document (progress on stderr) with medians and the ratio octavia/ostium
per fault; targets (ostium profile, median): link down and namespace deletion < 500 ms,
haproxy death < 1000 ms. Everything it creates is removed at the end, also on failure,
Ctrl-C or SIGTERM; the JSON lists anything that had to be removed by force.

`--adverts 0.03,0.05,0.1,0.2` adds one profile per advert interval (how the default was
chosen): each also spends `--stress` seconds with every CPU kept busy by spinning
shells while the prober runs, and reports the VRRP transitions that happened without
any fault (a too short advert interval lets a starved MASTER look dead).

    .venv/bin/python bench/failover.py [--runs N] [--quick] [--profiles ostium,octavia]
        [--faults link_down,...] [--adverts 0.05,0.1 --stress 20]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import http.client
import itertools
import json
import os
import platform
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
PREFIX = "ostf"  # agent name prefix: amphora namespaces are ostf<12 hex>
VIP_BRIDGE, VIP_NET = "ostf-vip0", "198.19.34"
BACK_BRIDGE, BACK_NET = "ostf-back0", "198.19.35"
BACKENDS = 2
PROBE_PERIOD = 0.02
PROBE_TIMEOUT = 1.0
FAULTS = ("haproxy_kill", "haproxy_hang", "keepalived_kill", "link_down", "namespace_deleted")
PROFILES: dict[str, dict[str, str]] = {
    "ostium": {},
    "octavia": {
        "vrrp_version": "2",
        "vrrp_advert_int": "1",
        "vrrp_check_interval": "5",
        "vrrp_fail_count": "2",
        "vrrp_success_count": "2",
        "vrrp_watch_haproxy": "false",
        "vrrp_garp_refresh_interval": "5",
        "vrrp_garp_refresh_count": "2",
    },
}
TARGETS_MS = {"link_down": 500, "namespace_deleted": 500, "haproxy_kill": 1000}
NOTES = [
    "the agent is the same in both profiles: it respawns a killed haproxy at once (pidfd), "
    "so with Octavia's timing haproxy_kill is covered by the respawn, the VIP does not move",
    "respawn_count is raised for the bench: the default (2 per minute) would leave haproxy "
    "down after repeated kills of the same amphora, which is not what is measured here",
    "haproxy_hang is only seen by the periodic check: check_interval x fail_count + takeover "
    "(with Octavia's 5 s x 2 the health manager, silent after 6 s, may replace it first)",
    "keepalived_kill: the VIP stays on the old MASTER (still serving) until the BACKUP takes "
    "over and announces it, hence no outage; the agent then restarts keepalived as BACKUP",
]


def log(msg: str) -> None:
    print(f"[failover {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def processes(marker: str) -> list[tuple[int, str]]:
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


def kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout}s")
        time.sleep(interval)


def probe(vip: str) -> bool:
    conn = http.client.HTTPConnection(vip, 80, timeout=PROBE_TIMEOUT)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200
    except OSError:
        return False
    finally:
        conn.close()


class Prober:
    """A probe every PROBE_PERIOD, each on its own thread (a probe stuck in a SYN
    retransmit never delays the next one)."""

    def __init__(self, vip: str) -> None:
        self.vip = vip
        self.results: list[tuple[float, float, bool]] = []  # (started, ended, ok)
        self.stop = threading.Event()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=128)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _one(self, started: float) -> None:
        ok = probe(self.vip)
        self.results.append((started, time.monotonic(), ok))

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self.stop.is_set():
            self.pool.submit(self._one, next_at)
            next_at += PROBE_PERIOD
            time.sleep(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> Prober:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.pool.shutdown(wait=True)

    def outage(self, since: float) -> tuple[float, int, int]:
        """(outage in s, failed probes, probes) for probes started after `since`: the
        longest gap between two successful answers (by arrival) that ends after `since`."""
        after = [r for r in self.results if r[0] >= since]
        failed = sum(1 for r in after if not r[2])
        if not failed:
            return 0.0, 0, len(after)
        arrivals = sorted(r[1] for r in self.results if r[2])
        gaps = [b - a for a, b in itertools.pairwise(arrivals) if b >= since]
        worst = max(gaps, default=float("inf")) - PROBE_PERIOD
        return max(worst, 0.0), failed, len(after)


class Install:
    """One `ostium serve` with one timing profile, and its ACTIVE_STANDBY load balancer."""

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self.workdir = Path(tempfile.mkdtemp(prefix="ostf-", dir="/tmp"))
        self.state_dir = self.workdir / "state"
        self.api_port = free_port()
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.api_port}", timeout=60)
        self.serve: subprocess.Popen[bytes] | None = None
        self.lb: dict[str, Any] = {}

    def start(self) -> None:
        ini = self.workdir / "ostium.ini"
        lines = [
            "[networking]",
            "default_networks = false",
            "[network:ostf-vip]",
            f"cidr = {VIP_NET}.0/24",
            f"bridge = {VIP_BRIDGE}",
            "subnet_name = ostf-vip-subnet",
            "[network:ostf-back]",
            f"cidr = {BACK_NET}.0/24",
            f"bridge = {BACK_BRIDGE}",
            "subnet_name = ostf-back-subnet",
            "[haproxy_amphora]",
            f"bind_port = {free_port()}",
            f"name_prefix = {PREFIX}",
            "respawn_interval = 0.5",
            "respawn_count = 1000",
            "[controller_worker]",
            "lease_seconds = 10",
            "loadbalancer_topology = ACTIVE_STANDBY",
            "[health_manager]",
            f"bind_port = {free_port(socket.SOCK_DGRAM)}",
            "[keepalived_vrrp]",
            *(f"{k} = {v}" for k, v in PROFILES[self.profile].items()),
            "",
        ]
        ini.write_text("\n".join(lines))
        out = (self.workdir / "serve.log").open("ab")
        try:
            self.serve = subprocess.Popen(
                [
                    sys.executable,
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
                stdout=out,
                stderr=out,
                cwd=REPO,
                start_new_session=True,
            )
        finally:
            out.close()

        def up() -> bool:
            if self.serve is not None and self.serve.poll() is not None:
                raise RuntimeError(f"ostium serve exited; see {self.workdir}/serve.log")
            with contextlib.suppress(httpx.HTTPError):
                return self.http.get("/").status_code == 200
            return False

        wait_for(up, 60, 0.1, "ostium serve answering")

    def create_lb(self) -> None:
        subnet = self.http.get("/v2.0/subnets", params={"name": "ostf-vip-subnet"}).json()[
            "subnets"
        ][0]["id"]
        pool = {
            "name": "p",
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "members": [
                {"address": f"{BACK_NET}.{10 + i}", "protocol_port": 8080}
                for i in range(1, BACKENDS + 1)
            ],
        }
        r = self.http.post(
            "/v2/lbaas/loadbalancers",
            json={
                "loadbalancer": {
                    "vip_subnet_id": subnet,
                    "name": f"failover-{self.profile}",
                    "listeners": [
                        {"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p"}}
                    ],
                    "pools": [pool],
                }
            },
        )
        if r.status_code != 201:
            raise RuntimeError(f"create: {r.status_code} {r.text}")
        self.lb = r.json()["loadbalancer"]
        self.wait_whole(60)

    @property
    def vip(self) -> str:
        return str(self.lb["vip_address"])

    def pair(self) -> dict[str, str] | None:
        """{amphora id: vrrp state} when the pair is whole (and the LB ACTIVE), else None."""
        lb = self.http.get(f"/v2/lbaas/loadbalancers/{self.lb['id']}").json()["loadbalancer"]
        if lb["provisioning_status"] == "ERROR":
            raise RuntimeError(f"load balancer in ERROR: {lb}")
        tree = self.http.get(f"/v2/lbaas/loadbalancers/{self.lb['id']}/status").json()
        amps = tree["statuses"]["loadbalancer"].get("amphorae", [])
        states = {a["id"]: str(a["vrrp_state"]) for a in amps}
        roles = {a["id"]: str(a["role"]) for a in amps}
        if (
            lb["provisioning_status"] != "ACTIVE"
            or sorted(states.values()) != ["BACKUP", "MASTER"]
            or roles != states
        ):
            return None
        return states

    def wait_whole(self, timeout: float, gone: str | None = None) -> dict[str, str]:
        """The pair once the API agrees with what keepalived says on each amphora (and
        `gone` is no longer part of it)."""

        def whole() -> dict[str, str] | None:
            states = self.pair()
            if states is None or gone in states:
                return None
            return states if all(self.vrrp_state(a) == s for a, s in states.items()) else None

        return dict(wait_for(whole, timeout, 0.05, "pair whole again"))

    def directory(self, amp_id: str) -> Path:
        ns = PREFIX + amp_id.replace("-", "")[:12]
        return self.state_dir / "agent" / "amphorae" / ns

    def namespace(self, amp_id: str) -> str:
        return PREFIX + amp_id.replace("-", "")[:12]

    def host_veth(self, amp_id: str) -> str:
        from ostium.agent.naming import Names  # the agent's own naming, not a copy

        return Names(PREFIX, amp_id).vip_host_veth

    def vrrp_state(self, amp_id: str) -> str:
        try:
            return (self.directory(amp_id) / "vrrp.state").read_text().strip()
        except OSError:
            return ""

    def fault(self, name: str, amp_id: str) -> Callable[[], None]:
        directory = self.directory(amp_id)
        if name == "haproxy_kill":
            kill(
                [
                    p
                    for p, c in processes(f"-f {directory}/haproxy.cfg")
                    if c.split()[0].endswith("haproxy")
                ]
            )
        elif name == "haproxy_hang":
            pids = [
                p
                for p, c in processes(f"-f {directory}/haproxy.cfg")
                if c.split()[0].endswith("haproxy")
            ]
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)

            def resume() -> None:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)

            return resume
        elif name == "keepalived_kill":
            kill(
                [
                    p
                    for p, c in processes(f"-f {directory}/keepalived.conf ")
                    if c.split()[0].endswith("keepalived")
                ]
            )
        elif name == "link_down":
            veth = self.host_veth(amp_id)
            sh("ip", "link", "set", "dev", veth, "down")
            return lambda: sh("ip", "link", "set", "dev", veth, "up") and None
        elif name == "namespace_deleted":
            ns = self.namespace(amp_id)
            pids = [int(p) for p in sh("ip", "netns", "pids", ns).stdout.split()]
            sh("ip", "netns", "del", ns)  # first: the agent must not respawn into it
            kill(pids)
        return lambda: None

    def transitions(self) -> int:
        """keepalived's "Entering MASTER STATE" lines in every amphora's log so far."""
        root = self.state_dir / "agent" / "amphorae"
        return sum(
            log.read_text(errors="replace").count("Entering MASTER STATE")
            for log in root.glob("*/keepalived.log")
        )

    def stress(self, seconds: float) -> dict[str, Any]:
        """Spurious takeovers and failed probes while every CPU is kept busy."""
        self.wait_whole(60)
        before = self.transitions()
        hogs = [
            subprocess.Popen(["sh", "-c", "while :; do :; done"])
            for _ in range(2 * (os.cpu_count() or 1))
        ]
        try:
            with Prober(self.vip) as prober:
                time.sleep(seconds)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
        outage, failed, total = prober.outage(0.0)
        return {
            "seconds": seconds,
            "busy_shells": len(hogs),
            "spurious_takeovers": self.transitions() - before,
            "failed_probes": failed,
            "probes": total,
            "longest_outage_ms": round(outage * 1000),
        }

    def pids(self, amp_id: str, what: str) -> set[int]:
        cfg = "haproxy.cfg" if what == "haproxy" else "keepalived.conf "
        return {
            pid
            for pid, c in processes(f"-f {self.directory(amp_id)}/{cfg}")
            if c.split()[0].endswith(what)
        }

    def run_fault(self, name: str) -> dict[str, Any]:
        states = self.wait_whole(60)
        master = next(a for a, s in states.items() if s == "MASTER")
        backup = next(a for a, s in states.items() if s == "BACKUP")
        time.sleep(0.5)
        took = recovered = None
        with Prober(self.vip) as prober:
            time.sleep(0.5)
            what = {"haproxy_kill": "haproxy", "keepalived_kill": "keepalived"}.get(name)
            killed = self.pids(master, what) if what else set()
            at = time.monotonic()
            restore = self.fault(name, master)
            window = 15 if name == "haproxy_hang" else 8
            while time.monotonic() - at < window and (took is None or (what and recovered is None)):
                now = time.monotonic() - at
                if took is None and self.vrrp_state(backup) == "MASTER":
                    took = now
                if what and recovered is None and self.pids(master, what) - killed:
                    recovered = now
                time.sleep(0.002)
            time.sleep(1.0)
            if name in ("haproxy_hang", "link_down"):
                restored_at = time.monotonic()
                restore()
                # Back as BACKUP, or (silent for longer than the heartbeat timeout)
                # replaced by the health manager's failover.
                wait_for(
                    lambda: (
                        self.vrrp_state(master) == "BACKUP" or not self.directory(master).exists()
                    ),
                    30,
                    0.002,
                    "the old MASTER back as BACKUP or replaced",
                )
                recovered = time.monotonic() - restored_at
            self.wait_whole(60, gone=master if name == "namespace_deleted" else None)
            if name == "namespace_deleted":
                recovered = time.monotonic() - at
            time.sleep(0.3)
        outage, failed, total = prober.outage(at - 0.05)
        return {
            "outage_ms": round(outage * 1000),
            "takeover_ms": None if took is None else round(took * 1000),
            "recovered_s": None if recovered is None else round(recovered, 2),
            "failed_probes": failed,
            "probes": total,
        }

    def stop(self) -> list[str]:
        """Cascade delete through the API, stop ostium, remove by force what is left."""
        if self.lb and self.serve is not None and self.serve.poll() is None:
            with contextlib.suppress(Exception):
                self.http.delete(
                    f"/v2/lbaas/loadbalancers/{self.lb['id']}", params={"cascade": "true"}
                )

                def gone() -> bool:
                    r = self.http.get(f"/v2/lbaas/loadbalancers/{self.lb['id']}")
                    return (
                        r.status_code == 404
                        or r.json()["loadbalancer"]["provisioning_status"] == "DELETED"
                    )

                wait_for(gone, 60, 0.1, "deletion")
        if self.serve is not None and self.serve.poll() is None:
            self.serve.send_signal(signal.SIGTERM)
            try:
                self.serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.serve.kill()
                self.serve.wait()
        self.http.close()
        forced = [f"process {pid} {cmd[:80]}" for pid, cmd in processes(str(self.workdir))]
        kill([pid for pid, _ in processes(str(self.workdir))])
        for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
            ns = line.split()[0] if line.split() else ""
            if ns.startswith(PREFIX) and not ns.startswith("ostf-"):
                forced.append(f"netns {ns}")
                kill([int(p) for p in sh("ip", "netns", "pids", ns, check=False).stdout.split()])
                sh("ip", "netns", "del", ns, check=False)
        for line in sh("ip", "-o", "link", "show", check=False).stdout.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith(PREFIX) and not name.startswith(("ostf-a", BACK_BRIDGE, VIP_BRIDGE)):
                forced.append(f"link {name}")
                sh("ip", "link", "del", name, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return forced


class Backends:
    """Two haproxy responders (`http-request return`) on the member bridge."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="ostf-", dir="/tmp"))

    def start(self) -> None:
        for bridge in (VIP_BRIDGE, BACK_BRIDGE):
            if Path("/sys/class/net", bridge).exists():
                raise RuntimeError(f"{bridge} already exists: another bench running?")
        sh("ip", "link", "add", "name", BACK_BRIDGE, "type", "bridge")
        sh("ip", "link", "set", BACK_BRIDGE, "up")
        for i in range(1, BACKENDS + 1):
            ns, addr = f"ostf-a{i}", f"{BACK_NET}.{10 + i}"
            sh("ip", "netns", "add", ns)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            sh("ip", "link", "add", f"{ns}h", "type", "veth", "peer", "name", f"{ns}p")
            sh("ip", "link", "set", f"{ns}p", "netns", ns)
            sh("ip", "link", "set", f"{ns}h", "master", BACK_BRIDGE, "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{addr}/24", "dev", f"{ns}p")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", f"{ns}p", "up")
            cfg = self.workdir / f"{ns}.cfg"
            cfg.write_text("\n".join([*responder_lines(ns, addr), ""]))
            sh(
                "ip",
                "netns",
                "exec",
                ns,
                "haproxy",
                "-D",
                "-p",
                str(self.workdir / f"{ns}.pid"),
                "-f",
                str(cfg),
            )

    def stop(self) -> None:
        kill([pid for pid, _ in processes(str(self.workdir))])
        for i in range(1, BACKENDS + 1):
            sh("ip", "netns", "del", f"ostf-a{i}", check=False)
            sh("ip", "link", "del", f"ostf-a{i}h", check=False)
        for bridge in (BACK_BRIDGE, VIP_BRIDGE):
            sh("ip", "link", "del", bridge, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    outages = [r["outage_ms"] for r in runs]
    takeovers = [r["takeover_ms"] for r in runs if r["takeover_ms"] is not None]
    recovered = [r["recovered_s"] for r in runs if r["recovered_s"] is not None]
    return {
        "outage_ms_median": statistics.median(outages),
        "outage_ms_max": max(outages),
        "takeover_ms_median": statistics.median(takeovers) if takeovers else None,
        "recovered_s_median": statistics.median(recovered) if recovered else None,
        "runs": runs,
    }


def host_info() -> dict[str, Any]:
    def first(*argv: str) -> str | None:
        out = sh(*argv, check=False)
        lines = (out.stdout + out.stderr).splitlines()
        return lines[0] if lines else None

    return {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "haproxy": first("haproxy", "-v"),
        "keepalived": first("keepalived", "--version"),
        "loadavg_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=3, help="runs per fault and profile")
    p.add_argument("--quick", action="store_true", help="one run per fault")
    p.add_argument("--profiles", default="ostium,octavia")
    p.add_argument("--faults", default=",".join(FAULTS))
    p.add_argument("--adverts", default="", help="advert intervals to compare, e.g. 0.05,0.1")
    p.add_argument(
        "--stress", type=float, default=20.0, help="seconds of busy CPUs per --adverts profile"
    )
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print(json.dumps({"error": "needs root (namespaces, bridges, haproxy, keepalived)"}))
        return 2
    runs = 1 if args.quick else args.runs
    profiles = [x for x in args.profiles.split(",") if x]
    for advert in (x for x in args.adverts.split(",") if x):
        PROFILES[f"advert_{advert}"] = {"vrrp_advert_int": advert}
        profiles.append(f"advert_{advert}")
    faults = [x for x in args.faults.split(",") if x]
    for name in profiles:
        if name not in PROFILES:
            raise SystemExit(f"unknown profile {name!r} ({', '.join(PROFILES)})")
    for name in faults:
        if name not in FAULTS:
            raise SystemExit(f"unknown fault {name!r} ({', '.join(FAULTS)})")

    def terminate(signum: int, frame: object) -> None:
        raise Terminated(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    result: dict[str, Any] = {
        "benchmark": "ostium ACTIVE_STANDBY failover",
        "host": host_info(),
        "probe": {
            "period_ms": PROBE_PERIOD * 1000,
            "timeout_s": PROBE_TIMEOUT,
            "what": "GET / through the VIP from the host, new TCP connection each",
        },
        "notes": NOTES,
        "profiles": {},
    }
    forced: list[str] = []
    backends = Backends()
    rc = 0
    try:
        backends.start()
        for profile in profiles:
            install = Install(profile)
            entry: dict[str, Any] = {"keepalived_vrrp": PROFILES[profile] or "defaults"}
            result["profiles"][profile] = entry
            try:
                install.start()
                install.create_lb()
                log(f"{profile}: pair up at {install.vip}")
                for fault in faults:
                    samples = []
                    for i in range(runs):
                        sample = install.run_fault(fault)
                        log(f"{profile} {fault} #{i + 1}: {sample}")
                        samples.append(sample)
                    entry[fault] = summarize(samples)
                if profile.startswith("advert_"):
                    entry["stress"] = install.stress(args.stress)
                    log(f"{profile} stress: {entry['stress']}")
            finally:
                forced += install.stop()
    except (Exception, KeyboardInterrupt, Terminated) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        rc = 1
    finally:
        with contextlib.suppress(KeyboardInterrupt, Terminated):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            backends.stop()
    got = result["profiles"]
    if "ostium" in got and "octavia" in got:
        result["ratio_octavia_over_ostium"] = {
            f: round(
                got["octavia"][f]["outage_ms_median"]
                / max(got["ostium"][f]["outage_ms_median"], PROBE_PERIOD * 1000),
                1,
            )
            for f in faults
            if f in got["ostium"] and f in got["octavia"]
        }
    if "ostium" in got:
        result["targets"] = {
            f: {
                "target_ms": f"< {limit}",
                "median_ms": got["ostium"][f]["outage_ms_median"],
                "met": got["ostium"][f]["outage_ms_median"] < limit,
            }
            for f, limit in TARGETS_MS.items()
            if f in got["ostium"]
        }
    result["removed_by_force"] = forced
    result["duration_s"] = round(time.monotonic() - started, 1)
    result["host"]["loadavg_end"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    return rc


if __name__ == "__main__":
    sys.exit(main())
