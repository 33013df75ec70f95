"""The `ostium` command: serve (all-in-one), api, worker, health, housekeeping, db
upgrade, token create, agent and demo-backends. Settings are built here once and passed
down."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import ipaddress
import json
import logging
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from ostium.control import logs, logs_command
from ostium.control.api_launch import api_workers, fork_api, serve_api
from ostium.control.settings import Settings, load_settings
from ostium.model.tokens import new_secret

if TYPE_CHECKING:
    from ostium.drivers.compute.base import ComputeDriver

log = logging.getLogger("ostium")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config-file", help="INI file (Octavia-style sections)")
    p.add_argument("--database-url", help="e.g. postgresql+psycopg://user@host/db")
    p.add_argument("--state-dir", help="state directory (default ./var or $OSTIUM_STATE_DIR)")
    p.add_argument("--log-level", choices=logs.LEVELS, help="default info ([DEFAULT] debug)")
    p.add_argument("--log-json", action="store_true", help="JSON lines ([DEFAULT] use_json)")


def _settings(args: argparse.Namespace) -> Settings:
    logs.configure(args.log_level, args.log_json, args.config_file)
    return load_settings(
        args.config_file,
        state_dir=args.state_dir,
        database_url=args.database_url,
        bind=getattr(args, "bind", None),
        compute_driver=getattr(args, "compute_driver", None),
        auth_strategy=getattr(args, "auth_strategy", None),
    )


def _prepare(settings: Settings) -> Any:
    from ostium.control.db.engine import open_database
    from ostium.control.db.migrate import upgrade

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    return open_database(settings.database_url)


def _check_bind(settings: Settings) -> None:
    host = settings.api.bind_host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if (
        settings.api.auth_strategy == "noauth"
        and not loopback
        and not settings.api.allow_noauth_on_public_bind
    ):
        raise SystemExit(
            f"refusing auth_strategy=noauth on non-loopback bind {host}: use "
            "auth_strategy=keystone or token, or set allow_noauth_on_public_bind = true"
        )


def _first_start(settings: Settings, db: Any) -> None:
    """Bootstrap the built-in Keystone (not when an external one holds the users)."""
    if settings.api.auth_strategy == "keystone" and not settings.keystone_authtoken.enabled:
        from ostium.control.cli_identity import first_start

        path = first_start(settings, db)
        if path is not None:
            log.warning("identity bootstrapped: user admin, project admin, password in %s", path)


def make_driver(settings: Settings) -> Any:
    from ostium.control.drivers_factory import make_compute_driver

    return make_compute_driver(settings)


def _start_health(settings: Settings, db: Any, wake: Any) -> Any:
    """The health manager, or None if its port is taken (the rest keeps running)."""
    from ostium.control.health.manager import HealthManager

    health = HealthManager(db, settings, wake)
    try:
        health.start()
    except OSError as exc:
        log.error(
            "health manager not started: udp %s:%d: %s (no status from heartbeats, "
            "no automatic failover)",
            settings.health.bind_ip,
            settings.health.bind_port,
            exc,
        )
        health.stop()
        return None
    return health


def _housekeeping(settings: Settings, db: Any, driver: ComputeDriver) -> Any:
    from ostium.control.housekeeping import Housekeeping
    from ostium.drivers.compute.multihost import MultiHostDriver

    agent = driver.local_agent()
    others = driver.other_agents if isinstance(driver, MultiHostDriver) else None
    return Housekeeping(
        db, settings, agent=agent, certificates=agent is not None, more_agents=others
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from ostium.control import api_processes
    from ostium.control.worker.loop import WorkerLoop

    settings = _settings(args)
    _check_bind(settings)
    db = _prepare(settings)
    _first_start(settings, db)
    pipe = api_processes.WakePipe()
    sock, children = fork_api(settings, db, api_workers(settings, args), pipe.send)
    driver, cleanup = make_driver(settings)
    worker = WorkerLoop(db, settings, driver)
    pipe.relay(worker.wake)
    worker.start()
    health = _start_health(settings, db, worker.wake) if settings.health.enabled else None
    housekeeping = _housekeeping(settings, db, driver)
    if settings.housekeeping.enabled:
        housekeeping.start()
    log.info(
        "ostium serving the Octavia v2 API on http://%s:%d, the dashboard on /dashboard "
        "(compute driver %s, database %s)",
        settings.api.bind_host,
        settings.api.bind_port,
        driver.name,
        db.dialect,
    )
    try:
        serve_api(settings, db, worker.wake, sock)
    finally:
        api_processes.stop_children(children)
        housekeeping.stop()
        if health is not None:
            health.stop()
        worker.stop()
        cleanup()
        db.dispose()
    return 0


def _wait_for_signal() -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()


def _serve_metrics(bind: str) -> Any:
    """`GET /metrics` of this process on its own port (for `ostium health` alone)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from ostium.control.metrics import REGISTRY

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = REGISTRY.render().encode() if self.path == "/metrics" else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    host, _, port = bind.rpartition(":")
    server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


def cmd_health(args: argparse.Namespace) -> int:
    from ostium.control.health.manager import HealthManager

    settings = _settings(args)
    db = _prepare(settings)
    health = HealthManager(db, settings)
    health.start()  # a taken port is fatal here: this process has nothing else to do
    server = _serve_metrics(args.metrics_bind) if args.metrics_bind else None
    _wait_for_signal()
    if server is not None:
        server.shutdown()
    health.stop()
    db.dispose()
    return 0


