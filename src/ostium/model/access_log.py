"""Octavia's access log format (`[haproxy_amphora] user_log_format`), pure.

Role: `listener_format` makes one listener's haproxy `log-format` from the operator's
template: `{{ project_id }}` and `{{ lb_id }}` substituted, the HTTP-only fields
(`%r`, `%{+Q}r`, `%ST`, `%{+Q}ST`) replaced by `-` for a listener that is not HTTP.
`split_datagram` reads such a line back on the receiver's hot path (the load balancer
id is its second word), `decoded` turns it into text when somebody reads it. The spec
refuses a format that could break the config (`spec.LogFormat`).
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
_HEADER = r"^<\d{1,3}>(?:1 )?(?:\S+ +\d+ [\d:]+|\S+) +(?:\S+ +)?[\w.-]+(?:\[\d+\])?: ?"
_SYSLOG_HEADER = re.compile(_HEADER)
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def listener_format(template: str, project_id: str, lb_id: str, protocol: str) -> str:
    text = template.replace("{{ project_id }}", project_id).replace("{{ lb_id }}", lb_id)
    if protocol not in HTTP_PROTOCOLS:
        for field in HTTP_ONLY:
            text = text.replace(field, "-")
    return " ".join(text.split())


def split_datagram(datagram: bytes) -> tuple[str, bytes] | None:
    """(load balancer id, message bytes without the syslog header) of one datagram, or
    None when its second word is not a UUID. Nothing is decoded: `decoded` does that
    when somebody reads the line. haproxy's tag ends in `[pid]: `, found without the
    header's regular expression (a sixth of the time); other senders take the regex."""
    end = datagram.find(b"]: ", 0, 128)
    if end > 0 and datagram.startswith(b"<"):
        body = datagram[end + 3 :]
    else:
        found = _SYSLOG_HEADER.match(datagram.decode("utf-8", "replace"))
        if found is None:
            return None
        body = datagram[len(found.group().encode()) :]
    words = body.split(b" ", 2)
    if len(words) < 3 or not _UUID.fullmatch(words[1]):
        return None
    return words[1].decode("ascii"), body


def decoded(message_bytes: bytes) -> str:
    return message_bytes.decode("utf-8", "replace").rstrip("\n\x00")
