"""The identity admin API subset of the built-in Keystone that tempest's dynamic
credentials, octavia-tempest-plugin and the openstack CLI use: domains (read),
projects, users, roles, project role grants, role assignments (admin only), a user's
own application credentials, and a project or user looking at itself. Thin: parse,
authorize, call `identity/keystone/store`, render.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ostium.control.api.deps import Raw, Svc
from ostium.control.api.routes.keystone_auth import caller, identity_base, is_admin
from ostium.control.identity.keystone import app_credentials, render, store
from ostium.control.identity.keystone.errors import BadRequest, Forbidden
from ostium.control.identity.keystone.tokens import TokenData
from ostium.control.services.context import ServiceContext

router = APIRouter(prefix="/v3")


def _admin(request: Request, svc: ServiceContext) -> str:
    """The identity base URL, once the caller is known to be an admin (else 401/403)."""
    if not is_admin(caller(request, svc)):
        raise Forbidden()
    return identity_base(request, svc)


def _body(raw: bytes, root: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw or b"null")
    except ValueError:
        raise BadRequest("Malformed JSON in the request body.") from None
    if not isinstance(doc, dict) or not isinstance(doc.get(root), dict):
        raise BadRequest(f"Invalid input for field {root}: an object is required.")
    return dict(doc[root])


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"Invalid input for field {key}: a string is required.")
    return value


def _q(request: Request, key: str) -> str | None:
    return request.query_params.get(key)


# ---- domains ---------------------------------------------------------------------------


@router.get("/domains")
def domains(request: Request, svc: Svc) -> Response:
    base = _admin(request, svc)
    with svc.db.read() as s:
        items = [render.domain(base, d) for d in store.domains(s, _q(request, "name"))]
    return JSONResponse(render.collection(base, "domains", items))


@router.get("/domains/{domain_id}")
def domain(request: Request, svc: Svc, domain_id: str) -> Response:
    base = _admin(request, svc)
    with svc.db.read() as s:
        return JSONResponse({"domain": render.domain(base, store.domain(s, domain_id))})


# ---- projects ----------------------------------------------------------------------------


@router.get("/projects")
def projects(request: Request, svc: Svc) -> Response:
    base = _admin(request, svc)
    with svc.db.read() as s:
        rows = store.projects(s, _q(request, "name"), _q(request, "domain_id"))
        items = [render.project(base, p) for p in rows]
    return JSONResponse(render.collection(base, "projects", items))


@router.post("/projects")
def create_project(request: Request, svc: Svc, raw: Raw) -> Response:
    base, body = _admin(request, svc), _body(raw, "project")
    domain_id = _opt_str(body, "domain_id") or store.DEFAULT_DOMAIN
    description = _opt_str(body, "description") or ""
    with svc.db.write() as s:
        name = store.check_name(body.get("name"), "project/name")
        row = store.create_project(s, name, domain_id, description)
        return JSONResponse({"project": render.project(base, row)}, status_code=201)


@router.get("/projects/{project_id}")
def project(request: Request, svc: Svc, project_id: str) -> Response:
    """Admins see any project; a member of a project sees that one (403 otherwise, which
    the openstack CLI reads as "use the string as the id")."""
    me = caller(request, svc)
    if not is_admin(me) and (me.project is None or me.project.id != project_id):
        raise Forbidden()
    with svc.db.read() as s:
        row = store.project(s, project_id)
        return JSONResponse({"project": render.project(identity_base(request, svc), row)})


@router.patch("/projects/{project_id}")
def update_project(request: Request, svc: Svc, raw: Raw, project_id: str) -> Response:
    """`enabled` and `description` (`openstack project set --disable`): a disabled
    project's tokens stop working at once."""
    base, body = _admin(request, svc), _body(raw, "project")
    with svc.db.write() as s:
        row = store.project(s, project_id)
        if isinstance(body.get("enabled"), bool):
            row.enabled = body["enabled"]
        row.description = _opt_str(body, "description") or row.description
        return JSONResponse({"project": render.project(base, row)})


