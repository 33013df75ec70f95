"""Turn an `AmphoraSpec` into haproxy.cfg text (through plain view dicts and Jinja2).

Role: the feature mapping from the Octavia model to haproxy 2.6 directives. Callers:
`manager` (apply) and `runtime_diff` (server options for `add server`). Pure: no files,
no processes. Refusals raise `InvalidSpec` naming the offending object and value.

Safety rules kept here: only UUIDs, numbers, enum-derived keywords and addresses are
written bare; every user string goes through `quoting.quote` (or is refused when it must
be a token). The template sees only the dicts built below and never escapes anything
itself. Names, descriptions and tags never reach this module.

Health monitor PING: rendered as a plain TCP connect check on the member's (monitor)
port. A real ICMP check would need haproxy's `external-check` plus
`insecure-fork-wanted`, i.e. letting the load balancer process fork a shell helper per
check; we refuse to weaken every amphora for a check type the API itself can disable.
TLS-HELLO uses `option ssl-hello-chk`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import jinja2

from ostium.agent.errors import InvalidSpec
from ostium.agent.quoting import is_token, quote, quote_logformat
from ostium.model.enums import (
    HealthMonitorType,
    L7Action,
    L7CompareType,
    L7RuleType,
    LbAlgorithm,
    ListenerProtocol,
    PersistenceType,
    PoolProtocol,
)
from ostium.model.spec import (
    AmphoraSpec,
    HealthMonitorSpec,
    L7PolicySpec,
    L7RuleSpec,
    ListenerSpec,
    MemberSpec,
    PoolSpec,
)

DEFAULT_CONNECTION_LIMIT = 50000
MAX_GLOBAL_MAXCONN = 1_000_000
STICK_SIZE = "10k"
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})

_LISTENER_MODE = {
    ListenerProtocol.HTTP: "http",
    ListenerProtocol.HTTPS: "tcp",
    ListenerProtocol.TCP: "tcp",
}
_BALANCE = {
    LbAlgorithm.ROUND_ROBIN: "roundrobin",
    LbAlgorithm.LEAST_CONNECTIONS: "leastconn",
    LbAlgorithm.SOURCE_IP: "source",
}
_MATCH = {
    L7CompareType.REGEX: "-m reg",
    L7CompareType.STARTS_WITH: "-m beg",
    L7CompareType.ENDS_WITH: "-m end",
    L7CompareType.CONTAINS: "-m sub",
    L7CompareType.EQUAL_TO: "-m str",
}
_EXPECTED = re.compile(r"^\s*(\d{3})\s*-\s*(\d{3})\s*$|^\s*\d{3}(\s*,\s*\d{3})*\s*$")

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ostium.agent", "templates"),
    autoescape=False,  # haproxy syntax, not HTML: quoting is done in Python
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class RenderContext:
    """Host facts the config needs but the spec does not carry."""

    stats_socket: str
    user: str | None = "nobody"
    group: str | None = "nogroup"
    max_maxconn: int = MAX_GLOBAL_MAXCONN
    """Cap from the host's file descriptor limit (haproxy needs about 2 fds per conn)."""


def backend_name(pool_id: str, listener_id: str) -> str:
    return f"{pool_id}:{listener_id}"


def _seconds(value: int) -> str:
    return f"{max(value, 1)}s"


def _limit(connection_limit: int) -> int:
    return DEFAULT_CONNECTION_LIMIT if connection_limit < 0 else connection_limit


def _address(addr: Any, port: int) -> str:
    ip = ipaddress.ip_address(str(addr))
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _truthy(value: str) -> bool:
    return value.strip().lower() == "true"


# --------------------------------------------------------------------------- servers


def _check_enabled(pool: PoolSpec) -> bool:
    hm = pool.healthmonitor
    return hm is not None and hm.admin_state_up


def server_options(pool: PoolSpec, member: MemberSpec, *, for_runtime: bool = False) -> str:
    """Everything after `server <id> <addr:port>` on a server line.

    With `for_runtime`, the form accepted by the runtime `add server` command: no
    `disabled` (a new dynamic server starts in maintenance anyway).
    """
    opts: list[str] = [f"weight {member.weight}"]
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
    if not member.admin_state_up and not for_runtime:
        opts.append("disabled")
    return " ".join(opts)


def _server_view(pool: PoolSpec, member: MemberSpec) -> dict[str, Any]:
    address = _address(member.address, member.protocol_port)
    neutral = member.model_copy(update={"weight": 0, "admin_state_up": True})
    return {
        "name": member.id,
        "address": address,
        "options": server_options(pool, member),
        # For runtime updates (ignored by the template): what may change without a
        # reload (weight, enabled) and what may not (identity).
        "weight": member.weight,
        "enabled": member.admin_state_up,
        "has_check": _check_enabled(pool),
        "runtime_options": server_options(pool, member, for_runtime=True),
        "identity": f"{address} {server_options(pool, neutral)}",
    }


# --------------------------------------------------------------------------- backends


def _expected_codes(hm: HealthMonitorSpec) -> str:
    raw = hm.expected_codes or "200"
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


