"""The seam between a token and a request context in `auth_strategy = keystone`.

A `TokenValidator` turns the `X-Auth-Token` of a request into an `Identity`
(project, user, role names with implied roles expanded) or None when the token is not
valid. `BuiltinValidator` asks ostium's own Keystone (`keystone/tokens.py`); an
external Keystone plugs in with another class of the same shape, chosen in
`make_validator` (the only place that picks). The API turns the identity into a
`RequestContext` (`context.keystone_context`) and the default RBAC rules apply
unchanged, whoever validated the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ostium.control.db.engine import Database
from ostium.control.identity.keystone import tokens
from ostium.control.settings import Settings


@dataclass(frozen=True)
class Identity:
    project_id: str | None
    """None for an unscoped token: such a caller may do nothing in the Octavia API."""
    user_id: str | None
    roles: frozenset[str]


class TokenValidator(Protocol):
    def validate(self, token: str) -> Identity | None:
        """The identity behind a token, or None if it is unknown, expired or revoked.
        Called from a worker thread; may block (a database read, an HTTP call)."""
        ...


@dataclass(frozen=True)
class BuiltinValidator:
    db: Database

    def validate(self, token: str) -> Identity | None:
        data = tokens.validate(self.db, token)
        if data is None:
            return None
        project = data.project.id if data.project is not None else None
        return Identity(project_id=project, user_id=data.user.id, roles=data.role_names)


def make_validator(settings: Settings, db: Database) -> TokenValidator:
    """The validator of `auth_strategy = keystone`: an external Keystone when
    `[keystone_authtoken] auth_url` is set, else the built-in one."""
    if settings.keystone_authtoken.enabled:
        from ostium.control.identity.external import ExternalKeystone

        return ExternalKeystone(settings.keystone_authtoken)
    return BuiltinValidator(db)
