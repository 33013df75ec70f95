"""TLS benchmark for ostium: TERMINATED_HTTPS through the VIP vs a hand-written haproxy.

Needs root (namespaces, bridges, haproxy), `wrk` and `openssl`. Starts its own `ostium
serve` (SQLite, fresh state directory /tmp/ostc-*, free ports) on two networks of its
own: VIP `ostc-vip0` 198.19.36.0/24 (host side 198.19.36.1) and members `ostc-back0`
198.19.37.0/24, with two haproxy responders `ostc-a1..2` (198.19.37.11-12:8080, plain
HTTP, `http-request return`). For each key type (ECDSA P-256, RSA 2048) it makes a
certificate, stores it as a PKCS12 secret through the key-manager API (`/v1/secrets`)
and creates one load balancer with a TERMINATED_HTTPS listener on 443 (Octavia's default
ciphers, versions and ALPN) and a pool of both responders. The reference is a minimal
hand-written haproxy (`bind ... ssl crt <same PEM>`, same responders) in namespace
`ostc-ref` on the same two bridges. Measured in the same run, rounds interleaved (the
first target alternates), medians:

* new TLS connections per second (full handshakes, no session resumption):
  `openssl s_time -new` against each target (connections / real seconds);
* keep-alive requests per second over TLS: `wrk -t2 -c32` with `https://`;
* each as the ratio ostium / reference (target >= 0.95);
* listener create -> first HTTPS success: POST a TERMINATED_HTTPS listener on an ACTIVE
  load balancer, then handshake + GET through the VIP every 5 ms until a 200 (target
  < 0.5 s), N runs, the listener deleted between runs.

Prints ONE JSON document on stdout (progress on stderr). Everything it creates is
removed at the end, also on failure, Ctrl-C or SIGTERM.

    .venv/bin/python bench/tls.py [--quick] [--rounds N] [--seconds S] [--runs N]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import Terminated, free_port, responder_lines, sh
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parent.parent
PREFIX = "ostc"
VIP_BRIDGE, VIP_NET = "ostc-vip0", "198.19.36"
BACK_BRIDGE, BACK_NET = "ostc-back0", "198.19.37"
REF_NS, REF_VIP, REF_BACK = "ostc-ref", "198.19.36.250", "198.19.37.250"
HOST = "bench.example.test"
BACKENDS = 2


def log(msg: str) -> None:
    print(f"[tls {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def certificate(kind: str) -> tuple[bytes, bytes]:
    """A self-signed server certificate: (PEM of certificate + key, PKCS12 DER)."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    key = (
        ec.generate_private_key(ec.SECP256R1())
        if kind == "ecdsa"
        else (rsa.generate_private_key(public_exponent=65537, key_size=2048))
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = time.time()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.fromtimestamp(now - 3600, dt.UTC))
        .not_valid_after(dt.datetime.fromtimestamp(now + 86400, dt.UTC))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    p12 = pkcs12.serialize_key_and_certificates(None, key, cert, None, serialization.NoEncryption())
    return pem, p12


def handshakes_per_s(host: str, seconds: int) -> float:
    out = sh(
        "openssl", "s_time", "-connect", f"{host}:443", "-new", "-time", str(seconds), check=False
    ).stdout
    m = re.search(r"(\d+) connections in ([\d.]+) real seconds", out)
    if not m:
        raise RuntimeError(f"cannot parse openssl s_time output: {out[-300:]!r}")
    return int(m.group(1)) / float(m.group(2))


def keepalive_rps(host: str, seconds: int) -> float:
    out = sh("wrk", "-t2", "-c32", f"-d{seconds}s", f"https://{host}/", check=False).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Socket errors: .*|Non-2xx or 3xx responses: \d+", out)
    if errors:
        log(f"warning: {host}: {errors.group(0)}")
    if not m:
        raise RuntimeError(f"cannot parse wrk output: {out[-300:]!r}")
    return float(m.group(1))


