"""The built-in Keystone's discovery and token routes (`auth_strategy = keystone`):
`GET /v3`, `POST/GET/HEAD/DELETE /v3/auth/tokens`, `GET /v3/auth/projects`,
`GET /v3/auth/catalog`. Thin: parse, call `identity/keystone`, render. Every failed
authentication waits `[identity] failure_delay` (without holding a thread) before its
401, which slows down anyone guessing passwords.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from ostium.control.api.deps import Raw, Svc
from ostium.control.identity.keystone import auth_request, render, store, tokens
from ostium.control.identity.keystone.catalog import catalog, version
from ostium.control.identity.keystone.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    Unauthorized,
)
from ostium.control.identity.keystone.tokens import TokenData
from ostium.control.services.context import ServiceContext

router = APIRouter()


def identity_base(request: Request, svc: ServiceContext) -> str:
    """The base URL identity and the catalog are served under."""
    configured = svc.settings.identity.public_endpoint or svc.settings.api.api_base_uri
    return (configured or str(request.base_url)).rstrip("/")


def caller(request: Request, svc: ServiceContext) -> TokenData:
    """Whose `X-Auth-Token` this is, or 401."""
    data = tokens.validate(svc.db, request.headers.get("x-auth-token", ""))
    if data is None:
        raise Unauthorized()
    return data


def is_admin(data: TokenData) -> bool:
    return "admin" in data.role_names


def _catalog(request: Request, svc: ServiceContext) -> list[dict[str, Any]] | None:
    if "nocatalog" in request.query_params:
        return None
    return catalog(identity_base(request, svc), svc.settings.identity)


@router.get("/v3")
def discovery(request: Request, svc: Svc) -> Response:
    return JSONResponse({"version": version(identity_base(request, svc))})


@router.post("/v3/auth/tokens")
async def issue(request: Request, svc: Svc, raw: Raw) -> Response:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise BadRequest("Malformed JSON in the request body.") from None
    try:
        req = auth_request.parse(body, request.headers.get("x-auth-token"))
        token, data = await run_in_threadpool(tokens.issue, svc.db, svc.settings.identity, req)
    except Unauthorized:
        await asyncio.sleep(svc.settings.identity.failure_delay)
        raise
    body = render.token(data, _catalog(request, svc))
    return JSONResponse(body, status_code=201, headers={"X-Subject-Token": token})


def _subject(request: Request, svc: ServiceContext) -> tuple[str, TokenData]:
    """The `X-Subject-Token` a caller may look at: its own, or anyone's for admin and
    service callers (Keystone's `identity:validate_token`); 404 if it is not valid."""
    me = caller(request, svc)
    token = request.headers.get("x-subject-token", "")
    data = tokens.validate(svc.db, token)
    if data is None:
        raise NotFound("token", "X-Subject-Token")
    if data.user.id != me.user.id and not (is_admin(me) or "service" in me.role_names):
        raise Forbidden()
    return token, data


@router.get("/v3/auth/tokens")
def check(request: Request, svc: Svc) -> Response:
    token, data = _subject(request, svc)
    body = render.token(data, _catalog(request, svc))
    return JSONResponse(body, headers={"X-Subject-Token": token})


@router.head("/v3/auth/tokens")
def check_head(request: Request, svc: Svc) -> Response:
    token, _ = _subject(request, svc)
    return Response(status_code=200, headers={"X-Subject-Token": token})


@router.delete("/v3/auth/tokens")
def revoke(request: Request, svc: Svc) -> Response:
    token, _ = _subject(request, svc)
    tokens.revoke(svc.db, token)
    return Response(status_code=204)


@router.get("/v3/auth/projects")
def my_projects(request: Request, svc: Svc) -> Response:
    me, base = caller(request, svc), identity_base(request, svc)
    with svc.db.read() as s:
        items = [render.project(base, p) for p in store.user_projects(s, me.user.id)]
    return JSONResponse(render.collection(base, "projects", items))


@router.get("/v3/auth/catalog")
def my_catalog(request: Request, svc: Svc) -> Response:
    me = caller(request, svc)
    if me.project is None:
        raise Forbidden("The service catalog is only given to a scoped token.")
    base = identity_base(request, svc)
    return JSONResponse({"catalog": catalog(base, svc.settings.identity), "links": {}})
