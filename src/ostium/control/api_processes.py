"""Several API processes on one port (`ostium api --workers N`, `[api_settings]
api_workers`, and `ostium serve`).

Role: one Python process answers at most one core's worth of requests, so N processes
share one listening socket (bound here, before any fork; the kernel hands each new
connection to one of them). The children are forked before the caller starts any
thread (worker, health manager, agent), so a child holds nothing but the socket and a
fresh database pool; each builds its own app and serves until its parent stops it (or
dies: the children get SIGTERM then, through PR_SET_PDEATHSIG).

A change written by a child must still wake the reconciler that runs in the parent of
`ostium serve`: children write one byte into a pipe they inherited (`WakePipe`) and a
thread of the parent turns it into `wake()`. Callers: `cli` (serve, api). Must not
decide anything about requests: it only runs copies of the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("ostium.api")

PR_SET_PDEATHSIG = 1


class WakePipe:
    """Wake-ups from the API children to the reconciler of their parent."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)

    def send(self) -> None:
        """In a child: ask the parent to look for work (never blocks: a full pipe
        already holds a wake-up)."""
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self.write_fd, b"w")

    def relay(self, wake: Callable[[], None]) -> None:
        """In the parent: call `wake` for every batch of wake-ups, on a daemon thread."""

        def run() -> None:
            while True:
                try:
                    data = os.read(self.read_fd, 4096)
                except OSError:
                    return
                if not data:
                    return
                wake()

        threading.Thread(target=run, name="ostium-wake-relay", daemon=True).start()


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every API process accepts on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto given explicitly: asyncio sets TCP_NODELAY on accepted connections only for
    # sockets whose proto says TCP; without it a response written as headers + body
    # waited for the client's delayed ACK (~40 ms per request).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


API_THREADS = 16
"""Threads running the (synchronous) route handlers of one API process. More only adds
GIL contention and database connections (anyio's default is 40): the engines keep this
many connections open (`db.engine.POOL_SIZE`), so no request opens its own."""


def serve(
    app: Any,
    sock: socket.socket | None,
    host: str,
    port: int,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> None:
    """Run uvicorn (on `sock` if given, else on host:port; HTTPS when given a
    certificate and key) until SIGINT/SIGTERM."""
    import anyio.to_thread
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = API_THREADS
        await server.serve(sockets=[sock] if sock is not None else None)

    asyncio.run(main())


def fork_children(count: int, child: Callable[[], None]) -> list[int]:
    """Fork `count` processes running `child()`; their pids. Call before any thread
    starts in this process."""
    pids: list[int] = []
    parent = os.getpid()
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child (tested end to end)
            code = 0
            try:
                if sys.platform.startswith("linux"):
                    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
                if os.getppid() != parent:
                    os._exit(1)
                child()
            except BaseException:
                log.exception("API process %d failed", os.getpid())
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        pids.append(pid)
    log.info("%d more API processes: %s", count, pids)
    return pids


def stop_children(pids: list[int], timeout: float = 10.0) -> None:
    """SIGTERM the children (uvicorn finishes the requests in flight), then reap them."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for pid in pids:
        while True:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                break
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
                break
            time.sleep(0.05)