def _check_lines(hm: HealthMonitorSpec, mode: str) -> list[str]:
    if not hm.admin_state_up:
        return []
    lines: list[str] = []
    if hm.timeout > 0:
        lines.append(f"timeout check {hm.timeout}s")
    if hm.type in (HealthMonitorType.HTTP, HealthMonitorType.HTTPS):
        if mode != "http":
            # A tcp-mode backend can still send an HTTP check; haproxy allows it.
            pass
        method = hm.http_method.value if hm.http_method is not None else "GET"
        path = hm.url_path or "/"
        version = "HTTP/1.1" if hm.http_version is not None and hm.http_version >= 1.1 else None
        send = f"http-check send meth {method} uri {quote(path)}"
        if version:
            send += f" ver {version}"
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


def _persistence_lines(pool: PoolSpec, mode: str, peers: str | None = None) -> list[str]:
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


def _backend_view(
    pool: PoolSpec, listener: ListenerSpec, listener_mode: str, peers: str | None = None
) -> dict[str, Any]:
    if pool.lb_algorithm not in _BALANCE:
        raise InvalidSpec(f"pool {pool.id}: lb_algorithm {pool.lb_algorithm.value} unsupported")
    mode = _backend_mode(pool, listener, listener_mode)
    lines: list[str] = [f"balance {_BALANCE[pool.lb_algorithm]}"]
    lines += _persistence_lines(pool, mode, peers)
    lines.append(f"timeout connect {listener.timeout_member_connect or 5000}")
    lines.append(f"timeout server {listener.timeout_member_data or 50000}")
    if pool.healthmonitor is not None:
        lines += _check_lines(pool.healthmonitor, mode)
    lines.append(f"fullconn {_limit(listener.connection_limit)}")
    lines.append("option allbackups")
    servers = [_server_view(pool, m) for m in pool.members]
    return {
        "name": backend_name(pool.id, listener.id),
        "mode": mode,
        "lines": lines,
        "servers": servers,
    }


# --------------------------------------------------------------------------- frontends


def _acl(rule: L7RuleSpec) -> str:
    match = _MATCH[rule.compare_type]
    if rule.type == L7RuleType.HOST_NAME:
        fetch = "req.hdr(host) -i"
    elif rule.type == L7RuleType.PATH:
        fetch = "path"
    elif rule.type == L7RuleType.FILE_TYPE:
        if rule.compare_type == L7CompareType.EQUAL_TO:
            fetch, match = "path_end", ""
        elif rule.compare_type == L7CompareType.REGEX:
            fetch = "path"
        else:
            raise InvalidSpec(
                f"l7rule {rule.id}: FILE_TYPE supports EQUAL_TO and REGEX, "
                f"not {rule.compare_type.value}"
            )
    elif rule.type in (L7RuleType.HEADER, L7RuleType.COOKIE):
        key = rule.key or ""
        if not is_token(key):
            raise InvalidSpec(
                f"l7rule {rule.id}: key {key!r} is not a valid {rule.type.value} name"
            )
        fetch = f"req.hdr({key})" if rule.type == L7RuleType.HEADER else f"req.cook({key})"
    else:
        raise InvalidSpec(f"l7rule {rule.id}: type {rule.type.value} needs TLS termination")
    parts = [fetch, match, "--", quote(rule.value)]
    return " ".join(p for p in parts if p)


def _l7_view(
    policies: list[L7PolicySpec], listener: ListenerSpec, usable_pools: set[str]
) -> tuple[list[dict[str, str]], list[str], list[str], list[str], set[str]]:
    acls: list[dict[str, str]] = []
    denies: list[str] = []
    redirects: list[str] = []
    use_backends: list[str] = []
    used_pools: set[str] = set()
    for policy in sorted(policies, key=lambda p: (p.position, p.id)):
        rules = [r for r in policy.rules if r.admin_state_up]
        if not policy.admin_state_up or not rules:
            continue
        for rule in rules:
            acls.append({"name": rule.id, "expr": _acl(rule)})
        cond = "if " + " ".join(("!" if r.invert else "") + r.id for r in rules)
        code = policy.redirect_http_code if policy.redirect_http_code in REDIRECT_CODES else 302
        if policy.action == L7Action.REJECT:
            denies.append(f"http-request deny {cond}")
        elif policy.action == L7Action.REDIRECT_TO_URL:
            if not policy.redirect_url:
                raise InvalidSpec(f"l7policy {policy.id}: redirect_url is missing")
            redirects.append(f"redirect location {quote(policy.redirect_url)} code {code} {cond}")
        elif policy.action == L7Action.REDIRECT_PREFIX:
            if not policy.redirect_prefix:
                raise InvalidSpec(f"l7policy {policy.id}: redirect_prefix is missing")
            redirects.append(f"redirect prefix {quote(policy.redirect_prefix)} code {code} {cond}")
        elif policy.action == L7Action.REDIRECT_TO_POOL:
            pool_id = policy.redirect_pool_id
            if pool_id is None:
                raise InvalidSpec(f"l7policy {policy.id}: redirect_pool_id is missing")
            if pool_id in usable_pools:
                use_backends.append(f"use_backend {backend_name(pool_id, listener.id)} {cond}")
                used_pools.add(pool_id)
    return acls, denies, redirects, use_backends, used_pools


