"""The backend sections of haproxy.cfg: one per (pool, listener), with its servers,
health checks and session persistence, as plain view dicts.

Role: the pool and member half of the Octavia-to-haproxy mapping. Callers: `render`
(which assembles the whole view) and `render_l7` (`backend_name`). Pure: no files, no
processes. Refusals raise `InvalidSpec` naming the offending object and value.

Each server's options are worked out once per view: the rendered line, the form the
runtime `add server` command accepts, and the "identity" that decides whether a change
can go through the runtime API (`runtime_update`) all come from the same words.

Health monitor PING: rendered as a plain TCP connect check on the member's (monitor)
port. A real ICMP check would need haproxy's `external-check` plus
`insecure-fork-wanted`, i.e. letting the load balancer process fork a shell helper per
check; we refuse to weaken every amphora for a check type the API itself can disable.
TLS-HELLO uses `option ssl-hello-chk`.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from ostium.agent import render_tls
from ostium.agent.errors import InvalidSpec
from ostium.agent.quoting import is_token, quote, quote_logformat
from ostium.model import defaults
from ostium.model.enums import (
    HealthMonitorType,
    LbAlgorithm,
    PersistenceType,
    PoolProtocol,
)
from ostium.model.spec import HealthMonitorSpec, ListenerSpec, MemberSpec, PoolSpec

STICK_SIZE = "10k"
HTTP_1_1 = 1.1
_BALANCE = {
    LbAlgorithm.ROUND_ROBIN: "roundrobin",
    LbAlgorithm.LEAST_CONNECTIONS: "leastconn",
    LbAlgorithm.SOURCE_IP: "source",
}
_EXPECTED = re.compile(r"^\s*(\d{3})\s*-\s*(\d{3})\s*$|^\s*\d{3}(\s*,\s*\d{3})*\s*$")


def backend_name(pool_id: str, listener_id: str) -> str:
    return f"{pool_id}:{listener_id}"


def address(addr: Any, port: int) -> str:
    """`ip:port`, IPv6 in brackets."""
    ip = ipaddress.ip_address(str(addr))
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def connection_limit(limit: int) -> int:
    """haproxy's maxconn for an Octavia connection_limit (-1: none set by the user)."""
    return defaults.HAPROXY_MAXCONN if limit < 0 else limit


def _seconds(value: int) -> str:
    # haproxy refuses `inter 0`: a delay of 0 seconds checks once a second.
    return f"{max(value, 1)}s"


# --------------------------------------------------------------------------- servers


def _checked(pool: PoolSpec) -> bool:
    hm = pool.healthmonitor
    return hm is not None and hm.admin_state_up


def _fixed_options(pool: PoolSpec, member: MemberSpec, tls_dir: str = "") -> list[str]:
    """A server's options that the runtime API cannot change (all but weight and state)."""
    opts: list[str] = []
    hm = pool.healthmonitor
    if hm is not None and hm.admin_state_up:
        opts.append(f"check inter {_seconds(hm.delay)} fall {hm.max_retries_down}")
        opts.append(f"rise {hm.max_retries}")
        if member.monitor_address is not None:
            opts.append(f"addr {ipaddress.ip_address(str(member.monitor_address))}")
        if member.monitor_port is not None:
            opts.append(f"port {member.monitor_port}")
        if hm.type == HealthMonitorType.HTTPS:
            opts.append("check-ssl verify none")
    persistence = pool.session_persistence
    if persistence is not None and persistence.type == PersistenceType.HTTP_COOKIE:
        opts.append(f"cookie {member.id}")
    if pool.protocol == PoolProtocol.PROXY:
        opts.append("send-proxy")
    elif pool.protocol == PoolProtocol.PROXYV2:
        opts.append("send-proxy-v2")
    if member.backup:
        opts.append("backup")
    if pool.tls is not None:
        opts += render_tls.server_options(pool.tls, Path(tls_dir))
    return opts


def _server_view(
    pool: PoolSpec, member: MemberSpec, checked: bool, tls_dir: str = ""
) -> dict[str, Any]:
    addr = address(member.address, member.protocol_port)
    fixed = _fixed_options(pool, member, tls_dir)
    # `add server` takes no `disabled`: a new dynamic server starts in maintenance anyway.
    runtime_options = " ".join([f"weight {member.weight}", *fixed])
    return {
        "name": member.id,
        "address": addr,
        "options": runtime_options if member.admin_state_up else runtime_options + " disabled",
        # For runtime updates (ignored by the template): what may change without a
        # reload (weight, enabled) and what may not (identity).
        "weight": member.weight,
        "enabled": member.admin_state_up,
        "has_check": checked,
        "runtime_options": runtime_options,
        "identity": " ".join([addr, *fixed]),
    }


# --------------------------------------------------------------------------- checks


