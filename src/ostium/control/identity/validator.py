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


def identity_from_token(body: object) -> Identity | None:
    """The identity in a Keystone token document (`{"token": {...}}`, as `POST` and
    `GET /v3/auth/tokens` answer, from ostium or from a real Keystone), or None if it
    is not one. Role names as listed (Keystone lists implied roles already)."""
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, dict) or not isinstance(token.get("user"), dict):
        return None
    user = token["user"].get("id")
    project = token.get("project")
    project_id = project.get("id") if isinstance(project, dict) else None
    roles = token.get("roles") if project_id is not None else []
    names = frozenset(
        r["name"] for r in (roles or []) if isinstance(r, dict) and isinstance(r.get("name"), str)
    )
    return Identity(
        project_id=project_id if isinstance(project_id, str) else None,
        user_id=user if isinstance(user, str) else None,
        roles=names,
    )


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
