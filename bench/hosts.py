"""Many hosts: placement, host loss, and how a host's agent grows with its load balancers.

Three hosts (the root namespace's agent and two namespaces with their own agents,
joined with enrollment tokens; the fabric of tests/e2e/hosts/fabric.py), a client and a
backend on the fabric. Phases:

1. place: `--place` SINGLE load balancers created at once; the time until every VIP
   answers the client, and how many went to each host;
2. loss: the load balancers are cut down to `--per-host` on each host, `--pairs`
   ACTIVE_STANDBY ones are added, then host 1 dies (agent SIGKILL, its haproxy and
   namespaces gone). A probe in the client namespace reports, for each SINGLE load
   balancer that was on host 1, the time from the kill to its first successful request,
   and for each pair the longest time without a successful request (its MASTER on host
   1 or not), and the time until each pair is whole again (ACTIVE, two amphorae, none
   on host 1). heartbeat_timeout 3 s, heartbeat_interval 0.5 s, health_check_interval
   0.5 s;
3. curve (a fresh ostium, one host: the root namespace's agent): load balancers added
   up to each point of `--curve`; at each point the time for one more to be created and
   serve (median of 3), the batch's time per load balancer, and the memory of the agent
   process and of its haproxy processes (RSS and PSS, from /proc/PID/smaps_rollup).

Prints JSON. Needs root; takes the e2e lock so it never runs beside the e2e tests.
`--quick` makes every phase small. Run the code of another tree (e.g. before a change)
with PYTHONPATH=<that tree>/src: the processes it starts inherit it.

    .venv/bin/python bench/hosts.py            # about 10 minutes
    .venv/bin/python bench/hosts.py --quick
"""

from __future__ import annotations

import argparse
import fcntl
import json
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(REPO / "bench"),
    str(REPO / "tests" / "e2e"),
    str(REPO / "tests" / "e2e" / "hosts"),
]

from _common import Terminated  # noqa: E402
from api_support import Ostium, processes  # noqa: E402
from fabric import PY, VIP, HostFabric, hosts_of, pair_lb  # noqa: E402

DEAD = "198.19.210.11"


def create(o: Ostium, name: str) -> dict[str, Any]:
    body = {
        "name": name,
        "listeners": [
            {
                "protocol": "HTTP",
                "protocol_port": 80,
                "default_pool": {
                    "name": "pool",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": "198.19.212.60", "protocol_port": 8080}],
                },
            }
        ],
    }
    return o.api.create_lb(o.api.subnet_id(VIP.subnet_name), wait=False, **body)


def serve_all(fabric: HostFabric, lbs: list[dict[str, Any]], limit: float = 600) -> None:
    """Wait until every load balancer is ACTIVE and its VIP answers the client."""
    assert fabric.ostium is not None
    deadline = time.monotonic() + limit
    for lb in lbs:
        fabric.ostium.api.wait_active(str(lb["id"]), max(1.0, deadline - time.monotonic()))
        while fabric.fetch(str(lb["vip_address"])) != "ostt-bk":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{lb['vip_address']} never answered")
            time.sleep(0.1)


def where(o: Ostium, lb_id: str) -> str:
    amps = [a for a in o.api.amphorae(lb_id) if a["status"] != "DELETED"]
    return str(amps[0]["lb_network_ip"]) if len(amps) == 1 else ""


def delete_many(o: Ostium, ids: list[str]) -> None:
    for lb_id in ids:
        o.api.http.delete(f"/v2/lbaas/loadbalancers/{lb_id}", params={"cascade": "true"})
    for lb_id in ids:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            lb = o.api.lb(lb_id)
            if lb is None or lb["provisioning_status"] == "DELETED":
                break
            time.sleep(0.2)