def cmd_housekeeping(args: argparse.Namespace) -> int:
    from ostium.control.drivers_factory import resolve_name
    from ostium.control.housekeeping import Housekeeping

    settings = _settings(args)
    db = _prepare(settings)
    agent, close = None, None
    if resolve_name(settings) == "netns" and (settings.state_dir / "pki" / "ca.pem").exists():
        from ostium.control.netns_setup import connect_local_agent

        agent, close = connect_local_agent(settings)
    housekeeping = Housekeeping(db, settings, agent=agent, certificates=agent is not None)
    if args.once:
        report = housekeeping.run_once(0.0)
        print(json.dumps(dataclasses.asdict(report), indent=2))
    else:
        housekeeping.start()
        _wait_for_signal()
        housekeeping.stop()
    if close is not None:
        close()
    db.dispose()
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    from ostium.control import api_processes
    from ostium.control.db.notify import notifier

    settings = _settings(args)
    _check_bind(settings)
    db = _prepare(settings)
    _first_start(settings, db)
    wake = notifier(db)  # PostgreSQL: NOTIFY the workers; SQLite: they poll
    sock, children = fork_api(settings, db, api_workers(settings, args), wake)
    try:
        serve_api(settings, db, wake, sock)
    finally:
        api_processes.stop_children(children)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from ostium.control.db.notify import Listener
    from ostium.control.worker.loop import WorkerLoop

    settings = _settings(args)
    db = _prepare(settings)
    driver, cleanup = make_driver(settings)
    worker = WorkerLoop(db, settings, driver)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    listener = None if db.is_sqlite else Listener(db.url, worker.wake)
    if listener is not None:
        listener.start()  # the API's NOTIFY wakes this worker at once
    worker.start()
    done.wait()
    if listener is not None:
        listener.stop()
    worker.stop()
    cleanup()
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _prepare(settings).dispose()
    print(f"database at head: {settings.database_url}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from ostium.control.db import models as m
    from ostium.control.identity.context import hash_token
    from ostium.model.ids import new_id

    settings = _settings(args)
    db = _prepare(settings)
    token = new_secret(32)
    expires = None
    if args.expires_in:
        expires = m.utcnow() + dt.timedelta(seconds=args.expires_in)
    with db.write() as session:
        session.add(
            m.ApiToken(
                id=new_id(),
                token_hash=hash_token(token),
                project_id=args.project,
                roles=",".join(args.role),
                expires_at=expires,
            )
        )
    db.dispose()
    print(token)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ostium",
        description="Load Balancer as a Service speaking the OpenStack Octavia v2 API",
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "serve", help="API + worker + health manager + housekeeping (+ local agent) in one process"
    )
    _common(s)
    s.add_argument("--bind", help="HOST:PORT for the API (default 127.0.0.1:9876)")
    s.add_argument("--workers", type=int, help="API processes on the port (0: CPUs, <= 4)")
    s.add_argument("--compute-driver", choices=["auto", "noop", "netns"])
    s.add_argument("--auth-strategy", choices=["noauth", "token", "keystone"])
    s.set_defaults(func=cmd_serve)

    a = sub.add_parser("api", help="the API alone")
    _common(a)
    a.add_argument("--bind")
    a.add_argument("--workers", type=int, help="API processes on the port (0: CPUs, <= 4)")
    a.add_argument("--auth-strategy", choices=["noauth", "token", "keystone"])
    a.set_defaults(func=cmd_api)

    w = sub.add_parser("worker", help="the reconciling worker alone")
    _common(w)
    w.add_argument("--compute-driver", choices=["auto", "noop", "netns"])
    w.set_defaults(func=cmd_worker)

    h = sub.add_parser("health", help="the health manager alone (heartbeats, failover)")
    _common(h)
    h.add_argument("--metrics-bind", help="HOST:PORT to serve GET /metrics on (default: none)")
    h.set_defaults(func=cmd_health)

    k = sub.add_parser(
        "housekeeping", help="purge old rows, rotate certificates, remove orphaned amphorae"
    )
    _common(k)
    k.add_argument("--compute-driver", choices=["auto", "noop", "netns"])
    k.add_argument("--once", action="store_true", help="one round, print what it did")
    k.set_defaults(func=cmd_housekeeping)

    d = sub.add_parser("db", help="database maintenance")
    dsub = d.add_subparsers(dest="db_command", required=True)
    up = dsub.add_parser("upgrade", help="apply migrations")
    _common(up)
    up.set_defaults(func=cmd_db)

    t = sub.add_parser("token", help="API tokens for auth_strategy = token")
    tsub = t.add_subparsers(dest="token_command", required=True)
    tc = tsub.add_parser("create", help="create a token and print it")
    _common(tc)
    tc.add_argument("--project", required=True)
    tc.add_argument("--role", action="append", required=True, choices=["admin", "member", "reader"])
    tc.add_argument("--expires-in", type=int, help="seconds")
    tc.set_defaults(func=cmd_token)
    from ostium.control import host_cli
    from ostium.control.cli_identity import register

    register(sub, _common, _settings, _prepare)
    logs_command.add_parser(sub)
    host_cli.register(sub, _common, _settings, _prepare)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if argv and argv[0] == "agent":
        from ostium.agent.main import main as agent_main

        return agent_main(argv[1:])
    if argv and argv[0] == "demo-backends":
        from ostium.devtools.demo_backends import main as demo_main

        return demo_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"ostium: {exc}", file=sys.stderr)
        return 2
