"""The API application factory: middleware, error shapes, routers.

Middleware (pure ASGI, cheap): request id on every response, `/v2.0` served as `/v2`,
a `.json` suffix accepted on any path, 406 when Accept excludes JSON (not on `/metrics` and
`/docs`), 413 for bodies over
`max_request_body_size` however they are framed (the body is read here, before any
handler, so a chunked body too large is a 413 and never a half-sent answer; the rest of
an oversized body is read and dropped, up to `DRAIN_LIMIT`, so the connection stays
usable instead of being reset with unread data). Errors
raised in handlers use Octavia's WSME shape (`faultcode`/`faultstring`/`debuginfo`);
routing errors use the webob shape.

An unexpected exception is answered here, once, as a 500 in the WSME shape, and the
connection stays usable. A request whose write lost a race with another writer
(`db.engine.lost_race`: deadlock, serialization failure, a row deleted under it) had no
effect, so it is run again, at most `RACE_ATTEMPTS` times, and answers what it would
have answered a moment later (usually 404 or 409).
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
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostium.control import metrics
from ostium.control.api.read_cache import ReadCache
from ostium.control.db import change_watch
from ostium.control.db.engine import lost_race
from ostium.control.services.context import ServiceContext
from ostium.control.services.listing import WebobError
from ostium.model.errors import ApiError

log = logging.getLogger("ostium.api")

RACE_ATTEMPTS = 3
"""How many times a request runs when its write keeps losing races."""
DRAIN_LIMIT = 1 << 20
"""Bytes of an oversized body read and dropped before the 413; past this, the 413 closes
the connection."""
KEY_MANAGER_ROOTS = ("secrets", "containers")
KEY_MANAGER_PREFIX = "/key-manager"
"""The key-manager endpoint in a Keystone catalog: keystoneauth's version discovery
reads the endpoint's root, which at `/` is Octavia's version list (no v1 in it)."""
"""Served at the root too (`/secrets` = `/v1/secrets`): barbicanclient given the API's
own URL as its endpoint (`--os-endpoint`, or a catalog entry without `/v1`) asks there."""
_FAILED = "ostium.unexpected_error"
"""Set in the request scope by the last-resort handler: its 500 is Envelope's to send."""

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
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


def keystone_error(status: int, message: str, identity_uri: str) -> JSONResponse:
    """Keystone's error envelope; a 401 names where to authenticate."""
    headers = {"WWW-Authenticate": f'Keystone uri="{identity_uri}"'} if status == 401 else None
    return JSONResponse(
        status_code=status,
        content={"error": {"code": status, "title": TITLES.get(status, ""), "message": message}},
        headers=headers,
    )


def _identity_uri(request: Request, svc: ServiceContext) -> str:
    """Where a 401 sends the caller: the external Keystone's `www_authenticate_uri`,
    else the built-in Keystone on this port."""
    authtoken = svc.settings.keystone_authtoken
    if authtoken.enabled:
        return authtoken.authenticate_uri
    base = svc.settings.identity.public_endpoint or svc.settings.api.api_base_uri
    return (base or str(request.base_url)).rstrip("/") + "/v3"


