"""Watch VIPs from inside a client namespace (run by bench/hosts.py with
`ip netns exec`): one thread per VIP, each a plain HTTP/1.0 GET with short timeouts.

Arguments are `s:ADDR` (a SINGLE VIP: probed only after the mark, until its first
success) and `p:ADDR` (a pair's VIP: probed all the time, every gap between two
successes longer than 0.2 s recorded). Lines on stdin: `mark T` (T: the caller's
time.monotonic(), the same clock here) starts the SINGLE probes; `stop` or end of input
ends; the result is one JSON object on stdout: for `s`, seconds from the mark to the
first success (null: none); for `p`, the list of gaps [start, end] in seconds after
the mark (end null: no success since).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

REQUEST = b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n"
GAP = 0.2


def ok(vip: str) -> bool:
    try:
        with socket.create_connection((vip, 80), timeout=0.3) as s:
            s.settimeout(1.0)
            s.sendall(REQUEST)
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            return b"ostt-bk" in data
    except OSError:
        return False


def main() -> int:
    marked = threading.Event()
    stop = threading.Event()
    mark = [0.0]
    singles: dict[str, float | None] = {}
    gaps: dict[str, list[list[float | None]]] = {}

    def single(vip: str) -> None:
        singles[vip] = None
        marked.wait()
        while not stop.is_set():
            if ok(vip):
                singles[vip] = time.monotonic() - mark[0]
                return
            time.sleep(0.05)

    def pair(vip: str) -> None:
        gaps[vip] = []
        last: float | None = None
        while not stop.is_set():
            if ok(vip):
                now = time.monotonic()
                if last is not None and now - last > GAP:
                    gaps[vip].append([last, now])
                last = now
            time.sleep(0.05)
        if last is not None and time.monotonic() - last > GAP:
            gaps[vip].append([last, None])

    threads = []
    for arg in sys.argv[1:]:
        kind, _, vip = arg.partition(":")
        threads.append(threading.Thread(target=single if kind == "s" else pair, args=(vip,)))
    for t in threads:
        t.start()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.startswith("mark"):
            mark[0] = float(line.split()[1])
            marked.set()
        elif line.startswith("stop"):
            break
    stop.set()
    marked.set()
    for t in threads:
        t.join()
    m = mark[0]
    out = {
        "single": singles,
        "pair": {
            vip: [[round(a - m, 3), None if b is None else round(b - m, 3)] for a, b in g]
            for vip, g in gaps.items()
        },
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
