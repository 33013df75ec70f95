"""`ostium demo-backends`: run demo backends until Ctrl-C, or restart one of them.

Role: the command line of `demo_backends`. One run per bridge: a lock file
(`/run/ostium/demo-backends/<bridge>.lock`, held while the run lasts) makes a second run
on the same bridge stop with a clear message instead of tearing down the first one's
bridge; namespaces left by a run that was killed (no lock holder) are removed first.
The running set is described in `<bridge>.json` next to the lock, which `restart`
reads to restart one backend's server in place (same namespace, address and port).

Callers: `ostium.control.cli` (`ostium demo-backends ...`) and `python -m
ostium.devtools.demo_backends`. Errors the user can fix are one line on stderr and exit
status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import IO, Any

from ostium.devtools.demo_backends import (
    Backend,
    DemoError,
    DemoNetwork,
    kill_namespace,
    serve,
)

RUN_DIR = Path("/run/ostium/demo-backends")
DEFAULT_CIDR = "198.18.128.0/17"  # settings.DEMO_NETWORK
DEFAULT_BRIDGE = "ostium-demo"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ostium demo-backends",
        description="HTTP backends in network namespaces on a bridge, for demos and tests. "
        "Runs until Ctrl-C, then removes what it made (the bridge only if nothing else "
        "is plugged into it).",
    )
    parser.add_argument(
        "--count", type=int, default=2, metavar="N", help="how many backends (default 2)"
    )
    parser.add_argument(
        "--network-cidr",
        default=DEFAULT_CIDR,
        metavar="CIDR",
        help=f"their subnet, inside 198.18.0.0/15 (default {DEFAULT_CIDR}, ostium's demo-net)",
    )
    parser.add_argument(
        "--bridge",
        default=DEFAULT_BRIDGE,
        help=f"the bridge they hang off (default {DEFAULT_BRIDGE})",
    )
    parser.add_argument("--port", type=int, default=8080, help="their TCP port (default 8080)")
    parser.add_argument(
        "--prefix",
        default="ostium-d",
        help="namespace name prefix, at most 9 characters (default ostium-d: ostium-d1, ...)",
    )
    sub = parser.add_subparsers(dest="command", metavar="{restart}")
    restart = sub.add_parser(
        "restart", help="restart one backend of the running set (stop its server, start it again)"
    )
    restart.add_argument("index", type=int, help="the backend's number (1 for the first)")
    restart.add_argument(
        "--bridge",
        default=DEFAULT_BRIDGE,
        help=f"the running set's bridge (default {DEFAULT_BRIDGE})",
    )
    srv = sub.add_parser("serve")  # internal: one server, run inside its namespace
    srv.add_argument("--name", required=True, help="the name it answers with")
    srv.add_argument("--bind", required=True, help="the address to listen on")
    srv.add_argument("--port", type=int, default=8080, help="the port to listen on")
    srv.add_argument("--tls-cert", help="PEM with certificate and key: serve HTTPS")
    srv.add_argument("--tls-client-ca", help="require client certificates from this CA")
    return parser


def _lock(bridge: str) -> tuple[IO[str], Path]:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    state = RUN_DIR / f"{bridge}.json"
    handle = (RUN_DIR / f"{bridge}.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        pid = _running(state).get("pid", "?")
        raise DemoError(
            f"demo backends already run on bridge {bridge} (pid {pid}); stop that one "
            "first (Ctrl-C), or choose another --bridge, --network-cidr and --prefix"
        ) from None
    return handle, state


def _running(state: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(state.read_text()))
    except (OSError, ValueError):
        return {}


def _run(args: argparse.Namespace) -> int:
    demo = DemoNetwork(bridge=args.bridge, cidr=args.network_cidr, prefix=args.prefix)
    handle, state = _lock(args.bridge)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        for i in range(1, args.count + 1):  # left by a run that was killed: ours to remove
            if Path("/run/netns", f"{args.prefix}{i}").exists():
                kill_namespace(f"{args.prefix}{i}")
                subprocess.run(["ip", "link", "del", f"{args.prefix}{i}h"], capture_output=True)
        demo.create_bridge()
        for i in range(1, args.count + 1):
            demo.add_backend(i, args.port)
        described = {
            "pid": os.getpid(),
            "bridge": demo.bridge,
            "cidr": str(demo.network),
            "host_address": demo._host(0),
            "backends": [b.as_dict() for b in demo.backends],
        }
        state.write_text(json.dumps(described))
        print(json.dumps({k: v for k, v in described.items() if k != "pid"}, indent=2), flush=True)
        stop.wait()
    finally:
        demo.destroy()
        state.unlink(missing_ok=True)
        (RUN_DIR / f"{args.bridge}.lock").unlink(missing_ok=True)
        handle.close()
    return 0


def _restart(args: argparse.Namespace) -> int:
    lock = RUN_DIR / f"{args.bridge}.lock"
    handle = lock.open("a+") if lock.exists() else None
    with contextlib.ExitStack() as stack:
        if handle is not None:
            stack.enter_context(handle)
            with contextlib.suppress(BlockingIOError):
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                raise DemoError(f"no demo backends run on bridge {args.bridge}")
        running = _running(RUN_DIR / f"{args.bridge}.json")
        backends = running.get("backends", [])
        if handle is None or not running:
            raise DemoError(f"no demo backends run on bridge {args.bridge}")
        if not 1 <= args.index <= len(backends):
            raise DemoError(f"backend {args.index} does not exist (1-{len(backends)})")
        b = backends[args.index - 1]
        backend = Backend(b["name"], b["namespace"], b["address"], int(b["port"]))
        for pid in subprocess.run(
            ["ip", "netns", "pids", backend.namespace], capture_output=True, text=True
        ).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)
        demo = DemoNetwork(bridge=args.bridge, cidr=str(running["cidr"]))
        demo.start_backend(backend)  # the running set's destroy kills it with its namespace
        print(json.dumps(backend.as_dict()), flush=True)
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            serve(args.name, args.bind, args.port, args.tls_cert, args.tls_client_ca)
            return 0
        if args.command == "restart":
            return _restart(args)
        return _run(args)
    except (DemoError, ValueError) as exc:
        print(f"ostium demo-backends: {exc}", file=sys.stderr)
        return 1