class Envelope:
    """Pure ASGI middleware for the transport conventions of spec section 1, and the
    request metrics (by method, route template and status)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        registry: metrics.Registry = metrics.REGISTRY,
        cache: ReadCache | None = None,
    ) -> None:
        self.app = app
        self.serve: ASGIApp = cache or app
        """What runs a request: the read cache in front of the app, or the app."""
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
        if path == KEY_MANAGER_PREFIX or path.startswith(KEY_MANAGER_PREFIX + "/"):
            scope["ostium.key_manager_prefix"] = KEY_MANAGER_PREFIX
            path = path[len(KEY_MANAGER_PREFIX) :] or "/"
        if path.split("/", 2)[1] in KEY_MANAGER_ROOTS:
            path = "/v1" + path
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
            and not path.startswith("/dashboard")  # pages for browsers (issue 14)
            and not path.startswith("/v1/")  # key-manager payloads: text or bytes
            and not any(a.split(";")[0].strip() in json_ok for a in accept.split(","))
            and _routed(self.app, scope)
        ):
            await webob(406, "Only content type application/json is accepted.")(
                scope, receive, send_with_id
            )
            return
        # No database stores a NUL in text (PostgreSQL refuses it): an id or a filter
        # value carrying one matches nothing that exists.
        if "\x00" in path:
            await webob(404)(scope, receive, send_with_id)
            return
        if b"%00" in scope.get("query_string", b""):
            await fault(400, "Query parameters must not contain NUL characters.")(
                scope, receive, send_with_id
            )
            return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            drained = int(length) <= DRAIN_LIMIT and await _drain(receive, DRAIN_LIMIT)
            await _too_large(drained)(scope, receive, send_with_id)
            return
        body = await _read_body(receive, self.max_body)
        if body is None:
            drained = await _drain(receive, DRAIN_LIMIT)
            await _too_large(drained)(scope, receive, send_with_id)
            return
        await self.run(scope, body, receive, send_with_id)

    async def run(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        """Run the app on the request (again if it lost a race); answer an unexpected
        error with a clean 500."""
        for attempt in range(1, RACE_ATTEMPTS + 1):
            run = _Attempt(scope, body, receive, send)
            try:
                await self.serve(run.scope, run.receive, run.send)
                return
            except Exception as exc:
                if run.started:
                    log.exception("error after the response started")
                    if run.complete:
                        return  # the client has its answer; keep the connection
                    raise
                if lost_race(exc) and attempt < RACE_ATTEMPTS:
                    log.info("write lost a race (%s), running the request again", exc)
                    continue
                log.exception("unexpected error")
                await fault(500, "Internal Server Error")(scope, receive, send)
                return
            finally:
                if "route" in run.scope:  # the metrics label
                    scope["route"] = run.scope["route"]


def _routed(app: ASGIApp, scope: Scope) -> bool:
    """Whether a route takes this path and method. Octavia (pecan) routes before it
    looks at Accept, so an unknown path stays a webob 404 (a known one with another
    method a 405) whatever the client accepts; only a routed request gets the 406."""
    for route in getattr(getattr(app, "router", None), "routes", ()):
        if route.matches(scope)[0] == Match.FULL:
            return True
    return False


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


class _Attempt:
    """One run of the app on a request: the body replayed from memory, and the answer
    of the last-resort handler held back (Envelope sends its own)."""

    def __init__(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        self.scope = dict(scope)
        self.body: bytes | None = body
        self._receive = receive
        self._send = send
        self.started = self.complete = False

    async def receive(self) -> Message:
        if self.body is None:
            return await self._receive()  # only a disconnect can come now
        message = {"type": "http.request", "body": self.body, "more_body": False}
        self.body = None
        return message

    async def send(self, message: Message) -> None:
        if self.scope.get(_FAILED):
            return
        self.started = True
        self.complete = message["type"] == "http.response.body" and not message.get(
            "more_body", False
        )
        await self._send(message)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it grows past `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the app sees an empty body
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _drain(receive: Receive, limit: int) -> bool:
    """Read and drop the rest of the body; True if it ended within `limit` bytes."""
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return False
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
    return False


def _too_large(drained: bool) -> Response:
    response = fault(413, "Request is too large.")
    if not drained:
        response.headers["connection"] = "close"
    return response


def create_app(svc: ServiceContext) -> FastAPI:
    from ostium.control.api.dashboard import routes as dashboard_routes
    from ostium.control.api.routes import admin, docs, hosts, keymanager, lbaas, root

    app = FastAPI(title="ostium", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.svc = svc

    @app.exception_handler(WebobError)
    async def _webob(_: Request, exc: WebobError) -> Response:
        return webob(400, exc.message)

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Response:
        if exc.status == 401 or request.url.path.startswith("/v3"):
            return keystone_error(exc.status, exc.message, _identity_uri(request, svc))
        if request.url.path.startswith("/v1"):
            return webob(exc.status, exc.message)  # the key-manager API: Barbican's shape
        return fault(exc.status, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/v3"):  # the built-in Keystone's routes
            message = TITLES.get(exc.status_code, str(exc.detail))
            return keystone_error(exc.status_code, message, _identity_uri(request, svc))
        return webob(exc.status_code, "" if exc.status_code in (404, 405) else str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        return fault(400, json.dumps(exc.errors(), default=str)[:500])

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Starlette sends this answer and then raises again; Envelope answers instead
        # (or runs the request again), so the connection is never dropped.
        request.scope[_FAILED] = True
        return fault(500, "Internal Server Error")

    app.include_router(root.router)
    app.include_router(lbaas.router, prefix="/v2")
    app.include_router(admin.router, prefix="/v2")
    app.include_router(hosts.router, prefix="/v2")
    app.include_router(docs.router)
    if svc.settings.api.auth_strategy == "keystone":
        from ostium.control.identity.validator import make_validator

        app.state.validator = make_validator(svc.settings, svc.db)
        if not svc.settings.keystone_authtoken.enabled:  # the built-in Keystone's routes
            from ostium.control.api.routes import keystone_admin, keystone_auth

            app.include_router(keystone_auth.router)
            app.include_router(keystone_admin.router)
    app.include_router(dashboard_routes.router)
    app.include_router(keymanager.router)
    cache = None
    watch = change_watch.watch_for(svc.db) if svc.settings.api.response_cache_mb > 0 else None
    if watch is not None:
        cache = ReadCache(app, watch, svc.settings.api.response_cache_mb << 20)
    wrapped: Any = Envelope(app, svc.settings.api.max_request_body_size, cache=cache)
    return wrapped  # type: ignore[no-any-return]
