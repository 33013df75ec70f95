"""The API rules of UDP and SCTP listeners, pools and monitors (spec 2.2, 2.3, 2.5, 2.15).

Octavia calls these the LVS protocols (its amphora balances them with keepalived and
IPVS; ostium with nftables). What differs from the TCP family: no TLS and no header
insertion on listeners; only SOURCE_IP persistence on pools, which alone may carry
`persistence_timeout` and `persistence_granularity`; monitors of type UDP-CONNECT, SCTP,
TCP or HTTP, a UDP-CONNECT one no more often than the configured minimum delay.
Called by `validation` (which routes UDP/SCTP here); raises BadRequest with Octavia's
messages. No database, no HTTP.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ostium.model.enums import LVS_LISTENER_PROTOCOLS, HealthMonitorType, PersistenceType
from ostium.model.errors import BadRequest

LVS_PROTOCOLS = LVS_LISTENER_PROTOCOLS
HM_TYPES = frozenset(
    {
        HealthMonitorType.UDP_CONNECT.value,
        HealthMonitorType.SCTP.value,
        HealthMonitorType.TCP.value,
        HealthMonitorType.HTTP.value,
    }
)
MAX_PERSISTENCE_TIMEOUT = 31_536_000
"""One year, in seconds: far beyond any use, well inside what nftables accepts."""
_TLS_OR_HEADERS = (
    "insert_headers",
    "default_tls_container_ref",
    "sni_container_refs",
    "client_ca_tls_container_ref",
    "client_crl_container_ref",
    "tls_ciphers",
    "tls_versions",
    "alpn_protocols",
    "hsts_max_age",
)


def listener_fields(protocol: str, data: dict[str, Any]) -> None:
    """A UDP/SCTP listener takes neither TLS material nor header insertion."""
    tls = any(data.get(f) for f in _TLS_OR_HEADERS) or data.get("client_authentication") not in (
        None,
        "NONE",
    )
    if tls or data.get("hsts_include_subdomains") or data.get("hsts_preload"):
        raise BadRequest(
            f"Validation failure: {protocol} protocol listener does not support TLS or "
            "header insertion."
        )


def session_persistence(sp: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a UDP/SCTP pool's persistence (SOURCE_IP only)."""
    stype = sp.get("type")
    if stype is None:
        raise BadRequest(
            "Invalid input for field/attribute session_persistence.type. Value: 'None'. "
            "Mandatory field missing."
        )
    if sp.get("cookie_name"):
        if stype == PersistenceType.SOURCE_IP:
            raise BadRequest(
                "Validation failure: session_persistence SOURCE_IP type for UDP and SCTP "
                "protocols only accepts: type, persistence_timeout, persistence_granularity."
            )
        raise BadRequest("Validation failure: Cookie names are not supported for UDP/SCTP pools.")
    if stype != PersistenceType.SOURCE_IP:
        raise BadRequest(
            f"Validation failure: Session persistence of type {stype} is not supported "
            "for UDP/SCTP protocol pools."
        )
    timeout = sp.get("persistence_timeout")
    if timeout is not None and not 0 <= timeout <= MAX_PERSISTENCE_TIMEOUT:
        raise BadRequest(
            "Invalid input for field/attribute persistence_timeout. Value: "
            f"'{timeout}'. Value should be between 0 and {MAX_PERSISTENCE_TIMEOUT} seconds"
        )
    granularity = sp.get("persistence_granularity")
    if granularity is not None:
        granularity = netmask(granularity)
    return {
        "type": stype,
        "cookie_name": None,
        "persistence_timeout": timeout,
        "persistence_granularity": granularity,
    }


def netmask(text: str) -> str:
    """A persistence granularity: an IP address used as a mask (`255.255.255.0`,
    `ffff:ffff:ffff:ffff::`), returned in its normal form."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise BadRequest(
            "Invalid input for field/attribute persistence_granularity. Value: "
            f"'{text}'. Value should be IPv4 or IPv6 format"
        ) from None


def healthmonitor(hm: dict[str, Any], pool_protocol: str, udp_min_delay: int) -> None:
    htype = hm["type"]
    if htype not in HM_TYPES:
        raise BadRequest(
            f"Validation failure: The associated pool protocol is {pool_protocol}, so only "
            "a UDP-CONNECT/SCTP/TCP/HTTP health monitor is supported."
        )
    delay = hm.get("delay")
    if htype == HealthMonitorType.UDP_CONNECT and delay is not None and delay < udp_min_delay:
        raise BadRequest(
            f"Validation failure: The request delay value {delay} should be larger than "
            f"{udp_min_delay} for {htype} health monitor type."
        )
