"""Who is looking at the dashboard: the same request context the API builds.

noauth: the default project, as an API call without headers. token: the login page
takes an API token (`ostium token create`); once checked, it is kept in a cookie that
only this site's dashboard pages send (HttpOnly, SameSite=Strict, Path=/dashboard) and
that every request checks again, so a revoked or expired token logs the user out.

A login method is a `LOGIN_FIELDS` entry (the fields the login form asks for) and a
branch in `log_in` that turns those fields into an API token: a username/password form
for Keystone adds its fields there and asks the identity service for a token; the rest
of the dashboard only ever sees the token.

Writes also need the `HX-Request` header, which the dashboard's own pages send and a
form on another site cannot: with the SameSite cookie, that keeps other sites from
acting in the user's name.
"""

from __future__ import annotations

from fastapi import Request

from ostium.control.identity.context import RequestContext, noauth_context, token_context
from ostium.control.services.context import ServiceContext
from ostium.model.errors import ApiError

COOKIE = "ostium_dashboard"
PATH = "/dashboard"

LOGIN_FIELDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "token": (("token", "API token", "password"),),
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
    ctx = token_context(svc.db, request.cookies.get(COOKIE))
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
    return None
