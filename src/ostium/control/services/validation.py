"""Cross-field validation rules of the API (spec sections 2.2-2.7, 2.15), without HTTP.

Each function raises BadRequest/NotImplementedByProvider naming the field and value.
This is also where ostium would refuse what its data plane cannot do (a clear 400, never a
silent accept). UDP and SCTP (nftables data plane) have their own rules in
`lvs_validation`, TLS fields theirs in `tls`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from ostium.control.services import lvs_validation
from ostium.model import defaults
from ostium.model.enums import LISTENER_POOL_COMPAT
from ostium.model.errors import BadRequest, NotImplementedByProvider
from ostium.model.tls import DN_FIELD
from ostium.model.tokens import SAFE_TOKEN

UNSUPPORTED_LISTENER_PROTOCOLS: set[str] = set()
UNSUPPORTED_POOL_PROTOCOLS: set[str] = set()
INSERT_HEADERS = {
    "X-Forwarded-For",
    "X-Forwarded-Port",
    "X-Forwarded-Proto",
    "X-Forwarded-IP",
    "X-Client-IP",
    "X-Real-IP",
}
SSL_HEADERS = {
    "X-SSL-Client-Verify",
    "X-SSL-Client-Has-Cert",
    "X-SSL-Client-DN",
    "X-SSL-Client-CN",
    "X-SSL-Issuer",
    "X-SSL-Client-SHA1",
    "X-SSL-Client-Not-Before",
    "X-SSL-Client-Not-After",
}
EXPECTED_CODES = re.compile(r"^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$")
HOSTNAME = re.compile(
    r"^(?=.{1,255}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
HTTP_TOKEN = SAFE_TOKEN
# RFC 6265 cookie-octet: no CTLs, whitespace, DQUOTE, comma, semicolon or backslash.
COOKIE_VALUE = re.compile(r"^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$")
# Printable header-value characters (no control characters), or a double-quoted string.
HEADER_VALUE = re.compile(r'^[\x21-\x7e]+$|^"[\x20-\x7e]*"$')
DN_VALUE = re.compile(r"^[\x20-\x7e]+$")
_PCHAR = r"A-Za-z0-9\-._~!$&'()*+,;=:@/%"
URL_PATH = re.compile(rf"^/[{_PCHAR}]*(\?[{_PCHAR}?]*)?$")


def bad(field: str, value: Any, reason: str) -> BadRequest:
    return BadRequest(f"Invalid input for field/attribute {field}. Value: '{value}'. {reason}")


def listener_protocol(protocol: str) -> None:
    if protocol in UNSUPPORTED_LISTENER_PROTOCOLS:
        raise BadRequest(f"The selected protocol is not allowed in this deployment: {protocol}")


def pool_protocol(protocol: str) -> None:
    if protocol in UNSUPPORTED_POOL_PROTOCOLS:
        raise BadRequest(f"The selected protocol is not allowed in this deployment: {protocol}")


def lb_algorithm(alg: str) -> None:
    if alg == "SOURCE_IP_PORT":
        raise NotImplementedByProvider(
            "Provider 'amphora' does not support a requested option: lb_algorithm "
            "SOURCE_IP_PORT is not supported by the haproxy data plane (use SOURCE_IP)."
        )


def pool_compat(
    pool_protocol_: str, listener_protocol_: str, persistence: dict[str, Any] | None = None
) -> None:
    if pool_protocol_ not in LISTENER_POOL_COMPAT.get(listener_protocol_, frozenset()):
        raise BadRequest(
            f"Validation failure: The pool protocol '{pool_protocol_}' is invalid "
            f"while the listener protocol is '{listener_protocol_}'."
        )
    ptype = (persistence or {}).get("type")
    if ptype in ("HTTP_COOKIE", "APP_COOKIE") and listener_protocol_ != "HTTP":
        raise BadRequest(
            f"Validation failure: Session persistence of type {ptype} needs an "
            f"HTTP listener; the listener protocol is '{listener_protocol_}'."
        )


def insert_headers(headers: dict[str, str], protocol: str) -> None:
    if not headers:
        return
    if protocol not in ("HTTP", "TERMINATED_HTTPS"):
        raise BadRequest(
            f"insert-headers is not a valid option for a {protocol} protocol listener."
        )
    for key, value in headers.items():
        if key in SSL_HEADERS and protocol != "TERMINATED_HTTPS":
            raise BadRequest(f"['{key}'] is not a valid option for {protocol} protocol listener.")
        if key not in INSERT_HEADERS | SSL_HEADERS:
            raise bad(
                "insert_headers",
                key,
                "Value should be one of: " + ", ".join(sorted(INSERT_HEADERS)),
            )
        if value.lower() not in ("true", "false"):
            raise bad(f"insert_headers.{key}", value, "Value should be 'true' or 'false'")


def allowed_cidrs(cidrs: list[str], vip_addresses: list[str]) -> list[str]:
    """Normalised CIDRs; each must be of the family of one of the load balancer's VIPs
    (the primary and the `additional_vips`)."""
    families = {ipaddress.ip_address(a).version for a in vip_addresses if a}
    out: list[str] = []
    for c in cidrs:
        try:
            net = ipaddress.ip_network(c, strict=False)
        except ValueError:
            raise bad("allowed_cidrs", c, "Value should be a valid CIDR") from None
        if families and net.version not in families:
            raise BadRequest(
                f"Validation failure: CIDR {c} IP version incompatible with all VIPs' IP version."
            )
        s = str(net)
        if s not in out:
            out.append(s)
    return out


def session_persistence(sp: dict[str, Any] | None, protocol: str) -> dict[str, Any] | None:
    if sp is None:
        return None
    if protocol in lvs_validation.LVS_PROTOCOLS:
        return lvs_validation.session_persistence(sp)
    stype = sp.get("type")
    if stype is None:
        raise bad("session_persistence.type", None, "Mandatory field missing.")
    cookie = sp.get("cookie_name")
    if stype == "APP_COOKIE":
        if not cookie:
            raise BadRequest(
                'Validation failure: Field "cookie_name" must be specified when '
                'using the "APP_COOKIE" session persistence type.'
            )
        if not HTTP_TOKEN.match(cookie):
            raise bad(
                "session_persistence.cookie_name",
                cookie,
                "Value should be a cookie name (HTTP token characters only)",
            )
    elif cookie is not None:
        raise BadRequest(
            'Validation failure: Field "cookie_name" can only be specified with '
            'session persistence of type "APP_COOKIE".'
        )
    if stype in ("HTTP_COOKIE", "APP_COOKIE") and protocol != "HTTP":
        raise BadRequest(
            f"Validation failure: Session persistence of type {stype} is not "
            f"valid for {protocol} pools."
        )
    if sp.get("persistence_timeout") is not None or sp.get("persistence_granularity"):
        raise BadRequest(
            "Validation failure: persistence_timeout and persistence_granularity "
            "is only for UDP/SCTP protocol pools."
        )
    return {
        "type": stype,
        "cookie_name": cookie,
        "persistence_timeout": None,
        "persistence_granularity": None,
    }


HM_BY_POOL = {
    "HTTP": {"HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO"},
    "HTTPS": {"HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO"},
    "TCP": {"HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO"},
    "PROXY": {"HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO"},
    "PROXYV2": {"HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO"},
}


def healthmonitor(
    hm: dict[str, Any],
    pool_protocol_: str,
    udp_min_delay: int = defaults.UDP_CONNECT_MIN_INTERVAL_HEALTH_MONITOR,
) -> dict[str, Any]:
    """Validate a merged monitor (create, or stored + update) and fill HTTP defaults."""
    htype = hm["type"]
    if pool_protocol_ in lvs_validation.LVS_PROTOCOLS:
        lvs_validation.healthmonitor(hm, pool_protocol_, udp_min_delay)
    elif htype in ("UDP-CONNECT", "SCTP"):
        raise BadRequest(f"The {htype} type is only supported for pools of type UDP/SCTP.")
    if htype not in HM_BY_POOL.get(pool_protocol_, lvs_validation.HM_TYPES):
        raise BadRequest(
            f"The associated pool protocol is {pool_protocol_}, so only a "
            "UDP-CONNECT/SCTP/TCP/HTTP health monitor is supported."
        )
    http = htype in ("HTTP", "HTTPS")
    for f in ("http_method", "url_path", "expected_codes"):
        if not http and hm.get(f) is not None:
            raise BadRequest(f"{f} is not a valid option for health monitors of type {htype}")
    if not http and (hm.get("http_version") is not None or hm.get("domain_name") is not None):
        raise BadRequest(
            f"http_version and domain_name are not valid options for health "
            f"monitors of type {htype}"
        )
    if http:
        hm["http_method"] = hm.get("http_method") or defaults.HM_HTTP_METHOD
        hm["url_path"] = hm.get("url_path") or defaults.HM_URL_PATH
        hm["expected_codes"] = hm.get("expected_codes") or defaults.HM_EXPECTED_CODES
        path = hm["url_path"]
        if not URL_PATH.match(path):
            raise bad(
                "url_path",
                path,
                "Value should be an absolute URL path (RFC 3986) "
                "starting with '/' and without whitespace",
            )
        if not EXPECTED_CODES.match(hm["expected_codes"]):
            raise bad(
                "expected_codes",
                hm["expected_codes"],
                "Value should be one code (200), a list (200, 202) or a range (200-204)",
            )
    if hm.get("domain_name") is not None:
        if hm.get("http_version") is None:
            raise BadRequest("'http_version' must be specified when 'domain_name' is provided.")
        if hm["http_version"] < 1.1:
            raise BadRequest(
                "Validation failure: 'http_version' must be 1.1 or higher when "
                "'domain_name' is provided."
            )
        if not HOSTNAME.match(hm["domain_name"]):
            raise bad("domain_name", hm["domain_name"], "Value should be a valid host name")
    if hm.get("max_retries_down") is None:
        hm["max_retries_down"] = defaults.HM_MAX_RETRIES_DOWN
    return hm


def redirect_url(field: str, url: str) -> None:
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise bad(field, url, "Value should be a URL without whitespace or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad(field, url, "Value should be an http or https URL with a host")
    if any(c in url for c in '"\\'):
        raise bad(field, url, "Value should not contain quotes or backslashes")


def l7rule(rule: dict[str, Any]) -> None:
    """The type matrix of spec 2.7; `rule` is the merged rule (PUT validates old+new)."""
    rtype, ctype = rule["type"], rule["compare_type"]
    key, value = rule.get("key"), rule.get("value")

    def fail(reason: str) -> BadRequest:
        return BadRequest(f"Error parsing L7Rule: Invalid L7 Rule: {reason}")

    if rtype in ("SSL_CONN_HAS_CERT", "SSL_VERIFY_RESULT"):
        if key:
            raise fail(f'L7rule type {rtype} does not use the "key" field.')
        if ctype != "EQUAL_TO":
            raise fail(f"L7rule type {rtype} only supports the EQUAL_TO compare type.")
        if rtype == "SSL_CONN_HAS_CERT" and str(value).lower() != "true":
            raise fail(f"L7rule value {value} is not a boolean True string.")
        if rtype == "SSL_VERIFY_RESULT" and not (
            isinstance(value, str) and value.isascii() and value.isdigit()
        ):
            raise fail("L7rule type SSL_VERIFY_RESULT needs a int value, which is >= 0")
        return
    if rtype == "SSL_DN_FIELD":
        if not key or value is None:
            raise fail("L7rule type SSL_DN_FIELD needs to specify a key and a value.")
        if not DN_FIELD.match(key):
            raise fail("Invalid L7rule distinguished name field.")
    if value is None:
        raise fail("value must not be None")
    if rtype == "FILE_TYPE" and ctype not in ("EQUAL_TO", "REGEX"):
        raise fail(f"compare_type {ctype} is not valid for type FILE_TYPE (use EQUAL_TO or REGEX)")
    if rtype in ("HEADER", "COOKIE"):
        if not key:
            raise fail(f"key must be specified for type {rtype}")
        if not HTTP_TOKEN.match(key):
            raise fail(f"key '{key}' is not a valid HTTP token")
    if ctype == "REGEX":
        try:
            re.compile(value)
        except re.error as exc:
            raise fail(f"value '{value}' is not a valid regular expression: {exc}") from None
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise fail("value must not contain control characters")
    elif rtype == "COOKIE":
        if not COOKIE_VALUE.match(value):
            raise fail(f"value '{value}' contains characters not allowed in a cookie value")
    elif rtype == "SSL_DN_FIELD":
        # A DN field value (a CN) has spaces; any printable ASCII is fine (it is quoted).
        if not DN_VALUE.match(value):
            raise fail(f"value '{value}' must be printable ASCII")
    elif not HEADER_VALUE.match(value):
        raise fail(f"value '{value}' contains characters not allowed in a header value")
