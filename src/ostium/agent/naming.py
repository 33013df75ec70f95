"""Deterministic names for what the agent creates on the host.

Role: map an amphora id (and a member subnet id) to a namespace name, veth names and a
directory name, all derived from a short configurable prefix so that one agent can tell
its own objects apart (and tests can use a prefix of their own). Pure functions; callers:
`netns`, `registry`.

Linux limits interface names to 15 characters; the prefix is capped at 5.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

DEFAULT_PREFIX = "amp-"
MAX_PREFIX = 5
VIP_IFNAME = "eth1"


def _hex(*parts: str) -> str:
    return hashlib.sha1("/".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Names:
    """All names for one amphora under one prefix."""

    prefix: str
    amphora_id: str

    def __post_init__(self) -> None:
        if not 1 <= len(self.prefix) <= MAX_PREFIX or not self.prefix.replace("-", "").isalnum():
            raise ValueError(f"name prefix {self.prefix!r} must be 1-5 of [A-Za-z0-9-]")

    @cached_property
    def short(self) -> str:
        """12 hex characters of the amphora id (without dashes)."""
        raw = self.amphora_id.replace("-", "").lower()
        return raw[:12] if all(c in "0123456789abcdef" for c in raw) else _hex(raw)[:12]

    @cached_property
    def namespace(self) -> str:
        return f"{self.prefix}{self.short}"

    @property
    def vip_host_veth(self) -> str:
        return f"{self.prefix}v{_hex(self.amphora_id)[: 14 - len(self.prefix)]}"

    @property
    def vip_peer_veth(self) -> str:
        """Temporary name of the namespace end while it is still in the root namespace."""
        return f"{self.prefix}p{_hex(self.amphora_id)[: 14 - len(self.prefix)]}"

    def member_host_veth(self, subnet_id: str) -> str:
        return f"{self.prefix}m{_hex(self.amphora_id, subnet_id)[: 14 - len(self.prefix)]}"

    def member_peer_veth(self, subnet_id: str) -> str:
        return f"{self.prefix}q{_hex(self.amphora_id, subnet_id)[: 14 - len(self.prefix)]}"

    def owns_namespace(self, namespace: str) -> bool:
        """True if `namespace` has the exact shape of an amphora namespace of our prefix."""
        rest = namespace[len(self.prefix) :]
        return (
            namespace.startswith(self.prefix)
            and len(rest) == 12
            and all(c in "0123456789abcdef" for c in rest)
        )

    @staticmethod
    def member_ifname(subnet_id: str) -> str:
        """The member NIC's name inside the namespace."""
        return f"mem{_hex(subnet_id)[:8]}"
