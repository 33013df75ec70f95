"""Starting the API: one uvicorn process, or N on one socket (`--workers`), and the
access-log receiver that lives beside it. Called by `cli` (serve, api); decides nothing
about requests."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from ostium.control.settings import Settings


def serve_api(settings: Settings, db: Any, wake: Any, sock: Any = None) -> None:
    from ostium.control import api_processes
    from ostium.control.api.app import create_app
    from ostium.control.services.context import ServiceContext

    store, receiver = _access_logs(settings)
    app = create_app(ServiceContext(db=db, settings=settings, wake=wake, access_logs=store))
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: without a handler of
    # ours the process would die there and skip its `finally` (worker and agent stop).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    api_processes.serve(
        app,
        sock,
        settings.api.bind_host,
        settings.api.bind_port,
        ssl_certfile=settings.api.tls_cert_file or None,
        ssl_keyfile=settings.api.tls_key_file or None,
    )
    if receiver is not None:
        receiver.stop()


def _access_logs(settings: Settings) -> Any:
    from ostium.control import access_log_receiver

    a = settings.amphora_agent
    return access_log_receiver.start(a.log_receiver_ip, a.log_receiver_port, a.log_receiver_lines)


def api_workers(settings: Settings, args: argparse.Namespace) -> int:
    cli: int | None = getattr(args, "workers", None)
    wanted = cli if cli is not None else settings.api.api_workers
    return wanted if wanted > 0 else min(4, os.cpu_count() or 1)


def fork_api(settings: Settings, db: Any, count: int, wake: Any) -> tuple[Any, list[int]]:
    """Bind the API port and fork `count - 1` more API processes onto it (before any
    thread starts here); the socket (None for one process) and the children's pids."""
    from ostium.control import api_processes

    if count <= 1:
        return None, []
    sock = api_processes.bind(settings.api.bind_host, settings.api.bind_port)

    def child() -> None:
        db.write_engine.dispose(close=False)  # the parent's connections stay the parent's
        db.read_engine.dispose(close=False)
        serve_api(settings, db, wake, sock)

    return sock, api_processes.fork_children(count - 1, child)
