"""Cost of the built-in Keystone (`auth_strategy = keystone`), measured in one run.

Starts two `ostium serve --compute-driver noop` processes on free loopback ports with
fresh temporary state directories, one with `noauth` and one with `keystone`, and prints
ONE JSON document on stdout:

* `issue_password_ms`: `POST /v3/auth/tokens` with a password (argon2id at the default
  cost, so this is mostly the password hash) and project scope, catalog included;
* `issue_token_ms`: the same rescoped with the token method (no password hash);
* `get_list_noauth_ms` / `get_list_keystone_ms`: `GET /v2/lbaas/loadbalancers` (empty)
  without and with token validation, and their ratio (`validation_overhead_ratio`).

Client-side wall-clock milliseconds (httpx, loopback, keep-alive): p50, p99, mean. Only
the ratio is comparable between machines; the load average at start and end is recorded.
Both servers and their directories are removed at the end, also on failure or Ctrl-C.

    .venv/bin/python bench/identity.py [--n N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _common import free_port


@contextlib.contextmanager
def server(auth: str) -> Iterator[tuple[str, Path]]:
    state = Path(tempfile.mkdtemp(prefix="ostium-bench-identity-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ostium", "serve", "--state-dir", str(state), "--bind",
         f"127.0.0.1:{port}", "--compute-driver", "noop", "--auth-strategy", auth],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ostium serve ({auth}) did not start")
            time.sleep(0.1)
        yield url, state
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(state, ignore_errors=True)


def timed(n: int, call: Callable[[], httpx.Response], status: int) -> dict[str, float]:
    for _ in range(3):
        call()  # warm-up
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        r = call()
        samples.append((time.perf_counter() - started) * 1000)
        if r.status_code != status:
            raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
    samples.sort()
    return {
        "p50": round(statistics.median(samples), 2),
        "p99": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2),
        "mean": round(statistics.fmean(samples), 2),
        "n": n,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    out: dict[str, Any] = {"load_average_start": os.getloadavg()[0], "cpus": os.cpu_count()}
    with server("noauth") as (plain, _), server("keystone") as (ks, state):
        password = (state / "admin-password").read_text().strip()
        scope = {"project": {"name": "admin", "domain": {"name": "Default"}}}
        by_password = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": password}}},
            "scope": scope}}  # fmt: skip
        with httpx.Client(base_url=ks, timeout=30) as c, httpx.Client(base_url=plain) as p:
            token = c.post("/v3/auth/tokens", json=by_password).headers["X-Subject-Token"]
            by_token = {
                "auth": {"identity": {"methods": ["token"], "token": {"id": token}}, "scope": scope}
            }
            out["issue_password_ms"] = timed(
                max(10, args.n // 5), lambda: c.post("/v3/auth/tokens", json=by_password), 201
            )
            out["issue_token_ms"] = timed(
                args.n, lambda: c.post("/v3/auth/tokens", json=by_token), 201
            )
            headers = {"X-Auth-Token": token}
            out["get_list_noauth_ms"] = timed(args.n, lambda: p.get("/v2/lbaas/loadbalancers"), 200)
            out["get_list_keystone_ms"] = timed(
                args.n, lambda: c.get("/v2/lbaas/loadbalancers", headers=headers), 200
            )
    out["validation_overhead_ratio"] = round(
        out["get_list_keystone_ms"]["p50"] / out["get_list_noauth_ms"]["p50"], 2
    )
    out["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
