"""The OpenAPI document of the API (`GET /openapi.json`) and a page that shows it
(`GET /docs`).

Role: routes declare their wire shape with the helpers here (`listing`, `create`, `show`,
`update`, `delete`, `action`, `fetch`), passed as FastAPI's `openapi_extra`; `document`
walks the app's routes and writes the document from those fragments, the path templates
and the pydantic models of `ostium.control.schemas` (the very models `api/body.py`
validates with, so the document cannot drift from the checks). FastAPI's own generator
is not used: the handlers read raw bodies, so it would describe no body, and it would
add a 422 that ostium never answers (validation errors are Octavia's 400s).

Callers: `routes/*` (the fragments), `app.py` (includes `router`). The document and the
page need no token, like the version document.

Must not: change how a request is parsed, validated or answered (the document describes,
the handlers decide); touch the database; load anything from the network -- the page is
plain HTML rendered here, without scripts, so it works on hosts with no internet access.
"""

from __future__ import annotations

import html
import importlib.metadata
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

import fastapi.routing
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ostium.control.api.deps import get_ctx
from ostium.control.schemas import admin, resources

REF = "#/components/schemas/{model}"
ARRAY: dict[str, Any] = {"type": "array", "items": {"type": "object"}}

# The errors a caller can meet, by kind of operation (spec 4.1). 406 (Accept without
# JSON) can answer any request; 413 (body too large) and 415 any request with a body:
# `document` adds those.
LIST_ERRORS = (400, 401, 403)
READ_ERRORS = (401, 403, 404)
WRITE_ERRORS = (400, 401, 403, 404, 409)

_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request: the body, a filter, a sort key, a marker or the query is invalid",
    401: "Unauthorized: no valid token (token mode)",
    403: "Forbidden: policy, quota, or another project's object",
    404: "Not Found: no such object (or no such route)",
    406: "Not Acceptable: the Accept header excludes application/json",
    409: "Conflict: the load balancer is not ACTIVE, or the object is in use or exists",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type: the body is not JSON",
}

_PAGING = [
    ("limit", "Page size (capped by `pagination_max_limit`).", {"type": "integer"}),
    ("marker", "Id of the last object of the previous page.", {"type": "string"}),
    ("page_reverse", "`True` walks backwards from the marker.", {"type": "string"}),
    ("sort", "`key[:asc|desc],...`", {"type": "string"}),
    ("sort_key", "Comma-separated keys (with `sort_dir`).", {"type": "string"}),
    ("sort_dir", "Comma-separated `asc`/`desc`.", {"type": "string"}),
]

DESCRIPTION = """\
OpenStack Octavia's load-balancer API v2, as ostium serves it.

* `/v2.0/...` is a permanent alias of `/v2/...` (clients use either); this document
  lists each path once, under `/v2`. Any path may also end in `.json`.
* Request bodies carry one root key (`{"loadbalancer": {...}}`); single-object responses
  likewise, list responses the plural plus `<plural>_links`.
* Lists take `limit`, `marker`, `page_reverse`, `sort` (or `sort_key`/`sort_dir`),
  `fields` (repeated or comma-separated), any attribute as an exact-match filter, and on
  tagged resources `tags`, `tags-any`, `not-tags`, `not-tags-any`.
* Errors raised by a handler are `{"faultcode", "faultstring", "debuginfo"}`; routing
  errors (unknown path, wrong method) and list-parameter parsing errors are
  `{"code", "title", "description"}`; a missing token (token mode) is Keystone's
  `{"error": {...}}`.
* Auth: with `auth_strategy = token`, send `X-Auth-Token` (from `ostium token create`);
  with `noauth`, the project comes from `X-Project-Id` and every caller is admin.
  `GET /`, this document, `/docs` and `/metrics` need no token.
"""

