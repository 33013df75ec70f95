"""Demo backends, a development and demo tool: a bridge and N namespaces, each running
a tiny HTTP server. Not part of the load balancer: no runtime package imports it.

Role: give a fresh machine something to load-balance (`ostium demo-backends`), and give
the e2e tests and benchmarks their backend servers. Each backend answers every request
with its name (and a few test helpers: `/slow?s=N`, `/status/<code>`, `/setcookie`,
`/headers`). Callers: the `ostium` CLI (`main(argv)`), `python -m
ostium.devtools.demo_backends`, tests/e2e, bench.

Only addresses inside 198.18.0.0/15 (reserved for benchmarking) are accepted, the bridge
gets no route to anything else, and `DemoNetwork.destroy()` removes every namespace,
veth and process it made, and the bridge it made unless another port (an amphora's) is
still in it. The command line is `demo_cli`. Nothing here talks to the control plane or
the agent.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ALLOWED = ipaddress.ip_network("198.18.0.0/15")


def _ip(*argv: str, check: bool = True) -> None:
    subprocess.run(["ip", *argv], check=check, capture_output=True)


# --------------------------------------------------------------------------- server


def _handler(name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _reply(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Backend", name)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            if url.path == "/slow":
                time.sleep(float(query.get("s", ["1"])[0]))
            if url.path.startswith("/status/"):
                self._reply(int(url.path.rsplit("/", 1)[1]), f"{name}\n".encode())
                return
            if url.path == "/setcookie":
                self._reply(200, f"{name}\n".encode(), {"Set-Cookie": f"JSESSIONID={name}"})
                return
            if url.path == "/headers":
                self._reply(200, json.dumps(dict(self.headers.items())).encode())
                return
            self._reply(200, f"{name}\n".encode())

        do_HEAD = do_GET
        do_POST = do_GET

    return Handler


def serve(
    name: str,
    host: str,
    port: int,
    tls_cert: str | None = None,
    tls_client_ca: str | None = None,
) -> None:
    """Serve forever (run inside the backend's namespace). With `tls_cert` (certificate
    and key in one PEM file) it serves HTTPS; with `tls_client_ca` too it requires a
    client certificate signed by that CA (a member that checks who re-encrypts to it)."""
    server = ThreadingHTTPServer((host, port), _handler(name))
    server.daemon_threads = True
    if tls_cert:
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls_cert)
        if tls_client_ca:
            ctx.load_verify_locations(tls_client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


# --------------------------------------------------------------------------- network


@dataclass
class Backend:
    name: str
    namespace: str
    address: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "address": self.address,
            "port": self.port,
        }


@dataclass
class DemoNetwork:
    """A bridge with a host address and backend namespaces hanging off it."""

    bridge: str
    cidr: str
    prefix: str = "ostium-d"
    host_address: bool = True
    backends: list[Backend] = field(default_factory=list)
    created_bridge: bool = False
    """Whether `create_bridge` made the bridge (only then may `destroy` remove it)."""

    def __post_init__(self) -> None:
        net = ipaddress.ip_network(self.cidr, strict=False)
        if not net.subnet_of(ALLOWED):  # type: ignore[arg-type]
            raise ValueError(f"network {self.cidr} is outside {ALLOWED}")
        if len(self.bridge) > 15 or len(self.prefix) > 9:
            raise ValueError("bridge name must be <= 15 chars and prefix <= 9")
        self.network = net

    def _host(self, index: int) -> str:
        return str(list(self.network.hosts())[index])

    def create_bridge(self) -> None:
        """The bridge (made if missing, and then removed by `destroy` once empty)."""
        if not Path("/sys/class/net", self.bridge).exists():
            _ip("link", "add", "name", self.bridge, "type", "bridge")
            self.created_bridge = True
        if self.host_address:
            _ip("addr", "replace", f"{self._host(0)}/{self.network.prefixlen}", "dev", self.bridge)
        _ip("link", "set", "dev", self.bridge, "up")

    def add_backend(self, index: int, port: int = 8080, name: str | None = None) -> Backend:
        """Backend number `index` (>= 1) at the `index + 10`-th host address."""
        ns = f"{self.prefix}{index}"
        address = self._host(index + 9)
        host_veth, peer = f"{ns}h", f"{ns}p"
        if Path("/run/netns", ns).exists():
            raise DemoError(f"namespace {ns} already exists (another demo-backends running?)")
        _ip("netns", "add", ns)
        _ip("link", "add", host_veth, "type", "veth", "peer", "name", peer)
        _ip("link", "set", "dev", peer, "netns", ns)
        _ip("link", "set", "dev", host_veth, "master", self.bridge)
        _ip("link", "set", "dev", host_veth, "up")
        _ip("netns", "exec", ns, "ip", "link", "set", "dev", "lo", "up")
        _ip(
            "netns",
            "exec",
            ns,
            "ip",
            "addr",
            "add",
            f"{address}/{self.network.prefixlen}",
            "dev",
            peer,
        )
        _ip("netns", "exec", ns, "ip", "link", "set", "dev", peer, "up")
        backend = Backend(name or ns, ns, address, port)
        self.backends.append(backend)
        self.start_backend(backend)
        return backend

    def start_backend(self, backend: Backend) -> None:
        """Start the backend's server in its namespace; return once it listens."""
        ns, address, port = backend.namespace, backend.address, backend.port
        argv = [
            "ip",
            "netns",
            "exec",
            ns,
            sys.executable,
            "-m",
            "ostium.devtools.demo_backends",
            "serve",
            "--name",
            backend.name,
            "--bind",
            address,
            "--port",
            str(port),
        ]
        backend.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_listening(ns, address, port)

    def stop_backend(self, backend: Backend) -> None:
        if backend.process is not None and backend.process.poll() is None:
            backend.process.terminate()
            try:
                backend.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                backend.process.kill()
                backend.process.wait()

    def destroy(self) -> None:
        """Remove the backends (every process in their namespaces included), and the
        bridge if this object made it and no other port is left in it: a bridge that a
        load balancer still uses is never deleted."""
        for backend in self.backends:
            self.stop_backend(backend)
            kill_namespace(backend.namespace)
            _ip("link", "del", f"{backend.namespace}h", check=False)
        self.backends.clear()
        ports = Path("/sys/class/net", self.bridge, "brif")
        if self.created_bridge and ports.is_dir() and not any(ports.iterdir()):
            _ip("link", "del", self.bridge, check=False)


class DemoError(Exception):
    """Something the user can fix: printed as one line, never a traceback."""


def kill_namespace(namespace: str) -> None:
    """Kill every process in `namespace`, then delete it."""
    pids = subprocess.run(
        ["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False
    ).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    _ip("netns", "del", namespace, check=False)


def _wait_listening(namespace: str, address: str, port: int, timeout: float = 10.0) -> None:
    probe = (
        "import socket,sys\n"
        "s=socket.socket(); s.settimeout(0.3)\n"
        f"sys.exit(s.connect_ex(({address!r}, {port})))\n"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rc = subprocess.run(
            ["ip", "netns", "exec", namespace, sys.executable, "-c", probe], capture_output=True
        ).returncode
        if rc == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"backend {address}:{port} in {namespace} did not start")


# --------------------------------------------------------------------------- CLI


def main(argv: list[str]) -> int:
    from ostium.devtools.demo_cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
