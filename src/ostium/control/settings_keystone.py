"""Typed settings of the built-in Keystone (`[identity]`) and of the policy
(`[oslo_policy]`), read by `settings.load_settings` like the other groups.

Kept out of `settings.py` so the identity options sit together; nothing here is read
at import time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IdentitySettings:
    """`[identity]`: the built-in Keystone v3 subset of `auth_strategy = keystone`."""

    token_expiration: int = 3600
    """Seconds a token lives (Keystone's `[token] expiration`)."""
    region_name: str = "RegionOne"
    """The one region of the catalog."""
    key_manager_in_catalog: bool = True
    """List `key-manager` (the Barbican v1 subset on the API port) in the catalog."""
    public_endpoint: str = ""
    """Base URL of the catalog's endpoints (e.g. `https://lb.example.com:9876`); empty:
    `[api_settings] api_base_uri`, else the URL the client called."""
    lockout_failure_attempts: int = 5
    """Failed password attempts on one user before it is locked for `lockout_duration`
    (Keystone's `[security_compliance]` names); 0 turns the lockout off."""
    lockout_duration: float = 60.0
    """Seconds a user stays locked after `lockout_failure_attempts` failures."""
    failure_delay: float = 0.5
    """Seconds every failed authentication waits before its 401 (brute force slowed)."""
    password_hash_memory_kib: int = 19456
    """argon2id memory cost of new password hashes (KiB)."""
    password_hash_time_cost: int = 2
    """argon2id passes of new password hashes."""


@dataclass(frozen=True)
class PolicySettings:
    """`[oslo_policy]`: with `enforce_new_defaults = false` Octavia's legacy roles
    (`load-balancer_member`, `load-balancer_observer`, `load-balancer_global_observer`,
    `load-balancer_quota_admin`, `load-balancer_admin`) are honoured besides the new
    defaults (admin, member, reader), as oslo.policy does with deprecated rules."""

    enforce_new_defaults: bool = True
