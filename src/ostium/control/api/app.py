"""The API application factory: middleware, error shapes, routers.

Middleware (pure ASGI, cheap): request id on every response, `/v2.0` served as `/v2`,
a `.json` suffix accepted on any path, 406 when Accept excludes JSON (not on `/metrics` and
`/docs`), 413 for bodies over
`max_request_body_size`. Errors raised in handlers use Octavia's WSME shape
(`faultcode`/`faultstring`/`debuginfo`); routing errors use the webob shape.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostium.control import metrics
from ostium.control.services.context import ServiceContext
from ostium.control.services.listing import WebobError
from ostium.model.errors import ApiError

log = logging.getLogger("ostium.api")

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
}


def fault(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={
            "faultcode": "Client" if status < 500 else "Server",
            "faultstring": message,
            "debuginfo": None,
        },
    )


def webob(status: int, description: str = "") -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"code": status, "title": TITLES.get(status, ""), "description": description},
    )


class Envelope:
    """Pure ASGI middleware for the transport conventions of spec section 1, and the
    request metrics (by method, route template and status)."""

    def __init__(
        self, app: ASGIApp, max_body: int, registry: metrics.Registry = metrics.REGISTRY
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.requests = metrics.api_requests(registry)
        self.durations = metrics.api_duration(registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.envelope(scope, receive, send_status)
        finally:
            route = _route_label(scope)
            method = str(scope.get("method", ""))
            self.requests.inc(method=method, route=route, status=str(status))
            self.durations.observe(time.monotonic() - started, method=method, route=route)

    async def envelope(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = f"req-{uuid.uuid4()}"
        path: str = scope["path"]
        scope["ostium.original_path"] = path
        if path.endswith(".json"):
            path = path[:-5]
        if path == "/v2.0" or path.startswith("/v2.0/"):
            path = "/v2" + path[5:]
        if path != "/" and path.endswith("/"):
            path = path.rstrip("/")
        scope["path"] = path
        scope["raw_path"] = path.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-openstack-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        headers = dict(scope.get("headers") or [])
        accept = headers.get(b"accept", b"").decode("latin-1").strip()
        json_ok = ("application/json", "*/*", "application/*")
        if (
            accept
            and path not in ("/metrics", "/docs")
            and not any(a.split(";")[0].strip() in json_ok for a in accept.split(","))
        ):
            await fault(406, "Only content type application/json is accepted.")(
                scope, receive, send_with_id
            )
            return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await fault(413, "Request is too large.")(scope, receive, send_with_id)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except _TooLarge:
            await fault(413, "Request is too large.")(scope, receive, send_with_id)


def _route_label(scope: Scope) -> str:
    """The matched route's template (`/v2/lbaas/pools/{pool_id}`), never a raw path (ids
    would make one series per object)."""
    template = getattr(scope.get("route"), "path", None)
    if not template:
        return "unmatched"
    # FastAPI reports the route as declared in its router, without the include prefix.
    if scope["path"].startswith("/v2/") and not template.startswith("/v2"):
        template = "/v2" + template
    return str(template)


class _TooLarge(Exception):
    pass


def create_app(svc: ServiceContext) -> FastAPI:
    from ostium.control.api import openapi
    from ostium.control.api.routes import admin, lbaas, root

    app = FastAPI(title="ostium", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.svc = svc

    @app.exception_handler(WebobError)
    async def _webob(_: Request, exc: WebobError) -> Response:
        return webob(400, exc.message)

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> Response:
        resp = fault(exc.status, exc.message)
        if exc.status == 401:
            resp = JSONResponse(
                status_code=401,
                content={"error": {"code": 401, "title": "Unauthorized", "message": exc.message}},
                headers={"WWW-Authenticate": "Keystone uri='local'"},
            )
        return resp

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        return webob(exc.status_code, "" if exc.status_code in (404, 405) else str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        return fault(400, json.dumps(exc.errors(), default=str)[:500])

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unexpected error")
        return fault(500, "Internal Server Error")

    app.include_router(root.router)
    app.include_router(lbaas.router, prefix="/v2")
    app.include_router(admin.router, prefix="/v2")
    app.include_router(openapi.router)
    wrapped: Any = Envelope(app, svc.settings.api.max_request_body_size)
    return wrapped  # type: ignore[no-any-return]
