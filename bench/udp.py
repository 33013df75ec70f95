"""UDP load balancing benchmark: the nftables NAT path against the member itself.

Needs root (namespaces, bridges, nftables). Starts its own `ostium serve` (SQLite, fresh
state directory /tmp/ostu-*, free ports, `udp_connect_min_interval_health_monitor = 1`)
declaring only its own networks: VIP 198.19.44.0/24 (bridge `ostu-vip0`) and members
198.19.45.0/24 (bridge `ostu-back0`, backends `ostu-b1..2` answering UDP on 5353 with
their name, `ostium.devtools.udp_backends`). Two client namespaces: `ostu-cv`
(198.19.44.50, on the VIP bridge) and `ostu-cm` (198.19.45.50, on the member bridge).
One load balancer through the Octavia v2 API: a UDP listener on 53, ROUND_ROBIN pool of
both backends with a UDP-CONNECT monitor (delay 1 s, timeout 1 s, max_retries_down 2).

Measured in one run, from threads that entered the client namespaces:

* `via_vip` / `direct`: `--flows` connected sockets in lockstep (send on all, then
  receive on all) for `--seconds`: exchanges per second and the latency of each
  exchange (p50/p99), through the VIP and straight to backend 1; `ratio` = via / direct
  (target >= 0.9 for the rate).
* `member_down_s`: backend 2's server is killed; a new flow every 5 ms; the time from
  the kill to the last flow that still went to it (refused or unanswered). Target
  <= delay x max_retries_down + 0.5 s = 2.5 s.
* `churn`: `--changes` weight changes of backend 2 (it stays healthy) through the API
  while 8 established flows exchange datagrams through the VIP: datagrams lost (target 0).
* `member_change_s`: backend 1 set `admin_state_up: false` through the API; the time
  from the PUT to the first of 20 consecutive new flows none of which reached it
  (API, worker, agent, nft transaction included). Target <= 0.1 s for the data plane
  part (`member_change_agent_s`: from the agent's log line "applied" is not exposed, so
  the figure is end to end).

Prints ONE JSON document (progress on stderr). Everything it creates is removed at
the end, also on failure, Ctrl-C or SIGTERM.

    .venv/bin/python bench/udp.py [--seconds 3] [--flows 16]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from _common import Terminated, free_port, sh

from ostium.agent.nftables.checking import enter_namespace
from ostium.devtools.demo_backends import DemoNetwork

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
VIP_NET, VIP_BRIDGE = "198.19.44.0/24", "ostu-vip0"
BACK_NET, BACK_BRIDGE = "198.19.45.0/24", "ostu-back0"
PORT = 5353


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def in_namespace(ns: str, fn: Callable[[], T]) -> T:
    """Run `fn` in a thread that entered network namespace `ns`."""
    out: list[T] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            enter_namespace(ns)
            out.append(fn())
        except BaseException as exc:  # re-raised in the caller
            err.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if err:
        raise err[0]
    return out[0]


@contextlib.contextmanager
def client(name: str, bridge: str, address: str) -> Iterator[str]:
    try:
        sh("ip", "netns", "add", name)
        sh("ip", "link", "add", f"{name}h", "type", "veth", "peer", "name", f"{name}p")
        sh("ip", "link", "set", f"{name}p", "netns", name)
        sh("ip", "link", "set", f"{name}h", "master", bridge, "up")
        sh("ip", "-n", name, "addr", "add", f"{address}/24", "dev", f"{name}p")
        sh("ip", "-n", name, "link", "set", f"{name}p", "up")
        sh("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        sh("ip", "netns", "del", name, check=False)
        sh("ip", "link", "del", f"{name}h", check=False)


def lockstep(address: str, port: int, flows: int, seconds: float) -> dict[str, float]:
    socks = []
    for _ in range(flows):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(1.0)
        s.connect((address, port))
        socks.append(s)
    latencies: list[float] = []
    lost = 0
    end = time.monotonic() + seconds
    started = time.monotonic()
    try:
        while time.monotonic() < end:
            sent = []
            for s in socks:
                sent.append(time.perf_counter())
                s.send(b"x" * 64)
            for s, t0 in zip(socks, sent, strict=True):
                try:
                    s.recv(2048)
                    latencies.append(time.perf_counter() - t0)
                except OSError:
                    lost += 1
    finally:
        for s in socks:
            s.close()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "datagrams_per_s": round(len(latencies) / elapsed, 1),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 3),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
        "lost": lost,
    }


def new_flow(address: str, port: int, timeout: float = 0.3) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((address, port))
        s.send(b"x")
        try:
            return s.recv(2048).decode().split(" ", 1)[0]
        except OSError:
            return None


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="ostu-", dir="/tmp"))
        self.api_port = free_port()
        self.backends = DemoNetwork(
            bridge=BACK_BRIDGE, cidr=BACK_NET, prefix="ostu-b", host_address=False
        )
        self.procs: list[subprocess.Popen[bytes]] = []
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.api_port}", timeout=30)

    def config(self) -> Path:
        path = self.workdir / "ostium.ini"
        path.write_text(
            "[networking]\ndefault_networks = false\n"
            f"[network:ostu-vip]\ncidr = {VIP_NET}\nbridge = {VIP_BRIDGE}\n"
            "subnet_name = ostu-vip-subnet\n"
            f"[network:ostu-back]\ncidr = {BACK_NET}\nbridge = {BACK_BRIDGE}\n"
            "subnet_name = ostu-back-subnet\n"
            f"[haproxy_amphora]\nbind_port = {free_port()}\nname_prefix = ostub\n"
            f"[health_manager]\nbind_port = {free_port(socket.SOCK_DGRAM)}\n"
            "heartbeat_interval = 0.5\n"
            "[api_settings]\nudp_connect_min_interval_health_monitor = 1\n"
        )
        return path

    def start(self) -> None:
        self.backends.create_bridge()
        for i in (1, 2):
            b = self.backends.add_backend(i, 8080, name=f"ostu-b{i}")
            self.udp_server(i, b.namespace, b.address)
        argv = [sys.executable, "-m", "ostium", "serve", "--state-dir", str(self.workdir / "s")]
        argv += ["--config-file", str(self.config()), "--bind", f"127.0.0.1:{self.api_port}"]
        with (self.workdir / "serve.log").open("ab") as out:
            self.procs.append(subprocess.Popen(argv, stdout=out, stderr=out, cwd=REPO))
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get("/").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("ostium serve did not answer")
            time.sleep(0.2)

    def udp_server(self, i: int, ns: str, address: str) -> None:
        argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "ostium.devtools.udp_backends"]
        argv += ["udp", "--name", f"ostu-b{i}", "--bind", address, "--port", str(PORT)]
        self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, cwd=REPO))
        self.udp_pids = getattr(self, "udp_pids", {}) | {i: self.procs[-1]}

    def wait_active(self, lb_id: str) -> None:
        deadline = time.monotonic() + 60
        while (
            self.http.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"][
                "provisioning_status"
            ]
            != "ACTIVE"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"load balancer {lb_id} not ACTIVE")
            time.sleep(0.01)

    def create_lb(self) -> dict[str, Any]:
        subnet = self.http.get("/v2.0/subnets", params={"name": "ostu-vip-subnet"}).json()
        members = [
            {"address": b.address, "protocol_port": PORT, "name": b.name}
            for b in self.backends.backends
        ]
        body = {
            "vip_subnet_id": subnet["subnets"][0]["id"],
            "listeners": [{"protocol": "UDP", "protocol_port": 53, "default_pool": {"name": "u"}}],
            "pools": [
                {
                    "name": "u",
                    "protocol": "UDP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": members,
                    "healthmonitor": {
                        "type": "UDP-CONNECT",
                        "delay": 1,
                        "timeout": 1,
                        "max_retries": 1,
                        "max_retries_down": 2,
                    },
                }
            ],
        }
        r = self.http.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
        r.raise_for_status()
        lb = dict(r.json()["loadbalancer"])
        self.wait_active(lb["id"])
        return lb

    def run(self) -> dict[str, Any]:
        self.start()
        lb = self.create_lb()
        vip = lb["vip_address"]
        b1, b2 = self.backends.backends
        out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load": os.getloadavg()}}
        with (
            client("ostu-cv", VIP_BRIDGE, "198.19.44.50") as cv,
            client("ostu-cm", BACK_BRIDGE, "198.19.45.50") as cm,
        ):
            in_namespace(cv, lambda: wait_until(lambda: new_flow(vip, 53), 20))
            a = self.args
            log("throughput and latency")
            out["direct"] = in_namespace(cm, lambda: lockstep(b1.address, PORT, a.flows, a.seconds))
            out["via_vip"] = in_namespace(cv, lambda: lockstep(vip, 53, a.flows, a.seconds))
            out["ratio"] = {
                "datagrams_per_s": round(
                    out["via_vip"]["datagrams_per_s"] / out["direct"]["datagrams_per_s"], 3
                ),
                "latency_p50": round(
                    out["via_vip"]["latency_p50_ms"] / out["direct"]["latency_p50_ms"], 3
                ),
            }
            log("member down")
            out["member_down_s"] = in_namespace(cv, lambda: self.member_down(vip, b2.name))
            log("member change")
            self.udp_server(2, b2.namespace, b2.address)
            pools = self.http.get("/v2/lbaas/pools", params={"name": "u"}).json()["pools"]
            pool_id = pools[0]["id"]
            member = self.http.get(
                f"/v2/lbaas/pools/{pool_id}/members", params={"name": b1.name}
            ).json()["members"][0]
            in_namespace(cv, lambda: wait_until(lambda: self.both(vip, b1.name, b2.name), 20))
            path = f"/v2/lbaas/pools/{pool_id}/members/{member['id']}"
            out["member_change_s"] = in_namespace(
                cv, lambda: self.member_change(vip, path, b1.name)
            )
            log(f"{a.changes} member changes under load")
            self.wait_active(lb["id"])
            self.http.put(path, json={"member": {"admin_state_up": True}}).raise_for_status()
            self.wait_active(lb["id"])
            other = self.http.get(
                f"/v2/lbaas/pools/{pool_id}/members", params={"name": b2.name}
            ).json()["members"][0]
            other_path = f"/v2/lbaas/pools/{pool_id}/members/{other['id']}"
            out["churn"] = in_namespace(
                cv, lambda: self.churn(vip, lb["id"], other_path, a.changes)
            )
        out["targets"] = {
            "ratio_datagrams_per_s_min": 0.9,
            "member_down_s_max": 2.5,
            "member_change_s_max": 0.1,
            "churn_lost_max": 0,
        }
        self.http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}", params={"cascade": "true"})
        return out

    def both(self, vip: str, n1: str, n2: str) -> bool:
        return {new_flow(vip, 53) for _ in range(6)} == {n1, n2}

    def member_down(self, vip: str, name: str) -> float:
        self.udp_pids[2].kill()
        killed = time.monotonic()
        last_bad = killed
        while time.monotonic() - last_bad < 3.0:
            if new_flow(vip, 53, timeout=0.2) is None:
                last_bad = time.monotonic()
            time.sleep(0.005)
        return round(last_bad - killed, 3)

    def member_change(self, vip: str, path: str, name: str) -> float:
        put = time.monotonic()
        r = self.http.put(path, json={"member": {"admin_state_up": False}})
        r.raise_for_status()
        clean_since: float | None = None
        clean = 0
        while clean < 20:
            if new_flow(vip, 53) == name:
                clean, clean_since = 0, None
            else:
                clean_since = clean_since or time.monotonic()
                clean += 1
        return round((clean_since or put) - put, 3)

    def churn(self, vip: str, lb_id: str, path: str, changes: int) -> dict[str, Any]:
        """`changes` weight changes of a member (it stays healthy) while 8 established
        flows exchange datagrams: every datagram lost is counted."""
        stop = threading.Event()
        socks = []
        for _ in range(8):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(1.0)
            s.connect((vip, 53))
            socks.append(s)
        counts = {"exchanged": 0, "lost": 0}

        def load() -> None:
            while not stop.is_set():
                for s in socks:
                    s.send(b"x")
                    try:
                        s.recv(100)
                        counts["exchanged"] += 1
                    except OSError:
                        counts["lost"] += 1

        thread = threading.Thread(target=load)
        thread.start()  # the sockets were made in the client namespace
        started = time.monotonic()
        try:
            for i in range(changes):
                body = {"member": {"weight": 2 if i % 2 == 0 else 1}}
                self.http.put(path, json=body).raise_for_status()
                self.wait_active(lb_id)
        finally:
            stop.set()
            thread.join()
            for s in socks:
                s.close()
        return {
            "changes": changes,
            "seconds": round(time.monotonic() - started, 1),
            **counts,
        }

    def close(self) -> list[str]:
        forced = []
        with contextlib.suppress(Exception):
            for lb in self.http.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]:
                self.http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}", params={"cascade": "true"})
            time.sleep(3)
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    forced.append(f"process {p.pid}")
        self.http.close()
        self.backends.destroy()
        for line in sh("ip", "netns", "list").stdout.splitlines():
            if line.startswith("ostub"):
                forced.append(f"netns {line.split()[0]}")
                sh("ip", "netns", "del", line.split()[0], check=False)
        for name in (VIP_BRIDGE, BACK_BRIDGE):
            sh("ip", "link", "del", name, check=False)
        import shutil

        shutil.rmtree(self.workdir, ignore_errors=True)
        return forced


def wait_until(predicate: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("condition not reached")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--flows", type=int, default=16)
    parser.add_argument("--changes", type=int, default=100)
    args = parser.parse_args()

    def terminate(*_: object) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    bench = Bench(args)
    result: dict[str, Any] = {}
    try:
        result = bench.run()
    finally:
        result["removed_by_force"] = bench.close()
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
