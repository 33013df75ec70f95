"""Domains, projects, users, roles and role assignments of the built-in Keystone.

Every function takes the caller's session (one transaction per API request or CLI
command) and raises the Keystone errors of `errors` for what a client sent wrong.
Roles imply others as in Keystone's bootstrap (admin > member > reader; the legacy
`load-balancer_*` roles imply nothing), and `effective_roles` expands them, as
Keystone's tokens list them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ostium.control.db.identity_rows import (
    IdentityAssignment,
    IdentityDomain,
    IdentityProject,
    IdentityRole,
    IdentityToken,
    IdentityUser,
)
from ostium.control.identity.keystone.errors import BadRequest, Conflict, NotFound
from ostium.control.identity.keystone.passwords import MAX_PASSWORD, hash_password
from ostium.control.settings_keystone import IdentitySettings

log = logging.getLogger("ostium.identity")

DEFAULT_DOMAIN = "default"
STANDARD_ROLES = (
    "admin",
    "member",
    "reader",
    "load-balancer_admin",
    "load-balancer_member",
    "load-balancer_observer",
    "load-balancer_global_observer",
    "load-balancer_quota_admin",
)
IMPLIES = {"admin": ("member",), "member": ("reader",)}


def new_id() -> str:
    return uuid.uuid4().hex


def check_name(value: object, field: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 255:
        raise BadRequest(f"Invalid input for field {field}: a string of 1 to 255 characters.")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadRequest(f"Invalid input for field {field}: control characters.")
    return value


def check_password(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_PASSWORD:
        raise BadRequest(
            f"Invalid input for field password: a string of 1 to {MAX_PASSWORD} characters."
        )
    return value


# ---- domains -------------------------------------------------------------------------


def ensure_default_domain(s: Session) -> IdentityDomain:
    row = s.get(IdentityDomain, DEFAULT_DOMAIN)
    if row is None:
        row = IdentityDomain(id=DEFAULT_DOMAIN, name="Default", description="", enabled=True)
        s.add(row)
        s.flush()
    return row


def domain(s: Session, ident: str | None = None, name: str | None = None) -> IdentityDomain:
    row = (
        s.get(IdentityDomain, ident)
        if ident is not None
        else s.scalar(select(IdentityDomain).where(IdentityDomain.name == name))
    )
    if row is None:
        raise NotFound("domain", str(ident if ident is not None else name))
    return row


def domains(s: Session, name: str | None = None) -> Sequence[IdentityDomain]:
    q = select(IdentityDomain).order_by(IdentityDomain.name)
    if name is not None:
        q = q.where(IdentityDomain.name == name)
    return s.scalars(q).all()


# ---- projects ------------------------------------------------------------------------


def create_project(
    s: Session, name: str, domain_id: str = DEFAULT_DOMAIN, description: str = ""
) -> IdentityProject:
    check_name(name, "project/name")
    domain(s, domain_id)
    if s.scalar(
        select(IdentityProject).where(
            IdentityProject.domain_id == domain_id, IdentityProject.name == name
        )
    ):
        raise Conflict(f"Conflict occurred attempting to store project - name {name} exists.")
    row = IdentityProject(
        id=new_id(), name=name, domain_id=domain_id, description=description, enabled=True
    )
    s.add(row)
    s.flush()
    log.info("identity: project %s (%s) created", name, row.id[:8])
    return row


def project(s: Session, ident: str) -> IdentityProject:
    row = s.get(IdentityProject, ident)
    if row is None:
        raise NotFound("project", ident)
    return row


def project_by_name(s: Session, name: str, domain_id: str) -> IdentityProject | None:
    return s.scalar(
        select(IdentityProject).where(
            IdentityProject.name == name, IdentityProject.domain_id == domain_id
        )
    )


def projects(
    s: Session, name: str | None = None, domain_id: str | None = None
) -> Sequence[IdentityProject]:
    q = select(IdentityProject).order_by(IdentityProject.name)
    if name is not None:
        q = q.where(IdentityProject.name == name)
    if domain_id is not None:
        q = q.where(IdentityProject.domain_id == domain_id)
    return s.scalars(q).all()


def delete_project(s: Session, ident: str) -> None:
    row = project(s, ident)
    s.execute(delete(IdentityAssignment).where(IdentityAssignment.project_id == ident))
    s.execute(delete(IdentityToken).where(IdentityToken.project_id == ident))
    s.delete(row)
    log.info("identity: project %s (%s) deleted", row.name, ident[:8])


# ---- users ---------------------------------------------------------------------------


def create_user(
    s: Session,
    name: str,
    password: str | None,
    cost: IdentitySettings,
    domain_id: str = DEFAULT_DOMAIN,
    default_project_id: str | None = None,
) -> IdentityUser:
    check_name(name, "user/name")
    domain(s, domain_id)
    if default_project_id is not None:
        project(s, default_project_id)
    if s.scalar(
        select(IdentityUser).where(IdentityUser.domain_id == domain_id, IdentityUser.name == name)
    ):
        raise Conflict(f"Conflict occurred attempting to store user - name {name} exists.")
    row = IdentityUser(
        id=new_id(),
        name=name,
        domain_id=domain_id,
        password_hash=(
            hash_password(check_password(password), cost) if password is not None else None
        ),
        enabled=True,
        default_project_id=default_project_id,
        failed_auth_count=0,
    )
    s.add(row)
    s.flush()
    log.info("identity: user %s (%s) created", name, row.id[:8])
    return row


def set_password(s: Session, user_id: str, password: str, cost: IdentitySettings) -> None:
    row = user(s, user_id)
    row.password_hash = hash_password(check_password(password), cost)
    row.failed_auth_count = 0
    log.info("identity: password of user %s (%s) changed", row.name, user_id[:8])
    # A new password ends the sessions of the old one, as Keystone revokes them.
    s.execute(delete(IdentityToken).where(IdentityToken.user_id == user_id))


def user(s: Session, ident: str) -> IdentityUser:
    row = s.get(IdentityUser, ident)
    if row is None:
        raise NotFound("user", ident)
    return row


def user_by_name(s: Session, name: str, domain_id: str) -> IdentityUser | None:
    return s.scalar(
        select(IdentityUser).where(IdentityUser.name == name, IdentityUser.domain_id == domain_id)
    )


def users(
    s: Session, name: str | None = None, domain_id: str | None = None
) -> Sequence[IdentityUser]:
    q = select(IdentityUser).order_by(IdentityUser.name)
    if name is not None:
        q = q.where(IdentityUser.name == name)
    if domain_id is not None:
        q = q.where(IdentityUser.domain_id == domain_id)
    return s.scalars(q).all()


def delete_user(s: Session, ident: str) -> None:
    row = user(s, ident)
    s.execute(delete(IdentityAssignment).where(IdentityAssignment.user_id == ident))
    s.execute(delete(IdentityToken).where(IdentityToken.user_id == ident))
    s.delete(row)
    log.info("identity: user %s (%s) deleted", row.name, ident[:8])


# ---- roles and assignments -----------------------------------------------------------


def create_role(s: Session, name: str, description: str = "") -> IdentityRole:
    check_name(name, "role/name")
    if role_by_name(s, name) is not None:
        raise Conflict(f"Conflict occurred attempting to store role - name {name} exists.")
    row = IdentityRole(id=new_id(), name=name, description=description)
    s.add(row)
    s.flush()
    log.info("identity: role %s (%s) created", name, row.id[:8])
    return row


def ensure_role(s: Session, name: str) -> IdentityRole:
    return role_by_name(s, name) or create_role(s, name)


def role(s: Session, ident: str) -> IdentityRole:
    row = s.get(IdentityRole, ident)
    if row is None:
        raise NotFound("role", ident)
    return row


def role_by_name(s: Session, name: str) -> IdentityRole | None:
    return s.scalar(select(IdentityRole).where(IdentityRole.name == name))


def role_ref(s: Session, name_or_id: str) -> IdentityRole:
    row = s.get(IdentityRole, name_or_id) or role_by_name(s, name_or_id)
    if row is None:
        raise NotFound("role", name_or_id)
    return row


def roles(s: Session, name: str | None = None) -> Sequence[IdentityRole]:
    q = select(IdentityRole).order_by(IdentityRole.name)
    if name is not None:
        q = q.where(IdentityRole.name == name)
    return s.scalars(q).all()


def delete_role(s: Session, ident: str) -> None:
    row = role(s, ident)
    s.execute(delete(IdentityAssignment).where(IdentityAssignment.role_id == ident))
    s.delete(row)
    log.info("identity: role %s (%s) deleted", row.name, ident[:8])


def grant(s: Session, user_id: str, project_id: str, role_id: str) -> None:
    user(s, user_id)
    project(s, project_id)
    role(s, role_id)
    if s.get(IdentityAssignment, (user_id, project_id, role_id)) is None:
        s.add(IdentityAssignment(user_id=user_id, project_id=project_id, role_id=role_id))
        s.flush()
        log.info(
            "identity: role %s given to user %s on project %s",
            *_short(role_id, user_id, project_id),
        )


def revoke(s: Session, user_id: str, project_id: str, role_id: str) -> None:
    row = s.get(IdentityAssignment, (user_id, project_id, role_id))
    if row is None:
        raise NotFound("role assignment", f"{role_id} of {user_id} on {project_id}")
    s.delete(row)
    log.info(
        "identity: role %s taken from user %s on project %s", *_short(role_id, user_id, project_id)
    )


def _short(*ids: str) -> list[str]:
    return [i[:8] for i in ids]


def assignments(
    s: Session,
    user_id: str | None = None,
    project_id: str | None = None,
    role_id: str | None = None,
) -> Sequence[IdentityAssignment]:
    q = select(IdentityAssignment)
    if user_id is not None:
        q = q.where(IdentityAssignment.user_id == user_id)
    if project_id is not None:
        q = q.where(IdentityAssignment.project_id == project_id)
    if role_id is not None:
        q = q.where(IdentityAssignment.role_id == role_id)
    return s.scalars(q).all()


def effective_roles(s: Session, user_id: str, project_id: str) -> list[IdentityRole]:
    """The user's roles on the project, implied roles included (empty: no access)."""
    direct = s.scalars(
        select(IdentityRole)
        .join(IdentityAssignment, IdentityAssignment.role_id == IdentityRole.id)
        .where(IdentityAssignment.user_id == user_id, IdentityAssignment.project_id == project_id)
    ).all()
    found = {r.name: r for r in direct}
    todo = list(found)
    while todo:
        for implied in IMPLIES.get(todo.pop(), ()):
            if implied not in found and (row := role_by_name(s, implied)) is not None:
                found[implied] = row
                todo.append(implied)
    return sorted(found.values(), key=lambda r: r.name)


def user_projects(s: Session, user_id: str) -> Sequence[IdentityProject]:
    return s.scalars(
        select(IdentityProject)
        .join(IdentityAssignment, IdentityAssignment.project_id == IdentityProject.id)
        .where(IdentityAssignment.user_id == user_id)
        .distinct()
        .order_by(IdentityProject.name)
    ).all()
