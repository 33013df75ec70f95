"""Keystone's JSON shapes: the token body, entities with their links, list envelopes.

Timestamps are `YYYY-MM-DDTHH:MM:SS.000000Z`, the form every client parses (tempest
accepts no other).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ostium.control.db.identity_rows import (
    IdentityAppCredential,
    IdentityAssignment,
    IdentityDomain,
    IdentityProject,
    IdentityRole,
    IdentityUser,
)
from ostium.control.identity.keystone.tokens import TokenData


def isotime(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def token(data: TokenData, catalog: list[dict[str, Any]] | None) -> dict[str, Any]:
    user = data.user
    body: dict[str, Any] = {
        "methods": list(data.methods),
        "user": {
            "domain": {"id": user.domain_id, "name": user.domain_name},
            "id": user.id,
            "name": user.name,
            "password_expires_at": None,
        },
        "audit_ids": [data.audit_id],
        "expires_at": isotime(data.expires_at),
        "issued_at": isotime(data.issued_at),
    }
    if data.project is not None:
        p = data.project
        body["project"] = {
            "domain": {"id": p.domain_id, "name": p.domain_name},
            "id": p.id,
            "name": p.name,
        }
        body["is_domain"] = False
        body["roles"] = [{"id": r.id, "name": r.name} for r in data.roles]
        if catalog is not None:
            body["catalog"] = catalog
    if data.app_cred is not None:
        body["application_credential"] = {
            "id": data.app_cred.id,
            "name": data.app_cred.name,
            "restricted": True,
        }
    return {"token": body}


def _self(base: str, path: str) -> dict[str, str]:
    return {"self": f"{base}/v3/{path}"}


def domain(base: str, row: IdentityDomain) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "enabled": row.enabled,
        "tags": [],
        "options": {},
        "links": _self(base, f"domains/{row.id}"),
    }


def project(base: str, row: IdentityProject) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "domain_id": row.domain_id,
        "description": row.description,
        "enabled": row.enabled,
        "parent_id": row.domain_id,
        "is_domain": False,
        "tags": [],
        "options": {},
        "links": _self(base, f"projects/{row.id}"),
    }


def user(base: str, row: IdentityUser) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "domain_id": row.domain_id,
        "enabled": row.enabled,
        "password_expires_at": None,
        "options": {},
        "links": _self(base, f"users/{row.id}"),
    }
    if row.default_project_id:
        out["default_project_id"] = row.default_project_id
    return out


def role(base: str, row: IdentityRole) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "domain_id": None,
        "description": row.description,
        "options": {},
        "links": _self(base, f"roles/{row.id}"),
    }


def assignment(base: str, row: IdentityAssignment) -> dict[str, Any]:
    path = f"projects/{row.project_id}/users/{row.user_id}/roles/{row.role_id}"
    return {
        "role": {"id": row.role_id},
        "user": {"id": row.user_id},
        "scope": {"project": {"id": row.project_id}},
        "links": {"assignment": f"{base}/v3/{path}"},
    }


def app_credential(
    base: str, row: IdentityAppCredential, secret: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "user_id": row.user_id,
        "project_id": row.project_id,
        "roles": [{"name": r} for r in row.roles.split(",") if r],
        "expires_at": isotime(row.expires_at) if row.expires_at else None,
        "unrestricted": row.unrestricted,
        "access_rules": [],
        "links": _self(base, f"users/{row.user_id}/application_credentials/{row.id}"),
    }
    if secret is not None:
        out["secret"] = secret
    return out


def collection(base: str, plural: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        plural: items,
        "links": {"self": f"{base}/v3/{plural}", "previous": None, "next": None},
    }
