"""Octavia's access log format (`[haproxy_amphora] user_log_format`), pure.

Role: `listener_format` makes one listener's haproxy `log-format` from the operator's
template: `{{ project_id }}` and `{{ lb_id }}` substituted, the HTTP-only fields
(`%r`, `%{+Q}r`, `%ST`, `%{+Q}ST`) replaced by `-` for a listener that is not HTTP.
`parse_line` reads such a line back (the receiver's side): the load balancer id is its
second word. The spec refuses a format that could break the config (`spec.LogFormat`).
"""

from __future__ import annotations

import re

from ostium.model.enums import ListenerProtocol

DEFAULT_USER_LOG_FORMAT = (
    "{{ project_id }} {{ lb_id }} %f %ci %cp %t %{+Q}r %ST %B %U "
    "%[ssl_c_verify] %{+Q}[ssl_c_s_dn] %b %s %Tt %tsc"
)
HTTP_ONLY = ("%{+Q}r", "%{+Q}ST", "%r", "%ST")
HTTP_PROTOCOLS = frozenset({ListenerProtocol.HTTP, ListenerProtocol.TERMINATED_HTTPS})
_SYSLOG_HEADER = re.compile(
    r"^<\d{1,3}>(?:1 )?(?:\S+ +\d+ [\d:]+|\S+) +(?:\S+ +)?[\w.-]+(?:\[\d+\])?: ?"
)


def listener_format(template: str, project_id: str, lb_id: str, protocol: str) -> str:
    text = template.replace("{{ project_id }}", project_id).replace("{{ lb_id }}", lb_id)
    if protocol not in HTTP_PROTOCOLS:
        for field in HTTP_ONLY:
            text = text.replace(field, "-")
    return " ".join(text.split())


def message(datagram: bytes) -> str:
    """The text of one syslog datagram from haproxy, without its syslog header."""
    text = datagram.decode("utf-8", "replace").rstrip("\n\x00")
    return _SYSLOG_HEADER.sub("", text, count=1)


def lb_of(line: str) -> str | None:
    """The load balancer id a line (in the default format's order) is about."""
    words = line.split(" ", 2)
    return words[1] if len(words) > 2 else None
