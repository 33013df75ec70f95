"""User tokens checked against an external Keystone (`[keystone_authtoken]`).

What octavia-api does with keystonemiddleware, in a small validator: ostium gets a token
of its own (service user or application credential, `POST /v3/auth/tokens`), then asks
`GET /v3/auth/tokens?nocatalog` with `X-Auth-Token` (its own) and `X-Subject-Token` (the
user's). 200: the token's project, user and role names (Keystone already expanded the
implied roles) make the `Identity`; 404: the token is not valid (unknown, expired,
revoked). Answers are remembered in a `TokenCache` for `token_cache_time` seconds (never
past the token's expiry), keyed by a hash of the token.

A 401 on the check means ostium's own token expired or was revoked: it authenticates again
once and asks again. Keystone unreachable, refusing ostium's credentials or answering
nonsense: `ServiceUnavailable` (503 to the caller, an ERROR line here, as
keystonemiddleware does). No token, password or secret ever reaches a log line or an
error message. Called by the API's request context (`context.keystone_context`) from
worker threads: blocking httpx calls are fine there.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from ostium.control.identity.token_cache import TokenCache
from ostium.control.identity.validator import Identity
from ostium.control.settings_authtoken import KeystoneAuthtokenSettings
from ostium.model.errors import ServiceUnavailable

log = logging.getLogger("ostium.identity")

MAX_TOKEN_LENGTH = 8192
"""Longer `X-Auth-Token` values are refused without asking Keystone (Fernet tokens are
~200 characters, JWS ones ~800)."""
RENEW_MARGIN = 60.0
"""Seconds before its expiry that ostium's own token is replaced."""
UNAVAILABLE = "The identity service is not available; try again later."


class _KeystoneDown(Exception):
    """Keystone could not give an answer (the reason is for the log, never a secret)."""


