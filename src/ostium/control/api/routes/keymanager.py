"""The key-manager routes: a Barbican v1 subset under `/v1` on the API's own port.

Same port, because python-barbicanclient resolves every ref by its UUID relative to its
own endpoint, so refs never need a second listener; its version discovery (`GET /` with
`OpenStack-API-Version: key-manager 1.1`) is told apart from Octavia's by that header
(`root.versions` hands such requests to `discovery`). Auth and project scoping are the
Octavia API's: a caller sees only its own project's secrets and containers (a member
role is needed with tokens). Errors use Barbican's `code`/`title`/`description` shape
(app.py). Thin: each handler parses, checks the caller, calls `control/secrets`.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ostium.control.api.deps import Ctx, Svc
from ostium.control.identity.context import RequestContext
from ostium.control.secrets import containers, crypto, store
from ostium.control.services.context import ServiceContext
from ostium.model.errors import BadRequest, Forbidden

router = APIRouter(include_in_schema=False)  # /openapi.json documents Octavia v2
MAX_VERSION = "1.1"


def base(request: Request, svc: ServiceContext) -> str:
    """Where refs and version links point: the API's root, or its `/key-manager` prefix
    when the request came through it (the catalog's key-manager endpoint)."""
    prefix = str(request.scope.get("ostium.key_manager_prefix", ""))
    if svc.settings.api.api_base_uri:
        return svc.settings.api.api_base_uri.rstrip("/") + prefix
    return f"{request.url.scheme}://{request.url.netloc}{prefix}"


def asked(request: Request) -> bool:
    """A version request meant for the key-manager API: through its prefix, or with
    Barbican's microversion header at the API's root."""
    header = request.headers.get("openstack-api-version", "").lower()
    return "ostium.key_manager_prefix" in request.scope or header.startswith("key-manager")


def _version(href: str, microversioned: bool) -> dict[str, Any]:
    links = [
        {"rel": "self", "href": f"{href}/v1/"},
        {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
    ]
    if microversioned:
        return {
            "id": "v1",
            "status": "CURRENT",
            "min_version": "1.0",
            "max_version": MAX_VERSION,
            "links": links,
        }
    return {
        "id": "v1",
        "status": "stable",
        "links": links,
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.key-manager-v1+json"}
        ],
    }


def microversion(request: Request) -> str:
    header = request.headers.get("openstack-api-version", "")
    kind, _, ver = header.strip().partition(" ")
    return ver.strip() if kind.lower() == "key-manager" and ver.strip() else "1.0"


def discovery(request: Request, svc: ServiceContext) -> Response:
    """`GET /` asked by a key-manager client (300, spec keymanager.md 1.3)."""
    version = microversion(request)
    href = base(request, svc)
    if version == "1.0":
        body: dict[str, Any] = {"versions": {"values": [_version(href, False)]}}
    else:
        body = {"versions": [_version(href, True)]}
    return JSONResponse(body, status_code=300)


def _caller(ctx: RequestContext, write: bool = False) -> str:
    if not ctx.noauth and not ctx.roles & (
        {"admin", "member"} if write else {"admin", "member", "reader"}
    ):
        raise Forbidden(
            "Secret access attempt not allowed - please review your user/project privileges"
        )
    assert ctx.project_id is not None
    return ctx.project_id


def _fernet(svc: ServiceContext) -> Fernet:
    return crypto.fernet_for(svc.settings.state_dir, svc.settings.certificates.secret_key)


async def _json(request: Request) -> Any:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise store.UnsupportedMediaType(
            "Unexpected content type. Expected content types are: ['application/json']"
        )
    try:
        return json.loads(await request.body())
    except ValueError:
        raise BadRequest("Malformed JSON") from None


@router.get("/v1")
def v1(request: Request, svc: Svc, ctx: Ctx) -> Response:
    return JSONResponse({"version": _version(base(request, svc), True)})


# ---- secrets ------------------------------------------------------------------------


@router.post("/v1/secrets")
async def secret_create(request: Request, svc: Svc, ctx: Ctx) -> Response:
    project, body, href = _caller(ctx, True), await _json(request), base(request, svc)
    with svc.db.write() as session:
        row = store.create(session, _fernet(svc), project, project, body)
        ref = f"{href}/v1/secrets/{row.id}"
    return JSONResponse({"secret_ref": ref}, status_code=201, headers={"Location": ref})


@router.get("/v1/secrets")
def secret_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    query = dict(request.query_params)
    with svc.db.read() as session:
        out = store.listing(session, _caller(ctx), query, base(request, svc), microversion(request))
    return JSONResponse(out)


@router.get("/v1/secrets/{secret_id}")
def secret_show(request: Request, svc: Svc, ctx: Ctx, secret_id: str) -> Response:
    accept = request.headers.get("accept", "")
    with svc.db.read() as session:
        row = store.get(session, _caller(ctx), secret_id)
        if accept.split(";")[0].strip().lower() not in ("", "application/json", "*/*"):
            data, ctype = store.payload_for(_fernet(svc), row, accept)  # deprecated payload GET
            return Response(data, media_type=ctype)
        return JSONResponse(store.view(row, base(request, svc), microversion(request)))


@router.get("/v1/secrets/{secret_id}/payload")
def secret_payload(request: Request, svc: Svc, ctx: Ctx, secret_id: str) -> Response:
    with svc.db.read() as session:
        row = store.get(session, _caller(ctx), secret_id)
        data, ctype = store.payload_for(_fernet(svc), row, request.headers.get("accept", ""))
    return Response(data, media_type=ctype)


@router.put("/v1/secrets/{secret_id}")
async def secret_put(request: Request, svc: Svc, ctx: Ctx, secret_id: str) -> Response:
    project, raw = _caller(ctx, True), await request.body()
    ctype, enc = (
        request.headers.get("content-type", ""),
        request.headers.get("content-encoding", ""),
    )
    with svc.db.write() as session:
        store.put_payload(session, _fernet(svc), project, secret_id, raw, ctype, enc)
    return Response(status_code=204)


@router.delete("/v1/secrets/{secret_id}")
def secret_delete(svc: Svc, ctx: Ctx, secret_id: str) -> Response:
    with svc.db.write() as session:
        containers.delete_secret(session, _caller(ctx, True), secret_id)
    return Response(status_code=204)


@router.get("/v1/secrets/{secret_id}/acl")
@router.get("/v1/containers/{secret_id}/acl")
def acl_show(request: Request, svc: Svc, ctx: Ctx, secret_id: str) -> Response:
    """Everyone of the project reads its secrets; no per-user lists (not stored)."""
    with svc.db.read() as session:
        if "/containers/" in request.url.path:
            containers.get(session, _caller(ctx), secret_id)
        else:
            store.get(session, _caller(ctx), secret_id)
    return JSONResponse({"read": {"project-access": True}})


# ---- containers ---------------------------------------------------------------------


@router.post("/v1/containers")
async def container_create(request: Request, svc: Svc, ctx: Ctx) -> Response:
    project, body, href = _caller(ctx, True), await _json(request), base(request, svc)
    with svc.db.write() as session:
        c = containers.create(session, project, project, body, href)
        ref = f"{href}/v1/containers/{c.id}"
    return JSONResponse({"container_ref": ref}, status_code=201, headers={"Location": ref})


@router.get("/v1/containers")
def container_list(request: Request, svc: Svc, ctx: Ctx) -> Response:
    query = dict(request.query_params)
    with svc.db.read() as session:
        return JSONResponse(containers.listing(session, _caller(ctx), query, base(request, svc)))


@router.get("/v1/containers/{container_id}")
def container_show(request: Request, svc: Svc, ctx: Ctx, container_id: str) -> Response:
    with svc.db.read() as session:
        c = containers.get(session, _caller(ctx), container_id)
        return JSONResponse(containers.view(c, base(request, svc)))


@router.delete("/v1/containers/{container_id}")
def container_delete(svc: Svc, ctx: Ctx, container_id: str) -> Response:
    with svc.db.write() as session:
        containers.delete_container(session, _caller(ctx, True), container_id)
    return Response(status_code=204)


@router.get("/v1/containers/{container_id}/consumers")
def consumer_list(svc: Svc, ctx: Ctx, container_id: str) -> Response:
    with svc.db.read() as session:
        c = containers.get(session, _caller(ctx), container_id)
        return JSONResponse({"consumers": list(c.consumers), "total": len(c.consumers)})


@router.post("/v1/containers/{container_id}/consumers")
@router.delete("/v1/containers/{container_id}/consumers")
async def consumer_change(request: Request, svc: Svc, ctx: Ctx, container_id: str) -> Response:
    project, body, href = _caller(ctx, True), await _json(request), base(request, svc)
    with svc.db.write() as session:
        c = containers.get(session, project, container_id)
        if request.method == "POST":
            containers.add_consumer(c, body)
        else:
            containers.remove_consumer(c, body)
        session.flush()
        out = containers.view(c, href)
    headers = {"Location": f"{href}/v1/containers/{container_id}/consumers"}
    return JSONResponse(out, headers=headers if request.method == "POST" else None)