@router.delete("/projects/{project_id}")
def delete_project(request: Request, svc: Svc, project_id: str) -> Response:
    _admin(request, svc)
    with svc.db.write() as s:
        store.delete_project(s, project_id)
    return Response(status_code=204)


# ---- users -------------------------------------------------------------------------------


@router.get("/users")
def users(request: Request, svc: Svc) -> Response:
    base = _admin(request, svc)
    with svc.db.read() as s:
        items = [
            render.user(base, u)
            for u in store.users(s, _q(request, "name"), _q(request, "domain_id"))
        ]
    return JSONResponse(render.collection(base, "users", items))


@router.post("/users")
def create_user(request: Request, svc: Svc, raw: Raw) -> Response:
    base, body = _admin(request, svc), _body(raw, "user")
    domain_id = _opt_str(body, "domain_id") or store.DEFAULT_DOMAIN
    default_project = _opt_str(body, "default_project_id")
    password = _opt_str(body, "password")
    with svc.db.write() as s:
        name = store.check_name(body.get("name"), "user/name")
        row = store.create_user(
            s, name, password, svc.settings.identity, domain_id, default_project
        )
        return JSONResponse({"user": render.user(base, row)}, status_code=201)


def _self_or_admin(request: Request, svc: ServiceContext, user_id: str) -> TokenData:
    me = caller(request, svc)
    if me.user.id != user_id and not is_admin(me):
        raise Forbidden()
    return me


@router.get("/users/{user_id}")
def user(request: Request, svc: Svc, user_id: str) -> Response:
    _self_or_admin(request, svc, user_id)
    with svc.db.read() as s:
        row = store.user(s, user_id)
        return JSONResponse({"user": render.user(identity_base(request, svc), row)})


@router.patch("/users/{user_id}")
def update_user(request: Request, svc: Svc, raw: Raw, user_id: str) -> Response:
    base, body = _admin(request, svc), _body(raw, "user")
    with svc.db.write() as s:
        if "password" in body:
            store.set_password(s, user_id, body["password"], svc.settings.identity)
        row = store.user(s, user_id)
        if isinstance(body.get("enabled"), bool):
            row.enabled = body["enabled"]
        return JSONResponse({"user": render.user(base, row)})


@router.delete("/users/{user_id}")
def delete_user(request: Request, svc: Svc, user_id: str) -> Response:
    _admin(request, svc)
    with svc.db.write() as s:
        store.delete_user(s, user_id)
    return Response(status_code=204)


@router.get("/users/{user_id}/projects")
def user_projects(request: Request, svc: Svc, user_id: str) -> Response:
    _self_or_admin(request, svc, user_id)
    base = identity_base(request, svc)
    with svc.db.read() as s:
        items = [render.project(base, p) for p in store.user_projects(s, user_id)]
    return JSONResponse(render.collection(base, "projects", items))


# ---- roles and grants --------------------------------------------------------------------


@router.get("/roles")
def roles(request: Request, svc: Svc) -> Response:
    base = _admin(request, svc)
    with svc.db.read() as s:
        items = [render.role(base, r) for r in store.roles(s, _q(request, "name"))]
    return JSONResponse(render.collection(base, "roles", items))


@router.post("/roles")
def create_role(request: Request, svc: Svc, raw: Raw) -> Response:
    base, body = _admin(request, svc), _body(raw, "role")
    with svc.db.write() as s:
        name = store.check_name(body.get("name"), "role/name")
        row = store.create_role(s, name, _opt_str(body, "description") or "")
        return JSONResponse({"role": render.role(base, row)}, status_code=201)


@router.get("/roles/{role_id}")
def role(request: Request, svc: Svc, role_id: str) -> Response:
    base = _admin(request, svc)
    with svc.db.read() as s:
        return JSONResponse({"role": render.role(base, store.role(s, role_id))})