def phase_place_and_loss(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fabric = HostFabric(hosts=2)
    try:
        fabric.build()
        o = fabric.start_ostium()
        fabric.join(1)
        fabric.join(2)
        started = time.monotonic()
        lbs = [create(o, f"place{i}") for i in range(args.place)]
        serve_all(fabric, lbs)
        out["place_lbs"] = args.place
        out["place_and_serve_s"] = round(time.monotonic() - started, 2)
        at = {str(lb["id"]): where(o, str(lb["id"])) for lb in lbs}
        out["place_per_host"] = {h: list(at.values()).count(h) for h in sorted(set(at.values()))}
        # cut down to --per-host on each host
        kept: dict[str, list[dict[str, Any]]] = {}
        extra: list[str] = []
        for lb in lbs:
            on = kept.setdefault(at[str(lb["id"])], [])
            (on.append(lb) if len(on) < args.per_host else extra.append(str(lb["id"])))
        delete_many(o, extra)
        pairs = [pair_lb(o, f"pair{i}") for i in range(args.pairs)]
        for p in pairs:
            o.api.wait_active(str(p["id"]), 120)
        pair_hosts = {str(p["id"]): hosts_of(o, str(p["id"])) for p in pairs}
        affected = kept.get(DEAD, [])
        argv = [f"s:{lb['vip_address']}" for lb in affected]
        argv += [f"p:{p['vip_address']}" for p in pairs]
        probe = subprocess.Popen(
            ["ip", "netns", "exec", "ostt-cl3", PY, str(REPO / "bench" / "_vip_probe.py"), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert probe.stdout is not None and probe.stdin is not None
        assert probe.stdout.readline().strip() == "ready"
        time.sleep(3)  # heartbeats from every host, the pairs probed a while
        killed = time.monotonic()
        fabric.kill(1)  # its VIPs are gone when this returns: the probe starts then
        out["kill_took_s"] = round(time.monotonic() - killed, 2)
        probe.stdin.write(f"mark {killed}\n")
        probe.stdin.flush()
        whole: dict[str, float] = {}
        pending = list(affected)
        deadline = killed + 120
        while time.monotonic() < deadline and (pending or len(whole) < len(pairs)):
            for p in pairs:
                pid = str(p["id"])
                now = {} if pid in whole else hosts_of(o, pid)
                lb = o.api.lb(pid) if len(now) == 2 and DEAD not in now.values() else None
                if lb is not None and lb["provisioning_status"] == "ACTIVE":
                    whole[pid] = round(time.monotonic() - killed, 2)
            if pending and fabric.fetch(str(pending[0]["vip_address"])) == "ostt-bk":
                pending.pop(0)  # the probe has its time; this only says when to stop
            time.sleep(0.2)
        time.sleep(1)
        result, _ = probe.communicate("stop\n", timeout=120)
        seen = json.loads(result)
        back = [t for t in seen["single"].values() if t is not None]
        out["single_affected"] = len(affected)
        out["single_not_back"] = len(affected) - len(back)
        if back:
            out["single_back_median_s"] = round(statistics.median(back), 2)
            out["single_back_max_s"] = round(max(back), 2)
            out["single_back_min_s"] = round(min(back), 2)
        rows = []
        for p in pairs:
            gaps = seen["pair"].get(str(p["vip_address"]), [])
            longest = max(
                ((b if b is not None else float("inf")) - a for a, b in gaps if b is None or b > 0),
                default=0.0,
            )
            before = pair_hosts[str(p["id"])]
            rows.append(
                {
                    "dead_host_had": next((r for r, h in before.items() if h == DEAD), None),
                    "longest_gap_s": round(longest, 2),
                    "whole_again_s": whole.get(str(p["id"])),
                }
            )
        out["pairs"] = rows
    finally:
        _keep_logs(fabric)
        left = fabric.destroy()
        if left:
            out["left_behind"] = left
    return out


def _keep_logs(fabric: HostFabric) -> None:
    """Copy the run's logs to /tmp/ostium-bench-hosts-logs (the fabric removes its
    directory)."""
    import shutil

    if fabric.ostium is None:
        return
    target = Path("/tmp/ostium-bench-hosts-logs")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    for log in fabric.ostium.workdir.glob("*.log"):
        shutil.copy(log, target / log.name)


def memory(marker: str) -> dict[str, float]:
    """RSS and PSS (MiB) of the agent process and of its haproxy processes."""
    totals = {"agent_rss_mib": 0.0, "agent_pss_mib": 0.0, "haproxy_rss_mib": 0.0}
    totals["haproxy_pss_mib"] = 0.0
    count = 0
    for pid, cmd in processes(marker):
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        kib = {ln.split()[0].rstrip(":"): int(ln.split()[1]) for ln in text.splitlines()[1:]}
        program = Path(cmd.split()[0]).name
        if program.startswith("haproxy"):
            kind = "haproxy"
        elif program.startswith("python") and "ostium" in cmd:
            kind = "agent"
        else:
            continue
        count += kind == "haproxy"
        totals[f"{kind}_rss_mib"] += kib.get("Rss", 0) / 1024
        totals[f"{kind}_pss_mib"] += kib.get("Pss", 0) / 1024
    out = {k: round(v, 1) for k, v in totals.items()}
    out["haproxy_processes"] = count
    return out


def phase_curve(args: argparse.Namespace) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    fabric = HostFabric(hosts=0)
    try:
        fabric.build()
        o = fabric.start_ostium()
        have = 0
        for point in args.curve:
            batch = max(0, point - 3 - have)
            started = time.monotonic()
            lbs = [create(o, f"c{have + i}") for i in range(batch)]
            serve_all(fabric, lbs)
            took = time.monotonic() - started
            have += batch
            singles = []
            while have < point:
                t0 = time.monotonic()
                lb = create(o, f"c{have}")
                serve_all(fabric, [lb])
                singles.append(time.monotonic() - t0)
                have += 1
            time.sleep(2)  # haproxy's old processes gone after the last reloads
            points.append(
                {
                    "lbs_on_host": have,
                    "one_more_create_and_serve_s": round(statistics.median(singles), 2)
                    if singles
                    else None,
                    "batch_s_per_lb": round(took / batch, 3) if batch else None,
                    **memory(str(o.state_dir / "agent")),
                }
            )
            print(json.dumps(points[-1]), file=sys.stderr, flush=True)
    finally:
        fabric.destroy()
    return points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--place", type=int, default=100, help="load balancers placed at once")
    parser.add_argument("--per-host", type=int, default=20, help="SINGLE ones per host at loss")
    parser.add_argument("--pairs", type=int, default=6, help="ACTIVE_STANDBY ones at loss")
    parser.add_argument("--curve", default="10,50,100,200", help="load balancers on one host")
    parser.add_argument("--quick", action="store_true", help="--place 30 --per-host 5 ...")
    parser.add_argument("--skip", default="", help="phases to skip: place-loss, curve")
    args = parser.parse_args()
    if args.quick:
        args.place, args.per_host, args.pairs, args.curve = 30, 5, 3, "5,10,20"
    args.curve = [int(x) for x in str(args.curve).split(",") if x]

    def terminated(*_: object) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, terminated)  # the fabric is removed on the way out
    signal.signal(signal.SIGHUP, terminated)
    lock = Path("/tmp/ostium-e2e-tests.lock").open("w")  # noqa: SIM115 - held until the end
    fcntl.flock(lock, fcntl.LOCK_EX)
    result: dict[str, Any] = {"hosts": 3}
    try:
        if "place-loss" not in args.skip:
            result.update(phase_place_and_loss(args))
        if "curve" not in args.skip:
            result["curve_one_host"] = phase_curve(args)
    finally:
        lock.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
