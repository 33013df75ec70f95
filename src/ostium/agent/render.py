"""Turn an `AmphoraSpec` into haproxy.cfg text (through plain view dicts and Jinja2).

Role: the feature mapping from the Octavia model to haproxy 2.6 directives, in three
steps: `build_view` (spec -> plain dicts, all decisions and refusals), then
`render_view` (dicts -> text through the template). The apply pipeline (`applying`)
builds the view once per apply, renders it, and keeps it to compare with the next one
(`runtime_update`). `render_haproxy` does both steps for callers that only want text
(tests). Pure: no files, no processes. Refusals raise `InvalidSpec` naming the offending
object and value. Backends are `render_backends`' part, L7 rules `render_l7`'s.

Safety rules kept here: only UUIDs, numbers, enum-derived keywords and addresses are
written bare; every user string goes through `quoting.quote` (or is refused when it must
be a token). The template sees only the dicts built here and never escapes anything
itself. Names, descriptions and tags never reach this module. Every default value comes
from `ostium.model.defaults`; none is written here or in the template.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ostium.agent import render_tls
from ostium.agent.errors import InvalidSpec
from ostium.agent.quoting import quote
from ostium.agent.render_backends import address, backend_name, backend_view, connection_limit
from ostium.agent.render_l7 import l7_view
from ostium.model import defaults
from ostium.model.enums import LVS_LISTENER_PROTOCOLS, ListenerProtocol
from ostium.model.spec import AmphoraSpec, ListenerSpec, PoolSpec

MAX_GLOBAL_MAXCONN = 1_000_000
IDLE_MAXCONN = 1000
"""Global maxconn of an amphora without any listener (it serves only its stats socket)."""
CONNECT_RETRIES = 3
"""haproxy `retries`: connection attempts to a server before giving up (or redispatching)."""

_LISTENER_MODE = {
    ListenerProtocol.HTTP: "http",
    ListenerProtocol.HTTPS: "tcp",
    ListenerProtocol.TCP: "tcp",
    ListenerProtocol.TERMINATED_HTTPS: "http",
    ListenerProtocol.PROMETHEUS: "http",
}

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ostium.agent", "templates"),
    autoescape=False,  # haproxy syntax, not HTML: quoting is done in Python
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)

View = dict[str, Any]
"""What `build_view` returns and the template (and `runtime_update`) reads."""


@dataclass(frozen=True)
class RenderContext:
    """Host facts the config needs but the spec does not carry."""

    stats_socket: str
    user: str | None = "nobody"
    group: str | None = "nogroup"
    max_maxconn: int = MAX_GLOBAL_MAXCONN
    """Cap from the host's file descriptor limit (haproxy needs about 2 fds per conn)."""
    log_target: str | None = None
    """Where haproxy sends access-log lines (`access_logs.haproxy_target`); None: no
    access logs at all."""
    log_facility: int = 0
    tls_dir: str = "/nonexistent"
    """Where `tls_files` keeps this amphora's TLS files."""


def _truthy(value: str) -> bool:
    return value.strip().lower() == "true"


def _log_lines(listener: ListenerSpec, ctx: RenderContext) -> list[str]:
    """Octavia's access log of a listener: its format with spaces escaped, or none."""
    if ctx.log_target is None:
        return []  # no log target in the config at all: nothing is logged anyway
    if listener.log_format is None:
        return ["no log"]
    return ["log global", "log-format " + listener.log_format.replace(" ", "\\ ")]