@router.delete("/roles/{role_id}")
def delete_role(request: Request, svc: Svc, role_id: str) -> Response:
    _admin(request, svc)
    with svc.db.write() as s:
        store.delete_role(s, role_id)
    return Response(status_code=204)


@router.put("/projects/{project_id}/users/{user_id}/roles/{role_id}")
def grant(request: Request, svc: Svc, project_id: str, user_id: str, role_id: str) -> Response:
    _admin(request, svc)
    with svc.db.write() as s:
        store.grant(s, user_id, project_id, role_id)
    return Response(status_code=204)


@router.head("/projects/{project_id}/users/{user_id}/roles/{role_id}")
def check_grant(
    request: Request, svc: Svc, project_id: str, user_id: str, role_id: str
) -> Response:
    _admin(request, svc)
    with svc.db.read() as s:
        found = store.assignments(s, user_id, project_id, role_id)
    return Response(status_code=204 if found else 404)


@router.delete("/projects/{project_id}/users/{user_id}/roles/{role_id}")
def revoke(request: Request, svc: Svc, project_id: str, user_id: str, role_id: str) -> Response:
    _admin(request, svc)
    with svc.db.write() as s:
        store.revoke(s, user_id, project_id, role_id)
    return Response(status_code=204)


@router.get("/projects/{project_id}/users/{user_id}/roles")
def granted(request: Request, svc: Svc, project_id: str, user_id: str) -> Response:
    base = _admin(request, svc)
    with svc.db.read() as s:
        rows = store.assignments(s, user_id, project_id)
        items = [render.role(base, store.role(s, a.role_id)) for a in rows]
    return JSONResponse(render.collection(base, "roles", items))


@router.get("/role_assignments")
def role_assignments(request: Request, svc: Svc) -> Response:
    base = _admin(request, svc)
    with svc.db.read() as s:
        rows = store.assignments(
            s, _q(request, "user.id"), _q(request, "scope.project.id"), _q(request, "role.id")
        )
        items = [render.assignment(base, a) for a in rows]
    return JSONResponse(render.collection(base, "role_assignments", items))


# ---- application credentials (the caller's own) -------------------------------------------


@router.post("/users/{user_id}/application_credentials")
def create_app_credential(request: Request, svc: Svc, raw: Raw, user_id: str) -> Response:
    me, body = caller(request, svc), _body(raw, "application_credential")
    if me.user.id != user_id or me.project is None or me.app_cred is not None:
        raise Forbidden()
    with svc.db.write() as s:
        row, secret = app_credentials.create_for(s, me, body)
        out = render.app_credential(identity_base(request, svc), row, secret)
    return JSONResponse({"application_credential": out}, status_code=201)


@router.get("/users/{user_id}/application_credentials")
def app_credential_list(request: Request, svc: Svc, user_id: str) -> Response:
    _self_or_admin(request, svc, user_id)
    base = identity_base(request, svc)
    with svc.db.read() as s:
        items = [render.app_credential(base, c) for c in app_credentials.listing(s, user_id)]
    return JSONResponse(render.collection(base, "application_credentials", items))


@router.get("/users/{user_id}/application_credentials/{cred_id}")
def app_credential(request: Request, svc: Svc, user_id: str, cred_id: str) -> Response:
    _self_or_admin(request, svc, user_id)
    with svc.db.read() as s:
        row = app_credentials.get(s, user_id, cred_id)
        out = render.app_credential(identity_base(request, svc), row)
    return JSONResponse({"application_credential": out})


@router.delete("/users/{user_id}/application_credentials/{cred_id}")
def delete_app_credential(request: Request, svc: Svc, user_id: str, cred_id: str) -> Response:
    _self_or_admin(request, svc, user_id)
    with svc.db.write() as s:
        app_credentials.delete(s, user_id, cred_id)
    return Response(status_code=204)
