"""Agent entry point: parse options, build the manager, serve the API over mutual TLS.

Role: `main(argv)` runs an agent in the foreground (uvicorn, HTTPS, client certificate
required and verified against `--ca`); `start_agent_subprocess(...)` runs one as a child
process for the all-in-one `ostium serve` and tests, returning a handle to stop it.
Settings are parsed here once and passed down; nothing reads configuration at import.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from ostium.agent.app import create_app
from ostium.agent.manager import AgentSettings, AmphoraManager
from ostium.agent.naming import DEFAULT_PREFIX

LOG = logging.getLogger(__name__)
DEFAULT_BIND = "127.0.0.1:9443"
DEFAULT_STATE_DIR = "/var/lib/ostium/agent"


def _split_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ostium-agent", description="ostium amphora agent")
    p.add_argument("--bind", default=DEFAULT_BIND, help="HOST:PORT (default %(default)s)")
    p.add_argument("--cert", required=True, help="server certificate (PEM)")
    p.add_argument("--key", required=True, help="server private key (PEM)")
    p.add_argument("--ca", required=True, help="CA that signs accepted client certificates")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR)
    p.add_argument("--name-prefix", default=DEFAULT_PREFIX, help="namespace/veth prefix")
    p.add_argument("--haproxy-bin", default="haproxy")
    p.add_argument("--respawn-count", type=int, default=3)
    p.add_argument("--respawn-interval", type=float, default=2.0)
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = AgentSettings(
        state_dir=Path(args.state_dir),
        name_prefix=args.name_prefix,
        haproxy_bin=args.haproxy_bin,
        respawn_count=args.respawn_count,
        respawn_interval=args.respawn_interval,
    )
    manager = AmphoraManager(settings)
    manager.start()
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
    )
    try:
        uvicorn.Server(config).run()
    finally:
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
) -> AgentProcess:
    """Start `python -m ostium.agent.main ...`; return once its TLS port accepts."""
    argv = [
        sys.executable, "-m", "ostium.agent.main",
        "--bind", bind, "--cert", str(cert), "--key", str(key), "--ca", str(ca),
        "--state-dir", str(state_dir), "--name-prefix", name_prefix,
        *(extra_args or []),
    ]  # fmt: skip
    out = log_path.open("ab") if log_path is not None else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    finally:
        if log_path is not None and not isinstance(out, int):
            out.close()
    host, port = _split_bind(bind)
    handle = AgentProcess(proc, f"https://{host}:{port}", log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"agent exited with {proc.returncode} (log: {log_path})")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return handle
        except OSError:
            time.sleep(0.1)
    handle.stop()
    raise RuntimeError(f"agent did not listen on {bind} within {ready_timeout}s")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
