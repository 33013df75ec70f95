"""Who is calling: the request context built from headers (noauth) or a token.

noauth: project from X-Project-Id (X-Tenant-Id, X-Tenant), roles from X-Roles; every
caller is admin and quotas are not enforced, as in Octavia's noauth mode. A request
with no project header belongs to `[api_settings] default_project_id`.
token: `X-Auth-Token` must match a token created by `ostium token create`; its
project and role decide what the default RBAC rules allow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select

from ostium.control.db.engine import Database
from ostium.control.db.models import ApiToken, utcnow


@dataclass(frozen=True)
class RequestContext:
    project_id: str | None
    roles: frozenset[str]
    noauth: bool

    @property
    def is_admin(self) -> bool:
        return self.noauth or "admin" in self.roles

    @property
    def enforce_quota(self) -> bool:
        return not self.noauth


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def noauth_context(headers: dict[str, str], default_project: str) -> RequestContext:
    project = (
        headers.get("x-project-id")
        or headers.get("x-tenant-id")
        or headers.get("x-tenant")
        or default_project
    )
    roles = frozenset(r.strip() for r in headers.get("x-roles", "admin").split(",") if r.strip())
    return RequestContext(project_id=project, roles=roles, noauth=True)


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
