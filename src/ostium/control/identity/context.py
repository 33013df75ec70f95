"""Who is calling: the request context built from headers (noauth) or a token.

noauth: project from X-Project-Id (X-Tenant-Id, X-Tenant), roles from X-Roles; every
caller is admin and quotas are not enforced, as in Octavia's noauth mode. A request
with no project header belongs to `[api_settings] default_project_id`. A project id
from a header is checked (at most 255 characters of `A-Z a-z 0-9 _ . : @ -`, as
Keystone's ids and the names people use) before anything stores it: 400 otherwise.
token: `X-Auth-Token` must match a token created by `ostium token create`; its
project and role decide what the default RBAC rules allow.
keystone: a `validator.TokenValidator` says whose token it is (`keystone_context`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select

from ostium.control.db.engine import Database
from ostium.control.db.models import ApiToken, utcnow
from ostium.control.identity.validator import TokenValidator
from ostium.model.errors import BadRequest
from ostium.model.limits import PROJECT_ID_MAX_LENGTH, PROJECT_ID_PATTERN


@dataclass(frozen=True)
class RequestContext:
    project_id: str | None
    roles: frozenset[str]
    noauth: bool
    user_id: str | None = None
    legacy_roles: bool = False
    """Honour Octavia's `load-balancer_*` roles too (`[oslo_policy]
    enforce_new_defaults = false`)."""

    @property
    def is_admin(self) -> bool:
        return (
            self.noauth
            or "admin" in self.roles
            or (self.legacy_roles and "load-balancer_admin" in self.roles)
        )

    @property
    def enforce_quota(self) -> bool:
        return not self.noauth


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_project_id(project: str, source: str = "X-Project-Id") -> str:
    """The project id, or 400 naming `source` and the value."""
    if len(project) <= PROJECT_ID_MAX_LENGTH and PROJECT_ID_PATTERN.fullmatch(project):
        return project
    shown = project[:64].encode("unicode_escape").decode("ascii")
    if len(project) > 64:
        shown += f"... ({len(project)} characters)"
    raise BadRequest(
        f"Invalid input for field/attribute {source}. Value: '{shown}'. Value should be "
        f"at most {PROJECT_ID_MAX_LENGTH} characters of letters, digits and _ . : @ -"
    )


def noauth_context(headers: dict[str, str], default_project: str) -> RequestContext:
    header = next((h for h in ("x-project-id", "x-tenant-id", "x-tenant") if headers.get(h)), None)
    if header is None:
        project = default_project
    else:
        project = check_project_id(headers[header], source=_HEADER_NAMES[header])
    roles = frozenset(r.strip() for r in headers.get("x-roles", "admin").split(",") if r.strip())
    return RequestContext(project_id=project, roles=roles, noauth=True)


_HEADER_NAMES = {
    "x-project-id": "X-Project-Id",
    "x-tenant-id": "X-Tenant-Id",
    "x-tenant": "X-Tenant",
}


def token_context(db: Database, token: str | None) -> RequestContext | None:
    if not token:
        return None
    with db.read() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        if row is None or (row.expires_at is not None and row.expires_at < utcnow()):
            return None
        roles = set(r for r in row.roles.split(",") if r)
        # Implied roles, as Keystone does: admin > member > reader.
        if "admin" in roles:
            roles |= {"member", "reader"}
        if "member" in roles:
            roles |= {"reader"}
        return RequestContext(project_id=row.project_id, roles=frozenset(roles), noauth=False)


def keystone_context(
    validator: TokenValidator, token: str | None, legacy_roles: bool = False
) -> RequestContext | None:
    """The context of a Keystone token, or None if it does not authenticate. An
    unscoped token authenticates but carries no role: it may do nothing here."""
    if not token:
        return None
    identity = validator.validate(token)
    if identity is None:
        return None
    roles = identity.roles if identity.project_id is not None else frozenset()
    return RequestContext(
        project_id=identity.project_id,
        roles=roles,
        noauth=False,
        user_id=identity.user_id,
        legacy_roles=legacy_roles,
    )
