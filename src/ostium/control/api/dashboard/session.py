"""Who is looking at the dashboard: the same request context the API builds.

noauth: the default project, as an API call without headers. token: the login page
takes an API token (`ostium token create`); once checked, it is kept in a cookie that
only this site's dashboard pages send (HttpOnly, SameSite=Strict, Path=/dashboard) and
that every request checks again, so a revoked or expired token logs the user out.

keystone: the login page asks for user name, password and project (domain Default)
and gets a project-scoped token from the Keystone that validates the API's tokens (the
built-in one, or `[keystone_authtoken] auth_url`); the cookie holds that token.

A login method is a `LOGIN_FIELDS` entry (the fields the login form asks for) and a
branch in `log_in` that turns those fields into a token; the rest of the dashboard only
ever sees the token.

Writes also need the `HX-Request` header, which the dashboard's own pages send and a
form on another site cannot: with the SameSite cookie, that keeps other sites from
acting in the user's name.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Request

from ostium.control.identity.context import (
    RequestContext,
    keystone_context,
    noauth_context,
    token_context,
)
from ostium.control.identity.keystone import auth_request, tokens
from ostium.control.services.context import ServiceContext
from ostium.model.errors import ApiError

COOKIE = "ostium_dashboard"
PATH = "/dashboard"

LOGIN_FIELDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "token": (("token", "API token", "password"),),
    "keystone": (
        ("username", "User name", "text"),
        ("password", "Password", "password"),
        ("project", "Project", "text"),
    ),
}
"""Per auth strategy, the login form's fields: (name, label, input type)."""


class LoginNeeded(ApiError):
    status = 401


class CrossSite(ApiError):
    status = 403


def context(svc: ServiceContext, request: Request) -> RequestContext:
    """The caller, or LoginNeeded."""
    if svc.settings.api.auth_strategy == "noauth":
        return noauth_context({}, svc.settings.api.default_project_id)
    token = request.cookies.get(COOKIE)
    if svc.settings.api.auth_strategy == "keystone":
        legacy = not svc.settings.policy.enforce_new_defaults
        ctx = keystone_context(request.app.state.validator, token, legacy)
    else:
        ctx = token_context(svc.db, token)
    if ctx is None:
        raise LoginNeeded("Please log in.")
    return ctx


def require_own_page(request: Request) -> None:
    """Refuse a write that did not come from the dashboard's own scripts."""
    if request.headers.get("hx-request") != "true":
        raise CrossSite("Dashboard changes are made from the dashboard's own pages.")


def log_in(svc: ServiceContext, fields: dict[str, str]) -> str | None:
    """The token the fields prove, or None."""
    strategy = svc.settings.api.auth_strategy
    if strategy == "token":
        token = fields.get("token", "").strip()
        return token if token and token_context(svc.db, token) is not None else None
    if strategy == "keystone":
        return _keystone_token(svc, fields)
    return None


def _password_body(fields: dict[str, str]) -> dict[str, Any]:
    domain = {"name": "Default"}
    user = {"name": fields.get("username", ""), "domain": domain}
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {**user, "password": fields.get("password", "")}},
            },
            "scope": {"project": {"name": fields.get("project", ""), "domain": domain}},
        }
    }


def _keystone_token(svc: ServiceContext, fields: dict[str, str]) -> str | None:
    """A project-scoped token for the form's user, or None (any refusal: the page says
    only that the login was not accepted)."""
    if not all(fields.get(f, "").strip() for f in ("username", "password", "project")):
        return None
    body = _password_body(fields)
    external = svc.settings.keystone_authtoken
    if external.enabled:
        try:
            r = httpx.post(
                external.identity_v3 + "/auth/tokens?nocatalog",
                json=body,
                timeout=external.http_connect_timeout,
                verify=external.cafile or not external.insecure,
            )
        except httpx.HTTPError:
            return None
        return r.headers.get("X-Subject-Token") if r.status_code == 201 else None
    try:
        token, _ = tokens.issue(svc.db, svc.settings.identity, auth_request.parse(body, None))
    except ApiError:
        return None
    return token
