"""Routes of `/v2/ostium/hosts`: ostium's own admin API for hosts (not Octavia's).

List, show, add (answers the one-time enrollment token, once), drain or reactivate
(`PUT` with a `state`), remove; and the enrollment an agent makes with its token
(`POST /v2/ostium/hosts/enroll`, which needs no other credential). Thin: the rules are
in `services/hosts`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ostium.control.api import openapi as oa
from ostium.control.api.body import parse
from ostium.control.api.deps import Ctx, Raw, Svc, empty, show
from ostium.control.identity.policy import authorize
from ostium.control.schemas import admin as a
from ostium.control.services import hosts

router = APIRouter()


@router.get("/ostium/hosts", openapi_extra=oa.listing("hosts"))
def host_list(svc: Svc, ctx: Ctx) -> Response:
    authorize(ctx, "admin")
    return JSONResponse({"hosts": hosts.listing(svc.db)})


@router.post("/ostium/hosts", openapi_extra=oa.create("host", a.HostCreate))
def host_add(request: Request, svc: Svc, ctx: Ctx, raw: Raw) -> Response:
    authorize(ctx, "admin")
    body = parse(raw, "host", a.HostCreate)
    view, token = hosts.add(
        svc.db, svc.settings, body.name, zone=body.zone, capacity=body.capacity,
        networks=body.networks,
    )  # fmt: skip
    return show(request, "host", {**view, "enrollment_token": token}, 201)


@router.post("/ostium/hosts/enroll", openapi_extra=oa.create("enrollment", a.HostEnroll))
def host_enroll(svc: Svc, raw: Raw) -> Response:
    body = parse(raw, "enrollment", a.HostEnroll)
    return JSONResponse({"enrollment": hosts.enroll(svc.settings, svc.db, body)}, 201)


@router.get("/ostium/hosts/{ref}", openapi_extra=oa.show("host"))
def host_show(request: Request, svc: Svc, ctx: Ctx, ref: str) -> Response:
    return show(request, "host", hosts.show(svc, ctx, ref))


@router.put("/ostium/hosts/{ref}", openapi_extra=oa.update("host", a.HostUpdate))
def host_update(request: Request, svc: Svc, ctx: Ctx, raw: Raw, ref: str) -> Response:
    body = parse(raw, "host", a.HostUpdate)
    return show(request, "host", hosts.set_state(svc, ctx, ref, body.state))


@router.delete("/ostium/hosts/{ref}", openapi_extra=oa.delete())
def host_remove(svc: Svc, ctx: Ctx, ref: str) -> Response:
    authorize(ctx, "admin")
    hosts.remove(svc.db, ref)
    return empty(204)
