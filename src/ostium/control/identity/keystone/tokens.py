"""Tokens of the built-in Keystone: issue (password, token, application credential),
validate, revoke.

A token is 256 random bits (`model.tokens.new_secret(32)`); the database keeps only its
SHA-256, so a copy of the database lets nobody in. A token's roles are read when it is
validated, so a role removed (or a user, a project deleted) takes effect at once. A
password that fails counts against its user: after `lockout_failure_attempts` failures
the user is refused for `lockout_duration` seconds, even with the right password (the
API also waits `failure_delay` before every 401). Nothing here logs a secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ostium.control.db.engine import Database
from ostium.control.db.identity_rows import (
    IdentityAppCredential,
    IdentityProject,
    IdentityToken,
    IdentityUser,
)
from ostium.control.db.models import utcnow
from ostium.control.identity.keystone import store
from ostium.control.identity.keystone.auth_request import AuthRequest, Ref
from ostium.control.identity.keystone.errors import Unauthorized
from ostium.control.identity.keystone.passwords import verify
from ostium.control.settings_keystone import IdentitySettings
from ostium.model.tokens import new_secret

log = logging.getLogger("ostium.identity")

PURGE_AFTER = dt.timedelta(days=1)
"""Expired tokens are deleted this long after they expire."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Named:
    id: str
    name: str
    domain_id: str = ""
    domain_name: str = ""


@dataclass(frozen=True)
class TokenData:
    """What a token says: rendered as Keystone's token body by `render.token`."""

    user: Named
    project: Named | None
    roles: tuple[Named, ...]
    methods: tuple[str, ...]
    audit_id: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    app_cred: Named | None = None

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(r.name for r in self.roles)


def issue(db: Database, settings: IdentitySettings, req: AuthRequest) -> tuple[str, TokenData]:
    """A new token for a valid request (its clear value, returned once), or 401."""
    now = utcnow()
    expires = now + dt.timedelta(seconds=settings.token_expiration)
    app_cred: IdentityAppCredential | None = None
    if req.method == "password":
        user_id = _password(db, settings, req, now)
    elif req.method == "token":
        old = validate(db, req.token)
        if old is None or old.app_cred is not None:
            raise Unauthorized()
        user_id, expires = old.user.id, old.expires_at
    else:
        app_cred = _app_credential(db, req, now)
        user_id = app_cred.user_id
    token = new_secret(32)
    with db.write() as s:
        user = s.get(IdentityUser, user_id)
        if user is None or not user.enabled or not store.domain(s, user.domain_id).enabled:
            raise Unauthorized()
        project_id = app_cred.project_id if app_cred else _project(s, user, req)
        if project_id is not None and not _roles(s, user_id, project_id, app_cred):
            if req.scope is not None or app_cred is not None:
                raise Unauthorized()  # no role on the project asked for: no token for it
            project_id = None  # no role on the default project: unscoped, as Keystone
        s.add(
            IdentityToken(
                token_hash=digest(token),
                audit_id=secrets.token_urlsafe(16)[:22],
                user_id=user_id,
                project_id=project_id,
                methods=req.method,
                app_cred_id=app_cred.id if app_cred else None,
                issued_at=now,
                expires_at=expires,
                revoked=False,
            )
        )
        s.execute(delete(IdentityToken).where(IdentityToken.expires_at < now - PURGE_AFTER))
    data = validate(db, token)
    if data is None:  # deleted in between (user or project removed): as Keystone would
        raise Unauthorized()
    return token, data


def validate(db: Database, token: str) -> TokenData | None:
    """What a live token says, or None (unknown, expired, revoked, user or project gone
    or disabled, no role left on the project)."""
    if not token or len(token) > 1024:
        return None
    with db.read() as s:
        row = s.get(IdentityToken, digest(token))
        if row is None or row.revoked or row.expires_at <= utcnow():
            return None
        user = s.get(IdentityUser, row.user_id)
        if user is None or not user.enabled:
            return None
        user_domain = store.domain(s, user.domain_id)
        app_cred = s.get(IdentityAppCredential, row.app_cred_id) if row.app_cred_id else None
        if row.app_cred_id and app_cred is None:
            return None
        project: Named | None = None
        roles: tuple[Named, ...] = ()
        if row.project_id is not None:
            p = s.get(IdentityProject, row.project_id)
            if p is None or not p.enabled:
                return None
            roles = _roles(s, user.id, p.id, app_cred)
            if not roles:
                return None
            project = Named(p.id, p.name, p.domain_id, store.domain(s, p.domain_id).name)
        return TokenData(
            user=Named(user.id, user.name, user_domain.id, user_domain.name),
            project=project,
            roles=roles,
            methods=tuple(row.methods.split(",")),
            audit_id=row.audit_id,
            issued_at=row.issued_at,
            expires_at=row.expires_at,
            app_cred=Named(app_cred.id, app_cred.name) if app_cred else None,
        )