_COMPONENTS: dict[str, Any] = {
    "Fault": {
        "type": "object",
        "description": "An error raised by a handler (Octavia's WSME shape).",
        "properties": {
            "faultcode": {"type": "string", "enum": ["Client", "Server"]},
            "faultstring": {"type": "string"},
            "debuginfo": {"type": ["string", "null"]},
        },
        "required": ["faultcode", "faultstring", "debuginfo"],
    },
    "WebobFault": {
        "type": "object",
        "description": "An error raised before the handler (routing, list parameters).",
        "properties": {
            "code": {"type": "integer"},
            "title": {"type": "string"},
            "description": {"type": "string"},
        },
        "required": ["code", "title", "description"],
    },
    "KeystoneFault": {
        "type": "object",
        "description": "401 in token mode (Keystone's shape).",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "integer"},
                    "title": {"type": "string"},
                    "message": {"type": "string"},
                },
                "required": ["code", "title", "message"],
            }
        },
        "required": ["error"],
    },
    "Link": {
        "type": "object",
        "properties": {"href": {"type": "string"}, "rel": {"type": "string"}},
        "required": ["href", "rel"],
    },
}


# ---- fragments that routes attach (`openapi_extra=`) -------------------------------------


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": REF.format(model=model.__name__)}


def rooted(root: str, inner: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON object with exactly one key, `root`."""
    return {
        "type": "object",
        "properties": {root: inner or {"type": "object"}},
        "required": [root],
        "additionalProperties": False,
    }


def page(plural: str, links: str | None = None) -> dict[str, Any]:
    links = links or f"{plural}_links"
    return {
        "type": "object",
        "properties": {
            plural: {"type": "array", "items": {"type": "object"}},
            links: {"type": "array", "items": {"$ref": REF.format(model="Link")}},
        },
        "required": [plural, links],
    }


def operation(
    status: int,
    result: dict[str, Any] | None,
    errors: Iterable[int],
    *,
    body: dict[str, Any] | None = None,
    query: Iterable[tuple[str, str, dict[str, Any]]] = (),
    fields: bool = False,
) -> dict[str, Any]:
    """An operation fragment: the success status and its body schema (None: no body),
    the error statuses, the request body schema, the query parameters."""
    ok: dict[str, Any] = {"description": _REASONS.get(status, "OK")}
    if result is not None:
        ok["content"] = _json(result)
    out: dict[str, Any] = {"responses": {str(status): ok, **_errors(errors)}}
    if body is not None:
        out["requestBody"] = {"required": True, "content": _json(body)}
    params = [
        {"name": name, "in": "query", "required": False, "description": text, "schema": schema}
        for name, text, schema in query
    ]
    if fields:
        params.append(
            {
                "name": "fields",
                "in": "query",
                "required": False,
                "description": "Keep only these attributes (repeat, or comma-separate).",
                "schema": {"type": "array", "items": {"type": "string"}},
                "explode": True,
            }
        )
    if params:
        out["parameters"] = params
    return out


def _errors(codes: Iterable[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in codes:
        schema: dict[str, Any] = (
            {"$ref": REF.format(model="KeystoneFault")}
            if code == 401
            else {"anyOf": [{"$ref": REF.format(model=m)} for m in ("Fault", "WebobFault")]}
        )
        out[str(code)] = {"description": _REASONS.get(code, ""), "content": _json(schema)}
    return out


def listing(plural: str, links: str | None = None, parent: bool = False) -> dict[str, Any]:
    """A paginated list; `parent`: under a parent's id (404 when there is no such parent)."""
    errors = (*LIST_ERRORS, 404) if parent else LIST_ERRORS
    return operation(200, page(plural, links), errors, query=_PAGING, fields=True)


def array(root: str) -> dict[str, Any]:
    """A list without pagination (providers, capabilities): `{root: [...]}`."""
    return operation(200, rooted(root, ARRAY), LIST_ERRORS, fields=True)


def refused(status: int) -> dict[str, Any]:
    """A route that always answers `status` (ostium serves no identity API)."""
    return {"responses": _errors([status])}


def create(root: str, model: type[BaseModel]) -> dict[str, Any]:
    return operation(201, rooted(root), WRITE_ERRORS, body=rooted(root, _ref(model)))


def update(root: str, model: type[BaseModel], status: int = 200) -> dict[str, Any]:
    return operation(status, rooted(root), WRITE_ERRORS, body=rooted(root, _ref(model)))


def show(root: str) -> dict[str, Any]:
    return operation(200, rooted(root), READ_ERRORS, fields=True)


def fetch(root: str, inner: dict[str, Any] | None = None) -> dict[str, Any]:
    """A read whose answer is `{root: ...}` and that takes no `fields`."""
    return operation(200, rooted(root, inner), READ_ERRORS)


def delete(status: int = 204, flag: str | None = None) -> dict[str, Any]:
    query = [(flag, "`true` to enable.", {"type": "string"})] if flag else []
    return operation(status, None, WRITE_ERRORS, query=query)


def action(status: int = 202) -> dict[str, Any]:
    """A PUT without a body that answers with no body (failover, config)."""
    return operation(status, None, (401, 403, 404, 409))


def text(description: str) -> dict[str, Any]:
    """A GET answered with plain text."""
    ok = {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}
    return {"responses": {"200": ok}}


def batch(model: type[BaseModel], flag: str) -> dict[str, Any]:
    """A PUT whose whole body is `model` (its one field is the root key)."""
    query = [(flag, "`true` to keep members not listed.", {"type": "string"})]
    return operation(202, None, WRITE_ERRORS, body=_ref(model), query=query)


# ---- the document ---------------------------------------------------------------------


def _models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for module in (resources, admin):
        for name, obj in vars(module).items():
            if (
                isinstance(obj, type)
                and issubclass(obj, BaseModel)
                and obj.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found.append(obj)
    return found


def _tag(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if parts[:2] in (["v2", "lbaas"], ["v2", "octavia"]) and len(parts) > 2:
        return parts[2]
    if parts[:1] == ["v2"] and len(parts) > 1:
        return "neutron (read-only subset)"
    return "discovery and service"


def routes(app: FastAPI) -> Iterator[Any]:
    """Every route `app` serves, with its full path, whatever the nesting of routers.

    FastAPI >= 0.16x keeps included routers as such in `app.routes` and offers
    `iter_route_contexts` to flatten them; older versions flatten on include."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    for route in flatten(app.routes) if flatten else app.routes:
        if getattr(route, "methods", None) and getattr(route, "endpoint", None):
            yield route


def _needs_ctx(route: Any) -> bool:
    pending = list(route.dependant.dependencies)
    while pending:
        dep = pending.pop()
        if dep.call is get_ctx:
            return True
        pending.extend(dep.dependencies)
    return False


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route `app` serves (those not hidden)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes(app):
        if not route.include_in_schema:
            continue
        extra: dict[str, Any] = route.openapi_extra or {"responses": {"200": {"description": "OK"}}}
        for method in sorted(route.methods):
            op: dict[str, Any] = json.loads(json.dumps(extra))  # a copy per operation
            # Answered by the envelope (`app.py`) before any route: a NUL in the query,
            # an Accept header without JSON.
            for code in (400, 406):
                op["responses"].setdefault(str(code), _errors([code])[str(code)])
            if "requestBody" in op:
                for code in (413, 415):
                    op["responses"].setdefault(str(code), _errors([code])[str(code)])
            slug = re.sub(r"[^a-z0-9]+", "_", f"{method} {route.path}".lower()).strip("_")
            op["operationId"] = slug
            op["summary"] = (route.endpoint.__doc__ or "").strip().split("\n")[0] or route.name
            op["tags"] = [_tag(route.path)]
            path_params = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"{(\w+)}", route.path)
            ]
            op["parameters"] = path_params + op.get("parameters", [])
            if not op["parameters"]:
                del op["parameters"]
            if _needs_ctx(route):
                op["security"] = [{"token": []}, {}]
            paths.setdefault(route.path, {})[method.lower()] = op
    _, defs = models_json_schema([(m, "validation") for m in _models()], ref_template=REF)
    schemas = {**_bounds(defs.get("$defs", {})), **_COMPONENTS}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ostium: OpenStack Octavia v2 API",
            "version": importlib.metadata.version("ostium"),
            "description": DESCRIPTION,
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}
            },
        },
    }


_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _bounds(schema: Any) -> Any:
    """`schema` with pydantic's `ge`/`le` spelled as JSON Schema keywords.

    pydantic writes the bounds of a `Field` that follows a `BeforeValidator` in an
    `Annotated` (`schemas/common.Int`, `Port`) under their Python names, which JSON
    Schema ignores; the document must carry them as `minimum`/`maximum`."""
    if isinstance(schema, dict):
        typed = "type" in schema
        return {
            (_BOUNDS[k] if typed and k in _BOUNDS and isinstance(v, int | float) else k): _bounds(v)
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_bounds(v) for v in schema]
    return schema


def _cached(request: Request) -> dict[str, Any]:
    app: FastAPI = request.app
    doc: dict[str, Any] | None = getattr(app.state, "openapi_document", None)
    if doc is None:
        doc = document(app)
        app.state.openapi_document = doc
    return doc


# ---- the routes -------------------------------------------------------------------------

router = APIRouter(include_in_schema=False)


# The envelope strips a `.json` suffix from every path before routing (spec 1.1), so
# `/openapi.json` arrives here as `/openapi`.
@router.get("/openapi")
def openapi_json(request: Request) -> Response:
    return JSONResponse(_cached(request))


@router.get("/docs")
def docs(request: Request) -> Response:
    return HTMLResponse(render(_cached(request)))


# ---- the page ---------------------------------------------------------------------------

_STYLE = """
body{font-family:sans-serif;margin:2em;max-width:70em;color:#222}
h2{margin-top:1.5em;border-bottom:1px solid #ccc}
.op{margin:.3em 0}.m{display:inline-block;width:4.5em;font-weight:bold;font-family:monospace}
.get{color:#1565c0}.post{color:#2e7d32}.put{color:#ef6c00}.delete{color:#c62828}
code,pre{background:#f5f5f5}pre{padding:.5em;overflow:auto;font-size:85%}
details{margin-left:5em}summary{cursor:pointer}
"""


def render(doc: dict[str, Any]) -> str:
    """The document as one HTML page: operations grouped by tag, each with its request
    body schema (the models resolved inline) and its response codes. No scripts."""
    e = html.escape
    schemas: dict[str, Any] = doc["components"]["schemas"]
    groups: dict[str, list[str]] = {}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            parts = [
                f'<div class="op"><span class="m {e(method)}">{e(method.upper())}</span>'
                f"<code>{e(path)}</code> {e(op.get('summary', ''))}"
            ]
            codes = ", ".join(
                f"<b>{e(c)}</b>" if c.startswith("2") else e(c) for c in op["responses"]
            )
            details = [f"<p>Responses: {codes}</p>"]
            for p in op.get("parameters", []):
                if p["in"] == "query":
                    details.append(
                        f"<p>Query <code>{e(p['name'])}</code>: {e(p.get('description', ''))}</p>"
                    )
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                text = json.dumps(_inline(body["schema"], schemas), indent=2)
                details.append(f"<p>Request body:</p><pre>{e(text)}</pre>")
            ok = next((c for c in op["responses"] if c.startswith("2")), None)
            content = op["responses"].get(ok or "", {}).get("content", {})
            if "application/json" in content:
                text = json.dumps(content["application/json"]["schema"], indent=2)
                details.append(f"<p>Response body ({e(ok or '')}):</p><pre>{e(text)}</pre>")
            parts.append(f"<details><summary>details</summary>{''.join(details)}</details></div>")
            groups.setdefault(op["tags"][0], []).append("".join(parts))
    info = doc["info"]
    sections = "".join(
        f'<h2 id="{e(tag)}">{e(tag)}</h2>' + "".join(items) for tag, items in groups.items()
    )
    toc = " | ".join(f'<a href="#{e(t)}">{e(t)}</a>' for t in groups)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{e(info['title'])}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{e(info['title'])} <small>{e(info['version'])}</small></h1>"
        f"<pre>{e(info['description'])}</pre>"
        '<p>The machine-readable document: <a href="/openapi.json">/openapi.json</a>.</p>'
        f"<p>{toc}</p>{sections}</body></html>"
    )


def _inline(schema: Any, schemas: dict[str, Any], depth: int = 0) -> Any:
    """`schema` with its `$ref`s replaced by the referenced schemas (bounded depth)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and depth < 8:
            name = ref.rsplit("/", 1)[-1]
            return _inline(schemas.get(name, schema), schemas, depth + 1)
        return {k: _inline(v, schemas, depth) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(v, schemas, depth) for v in schema]
    return schema
