"""`ostium logs LB [--follow]`: a load balancer's access log lines, through the API.

Role: a small client of `GET /v2/lbaas/loadbalancers/{id}/logs` (ostium's extension),
the LB named by id or by name. `--follow` long-polls for new lines until interrupted.
Authentication as any client: `--token` or `$OS_TOKEN` in token mode, nothing in noauth.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:9876"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("logs", help="a load balancer's access logs (user_log_format)")
    p.add_argument("loadbalancer", help="id or name")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    p.add_argument("--lines", "-n", type=int, default=100, help="lines of the past to show")
    p.add_argument(
        "--url", default=os.environ.get("OSTIUM_URL", DEFAULT_URL), help="the ostium API"
    )
    p.add_argument("--token", default=os.environ.get("OS_TOKEN"), help="API token")
    p.set_defaults(func=cmd_logs)


def _lb_id(http: httpx.Client, ref: str) -> str:
    r = http.get(f"/v2/lbaas/loadbalancers/{ref}")
    if r.status_code == 200:
        return str(r.json()["loadbalancer"]["id"])
    r = http.get("/v2/lbaas/loadbalancers", params={"name": ref})
    r.raise_for_status()
    found = r.json()["loadbalancers"]
    if len(found) != 1:
        raise SystemExit(
            f"ostium logs: {len(found)} load balancers match {ref!r}; give its id"
            if found
            else f"ostium logs: no load balancer {ref!r}"
        )
    return str(found[0]["id"])


def cmd_logs(args: argparse.Namespace) -> int:
    headers = {"X-Auth-Token": args.token} if args.token else {}
    with httpx.Client(base_url=args.url, headers=headers, timeout=30) as http:
        lb_id = _lb_id(http, args.loadbalancer)
        after, limit, wait = 0, max(0, args.lines), 0.0
        while True:
            r = http.get(
                f"/v2/lbaas/loadbalancers/{lb_id}/logs",
                params={"after": after, "limit": limit, "wait": wait},
            )
            if r.status_code == 404:
                print(f"ostium logs: load balancer {lb_id} is gone", file=sys.stderr)
                return 1
            r.raise_for_status()
            page = r.json()["logs"]
            for item in page["lines"]:
                print(item["line"], flush=True)
            after = int(page["next"])
            if not args.follow:
                return 0
            limit, wait = 1000, 5.0
