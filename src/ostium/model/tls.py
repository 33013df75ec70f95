"""TLS constants shared by the API, the worker and the agent (Octavia's values)."""

from __future__ import annotations

import re
from enum import StrEnum

TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
"""Ascending."""
ALPN_PROTOCOLS = ("h2", "http/1.1", "http/1.0")
CLIENT_AUTH_MODES = ("NONE", "OPTIONAL", "MANDATORY")
TLS_DEFAULT_CIPHERS = (
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)
TLS13_CIPHERSUITES = frozenset(
    {
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_CCM_SHA256",
        "TLS_AES_128_CCM_8_SHA256",
    }
)
"""Names that go to haproxy's `ciphersuites` (TLS 1.3) instead of `ciphers`."""
CIPHER_STRING = re.compile(r"^[A-Za-z0-9\-+!:@=_.]+\Z")
DN_FIELD = re.compile(r"^([a-zA-Z][A-Za-z0-9-]*)$")
VERIFY_MODES = {"NONE": "none", "OPTIONAL": "optional", "MANDATORY": "required"}
"""client_authentication -> haproxy's `verify`."""


class SecretStatus(StrEnum):
    """The status of a key-manager secret or container (Barbican's; only ACTIVE is ever
    reported: ostium stores synchronously)."""

    ACTIVE = "ACTIVE"