class ExternalKeystone:
    def __init__(
        self,
        settings: KeystoneAuthtokenSettings,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self.base = settings.identity_v3
        verify: bool | str = settings.cafile or not settings.insecure
        self._client = client or httpx.Client(
            timeout=settings.http_connect_timeout, verify=verify, follow_redirects=False
        )
        self._clock = clock
        self._now = now
        self.cache: TokenCache[Identity | None] = TokenCache(settings.token_cache_size, clock)
        self._lock = threading.Lock()
        self._service_token: str | None = None
        self._service_renew_at = 0.0
        self.keystone_calls = 0
        """Requests sent to Keystone (both kinds): for tests and metrics."""

    # ---- the protocol ------------------------------------------------------------

    def validate(self, token: str) -> Identity | None:
        if not _well_formed(token):
            return None
        hit, known = self.cache.get(token)
        if hit:
            return known
        try:
            identity, ttl = self._check(token)
        except _KeystoneDown as exc:
            log.error("cannot validate a token at %s: %s", self.base, exc)
            raise ServiceUnavailable(UNAVAILABLE) from None
        self.cache.put(token, identity, min(float(self.settings.token_cache_time), ttl))
        return identity

    def close(self) -> None:
        self._client.close()

    # ---- validation --------------------------------------------------------------

    def _check(self, token: str) -> tuple[Identity | None, float]:
        """(identity or None, seconds the answer may be kept)."""
        for attempt in (1, 2, 3):
            if attempt == 3:
                # Keystone keeps revocation times to the second: a token issued in the
                # second its user was disabled (and enabled again) is revoked as well.
                time.sleep(1.0)
            service = self._own_token(renew=attempt > 1)
            resp = self._send(
                "GET",
                "/auth/tokens",
                params={"nocatalog": ""},
                headers={"X-Auth-Token": service, "X-Subject-Token": token},
            )
            if resp.status_code == 401 and attempt < 3:
                continue  # ostium's own token lapsed or was revoked: once more, anew
            if resp.status_code == 401:
                break
            return self._verdict(resp)
        raise _KeystoneDown("Keystone refused ostium's fresh service token (401)")

    def _verdict(self, resp: httpx.Response) -> tuple[Identity | None, float]:
        if resp.status_code in (200, 203):
            return self._identity(_json(resp))
        if resp.status_code in (400, 404):  # not a token Keystone knows (any more)
            return None, float(self.settings.token_cache_time)
        if resp.status_code == 403:
            raise _KeystoneDown(
                "the service user may not validate tokens (403): give it the 'service' "
                "or 'admin' role on its project"
            )
        raise _KeystoneDown(f"unexpected answer {resp.status_code} to a token check")

    def _identity(self, body: dict[str, Any]) -> tuple[Identity | None, float]:
        token = body.get("token")
        if not isinstance(token, dict):
            raise _KeystoneDown("token check answered without a 'token' object")
        left = (_expiry(token) - self._now()).total_seconds()
        if left <= 0:
            return None, float(self.settings.token_cache_time)
        project = token.get("project")
        project_id = project.get("id") if isinstance(project, dict) else None
        user = token.get("user")
        user_id = user.get("id") if isinstance(user, dict) else None
        roles = frozenset(
            r["name"]
            for r in token.get("roles") or []
            if isinstance(r, dict) and isinstance(r.get("name"), str)
        )
        identity = Identity(
            project_id=project_id if isinstance(project_id, str) else None,
            user_id=user_id if isinstance(user_id, str) else None,
            roles=roles,
        )
        log.debug(
            "token of user %s on project %s: roles %s",
            identity.user_id,
            identity.project_id,
            ",".join(sorted(roles)),
        )
        return identity, left

    # ---- ostium's own token ------------------------------------------------------

    def _own_token(self, renew: bool = False) -> str:
        with self._lock:
            if renew or self._service_token is None or self._clock() >= self._service_renew_at:
                self._service_token = None
                resp = self._send(
                    "POST", "/auth/tokens", params={"nocatalog": ""}, json=self._auth_body()
                )
                if resp.status_code != 201 or not resp.headers.get("X-Subject-Token"):
                    who = self._who()
                    raise _KeystoneDown(
                        f"Keystone refused ostium's service credentials ({who}): {resp.status_code}"
                    )
                token = _json(resp).get("token") or {}
                lifetime = (_expiry(token) - _issued(token, self._now())).total_seconds()
                self._service_renew_at = self._clock() + max(lifetime - RENEW_MARGIN, 0.0)
                self._service_token = resp.headers["X-Subject-Token"]
            return self._service_token

    def _auth_body(self) -> dict[str, Any]:
        s = self.settings
        if s.uses_application_credential:
            cred: dict[str, Any] = {"secret": s.application_credential_secret}
            if s.application_credential_id:
                cred["id"] = s.application_credential_id
            else:
                cred["name"] = s.application_credential_name
                cred["user"] = _named(s.username, s.user_domain_id, s.user_domain_name)
            identity = {"methods": ["application_credential"], "application_credential": cred}
            return {"auth": {"identity": identity}}
        user = (
            {"id": s.user_id}
            if s.user_id
            else _named(s.username, s.user_domain_id, s.user_domain_name)
        )
        user["password"] = s.password
        auth: dict[str, Any] = {
            "identity": {"methods": ["password"], "password": {"user": user}},
        }
        if s.project_id:
            auth["scope"] = {"project": {"id": s.project_id}}
        elif s.project_name:
            auth["scope"] = {
                "project": _named(s.project_name, s.project_domain_id, s.project_domain_name)
            }
        return {"auth": auth}

    def _who(self) -> str:
        s = self.settings
        if s.uses_application_credential:
            name = s.application_credential_id or s.application_credential_name
            return f"application credential {name}"
        return f"user {s.user_id or s.username}"

    # ---- transport ---------------------------------------------------------------

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One request, tried again on transport errors; the only place httpx raises."""
        last = ""
        for _ in range(self.settings.http_request_max_retries + 1):
            self.keystone_calls += 1
            try:
                return self._client.request(method, self.base + path, **kw)
            except httpx.TransportError as exc:
                last = type(exc).__name__
        raise _KeystoneDown(f"no answer ({last})")


def _well_formed(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_LENGTH and token.isascii() and token.isprintable()


def _named(name: str, domain_id: str, domain_name: str) -> dict[str, Any]:
    domain = {"id": domain_id} if domain_id else {"name": domain_name}
    return {"name": name, "domain": domain}


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        raise _KeystoneDown(f"answer {resp.status_code} is not JSON") from None
    if not isinstance(body, dict):
        raise _KeystoneDown(f"answer {resp.status_code} is not a JSON object")
    return body


def _timestamp(token: dict[str, Any], key: str) -> dt.datetime | None:
    raw = token.get(key)
    if not isinstance(raw, str):
        return None
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _expiry(token: dict[str, Any]) -> dt.datetime:
    when = _timestamp(token, "expires_at")
    if when is None:
        raise _KeystoneDown("token without a readable expires_at")
    return when


def _issued(token: dict[str, Any], now: dt.datetime) -> dt.datetime:
    return _timestamp(token, "issued_at") or now
