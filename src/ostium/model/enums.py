"""Enumerations shared by the API, the worker and the agent (pure, no I/O)."""

from __future__ import annotations

from enum import StrEnum


class ProvisioningStatus(StrEnum):
    ACTIVE = "ACTIVE"
    DELETED = "DELETED"
    ERROR = "ERROR"
    PENDING_CREATE = "PENDING_CREATE"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_DELETE = "PENDING_DELETE"


PENDING = frozenset(
    {
        ProvisioningStatus.PENDING_CREATE,
        ProvisioningStatus.PENDING_UPDATE,
        ProvisioningStatus.PENDING_DELETE,
    }
)


class OperatingStatus(StrEnum):
    ONLINE = "ONLINE"
    DRAINING = "DRAINING"
    OFFLINE = "OFFLINE"
    DEGRADED = "DEGRADED"
    ERROR = "ERROR"
    NO_MONITOR = "NO_MONITOR"


class ListenerProtocol(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TCP = "TCP"
    TERMINATED_HTTPS = "TERMINATED_HTTPS"
    UDP = "UDP"
    SCTP = "SCTP"
    PROMETHEUS = "PROMETHEUS"


class PoolProtocol(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TCP = "TCP"
    PROXY = "PROXY"
    PROXYV2 = "PROXYV2"
    UDP = "UDP"
    SCTP = "SCTP"


class LbAlgorithm(StrEnum):
    ROUND_ROBIN = "ROUND_ROBIN"
    LEAST_CONNECTIONS = "LEAST_CONNECTIONS"
    SOURCE_IP = "SOURCE_IP"
    SOURCE_IP_PORT = "SOURCE_IP_PORT"


class PersistenceType(StrEnum):
    SOURCE_IP = "SOURCE_IP"
    HTTP_COOKIE = "HTTP_COOKIE"
    APP_COOKIE = "APP_COOKIE"


class HealthMonitorType(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    PING = "PING"
    TCP = "TCP"
    TLS_HELLO = "TLS-HELLO"
    UDP_CONNECT = "UDP-CONNECT"
    SCTP = "SCTP"


class HttpMethod(StrEnum):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"
    TRACE = "TRACE"
    OPTIONS = "OPTIONS"
    CONNECT = "CONNECT"
    PATCH = "PATCH"


class L7Action(StrEnum):
    REJECT = "REJECT"
    REDIRECT_TO_URL = "REDIRECT_TO_URL"
    REDIRECT_TO_POOL = "REDIRECT_TO_POOL"
    REDIRECT_PREFIX = "REDIRECT_PREFIX"


class L7RuleType(StrEnum):
    HOST_NAME = "HOST_NAME"
    PATH = "PATH"
    FILE_TYPE = "FILE_TYPE"
    HEADER = "HEADER"
    COOKIE = "COOKIE"
    SSL_CONN_HAS_CERT = "SSL_CONN_HAS_CERT"
    SSL_VERIFY_RESULT = "SSL_VERIFY_RESULT"
    SSL_DN_FIELD = "SSL_DN_FIELD"


class L7CompareType(StrEnum):
    REGEX = "REGEX"
    STARTS_WITH = "STARTS_WITH"
    ENDS_WITH = "ENDS_WITH"
    CONTAINS = "CONTAINS"
    EQUAL_TO = "EQUAL_TO"


class ClientAuthentication(StrEnum):
    NONE = "NONE"
    OPTIONAL = "OPTIONAL"
    MANDATORY = "MANDATORY"


class Topology(StrEnum):
    SINGLE = "SINGLE"
    ACTIVE_STANDBY = "ACTIVE_STANDBY"


class AmphoraRole(StrEnum):
    MASTER = "MASTER"
    BACKUP = "BACKUP"
    STANDALONE = "STANDALONE"


class VrrpState(StrEnum):
    """What keepalived says an ACTIVE_STANDBY amphora is doing right now."""

    MASTER = "MASTER"
    """Holds the VIP."""
    BACKUP = "BACKUP"
    """Ready to take the VIP over."""
    FAULT = "FAULT"
    """Cannot serve (haproxy down, VIP link down): will not take the VIP."""
    STOP = "STOP"
    """keepalived is not running."""


class AmphoraStatus(StrEnum):
    BOOTING = "BOOTING"
    ALLOCATED = "ALLOCATED"
    READY = "READY"
    PENDING_CREATE = "PENDING_CREATE"
    PENDING_DELETE = "PENDING_DELETE"
    DELETED = "DELETED"
    ERROR = "ERROR"
    FAILOVER_STOPPED = "FAILOVER_STOPPED"


class PortStatus(StrEnum):
    """A Neutron port's `status`, as ostium shows its VIP ports (services/networks)."""

    ACTIVE = "ACTIVE"
    DOWN = "DOWN"


# Listener protocol -> pool protocols it may forward to (API spec 2.15).
LISTENER_POOL_COMPAT: dict[str, frozenset[str]] = {
    "HTTP": frozenset({"HTTP", "PROXY", "PROXYV2"}),
    "HTTPS": frozenset({"HTTPS", "PROXY", "PROXYV2", "TCP"}),
    "TERMINATED_HTTPS": frozenset({"HTTP", "PROXY", "PROXYV2"}),
    "TCP": frozenset({"HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP"}),
    "UDP": frozenset({"UDP"}),
    "SCTP": frozenset({"SCTP"}),
    "PROMETHEUS": frozenset(),
}

# Listeners balanced by nftables in the amphora (Octavia's "LVS protocols"), not haproxy.
LVS_LISTENER_PROTOCOLS: frozenset[str] = frozenset({"UDP", "SCTP"})

# Listener protocol -> L4 family, for the one-port-per-family rule.
PORT_FAMILY: dict[str, str] = {
    "HTTP": "tcp",
    "HTTPS": "tcp",
    "TCP": "tcp",
    "TERMINATED_HTTPS": "tcp",
    "PROMETHEUS": "tcp",
    "UDP": "udp",
    "SCTP": "sctp",
}


class NetworkKind(StrEnum):
    """How a declared network reaches the host's links (`[network:NAME] kind`)."""

    BRIDGE = "bridge"
    """A Linux bridge ostium creates and removes (the default): an optional host
    address, an `unreachable` route for its subnet so its traffic never leaves."""
    EXISTING_BRIDGE = "existing-bridge"
    """The operator's bridge (e.g. `br0` holding the LAN NIC): ostium only plugs veths
    into it; never an address, never a route, never deleted."""
    VLAN = "vlan"
    """A VLAN sub-interface ostium creates on `parent`, in a bridge ostium owns."""
    MACVLAN = "macvlan"
    """One macvlan sub-interface of `parent` per amphora, moved into its namespace."""


class HostState(StrEnum):
    """A host (one agent) as the controller knows it (`ostium host ...`)."""

    ENROLLING = "ENROLLING"
    """`ostium host add` issued a one-time token; the agent has not joined yet."""
    ACTIVE = "ACTIVE"
    """Joined and live: new amphorae may be placed on it."""
    DRAINING = "DRAINING"
    """No new amphorae; its amphorae are moved away by failover."""
    DOWN = "DOWN"
    """Silent for longer than the heartbeat timeout: its amphorae are failed over."""
