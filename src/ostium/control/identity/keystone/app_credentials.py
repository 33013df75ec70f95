"""Application credentials: a secret that authenticates as one user on one project
with the roles the user had there when the credential was made, or the subset asked for
(`roles`, with the roles they imply), and never more than the user still has when it is
used (`tokens` intersects them). `expires_at` (ISO 8601, UTC) ends it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostium.control.db.identity_rows import IdentityAppCredential
from ostium.control.identity.keystone import store
from ostium.control.identity.keystone.errors import BadRequest, Conflict, NotFound
from ostium.control.identity.keystone.tokens import TokenData, digest
from ostium.model.tokens import new_secret


def create_for(
    s: Session, me: TokenData, body: dict[str, object]
) -> tuple[IdentityAppCredential, str]:
    """An application credential of the caller's token user on its project, from the
    body of `POST /v3/users/{id}/application_credentials`."""
    assert me.project is not None
    description, secret = body.get("description") or "", body.get("secret")
    if not isinstance(description, str) or not (secret is None or isinstance(secret, str)):
        raise BadRequest("Invalid input for field description or secret: strings only.")
    return create(
        s,
        me.user.id,
        me.project.id,
        _roles(body.get("roles"), me.role_names),
        store.check_name(body.get("name"), "application_credential/name"),
        description,
        _expiry(body.get("expires_at")),
        secret,
    )


def _roles(value: object, held: frozenset[str]) -> list[str]:
    """The role names asked for (by name or id; all held roles if none), with the roles
    they imply; each must be one the caller holds (404 otherwise, as Keystone)."""
    if value is None:
        return sorted(held)
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise BadRequest("Invalid input for field roles: a list of {name} or {id} objects.")
    names: set[str] = set()
    for ref in value:
        name = ref.get("name") or ref.get("id")
        if not isinstance(name, str) or name not in held:
            raise NotFound("role assignment", str(name))
        names.add(name)
    todo = list(names)
    while todo:
        for implied in store.IMPLIES.get(todo.pop(), ()):
            if implied in held and implied not in names:
                names.add(implied)
                todo.append(implied)
    return sorted(names)


def _expiry(value: object) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid input for field expires_at: {str(value)[:64]}") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


def create(
    s: Session,
    user_id: str,
    project_id: str,
    roles: Sequence[str],
    name: str,
    description: str = "",
    expires_at: dt.datetime | None = None,
    secret: str | None = None,
) -> tuple[IdentityAppCredential, str]:
    store.check_name(name, "application_credential/name")
    if secret is not None:
        store.check_password(secret)
    if s.scalar(
        select(IdentityAppCredential).where(
            IdentityAppCredential.user_id == user_id, IdentityAppCredential.name == name
        )
    ):
        raise Conflict(f"Conflict occurred attempting to store application_credential - {name}.")
    secret = secret or new_secret(48)
    row = IdentityAppCredential(
        id=store.new_id(),
        name=name,
        description=description,
        user_id=user_id,
        project_id=project_id,
        secret_hash=digest(secret),
        roles=",".join(roles),
        expires_at=expires_at,
        unrestricted=False,
    )
    s.add(row)
    s.flush()
    return row, secret


def listing(s: Session, user_id: str) -> Sequence[IdentityAppCredential]:
    return s.scalars(
        select(IdentityAppCredential)
        .where(IdentityAppCredential.user_id == user_id)
        .order_by(IdentityAppCredential.name)
    ).all()


def get(s: Session, user_id: str, cred_id: str) -> IdentityAppCredential:
    row = s.get(IdentityAppCredential, cred_id)
    if row is None or row.user_id != user_id:
        raise NotFound("application credential", cred_id)
    return row


def delete(s: Session, user_id: str, cred_id: str) -> None:
    s.delete(get(s, user_id, cred_id))
