"""Agent entry point: parse options, build the manager, serve the API over mutual TLS.

Role: `main(argv)` runs an agent in the foreground (uvicorn, HTTPS, client certificate
required and verified against `--ca`); `start_agent_subprocess(...)` runs one as a child
process for the all-in-one `ostium serve` and tests, returning a handle to stop it.
Settings are parsed here once and passed down; nothing reads configuration at import.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from ostium.agent import access_logs
from ostium.agent.amphorae import AmphoraManager
from ostium.agent.app import create_app
from ostium.agent.heartbeat import (
    HeartbeatSender,
    HeartbeatSettings,
    SequenceSource,
    parse_targets,
)
from ostium.agent.joining import credentials, join_options
from ostium.agent.naming import DEFAULT_PREFIX
from ostium.agent.settings import AgentSettings
from ostium.agent.tls import CertReloader

LOG = logging.getLogger(__name__)
DEFAULT_BIND = "127.0.0.1:9443"
DEFAULT_STATE_DIR = "/var/lib/ostium/agent"
PR_SET_PDEATHSIG = 1
KEEPALIVE_SECONDS = 75
"""Idle seconds before the agent closes a controller's connection: longer than the
client's own expiry (`agent_client.KEEPALIVE_SECONDS`), so the client closes first."""


def _split_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ostium-agent", description="ostium amphora agent")
    p.add_argument("--bind", default=DEFAULT_BIND, help="HOST:PORT (default %(default)s)")
    p.add_argument("--cert", help="server certificate (PEM; default: from an earlier --join)")
    p.add_argument("--key", help="server private key (PEM; default: from an earlier --join)")
    p.add_argument("--ca", help="CA that signs accepted client certificates (idem)")
    join_options(p)
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR)
    p.add_argument("--name-prefix", default=DEFAULT_PREFIX, help="namespace/veth prefix")
    p.add_argument("--haproxy-bin", default=AgentSettings.haproxy_bin)
    p.add_argument("--respawn-count", type=int, default=AgentSettings.respawn_count)
    p.add_argument("--respawn-interval", type=float, default=AgentSettings.respawn_interval)
    p.add_argument("--log-level", default="INFO")
    p.add_argument(
        "--controller-ip-port-list",
        default="",
        help="health managers to send heartbeats to: ip:port[,ip:port...]",
    )
    p.add_argument(
        "--heartbeat-interval", type=float, default=HeartbeatSettings.interval, help="seconds"
    )
    p.add_argument(
        "--tenant-log-targets",
        default="",
        help="where access logs go (syslog over UDP): host:port[,host:port...]; "
        "none: haproxy logs nothing",
    )
    p.add_argument("--user-log-facility", type=int, default=0, choices=range(8))
    p.add_argument("--log-socket-dir", help=argparse.SUPPRESS)  # before UDP; ignored
    p.add_argument(
        "--heartbeat-key-file",
        help="file holding the heartbeat HMAC key (a file, not an argument, so "
        "the key does not show in the process list)",
    )
    return p


