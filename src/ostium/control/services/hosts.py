"""Hosts: add one (a one-time enrollment token), let its agent join, list, drain, remove.

Role: the rules of `ostium host ...` and of `/v2/ostium/hosts` (admin only), and of the
enrollment an agent makes with its token (`POST /v2/ostium/hosts/enroll`, no other
credential). A join signs the agent's certificate signing request with ostium's CA
(`<state_dir>/pki`), its names and addresses as subject alternative names, and answers
with what the agent needs to serve the controllers and send them heartbeats. The token
is stored only as its SHA-256, works once, and expires (`TOKEN_LIFETIME`).

Draining a host stops placement on it and asks for a failover of each of its amphorae
(the worker builds the replacements elsewhere); removing one is refused while it still
holds amphorae. Never logs a token, a key or a certificate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ostium.control.db import models as m
from ostium.control.db.engine import Database
from ostium.control.health.manager import key_file
from ostium.control.identity.context import RequestContext, hash_token
from ostium.control.identity.policy import authorize
from ostium.control.schemas.admin import HostEnroll
from ostium.control.services import amphorae
from ostium.control.services.context import ServiceContext
from ostium.control.settings import Settings
from ostium.drivers.certificates.local_ca import LocalCA
from ostium.model.enums import AmphoraStatus, HostState
from ostium.model.errors import BadRequest, Conflict, Forbidden, NotFound
from ostium.model.ids import new_id
from ostium.model.tokens import new_secret

LOG = logging.getLogger("ostium.hosts")
TOKEN_LIFETIME = dt.timedelta(hours=24)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DNS_NAME = re.compile(rf"^(?=.{{1,253}}$){LABEL}(\.{LABEL})*$")
MAX_SANS = 16
GONE = (AmphoraStatus.DELETED,)


def _check_name(name: str) -> str:
    if not NAME.match(name):
        raise BadRequest(f"Invalid host name {name!r}: 1-63 of [A-Za-z0-9_.-].")
    return name


def _check_networks(settings: Settings, names: list[str]) -> str:
    known = {n.name for n in settings.networks}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BadRequest(f"Unknown network(s) {', '.join(unknown)}: not declared in the config.")
    return ",".join(dict.fromkeys(names))


def add(
    db: Database,
    settings: Settings,
    name: str,
    *,
    zone: str | None = None,
    capacity: int = 1000,
    networks: list[str] | None = None,
) -> tuple[dict[str, Any], str]:
    """A new ENROLLING host and its one-time enrollment token (returned, never stored)."""
    _check_name(name)
    if not 1 <= capacity <= 100000:
        raise BadRequest(f"Invalid capacity {capacity}: 1-100000 amphorae.")
    token = new_secret(32)
    row = m.Host(
        id=new_id(),
        name=name,
        zone=zone,
        capacity=capacity,
        networks=_check_networks(settings, networks or [n.name for n in settings.networks]),
        state=HostState.ENROLLING,
        token_hash=hash_token(token),
        token_expires_at=m.utcnow() + TOKEN_LIFETIME,
    )
    try:
        with db.write() as session:
            session.add(row)
            session.flush()
            view = _view(row, 0)
    except IntegrityError:
        raise Conflict(f"A host named {name} already exists.") from None
    LOG.info("host %s added (%s); waiting for its agent to join", name, row.id[:8])
    return view, token


def _view(row: m.Host, amphora_count: int) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "agent_url": row.agent_url,
        "networks": [n for n in row.networks.split(",") if n],
        "capacity": row.capacity,
        "zone": row.zone,
        "state": row.state,
        "amphorae": amphora_count,
        "last_seen": row.last_seen.isoformat() if row.last_seen else None,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def _counts(session: Any) -> dict[str, int]:
    rows = session.execute(
        select(m.Amphora.host, func.count())
        .where(m.Amphora.status.not_in(GONE), m.Amphora.host.is_not(None))
        .group_by(m.Amphora.host)
    )
    return {str(url): int(n) for url, n in rows}


def listing(db: Database) -> list[dict[str, Any]]:
    with db.read() as session:
        counts = _counts(session)
        rows = session.scalars(select(m.Host).order_by(m.Host.name)).all()
        return [_view(r, counts.get(r.agent_url or "", 0)) for r in rows]


def _find(session: Any, ref: str) -> m.Host:
    row = session.get(m.Host, ref) or session.scalar(select(m.Host).where(m.Host.name == ref))
    if row is None:
        raise NotFound(f"Host {ref} not found.")
    return row  # type: ignore[no-any-return]


def set_state(svc: ServiceContext, ctx: RequestContext, ref: str, state: str) -> dict[str, Any]:
    """ACTIVE or DRAINING (the other states are the system's to set)."""
    authorize(ctx, "admin")
    if state not in (HostState.ACTIVE, HostState.DRAINING):
        raise BadRequest(f"Invalid host state {state!r}: ACTIVE or DRAINING.")
    with svc.db.write() as session:
        row = _find(session, ref)
        if row.state == HostState.ENROLLING:
            raise Conflict(f"Host {row.name} has not joined yet.")
        row.state = HostState(state)
        row.updated_at = m.utcnow()
        url = row.agent_url
        name = row.name
        amp_ids = list(
            session.scalars(
                select(m.Amphora.id).where(m.Amphora.host == url, m.Amphora.status.not_in(GONE))
            )
        )
    if state == HostState.DRAINING:
        LOG.info("host %s draining: failing over %d amphorae", name, len(amp_ids))
        for amp_id in amp_ids:
            # A busy load balancer (409) is left: draining again asks again.
            with contextlib.suppress(Conflict):
                amphorae.amphora_failover(svc, ctx, amp_id)
    return show(svc, ctx, ref)


def show(svc: ServiceContext, ctx: RequestContext, ref: str) -> dict[str, Any]:
    authorize(ctx, "admin")
    with svc.db.read() as session:
        row = _find(session, ref)
        return _view(row, _counts(session).get(row.agent_url or "", 0))


def remove(db: Database, ref: str) -> None:
    with db.write() as session:
        row = _find(session, ref)
        count = _counts(session).get(row.agent_url or "", 0)
        if count:
            raise Conflict(f"Host {row.name} still holds {count} amphorae: drain it first.")
        session.delete(row)
    LOG.info("host %s removed", ref)


# --------------------------------------------------------------------------- enrollment


def _sans(body: HostEnroll) -> tuple[list[str], list[str]]:
    names, addresses = list(body.names), list(body.addresses)
    if len(names) + len(addresses) > MAX_SANS:
        raise BadRequest(f"Too many names and addresses (at most {MAX_SANS}).")
    for n in names:
        if not DNS_NAME.match(n):
            raise BadRequest(f"Invalid host name {n!r} for the certificate.")
    try:
        addresses = [str(ipaddress.ip_address(a)) for a in addresses]
    except ValueError:
        raise BadRequest("Invalid address for the certificate.") from None
    return names, addresses


def _agent_url(value: object) -> str:
    url = str(value or "")
    m_ = re.match(r"^https://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$", url)
    if not m_ or not 1 <= int(m_.group(2)) <= 65535:
        raise BadRequest("Invalid agent_url: https://HOST:PORT expected.")
    return url


def enroll(settings: Settings, db: Database, body: HostEnroll) -> dict[str, Any]:
    """Join a host: its token (once), its CSR signed, its row ACTIVE. The answer holds
    the heartbeat key: callers serve it over HTTPS (or loopback) only."""
    token = body.token
    names, addresses = _sans(body)
    url = _agent_url(body.agent_url)
    csr = body.csr.encode()
    with db.write() as session:
        row = session.scalar(select(m.Host).where(m.Host.token_hash == hash_token(token)))
        expired = row is not None and (row.token_expires_at or m.utcnow()) < m.utcnow()
        if row is None or row.state != HostState.ENROLLING or expired:
            raise Forbidden("A valid enrollment token is required.")
        ca = LocalCA(settings.state_dir / "pki")
        try:
            cert = ca.sign_request(
                csr,
                common_name=row.name,
                dns_names=[row.name.lower(), *names] if DNS_NAME.match(row.name) else names,
                ip_addresses=addresses,
                validity=dt.timedelta(days=settings.haproxy.cert_validity_days),
            )
        except ValueError as exc:
            raise BadRequest(f"Invalid csr: {exc}") from None
        if body.capacity is not None:
            row.capacity = body.capacity
        if body.networks is not None:
            row.networks = _check_networks(settings, body.networks)
        row.agent_url = url
        row.state = HostState.ACTIVE
        row.token_hash = None
        row.token_expires_at = None
        row.last_seen = m.utcnow()
        row.updated_at = m.utcnow()
        name = row.name
    LOG.info("host %s joined (agent %s)", name, url)
    return {
        "host": name,
        "certificate": cert.decode(),
        "ca": ca.cert_path.read_text(),
        "controller_ip_port_list": settings.health.targets(),
        "heartbeat_key": key_file(settings).read_text().strip(),
        "heartbeat_interval": settings.health.heartbeat_interval,
    }
