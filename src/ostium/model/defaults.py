"""Every default value of the load-balancing objects, in one place (pure, no I/O).

Role: what an object gets when the user leaves a field out. The API fills these in
(`control/services`), the database columns default to them, the spec models carry
them to the agent, and the agent renders them; none of those writes a number of its own.
"""

from __future__ import annotations

from typing import Final

# Listener timeouts, in milliseconds (Octavia's defaults).
TIMEOUT_CLIENT_DATA: Final = 50000
TIMEOUT_MEMBER_CONNECT: Final = 5000
TIMEOUT_MEMBER_DATA: Final = 50000
TIMEOUT_TCP_INSPECT: Final = 0

CONNECTION_LIMIT: Final = -1
"""-1: no limit set by the user."""

HAPROXY_MAXCONN: Final = 50000
"""What haproxy gets for a listener (and its frontend) without a connection limit."""

MEMBER_WEIGHT: Final = 1
MEMBER_BACKUP: Final = False

# Health monitors of type HTTP and HTTPS.
HM_HTTP_METHOD: Final = "GET"
HM_URL_PATH: Final = "/"
HM_EXPECTED_CODES: Final = "200"
HM_MAX_RETRIES_DOWN: Final = 3
UDP_CONNECT_MIN_INTERVAL_HEALTH_MONITOR: Final = 3
"""Smallest `delay` (seconds) of a UDP-CONNECT monitor ([api_settings] default)."""
PERSISTENCE_TIMEOUT: Final = 360
"""Seconds a UDP/SCTP SOURCE_IP persistence entry lives when the pool sets none."""

# What a field returns to when an update sends it as null.
LISTENER_RESETS: Final = {
    "connection_limit": CONNECTION_LIMIT,
    "timeout_client_data": TIMEOUT_CLIENT_DATA,
    "timeout_member_connect": TIMEOUT_MEMBER_CONNECT,
    "timeout_member_data": TIMEOUT_MEMBER_DATA,
    "timeout_tcp_inspect": TIMEOUT_TCP_INSPECT,
}
MEMBER_RESETS: Final = {"weight": MEMBER_WEIGHT, "backup": MEMBER_BACKUP}
HM_HTTP_RESETS: Final = {
    "http_method": HM_HTTP_METHOD,
    "url_path": HM_URL_PATH,
    "expected_codes": HM_EXPECTED_CODES,
}
