"""Host loss with several hosts: how long until each affected VIP answers again.

Three hosts (the root namespace's agent and two namespaces with their own agents, joined
with enrollment tokens; the fabric of tests/e2e/hosts/fabric.py) serve `--lbs` SINGLE
load balancers, spread by placement. The script measures the time to place and serve
them all, kills host 1 (agent SIGKILL, its namespaces removed), and reports, for each
load balancer that was on it, the time from the kill to the first successful request
from a client on the fabric (heartbeat_timeout 3 s, interval 0.5 s). With `--pairs N`
it also makes N ACTIVE_STANDBY load balancers and reports the longest gap a client saw
on each while the host of its MASTER died.

Prints JSON. Needs root; takes the e2e lock so it never runs beside the e2e tests.

    .venv/bin/python bench/hosts.py --lbs 20
"""

from __future__ import annotations

import argparse
import fcntl
import json
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests" / "e2e"), str(REPO / "tests" / "e2e" / "hosts")]

from fabric import HostFabric, amphora_host, http_lb  # noqa: E402


def _first_success(fabric: HostFabric, vip: str, since: float, limit: float) -> float | None:
    while time.monotonic() - since < limit:
        if fabric.fetch(vip) == "ostt-bk":
            return time.monotonic() - since
        time.sleep(0.1)
    return None


def _watch_gap(fabric: HostFabric, vip: str, stop: threading.Event, out: list[float]) -> None:
    """The longest time between two successful requests while `stop` is not set."""
    last = time.monotonic()
    gap = 0.0
    while not stop.is_set():
        if fabric.fetch(vip) == "ostt-bk":
            now = time.monotonic()
            gap = max(gap, now - last)
            last = now
        time.sleep(0.05)
    out.append(gap)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lbs", type=int, default=20, help="SINGLE load balancers")
    parser.add_argument("--pairs", type=int, default=0, help="ACTIVE_STANDBY ones too")
    args = parser.parse_args()
    lock = Path("/tmp/ostium-e2e-tests.lock").open("w")  # noqa: SIM115 - held until the end
    fcntl.flock(lock, fcntl.LOCK_EX)
    fabric = HostFabric(hosts=2)
    result: dict[str, object] = {"hosts": 3, "lbs": args.lbs}
    try:
        fabric.build()
        o = fabric.start_ostium()
        fabric.join(1)
        fabric.join(2)
        started = time.monotonic()
        lbs = [http_lb(o, f"bench{i}") for i in range(args.lbs)]
        for lb in lbs:
            assert _first_success(fabric, str(lb["vip_address"]), time.monotonic(), 30)
        result["place_and_serve_s"] = round(time.monotonic() - started, 2)
        where = {str(lb["id"]): amphora_host(o, str(lb["id"])) for lb in lbs}
        result["per_host"] = {h: list(where.values()).count(h) for h in set(where.values())}
        pairs = []
        for i in range(args.pairs):
            pairs.append(http_lb_pair(o, f"pair{i}"))
        time.sleep(2)  # heartbeats from everyone
        affected = [lb for lb in lbs if where[str(lb["id"])] == "198.19.210.11"]
        stop = threading.Event()
        gaps: list[float] = []
        watchers = [
            threading.Thread(target=_watch_gap, args=(fabric, str(p["vip_address"]), stop, gaps))
            for p in pairs
        ]
        for w in watchers:
            w.start()
        time.sleep(1)
        killed = time.monotonic()
        fabric.kill(1)
        back = [_first_success(fabric, str(lb["vip_address"]), killed, 60) for lb in affected]
        stop.set()
        for w in watchers:
            w.join()
        times = [t for t in back if t is not None]
        result["single_affected"] = len(affected)
        result["single_not_back_within_60s"] = len(back) - len(times)
        if times:
            result["single_back_median_s"] = round(statistics.median(times), 2)
            result["single_back_max_s"] = round(max(times), 2)
        if gaps:
            result["pair_longest_gap_s"] = sorted(round(g, 2) for g in gaps)
    finally:
        fabric.destroy()
        lock.close()
    print(json.dumps(result, indent=2))
    return 0


def http_lb_pair(o: object, name: str) -> dict[str, object]:
    from api_support import Ostium

    assert isinstance(o, Ostium)
    flavor = o.api.http.post(
        "/v2/lbaas/flavorprofiles",
        json={
            "flavorprofile": {
                "name": f"{name}-fp",
                "provider_name": "amphora",
                "flavor_data": json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"}),
            }
        },
    ).json()["flavorprofile"]
    fl = o.api.http.post(
        "/v2/lbaas/flavors",
        json={"flavor": {"name": f"{name}-fl", "flavor_profile_id": flavor["id"]}},
    ).json()["flavor"]
    lb = http_lb(o, name, flavor_id=fl["id"])
    return lb


if __name__ == "__main__":
    sys.exit(main())