def https_ok(vip: str) -> bool:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        raw = socket.create_connection((vip, 443), timeout=0.5)
        with raw, ctx.wrap_socket(raw, server_hostname=HOST) as tls:
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
            return tls.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class Bench:
    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="ostc-", dir="/tmp"))
        self.api_port = free_port()
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.api_port}", timeout=60)
        self.serve: subprocess.Popen[bytes] | None = None
        self.lbs: list[str] = []
        self.subnet_id = ""
        self.access_log = True
        """False: `[haproxy_amphora] connection_logging = false` (`--no-access-log`)."""

    def veth(self, ns: str, host: str, peer: str, bridge: str, cidr: str) -> None:
        sh("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
        sh("ip", "link", "set", peer, "netns", ns)
        sh("ip", "link", "set", host, "master", bridge, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", cidr, "dev", peer)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", peer, "up")

    def haproxy(self, ns: str, name: str, lines: list[str]) -> None:
        cfg = self.workdir / f"{name}.cfg"
        cfg.write_text("\n".join(lines) + "\n")
        pid = str(self.workdir / f"{name}.pid")
        sh("ip", "netns", "exec", ns, "haproxy", "-D", "-p", pid, "-f", str(cfg))

    def start_backends(self) -> None:
        for bridge in (VIP_BRIDGE, BACK_BRIDGE):
            if Path("/sys/class/net", bridge).exists():
                raise RuntimeError(f"{bridge} already exists: another bench running?")
        sh("ip", "link", "add", "name", BACK_BRIDGE, "type", "bridge")
        sh("ip", "link", "set", BACK_BRIDGE, "up")
        for i in range(1, BACKENDS + 1):
            ns, addr = f"ostc-a{i}", f"{BACK_NET}.{10 + i}"
            sh("ip", "netns", "add", ns)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            self.veth(ns, f"{ns}h", f"{ns}p", BACK_BRIDGE, f"{addr}/24")
            self.haproxy(
                ns,
                ns,
                responder_lines(ns, addr),
            )

    def start_ostium(self) -> None:
        ini = self.workdir / "ostium.ini"
        ini.write_text(
            "\n".join(
                [
                    "[networking]",
                    "default_networks = false",
                    "[network:ostc-vip]",
                    f"cidr = {VIP_NET}.0/24",
                    f"bridge = {VIP_BRIDGE}",
                    "subnet_name = ostc-vip-subnet",
                    "[network:ostc-back]",
                    f"cidr = {BACK_NET}.0/24",
                    f"bridge = {BACK_BRIDGE}",
                    "subnet_name = ostc-back-subnet",
                    "[haproxy_amphora]",
                    f"bind_port = {free_port()}",
                    f"name_prefix = {PREFIX}",
                    f"connection_logging = {str(self.access_log).lower()}",
                    "[health_manager]",
                    f"bind_port = {free_port(socket.SOCK_DGRAM)}",
                    "",
                ]
            )
        )
        out = (self.workdir / "serve.log").open("ab")
        try:
            self.serve = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ostium",
                    "serve",
                    "--state-dir",
                    str(self.workdir / "state"),
                    "--config-file",
                    str(ini),
                    "--bind",
                    f"127.0.0.1:{self.api_port}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                cwd=REPO,
                start_new_session=True,
            )
        finally:
            out.close()
        deadline = time.monotonic() + 60
        while True:
            if self.serve.poll() is not None:
                raise RuntimeError(f"ostium serve exited; see {self.workdir}/serve.log")
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get("/").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("ostium serve did not answer within 60 s")
            time.sleep(0.1)
        r = self.http.get("/v2.0/subnets", params={"name": "ostc-vip-subnet"})
        self.subnet_id = r.json()["subnets"][0]["id"]

    def start_reference(self, pem_path: Path) -> None:
        """The hand-written minimal haproxy with the same certificate."""
        if not Path("/var/run/netns", REF_NS).exists():
            sh("ip", "netns", "add", REF_NS)
            sh("ip", "netns", "exec", REF_NS, "ip", "link", "set", "lo", "up")
            self.veth(REF_NS, "ostc-refvh", "ostc-refvp", VIP_BRIDGE, f"{REF_VIP}/24")
            self.veth(REF_NS, "ostc-refbh", "ostc-refbp", BACK_BRIDGE, f"{REF_BACK}/24")
        self.stop_pidfile("reference")
        self.haproxy(
            REF_NS,
            "reference",
            [
                "global",
                "    maxconn 9000",
                "defaults",
                "    mode http",
                "    timeout client 50s",
                "    timeout server 50s",
                "    timeout connect 5s",
                "frontend fe",
                f"    bind {REF_VIP}:443 ssl crt {pem_path}",
                "    default_backend be",
                "backend be",
                "    balance roundrobin",
                *(f"    server a{i} {BACK_NET}.{10 + i}:8080" for i in range(1, BACKENDS + 1)),
            ],
        )

    def stop_pidfile(self, name: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            for pid in (self.workdir / f"{name}.pid").read_text().split():
                os.kill(int(pid), signal.SIGTERM)
        time.sleep(0.2)

    def wait_active(self, lb_id: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            r = self.http.get(f"/v2/lbaas/loadbalancers/{lb_id}")
            status = r.json()["loadbalancer"]["provisioning_status"]
            if status == "ACTIVE":
                return
            if status == "ERROR" or time.monotonic() > deadline:
                raise RuntimeError(f"load balancer {lb_id}: {status}")
            time.sleep(0.005)

    def post(self, path: str, root: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(path, json={root: body})
        if r.status_code != 201:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text}")
        return dict(r.json()[root])

    def store(self, p12: bytes) -> str:
        body = {
            "payload": base64.b64encode(p12).decode(),
            "payload_content_type": "application/octet-stream",
            "payload_content_encoding": "base64",
        }
        r = self.http.post("/v1/secrets", json=body)
        if r.status_code != 201:
            raise RuntimeError(f"secret store: {r.status_code} {r.text}")
        return str(r.json()["secret_ref"])

    def tls_lb(self, ref: str | None) -> dict[str, Any]:
        members = [
            {"address": f"{BACK_NET}.{10 + i}", "protocol_port": 8080}
            for i in range(1, BACKENDS + 1)
        ]
        pool = {"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": members}
        body: dict[str, Any] = {"vip_subnet_id": self.subnet_id, "pools": [pool]}
        if ref:
            body["listeners"] = [
                {
                    "protocol": "TERMINATED_HTTPS",
                    "protocol_port": 443,
                    "default_pool": {"name": "p"},
                    "default_tls_container_ref": ref,
                }
            ]
        lb = self.post("/v2/lbaas/loadbalancers", "loadbalancer", body)
        self.lbs.append(lb["id"])
        self.wait_active(lb["id"])
        return lb

    def throughput(self, vip: str, rounds: int, seconds: int) -> dict[str, Any]:
        hs: dict[str, list[float]] = {"ostium": [], "reference": []}
        ka: dict[str, list[float]] = {"ostium": [], "reference": []}
        targets = [("ostium", vip), ("reference", REF_VIP)]
        for i in range(rounds):
            # alternate who goes first, so a load change on the machine favours neither
            for target, host in targets if i % 2 == 0 else targets[::-1]:
                hs[target].append(handshakes_per_s(host, seconds))
                ka[target].append(keepalive_rps(host, seconds))
        med = {
            k: {t: statistics.median(v) for t, v in d.items()}
            for k, d in (("handshakes", hs), ("keepalive", ka))
        }
        return {
            "new_tls_connections_per_s": {
                **{t: round(v) for t, v in med["handshakes"].items()},
                "ratio": round(med["handshakes"]["ostium"] / med["handshakes"]["reference"], 3),
            },
            "keepalive_requests_per_s": {
                **{t: round(v) for t, v in med["keepalive"].items()},
                "ratio": round(med["keepalive"]["ostium"] / med["keepalive"]["reference"], 3),
            },
            "samples": {"handshakes": hs, "keepalive": ka},
        }

    def listener_to_first_https(self, ref: str, runs: int) -> dict[str, Any]:
        lb = self.tls_lb(None)
        pool = self.http.get("/v2/lbaas/pools", params={"loadbalancer_id": lb["id"]}).json()
        pool_id = pool["pools"][0]["id"]
        times = []
        for _ in range(runs):
            started = time.monotonic()
            li = self.post(
                "/v2/lbaas/listeners",
                "listener",
                {
                    "loadbalancer_id": lb["id"],
                    "protocol": "TERMINATED_HTTPS",
                    "protocol_port": 443,
                    "default_pool_id": pool_id,
                    "default_tls_container_ref": ref,
                },
            )
            while not https_ok(lb["vip_address"]):
                if time.monotonic() - started > 30:
                    raise RuntimeError("no HTTPS answer within 30 s")
                time.sleep(0.005)
            times.append(time.monotonic() - started)
            self.wait_active(lb["id"])
            self.http.delete(f"/v2/lbaas/listeners/{li['id']}")
            self.wait_active(lb["id"])
        return {
            "runs": runs,
            "p50_s": round(statistics.median(times), 3),
            "max_s": round(max(times), 3),
            "samples_s": [round(t, 3) for t in times],
        }

    def cleanup(self) -> list[str]:
        if self.serve is not None and self.serve.poll() is None:
            for lb_id in self.lbs:
                self.http.delete(f"/v2/lbaas/loadbalancers/{lb_id}", params={"cascade": "true"})
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                left = [
                    x
                    for x in self.http.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]
                    if x["provisioning_status"] != "DELETED"
                ]
                if not left:
                    break
                time.sleep(0.1)
            self.serve.send_signal(signal.SIGTERM)
            try:
                self.serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.serve.kill()
                self.serve.wait()
        self.http.close()
        for name in ("reference", *(f"ostc-a{i}" for i in range(1, BACKENDS + 1))):
            self.stop_pidfile(name)
        forced: list[str] = []
        for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
            ns = line.split()[0] if line.split() else ""
            if ns.startswith(PREFIX):
                if not ns.startswith("ostc-"):
                    forced.append(f"netns {ns}")
                for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
                sh("ip", "netns", "del", ns, check=False)
        for line in sh("ip", "-o", "link", "show", check=False).stdout.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith(PREFIX):
                if not name.startswith(("ostc-a", "ostc-ref", BACK_BRIDGE, VIP_BRIDGE)):
                    forced.append(f"link {name}")
                sh("ip", "link", "del", name, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return forced


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="one round of 3 s, 3 create runs")
    p.add_argument("--rounds", type=int, help="rounds per target and measure (default 3)")
    p.add_argument("--seconds", type=int, help="seconds per measure (default 5)")
    p.add_argument("--runs", type=int, help="listener create -> first HTTPS runs (default 10)")
    p.add_argument(
        "--no-access-log",
        action="store_true",
        help="[haproxy_amphora] connection_logging = false (the reference logs nothing)",
    )
    args = p.parse_args(argv)
    if os.geteuid() != 0 or not shutil.which("wrk"):
        print(json.dumps({"error": "needs root and wrk"}))
        return 2
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (3 if args.quick else 5)
    runs = args.runs or (3 if args.quick else 10)

    def terminate(signum: int, frame: object) -> None:
        raise Terminated(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    bench = Bench()
    bench.access_log = not args.no_access_log
    result: dict[str, Any] = {
        "benchmark": "ostium TLS termination",
        "host": {
            "cpus": os.cpu_count(),
            "load_at_start": os.getloadavg()[0],
            "haproxy": sh("haproxy", "-v", check=False).stdout.splitlines()[0],
        },
        "method": {
            "rounds": rounds,
            "seconds": seconds,
            "handshakes": "openssl s_time -new (full handshakes, one client)",
            "keepalive": "wrk -t2 -c32 https://",
            "access_log": not args.no_access_log,
        },
    }
    rc = 0
    try:
        log(f"workdir {bench.workdir}")
        bench.start_backends()
        bench.start_ostium()
        for kind in ("ecdsa", "rsa"):
            pem, p12 = certificate(kind)
            pem_path = bench.workdir / f"{kind}.pem"
            pem_path.write_bytes(pem)
            pem_path.chmod(0o600)
            ref = bench.store(p12)
            lb = bench.tls_lb(ref)
            bench.start_reference(pem_path)
            log(f"{kind}: measuring {lb['vip_address']} vs {REF_VIP}")
            result[kind] = bench.throughput(lb["vip_address"], rounds, seconds)
            if kind == "ecdsa":
                log("listener create -> first HTTPS success")
                result["listener_create_to_first_https"] = bench.listener_to_first_https(ref, runs)
        result["targets"] = {
            "ratios_ge_0.95": all(
                result[k][m]["ratio"] >= 0.95
                for k in ("ecdsa", "rsa")
                for m in ("new_tls_connections_per_s", "keepalive_requests_per_s")
            ),
            "listener_to_https_lt_0.5s": result["listener_create_to_first_https"]["p50_s"] < 0.5,
        }
    except (Exception, KeyboardInterrupt, Terminated) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        rc = 1
    finally:
        log("cleaning up")
        with contextlib.suppress(KeyboardInterrupt, Terminated):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            result["cleanup"] = {"removed_by_force": bench.cleanup()}
    result["host"]["load_at_end"] = os.getloadavg()[0]
    result["duration_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))
    return rc


if __name__ == "__main__":
    sys.exit(main())
