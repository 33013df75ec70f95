"""The OpenAPI document of the API (served by `routes/docs.py` at `/openapi.json`, and
shown as a page at `/docs`).

Role: routes declare their wire shape with the helpers here (`listing`, `create`, `show`,
`update`, `delete`, `action`, `fetch`), passed as FastAPI's `openapi_extra`; `document`
walks the app's routes and writes the document from those fragments, the path templates
and the pydantic models of `ostium.control.schemas` (the very models `api/body.py`
validates with, so the document cannot drift from the checks). FastAPI's own generator
is not used: the handlers read raw bodies, so it would describe no body, and it would
add a 422 that ostium never answers (validation errors are Octavia's 400s).

Callers: `routes/*` (the fragments), `routes/docs.py` (serves the document).

Must not: change how a request is parsed, validated or answered (the document describes,
the handlers decide); touch the database; load anything from the network -- the page is
plain HTML rendered here, without scripts, so it works on hosts with no internet access.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

import fastapi.routing
from fastapi import FastAPI
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
