"""Turn the VRRP part of an `AmphoraSpec` into keepalived.conf text (plain view + Jinja2).

Role: the mapping from ostium's ACTIVE_STANDBY model to keepalived 2.x directives.
Callers: `keepalived` (apply) and tests. Pure: no files, no processes. Refusals raise
`InvalidSpec`.

What the rendered instance does, and why:

- both amphorae start as BACKUP with `nopreempt`: the first to time out takes the VIP
  and keeps it, and a returning or replacement amphora never takes it back;
- unicast VRRP (`unicast_src_ip` + `unicast_peer`), version 3 by default, whose advert
  interval can go below a second (version 2 counts whole seconds): the BACKUP takes
  over after 3 adverts plus a skew of (256 - priority) / 256 advert;
- the VIP is added as a host address (/32 or /128) on the VIP-side interface: no route
  is created, and the amphora's own `vrrp_ip` keeps the subnet route; additional VIPs
  of the vrrp_ip's family join `virtual_ipaddress`, those of the other family go to
  `virtual_ipaddress_excluded` (moved, not advertised; their subnet's on-link route is
  made by `netns`);
- two checks demote the amphora (FAULT, which sends a priority 0 advert so the peer
  takes over at once instead of waiting for the adverts to stop): a periodic script
  that asks haproxy's stats socket (`check_interval` seconds, `check_fall` misses), and,
  with `watch_haproxy`, a file the agent sets the moment the haproxy process exits;
- a notify script records each state change in a file the agent reports in heartbeats.

Scripts run as root (`script_user root` + `enable_script_security`); their paths come
from the agent's own state directory and must not contain spaces or quotes.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import jinja2

from ostium.agent.errors import InvalidSpec
from ostium.agent.naming import VIP_IFNAME
from ostium.model.enums import VrrpState
from ostium.model.spec import AmphoraSpec

GARP_MASTER_DELAY = 2
"""Seconds after a takeover before the second burst of gratuitous ARPs."""
GARP_MASTER_REPEAT = 3
"""Gratuitous ARPs per burst (a neighbour that missed one still learns the move)."""
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./+@=-]*$")

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ostium.agent", "templates"),
    autoescape=False,  # keepalived syntax; every value is a number, address or safe path
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class KeepalivedFiles:
    """Host paths the rendered config refers to (all in the amphora's directory)."""

    check_script: str
    notify_script: str
    track_file: str
    shell: str = "/bin/sh"


def _safe(path: str) -> str:
    if not _SAFE_PATH.match(path):
        raise InvalidSpec(f"path {path!r} cannot appear in keepalived.conf (spaces/quotes)")
    return path


def _interval(seconds: float) -> str:
    """keepalived takes decimals for VRRPv3 adverts (centisecond resolution)."""
    text = f"{round(seconds, 2):.2f}".rstrip("0").rstrip(".")
    return text or "0"


def build_view(spec: AmphoraSpec, files: KeepalivedFiles) -> dict[str, Any]:
    """The plain dict the template renders; raises `InvalidSpec` on unusable input."""
    vrrp = spec.vrrp
    if vrrp is None:
        raise InvalidSpec(f"amphora {spec.amphora_id}: no vrrp section to render")
    vip = ipaddress.ip_address(str(spec.vip.address))
    if vip.version == 6 and vrrp.version == 2:
        raise InvalidSpec(f"amphora {spec.amphora_id}: an IPv6 VIP needs VRRP version 3")
    vips = [ipaddress.ip_address(str(a)) for a in spec.vip.addresses()]
    own = {ipaddress.ip_address(str(vrrp.vrrp_ip))}
    own |= {ipaddress.ip_address(str(p.address)) for p in vrrp.peers}
    for address in vips:
        if address in own:
            raise InvalidSpec(f"amphora {spec.amphora_id}: the VIP {address} is also a vrrp_ip")
    family = ipaddress.ip_address(str(vrrp.vrrp_ip)).version
    advert = float(vrrp.advert_interval)
    return {
        "amphora_id": spec.amphora_id,
        "generation": spec.generation,
        "router_id": spec.amphora_id.replace("-", "")[:12],
        "instance": "lb_" + spec.loadbalancer_id.replace("-", "")[:12],
        "version": vrrp.version,
        "garp_master_delay": GARP_MASTER_DELAY,
        "garp_master_repeat": GARP_MASTER_REPEAT,
        "garp_refresh": vrrp.garp_refresh,
        "garp_refresh_repeat": vrrp.garp_refresh_repeat,
        "check_command": f"{_safe(files.shell)} {_safe(files.check_script)}",
        "check_interval": vrrp.check_interval,
        "check_timeout": max(1, vrrp.check_interval),
        "check_fall": vrrp.check_fall,
        "check_rise": vrrp.check_rise,
        "track_file": _safe(files.track_file) if vrrp.watch_haproxy else None,
        # Both start as BACKUP (with nopreempt): see the module docstring.
        "initial_state": VrrpState.BACKUP.value,
        "interface": VIP_IFNAME,
        "vrrp_id": vrrp.vrrp_id,
        "priority": vrrp.priority,
        "advert_interval": str(int(advert)) if vrrp.version == 2 else _interval(advert),
        "vrrp_ip": str(ipaddress.ip_address(str(vrrp.vrrp_ip))),
        "peers": sorted(str(ipaddress.ip_address(str(p.address))) for p in vrrp.peers),
        # VRRP adverts carry addresses of one family (the vrrp_ip's): VIPs of the
        # other family move with the instance but stay out of the adverts.
        "vips": [f"{a}/{a.max_prefixlen}" for a in vips if a.version == family],
        "excluded_vips": [f"{a}/{a.max_prefixlen}" for a in vips if a.version != family],
        "notify_command": f"{_safe(files.shell)} {_safe(files.notify_script)}",
    }


def render_keepalived(spec: AmphoraSpec, files: KeepalivedFiles) -> str:
    return _ENV.get_template("keepalived.conf.j2").render(**build_view(spec, files))
