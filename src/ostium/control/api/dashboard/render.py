"""Pages and fragments of the dashboard: Jinja2 with autoescaping on for every template,
the security headers every answer carries, and the bundled static files.

Everything a user named (load balancer names, descriptions, error messages that quote a
value) reaches the page through autoescaped `{{ }}` only; the policy below lets the page
run no script but the two files served from `/dashboard/static`, so even a string that
slipped through could not run.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from ostium.control.api.dashboard.forms import Form
from ostium.control.api.dashboard.session import PATH
from ostium.model.enums import PENDING
from ostium.model.enums import OperatingStatus as OS
from ostium.model.enums import ProvisioningStatus as PS

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

STATIC = {
    "htmx.min.js": ("htmx-2.0.11.min.js", "text/javascript"),
    "dashboard.js": ("dashboard.js", "text/javascript"),
    "dashboard.css": ("dashboard.css", "text/css"),
}
"""What `/dashboard/static/<name>` serves: these files of the package and nothing else."""

_TONE: dict[str, str] = {
    OS.ONLINE: "ok",
    PS.ACTIVE: "ok",
    OS.DEGRADED: "warn",
    OS.ERROR: "bad",
    PS.ERROR: "bad",
    OS.OFFLINE: "off",
    OS.NO_MONITOR: "info",
    OS.DRAINING: "warn",
}


def tone(status: str) -> str:
    """The colour class of a status: ok (green), warn (amber), bad (red), off (grey),
    info (blue), busy (PENDING_*, animated)."""
    if status in PENDING:
        return "busy"
    return _TONE.get(status, "off")


_env = Environment(
    loader=PackageLoader("ostium.control.api.dashboard", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["tone"] = tone
_env.globals["root"] = PATH


def html(
    template: str, status: int = 200, headers: dict[str, str] | None = None, **ctx: Any
) -> Response:
    body = _env.get_template(template).render(**ctx)
    return HTMLResponse(body, status_code=status, headers={**HEADERS, **(headers or {})})


def go(request: Request, url: str) -> Response:
    """Send the browser to `url`: an htmx request follows `HX-Redirect`, a plain one a
    303."""
    if request.headers.get("hx-request") == "true":
        return Response(status_code=200, headers={**HEADERS, "HX-Redirect": url})
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def form(
    form: Form,
    action: str,
    method: str,
    values: dict[str, Any],
    choices: dict[str, list[dict[str, str]]],
    errors: dict[str, str] | None = None,
    error: str = "",
) -> Response:
    return html(
        "form.html",
        form=form,
        action=action,
        method=method,
        values={
            k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in values.items()
        },
        choices=choices,
        errors=errors or {},
        error=error,
    )


def static(name: str) -> Response:
    if name not in STATIC:
        return Response(status_code=404)
    filename, media = STATIC[name]
    data = resources.files("ostium.control.api.dashboard").joinpath("static", filename).read_bytes()
    return Response(
        data,
        media_type=media,
        headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
    )
