"""The seam between a token and a request context in `auth_strategy = keystone`.

A `TokenValidator` turns the `X-Auth-Token` of a request into an `Identity` (project,
user, role names with implied roles expanded) or None when the token is not valid; it
raises `ServiceUnavailable` (503) when it cannot tell. `make_validator` is the only
place that picks one: `external.ExternalKeystone` when `[keystone_authtoken] auth_url`
is set (the built-in Keystone plugs in here as a sibling class). The API turns the
identity into a `RequestContext` (`context.keystone_context`) and the default RBAC rules
apply unchanged, whoever validated the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ostium.control.db.engine import Database
from ostium.control.settings import Settings


@dataclass(frozen=True)
class Identity:
    project_id: str | None
    """None for an unscoped, domain or system token: such a caller may do nothing in
    the Octavia API (its rules are all project-scoped)."""
    user_id: str | None
    roles: frozenset[str]


class TokenValidator(Protocol):
    def validate(self, token: str) -> Identity | None:
        """The identity behind a token, or None if it is unknown, expired or revoked.
        Called from a worker thread; may block (a database read, an HTTP call)."""
        ...


def make_validator(settings: Settings, db: Database) -> TokenValidator:
    """The validator of `auth_strategy = keystone`."""
    from ostium.control.identity.external import ExternalKeystone

    if settings.keystone_authtoken.enabled:
        return ExternalKeystone(settings.keystone_authtoken)
    raise ValueError("auth_strategy = keystone needs [keystone_authtoken] auth_url")
