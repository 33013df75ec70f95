"""Application credentials: a secret that authenticates as one user on one project
with the roles the user had there when the credential was made (never more than the
user still has when it is used: `tokens` intersects them)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostium.control.db.identity_rows import IdentityAppCredential
from ostium.control.identity.keystone import store
from ostium.control.identity.keystone.errors import Conflict, NotFound
from ostium.control.identity.keystone.tokens import digest


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
    secret = secret or secrets.token_urlsafe(48)
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
