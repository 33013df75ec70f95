"""`GET /openapi.json` (the document `api/openapi.py` writes, built once per app) and
`GET /docs`, a page that shows it.

Role: serve the description of the API. Neither needs a token, like the version document.
Must not load anything from the network: the page is plain HTML rendered here, without
scripts, so it works on hosts with no internet access.
"""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ostium.control.api.openapi import document


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
