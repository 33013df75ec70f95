"""Join a controller with a one-time enrollment token (`ostium agent --join URL --token T`).

Role: on a new host, make a private key (it never leaves the host), ask ostium's API to
sign a certificate for it (`POST /v2/ostium/hosts/enroll`, the host's names and
addresses as subject alternative names) and keep what the answer holds in the agent's
state directory: `pki/agent.key` (0600), `pki/agent.pem`, `pki/ca.pem`,
`heartbeat.key` (0600) and `joined.json` (the controllers to send heartbeats to; no
secret). An agent started later with the same state directory uses them without
`--cert/--key/--ca`. Callers: `main`.

The answer carries the heartbeat key, so the join URL must be HTTPS, or plain HTTP to a
loopback address (the controller on the same machine). The token is never logged.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DNS_NAME = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class JoinRefused(Exception):
    """The join did not happen; the message says why (never the token)."""


@dataclass(frozen=True)
class Enrolled:
    """Where an enrolled agent's credentials are, and whom to send heartbeats."""

    cert: Path
    key: Path
    ca: Path
    heartbeat_key: Path
    controller_ip_port_list: str
    heartbeat_interval: float

    @classmethod
    def load(cls, state_dir: Path) -> Enrolled | None:
        """What an earlier join left in `state_dir` (None if it never joined)."""
        pki = state_dir / "pki"
        try:
            joined = json.loads((state_dir / "joined.json").read_text())
        except (OSError, ValueError):
            return None
        return cls(
            cert=pki / "agent.pem",
            key=pki / "agent.key",
            ca=pki / "ca.pem",
            heartbeat_key=state_dir / "heartbeat.key",
            controller_ip_port_list=str(joined["controller_ip_port_list"]),
            heartbeat_interval=float(joined["heartbeat_interval"]),
        )


def _write(path: Path, data: str, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def check_join_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return url.rstrip("/")
    host = parts.hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if parts.scheme == "http" and loopback:
        return url.rstrip("/")
    raise JoinRefused(
        f"join URL {url!r}: use https:// (the answer holds the heartbeat key); plain "
        "http:// only to a loopback address"
    )


def host_identity(bind_host: str, extra: list[str]) -> tuple[list[str], list[str]]:
    """The names and addresses to put in the certificate: the host's names, the address
    it binds (unless a wildcard) and any the operator added."""
    names = [socket.gethostname(), socket.getfqdn()]
    addresses: list[str] = []
    for value in [bind_host, *extra]:
        try:
            ip = ipaddress.ip_address(value.strip("[]"))
        except ValueError:
            names.append(value)
            continue
        if not ip.is_unspecified:
            addresses.append(str(ip))
    keep = [n for n in dict.fromkeys(names) if DNS_NAME.match(n) and n != "localhost"]
    return keep, list(dict.fromkeys(addresses))


def join(
    url: str,
    token: str,
    state_dir: Path,
    agent_url: str,
    names: list[str],
    addresses: list[str],
    *,
    verify: str | bool = True,
    networks: list[str] | None = None,
    capacity: int | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Enrolled:
    base = check_join_url(url)
    pki = state_dir / "pki"
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "agent")])
        )
        .sign(key, hashes.SHA256())
    )
    body: dict[str, object] = {
        "token": token,
        "csr": csr.public_bytes(serialization.Encoding.PEM).decode(),
        "agent_url": agent_url,
        "names": names,
        "addresses": addresses,
    }
    if networks:
        body["networks"] = networks
    if capacity is not None:
        body["capacity"] = capacity
    try:
        trust = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        with httpx.Client(verify=trust, timeout=30, transport=transport) as http:
            reply = http.post(f"{base}/v2/ostium/hosts/enroll", json={"enrollment": body})
    except httpx.HTTPError as exc:
        raise JoinRefused(f"cannot reach {base}: {exc}") from None
    if reply.status_code == 403:
        raise JoinRefused("the enrollment token was refused (wrong, already used or expired)")
    if reply.status_code != 201:
        raise JoinRefused(f"the join was refused: {reply.status_code} {reply.text[:300]}")
    answer = reply.json()["enrollment"]
    _write(
        pki / "agent.key",
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        private=True,
    )
    _write(pki / "agent.pem", answer["certificate"], private=False)
    _write(pki / "ca.pem", answer["ca"], private=False)
    _write(state_dir / "heartbeat.key", answer["heartbeat_key"], private=True)
    joined = {
        "host": answer["host"],
        "controller": base,
        "controller_ip_port_list": answer["controller_ip_port_list"],
        "heartbeat_interval": answer["heartbeat_interval"],
    }
    _write(state_dir / "joined.json", json.dumps(joined, indent=2), private=False)
    enrolled = Enrolled.load(state_dir)
    assert enrolled is not None
    return enrolled