def revoke(db: Database, token: str) -> bool:
    """Revoke a live token; False if it was not one."""
    with db.write() as s:
        row = s.get(IdentityToken, digest(token))
        if row is None or row.revoked or row.expires_at <= utcnow():
            return False
        row.revoked = True
        return True


def _roles(
    s: Session, user_id: str, project_id: str, app_cred: IdentityAppCredential | None
) -> tuple[Named, ...]:
    roles = store.effective_roles(s, user_id, project_id)
    if app_cred is not None:  # never more than the user still has
        allowed = set(app_cred.roles.split(","))
        roles = [r for r in roles if r.name in allowed]
    return tuple(Named(r.id, r.name) for r in roles)


def _domain_id(s: Session, ref: Ref) -> str | None:
    if ref.domain_id is not None:
        return ref.domain_id
    rows = store.domains(s, name=ref.domain_name)
    return rows[0].id if rows else None


def _find_user(s: Session, ref: Ref) -> IdentityUser | None:
    if ref.id is not None:
        return s.get(IdentityUser, ref.id)
    domain_id = _domain_id(s, ref)
    return None if domain_id is None else store.user_by_name(s, str(ref.name), domain_id)


def _project(s: Session, user: IdentityUser, req: AuthRequest) -> str | None:
    if req.unscoped:
        return None
    if req.scope is None:  # Keystone: the default project if the user has one
        return user.default_project_id
    ref = req.scope
    if ref.id is not None:
        p = s.get(IdentityProject, ref.id)
    else:
        domain_id = _domain_id(s, ref)
        p = None if domain_id is None else store.project_by_name(s, str(ref.name), domain_id)
    if p is None or not p.enabled or not store.domain(s, p.domain_id).enabled:
        raise Unauthorized()
    return p.id


def _password(db: Database, settings: IdentitySettings, req: AuthRequest, now: dt.datetime) -> str:
    assert req.user is not None
    with db.read() as s:
        user = _find_user(s, req.user)
        stored, user_id = (user.password_hash, user.id) if user else (None, None)
        locked = (
            user is not None
            and settings.lockout_failure_attempts > 0
            and user.failed_auth_count >= settings.lockout_failure_attempts
            and user.failed_auth_at is not None
            and now - user.failed_auth_at < dt.timedelta(seconds=settings.lockout_duration)
        )
        failures = user.failed_auth_count if user else 0
    good = verify(
        stored, req.secret, settings
    )  # always runs: no timing difference for unknown users
    if user_id is None or locked:
        raise Unauthorized()
    if not good or failures:
        with db.write() as s:
            row = s.get(IdentityUser, user_id)
            if row is not None:
                expired = row.failed_auth_at is None or now - row.failed_auth_at >= dt.timedelta(
                    seconds=settings.lockout_duration
                )
                row.failed_auth_count = 0 if good else (1 if expired else row.failed_auth_count + 1)
                row.failed_auth_at = None if good else now
                if row.failed_auth_count == settings.lockout_failure_attempts:
                    log.warning(
                        "identity: user %s (%s) locked for %gs after %d wrong passwords",
                        row.name,
                        row.id[:8],
                        settings.lockout_duration,
                        row.failed_auth_count,
                    )
    if not good:
        raise Unauthorized()
    return user_id


def _app_credential(db: Database, req: AuthRequest, now: dt.datetime) -> IdentityAppCredential:
    assert req.app_cred is not None
    with db.read() as s:
        if req.app_cred.id is not None:
            cred = s.get(IdentityAppCredential, req.app_cred.id)
        else:
            user = _find_user(s, req.user) if req.user else None
            cred = (
                None
                if user is None
                else s.scalar(
                    select(IdentityAppCredential).where(
                        IdentityAppCredential.user_id == user.id,
                        IdentityAppCredential.name == req.app_cred.name,
                    )
                )
            )
        if cred is None or (cred.expires_at is not None and cred.expires_at <= now):
            raise Unauthorized()
        if not hmac.compare_digest(cred.secret_hash, digest(req.secret)):
            raise Unauthorized()
        s.expunge(cred)
        return cred