def _frontend_view(
    spec: AmphoraSpec, listener: ListenerSpec, pools: dict[str, PoolSpec]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    mode = _LISTENER_MODE.get(listener.protocol)
    if mode is None:
        raise InvalidSpec(
            f"listener {listener.id}: protocol {listener.protocol.value} is not supported"
        )
    usable = {pid for pid, p in pools.items() if p.admin_state_up}
    lines: list[str] = []
    if listener.timeout_tcp_inspect > 0:
        lines.append(f"tcp-request inspect-delay {listener.timeout_tcp_inspect}")
    acls: list[dict[str, str]] = []
    rules: list[str] = []
    used: set[str] = set()
    if mode == "http":
        headers = {k.lower(): _truthy(v) for k, v in listener.insert_headers.items()}
        if headers.get("x-forwarded-for"):
            lines.append("option forwardfor")
        if headers.get("x-forwarded-port"):
            lines.append("http-request set-header X-Forwarded-Port %[dst_port]")
        if headers.get("x-forwarded-proto"):
            lines.append("http-request set-header X-Forwarded-Proto http")
        acls, denies, redirects, use_backends, used = _l7_view(
            listener.l7policies, listener, usable
        )
        rules = denies + redirects + use_backends
    elif any(p.admin_state_up for p in listener.l7policies):
        raise InvalidSpec(f"listener {listener.id}: L7 policies need an HTTP listener")
    default = listener.default_pool_id
    if default is not None and default not in pools:
        raise InvalidSpec(f"listener {listener.id}: default_pool_id {default} is not in the spec")
    backends: list[dict[str, Any]] = []
    default_backend = None
    if default is not None and default in usable:
        default_backend = backend_name(default, listener.id)
        used.add(default)
    peers = _peers_name(spec) if spec.vrrp is not None else None
    for pid in sorted(used):
        backends.append(_backend_view(pools[pid], listener, mode, peers))
    frontend = {
        "name": listener.id,
        "mode": mode,
        "bind": _address(spec.vip.address, listener.protocol_port),
        "maxconn": _limit(listener.connection_limit),
        "timeout_client": listener.timeout_client_data or 50000,
        "lines": lines,
        "acls": acls,
        "rules": rules,
        "default_backend": default_backend,
    }
    return frontend, backends


def _peers_name(spec: AmphoraSpec) -> str:
    return "peers_" + spec.loadbalancer_id.replace("-", "")


def _peers_view(spec: AmphoraSpec) -> dict[str, Any] | None:
    """The haproxy `peers` section of an ACTIVE_STANDBY pair (named by amphora id)."""
    vrrp = spec.vrrp
    if vrrp is None:
        return None
    members = [(spec.amphora_id, vrrp.vrrp_ip)] + [(p.amphora_id, p.address) for p in vrrp.peers]
    if len({name for name, _ in members}) != len(members):
        raise InvalidSpec(f"vrrp: peer amphora ids must differ from {spec.amphora_id}")
    ordered = sorted(members, key=lambda m: m[0])
    return {
        "name": _peers_name(spec),
        "local": spec.amphora_id,
        "members": [{"name": n, "address": _address(a, vrrp.peer_port)} for n, a in ordered],
    }


def build_view(spec: AmphoraSpec, ctx: RenderContext) -> dict[str, Any]:
    """The plain dict the template renders; raises `InvalidSpec` on unsupported input."""
    pools = {p.id: p for p in spec.pools}
    if len(pools) != len(spec.pools):
        raise InvalidSpec("pools: duplicate pool id")
    frontends: list[dict[str, Any]] = []
    backends: list[dict[str, Any]] = []
    listeners = [ls for ls in spec.listeners if ls.admin_state_up] if spec.admin_state_up else []
    ports: set[int] = set()
    for listener in sorted(listeners, key=lambda ls: ls.protocol_port):
        if listener.protocol_port in ports:
            raise InvalidSpec(f"listener {listener.id}: port {listener.protocol_port} is taken")
        ports.add(listener.protocol_port)
        frontend, pool_backends = _frontend_view(spec, listener, pools)
        frontends.append(frontend)
        backends += pool_backends
    total = sum(f["maxconn"] for f in frontends)
    maxconn = total if 0 < total < MAX_GLOBAL_MAXCONN else MAX_GLOBAL_MAXCONN
    if not frontends:
        maxconn = 1000
    maxconn = max(1, min(maxconn, ctx.max_maxconn))
    return {
        "amphora_id": spec.amphora_id,
        "generation": spec.generation,
        "global": {
            "maxconn": maxconn,
            "stats_socket": quote(ctx.stats_socket),
            "user": ctx.user,
            "group": ctx.group,
        },
        "peers": _peers_view(spec),
        "frontends": frontends,
        "backends": backends,
    }


def render_haproxy(spec: AmphoraSpec, ctx: RenderContext) -> str:
    return _ENV.get_template("haproxy.cfg.j2").render(**build_view(spec, ctx))