def _frontend_view(
    spec: AmphoraSpec, listener: ListenerSpec, pools: dict[str, PoolSpec], ctx: RenderContext
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    mode = _LISTENER_MODE.get(listener.protocol)
    if mode is None:
        raise InvalidSpec(
            f"listener {listener.id}: protocol {listener.protocol.value} is not supported"
        )
    usable = {pid for pid, p in pools.items() if p.admin_state_up}
    lines: list[str] = _log_lines(listener, ctx)
    if listener.timeout_tcp_inspect > 0:  # 0 (the default) means no inspection delay
        lines.append(f"tcp-request inspect-delay {listener.timeout_tcp_inspect}")
    acls: list[dict[str, str]] = []
    rules: list[str] = []
    used: set[str] = set()
    terminated = listener.protocol == ListenerProtocol.TERMINATED_HTTPS
    if terminated and listener.tls is None:
        raise InvalidSpec(f"listener {listener.id}: TERMINATED_HTTPS needs a certificate")
    # One bind line per VIP (the primary, then each additional one), same options.
    options = ""
    if listener.tls is not None:
        options = " " + render_tls.bind_options(listener, Path(ctx.tls_dir))
    binds = [address(vip, listener.protocol_port) + options for vip in spec.vip.addresses()]
    if listener.protocol == ListenerProtocol.PROMETHEUS:
        # haproxy's built-in exporter answers every path; nothing else is served here.
        lines.append("http-request use-service prometheus-exporter")
    elif mode == "http":
        headers = {k.lower(): _truthy(v) for k, v in listener.insert_headers.items()}
        if headers.get("x-forwarded-for"):
            lines.append("option forwardfor")
        if headers.get("x-forwarded-port"):
            lines.append("http-request set-header X-Forwarded-Port %[dst_port]")
        if headers.get("x-forwarded-proto"):
            proto = "https" if terminated else "http"
            lines.append(f"http-request set-header X-Forwarded-Proto {proto}")
        if terminated and listener.tls is not None:
            lines += render_tls.frontend_lines(listener, listener.tls, headers)
        l7 = l7_view(listener.l7policies, listener, usable)
        acls, rules, used = l7.acls, l7.rules, l7.used_pools
    if listener.protocol == ListenerProtocol.PROMETHEUS:
        pass
    elif mode != "http" and any(p.admin_state_up for p in listener.l7policies):
        raise InvalidSpec(f"listener {listener.id}: L7 policies need an HTTP listener")
    default = None if listener.protocol == ListenerProtocol.PROMETHEUS else listener.default_pool_id
    if default is not None and default not in pools:
        raise InvalidSpec(f"listener {listener.id}: default_pool_id {default} is not in the spec")
    default_backend = None
    if default is not None and default in usable:
        default_backend = backend_name(default, listener.id)
        used.add(default)
    peers = _peers_name(spec) if spec.vrrp is not None else None
    backends = [
        backend_view(pools[pid], listener, mode, peers, ctx.tls_dir) for pid in sorted(used)
    ]
    frontend = {
        "name": listener.id,
        "mode": mode,
        "binds": binds,
        "maxconn": connection_limit(listener.connection_limit),
        # As given, 0 included: haproxy reads `timeout client 0` as "no timeout" (and
        # warns at startup), which is what an explicit 0 asks for.
        "timeout_client": listener.timeout_client_data,
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
        "members": [{"name": n, "address": address(a, vrrp.peer_port)} for n, a in ordered],
    }


def build_view(spec: AmphoraSpec, ctx: RenderContext) -> View:
    """The plain dict the template renders; raises `InvalidSpec` on unsupported input."""
    pools = {p.id: p for p in spec.pools}
    if len(pools) != len(spec.pools):
        raise InvalidSpec("pools: duplicate pool id")
    frontends: list[dict[str, Any]] = []
    backends: list[dict[str, Any]] = []
    listeners = [ls for ls in spec.listeners if ls.admin_state_up] if spec.admin_state_up else []
    # UDP and SCTP listeners are nftables' (agent/nftables), never haproxy's.
    listeners = [ls for ls in listeners if ls.protocol not in LVS_LISTENER_PROTOCOLS]
    ports: set[int] = set()
    for listener in sorted(listeners, key=lambda ls: ls.protocol_port):
        if listener.protocol_port in ports:
            raise InvalidSpec(f"listener {listener.id}: port {listener.protocol_port} is taken")
        ports.add(listener.protocol_port)
        frontend, pool_backends = _frontend_view(spec, listener, pools, ctx)
        frontends.append(frontend)
        backends += pool_backends
    total = sum(f["maxconn"] for f in frontends)
    maxconn = total if 0 < total < MAX_GLOBAL_MAXCONN else MAX_GLOBAL_MAXCONN
    if not frontends:
        maxconn = IDLE_MAXCONN
    maxconn = max(1, min(maxconn, ctx.max_maxconn))
    return {
        "amphora_id": spec.amphora_id,
        "generation": spec.generation,
        "global": {
            "maxconn": maxconn,
            "stats_socket": quote(ctx.stats_socket),
            "user": ctx.user,
            "group": ctx.group,
            "log": (
                f"{ctx.log_target} len 8192 local{ctx.log_facility}"
                if ctx.log_target is not None and any(ls.log_format is not None for ls in listeners)
                else None
            ),
        },
        # Every frontend and backend sets its own timeouts; these cover what has none.
        "defaults": {
            "retries": CONNECT_RETRIES,
            "timeout_client": defaults.TIMEOUT_CLIENT_DATA,
            "timeout_connect": defaults.TIMEOUT_MEMBER_CONNECT,
            "timeout_server": defaults.TIMEOUT_MEMBER_DATA,
        },
        "peers": _peers_view(spec),
        "frontends": frontends,
        "backends": backends,
    }


def render_view(view: View) -> str:
    return _ENV.get_template("haproxy.cfg.j2").render(**view)


def render_haproxy(spec: AmphoraSpec, ctx: RenderContext) -> str:
    return render_view(build_view(spec, ctx))