def _heartbeat_settings(args: argparse.Namespace) -> HeartbeatSettings | None:
    targets = parse_targets(args.controller_ip_port_list)
    if not targets:
        return None
    if not args.heartbeat_key_file:
        raise SystemExit("--controller-ip-port-list needs --heartbeat-key-file")
    key = Path(args.heartbeat_key_file).read_bytes().strip()
    if not key:
        raise SystemExit(f"heartbeat key file {args.heartbeat_key_file} is empty")
    return HeartbeatSettings(targets=targets, key=key, interval=args.heartbeat_interval)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not credentials(args):
        return 2
    heartbeats = _heartbeat_settings(args)
    log_targets = access_logs.parse_targets(args.tenant_log_targets)
    settings = AgentSettings(
        state_dir=Path(args.state_dir),
        name_prefix=args.name_prefix,
        haproxy_bin=args.haproxy_bin,
        respawn_count=args.respawn_count,
        respawn_interval=args.respawn_interval,
        rebuild_lost_namespaces=heartbeats is None,
        access_logs=bool(log_targets),
        user_log_facility=args.user_log_facility,
    )
    manager = AmphoraManager(settings)
    manager.start()
    forwarder = None
    if settings.access_logs:
        registry = manager.registry
        forwarder = access_logs.AccessLogForwarder(
            log_targets, lambda: [(a.amphora_id, a.names.namespace) for a in registry.all()]
        )
        forwarder.start()
        fwd = forwarder
        manager.before_apply.append(
            lambda amp_id: fwd.ensure(amp_id, registry.find(amp_id).names.namespace)
        )
    sender = None
    if heartbeats is not None:
        sequence = SequenceSource(Path(args.state_dir) / "heartbeat.seq")
        sender = HeartbeatSender(manager, heartbeats, sequence)
        sender.start()
    # After the hooks (a reload needs its access-log socket) and the heartbeats (after an
    # upgrade every amphora may reload, one by one: no amphora may go silent meanwhile).
    threading.Thread(target=manager.refresh, name="refresh", daemon=True).start()
    host, port = _split_bind(args.bind)
    config = uvicorn.Config(
        create_app(manager),
        host=host,
        port=port,
        ssl_certfile=args.cert,
        ssl_keyfile=args.key,
        ssl_ca_certs=args.ca,
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        log_level=args.log_level.lower(),
        access_log=False,
        timeout_keep_alive=KEEPALIVE_SECONDS,
    )
    config.load()  # builds the SSLContext now, so rotated certificates can reach it
    assert config.ssl is not None
    reloader = CertReloader(config.ssl, Path(args.cert), Path(args.key))
    reloader.start()
    try:
        uvicorn.Server(config).run()
    finally:
        reloader.stop()
        if sender is not None:
            sender.stop()
        if forwarder is not None:
            forwarder.stop()
        manager.close()
    return 0


@dataclass
class AgentProcess:
    """Handle on an agent child process."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path | None

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL. haproxy processes keep running (by design)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_agent_subprocess(
    *,
    cert: Path,
    key: Path,
    ca: Path,
    state_dir: Path,
    bind: str = DEFAULT_BIND,
    name_prefix: str = DEFAULT_PREFIX,
    log_path: Path | None = None,
    extra_args: list[str] | None = None,
    ready_timeout: float = 15.0,
    inherit_output: bool = False,
) -> AgentProcess:
    """Start `python -m ostium.agent.main ...`; return once its TLS port accepts.

    The agent gets SIGTERM when the thread that started it dies, however it dies (a
    worker killed with SIGKILL must not leave an orphan agent holding the port and the
    state dir). Its haproxy processes keep serving either way.
    """
    host, port = _split_bind(bind)
    deadline = time.monotonic() + ready_timeout
    while _listening(host, port):  # e.g. the agent of a crashed parent, still stopping
        if time.monotonic() > deadline:
            raise RuntimeError(f"something already listens on {bind}: another agent?")
        time.sleep(0.1)
    argv = [
        sys.executable,
        "-m",
        "ostium.agent.main",
        "--bind",
        bind,
        "--cert",
        str(cert),
        "--key",
        str(key),
        "--ca",
        str(ca),
        "--state-dir",
        str(state_dir),
        "--name-prefix",
        name_prefix,
        *(extra_args or []),
    ]
    out: Any = log_path.open("ab") if log_path is not None else subprocess.DEVNULL
    if inherit_output:  # the caller's stderr: one stream for a process and its agent
        out = None
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            preexec_fn=_die_with_parent(os.getpid()),
        )
    finally:
        if hasattr(out, "close"):
            out.close()
    handle = AgentProcess(proc, f"https://{host}:{port}", log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"agent exited with {proc.returncode} (log: {log_path})")
        if _listening(host, port):
            return handle
        time.sleep(0.1)
    handle.stop()
    raise RuntimeError(f"agent did not listen on {bind} within {ready_timeout}s")


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A `preexec_fn`: SIGTERM this child when its parent dies (Linux prctl)."""

    def hook() -> None:
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)

    return hook


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