def _expected_codes(hm: HealthMonitorSpec) -> str:
    raw = hm.expected_codes or defaults.HM_EXPECTED_CODES
    m = _EXPECTED.match(raw)
    if not m:
        raise InvalidSpec(
            f"health monitor {hm.id}: expected_codes {raw!r} is not a code, list or range"
        )
    if m.group(1):
        low, high = int(m.group(1)), int(m.group(2))
        if low > high:
            raise InvalidSpec(f"health monitor {hm.id}: expected_codes range {raw!r} is empty")
        codes = [str(c) for c in range(low, high + 1)]
    else:
        codes = [c.strip() for c in raw.split(",")]
    if len(codes) == 1:
        return f"http-check expect status {codes[0]}"
    return "http-check expect rstatus " + quote("^(" + "|".join(codes) + ")$")


def _check_lines(hm: HealthMonitorSpec) -> list[str]:
    if not hm.admin_state_up:
        return []
    lines: list[str] = []
    if hm.timeout > 0:
        lines.append(f"timeout check {hm.timeout}s")
    # A tcp-mode backend can still send an HTTP check: haproxy allows it.
    if hm.type in (HealthMonitorType.HTTP, HealthMonitorType.HTTPS):
        method = hm.http_method.value if hm.http_method is not None else defaults.HM_HTTP_METHOD
        path = hm.url_path or defaults.HM_URL_PATH
        send = f"http-check send meth {method} uri {quote(path)}"
        if hm.http_version is not None and hm.http_version >= HTTP_1_1:
            send += " ver HTTP/1.1"
            if hm.domain_name:
                send += f" hdr Host {quote_logformat(hm.domain_name)}"
        lines += ["option httpchk", send, _expected_codes(hm)]
    elif hm.type == HealthMonitorType.TLS_HELLO:
        lines.append("option ssl-hello-chk")
    elif hm.type in (HealthMonitorType.TCP, HealthMonitorType.PING):
        pass  # plain L4 connect check (PING: see module docstring)
    else:
        raise InvalidSpec(f"health monitor {hm.id}: type {hm.type.value} is not supported")
    return lines


# --------------------------------------------------------------------------- backends


def _persistence_lines(pool: PoolSpec, mode: str, peers: str | None) -> list[str]:
    sp = pool.session_persistence
    if sp is None:
        return []
    # ACTIVE_STANDBY: the pair shares its stick tables, so persistence survives a takeover.
    shared = f" peers {peers}" if peers else ""
    if sp.type == PersistenceType.SOURCE_IP:
        return [f"stick-table type ipv6 size {STICK_SIZE}{shared}", "stick on src"]
    if mode != "http":
        raise InvalidSpec(f"pool {pool.id}: session persistence {sp.type.value} needs an HTTP pool")
    if sp.type == PersistenceType.HTTP_COOKIE:
        return ["cookie SRV insert indirect nocache"]
    name = sp.cookie_name or ""
    if not is_token(name):
        raise InvalidSpec(f"pool {pool.id}: cookie_name {name!r} is not a valid cookie name")
    return [
        f"stick-table type string len 64 size {STICK_SIZE}{shared}",
        f"stick store-response res.cook({name})",
        f"stick match req.cook({name})",
    ]


def _backend_mode(pool: PoolSpec, listener: ListenerSpec, listener_mode: str) -> str:
    if pool.protocol in (PoolProtocol.UDP, PoolProtocol.SCTP):
        raise InvalidSpec(f"pool {pool.id}: protocol {pool.protocol.value} is not supported")
    if listener_mode == "http" and pool.protocol not in (
        PoolProtocol.HTTP,
        PoolProtocol.PROXY,
        PoolProtocol.PROXYV2,
    ):
        raise InvalidSpec(
            f"pool {pool.id}: protocol {pool.protocol.value} cannot serve "
            f"{listener.protocol.value} listener {listener.id}"
        )
    if pool.protocol == PoolProtocol.HTTP and listener_mode == "http":
        return "http"
    return listener_mode


def backend_view(
    pool: PoolSpec,
    listener: ListenerSpec,
    listener_mode: str,
    peers: str | None,
    tls_dir: str = "",
) -> dict[str, Any]:
    """The backend serving `pool` for `listener` (`peers`: the pair's peers section)."""
    if pool.lb_algorithm not in _BALANCE:
        raise InvalidSpec(f"pool {pool.id}: lb_algorithm {pool.lb_algorithm.value} unsupported")
    mode = _backend_mode(pool, listener, listener_mode)
    lines: list[str] = [f"balance {_BALANCE[pool.lb_algorithm]}"]
    lines += _persistence_lines(pool, mode, peers)
    # Rendered as given, 0 included: haproxy reads `timeout connect 0` as "no timeout"
    # (and warns at startup), which is what an explicit 0 asks for.
    lines.append(f"timeout connect {listener.timeout_member_connect}")
    lines.append(f"timeout server {listener.timeout_member_data}")
    if pool.healthmonitor is not None:
        lines += _check_lines(pool.healthmonitor)
        if pool.tls is not None:  # the check inherits the server's TLS: a real handshake
            lines = [ln for ln in lines if ln != "option ssl-hello-chk"]
    lines.append(f"fullconn {connection_limit(listener.connection_limit)}")
    lines.append("option allbackups")
    checked = _checked(pool)
    return {
        "name": backend_name(pool.id, listener.id),
        "mode": mode,
        "lines": lines,
        "servers": [_server_view(pool, m, checked, tls_dir) for m in pool.members],
    }
