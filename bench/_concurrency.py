"""Concurrent clients against a running ostium API (used by bench/api.py).

* `read_load`: wrk (`-c` connections, keep-alive, `--latency`) on one URL: requests/s,
  p50/p90/p99 latency, failures; a Python fallback (threads with httpx) when wrk is
  missing, which the result names.
* `writers`: N threads, each POSTing single-call graph creates (LB + HTTP listener + pool
  + 2 members + HTTP monitor) in a loop for a fixed time: graphs/s and POST latency.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import threading
import time
from typing import Any

import httpx

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return float("nan")
    return round(float(m.group(1)) * UNITS[m.group(2)], 1)


def parse_wrk(out: str) -> dict[str, Any]:
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if not m:
        raise RuntimeError(f"cannot parse wrk output: {out!r}")
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
    lat = {f"p{p}_ms": _ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M)}
    return {
        "requests": int(m.group(1)),
        "rps": float(rps.group(1)) if rps else float("nan"),
        **lat,
        "failed": sum(errors.values()),
        "errors": errors,
    }


def _pct(values: list[float], q: float) -> float:
    v = sorted(values)
    if not v:
        return float("nan")
    return round(v[min(len(v) - 1, int(q * len(v)))], 1)


def _python_load(url: str, connections: int, seconds: float) -> dict[str, Any]:
    lat: list[float] = []
    failed = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run() -> None:
        nonlocal failed
        with httpx.Client(timeout=30) as c:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                try:
                    ok = c.get(url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    lat.append((time.perf_counter() - t0) * 1000)
                    failed += 0 if ok else 1

    threads = [threading.Thread(target=run, daemon=True) for _ in range(connections)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    return {
        "requests": len(lat),
        "rps": round(len(lat) / secs, 1),
        "p50_ms": _pct(lat, 0.5),
        "p90_ms": _pct(lat, 0.9),
        "p99_ms": _pct(lat, 0.99),
        "failed": failed,
        "errors": {},
    }


def drain(url: str) -> None:
    """Wait until the server answered what wrk left queued when it stopped (a handler
    request waits behind them in the server's thread pool), so the next measurement
    starts on an idle server."""
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(url, timeout=120)


def read_load(url: str, connections: int = 50, seconds: float = 10) -> dict[str, Any]:
    try:
        return _read_load(url, connections, seconds)
    finally:
        drain(url.split("?")[0].rsplit("/loadbalancers", 1)[0] + "/loadbalancers?limit=1")


def _read_load(url: str, connections: int, seconds: float) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        return {"tool": "python threads", **_python_load(url, connections, seconds)}
    proc = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "--latency",
            "-H",
            "Accept: application/json",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    return {"tool": "wrk", "connections": connections, **parse_wrk(proc.stdout)}


def writers(
    base: str, body: Any, threads: int = 20, seconds: float = 10, name: str = "w"
) -> dict[str, Any]:
    """`threads` clients POSTing graph creates for `seconds`; each body gets a unique
    name (`body` is a callable name -> request body)."""
    lat: list[float] = []
    failed: dict[str, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    counter = iter(range(10**9))

    def run() -> None:
        with httpx.Client(timeout=60) as c:
            while time.monotonic() < stop:
                with lock:
                    i = next(counter)
                t0 = time.perf_counter()
                try:
                    r = c.post(f"{base}/v2/lbaas/loadbalancers", json=body(f"{name}-{i}"))
                    err = None if r.status_code == 201 else str(r.status_code)
                except httpx.HTTPError as exc:
                    err = type(exc).__name__
                with lock:
                    if err is None:
                        lat.append((time.perf_counter() - t0) * 1000)
                    else:
                        failed[err] = failed.get(err, 0) + 1

    pool = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    t0 = time.monotonic()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    secs = time.monotonic() - t0
    return {
        "writers": threads,
        "graphs": len(lat),
        "graphs_per_s": round(len(lat) / secs, 1),
        "post_p50_ms": _pct(lat, 0.5),
        "post_p99_ms": _pct(lat, 0.99),
        "failed": failed,
    }
