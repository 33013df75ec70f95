"""The five routes every lbaas resource has (list, create, show, update, delete), made
once for top-level resources (`/lbaas/listeners/{id}`) and once for those under a
parent (`/lbaas/pools/{pool_id}/members/{id}`).

Role: keeps each route thin and identical in shape: parse the body under its root key,
call the resource's service module, render. The service module is the only thing that
differs, so it is passed in, typed by the protocols below; no route here touches the
database or decides a rule. Each route also carries its OpenAPI fragment (`api/openapi.py`)
built from the same `Shape`, so the document names the root keys and models that `parse`
uses.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from ostium.control.api import openapi as oa
from ostium.control.api.body import parse
from ostium.control.api.deps import Ctx, Raw, Svc, base_url, empty, listing, query_items, show
from ostium.control.identity.context import RequestContext
from ostium.control.services.audit import Audited
from ostium.control.services.context import ServiceContext

Page = tuple[list[dict[str, Any]], list[dict[str, str]]]


class TopLevel(Protocol):
    """A service module for a resource addressed by its own id."""

    def listing(
        self, svc: ServiceContext, ctx: RequestContext, items: list[tuple[str, str]], base: str, /
    ) -> Page: ...
    def create(self, svc: ServiceContext, ctx: RequestContext, body: Any, /) -> dict[str, Any]: ...
    def show(self, svc: ServiceContext, ctx: RequestContext, obj_id: str, /) -> dict[str, Any]: ...
    def update(
        self, svc: ServiceContext, ctx: RequestContext, obj_id: str, body: Any, /
    ) -> dict[str, Any]: ...
    def delete(self, svc: ServiceContext, ctx: RequestContext, obj_id: str, /) -> None: ...


class Nested(Protocol):
    """A service module for a resource addressed under its parent's id."""

    def listing(
        self,
        svc: ServiceContext,
        ctx: RequestContext,
        parent_id: str,
        items: list[tuple[str, str]],
        base: str,
        /,
    ) -> Page: ...
    def create(
        self, svc: ServiceContext, ctx: RequestContext, parent_id: str, body: Any, /
    ) -> dict[str, Any]: ...
    def show(
        self, svc: ServiceContext, ctx: RequestContext, parent_id: str, obj_id: str, /
    ) -> dict[str, Any]: ...
    def update(
        self, svc: ServiceContext, ctx: RequestContext, parent_id: str, obj_id: str, body: Any, /
    ) -> dict[str, Any]: ...
    def delete(
        self, svc: ServiceContext, ctx: RequestContext, parent_id: str, obj_id: str, /
    ) -> None: ...


class Shape:
    """How one resource looks on the wire: its path, root keys and body models."""

    def __init__(
        self,
        path: str,
        root: str,
        plural: str,
        param: str,
        create: type[BaseModel],
        update: type[BaseModel],
        links: str | None = None,
    ) -> None:
        self.path, self.root, self.plural, self.param = path, root, plural, param
        self.create, self.update = create, update
        self.links = links
        """The key of the listing's links when it is not `<plural>_links`."""


def top_level(router: APIRouter, shape: Shape, service: TopLevel) -> None:
    """Add list/create/show/update/delete for `shape` at `shape.path`."""
    one = shape.path + "/{obj_id}"
    service = Audited(service, shape.root)  # one INFO line per change

    @router.get(
        shape.path, name=f"{shape.plural}-list", openapi_extra=oa.listing(shape.plural, shape.links)
    )
    def list_(request: Request, svc: Svc, ctx: Ctx) -> Response:
        page = service.listing(svc, ctx, query_items(request), base_url(request))
        return listing(shape.plural, page, shape.links)

    @router.post(
        shape.path,
        name=f"{shape.plural}-create",
        openapi_extra=oa.create(shape.root, shape.create),
    )
    def create(request: Request, svc: Svc, ctx: Ctx, raw: Raw) -> Response:
        body = parse(raw, shape.root, shape.create, shape.param)
        return show(request, shape.root, service.create(svc, ctx, body), 201)

    @router.get(one, name=f"{shape.plural}-show", openapi_extra=oa.show(shape.root))
    def show_(request: Request, svc: Svc, ctx: Ctx, obj_id: str) -> Response:
        return show(request, shape.root, service.show(svc, ctx, obj_id))

    @router.put(
        one, name=f"{shape.plural}-update", openapi_extra=oa.update(shape.root, shape.update)
    )
    def update(request: Request, svc: Svc, ctx: Ctx, raw: Raw, obj_id: str) -> Response:
        body = parse(raw, shape.root, shape.update, shape.param)
        return show(request, shape.root, service.update(svc, ctx, obj_id, body))

    @router.delete(one, name=f"{shape.plural}-delete", openapi_extra=oa.delete())
    def delete(svc: Svc, ctx: Ctx, obj_id: str) -> Response:
        service.delete(svc, ctx, obj_id)
        return empty(204)


def nested(router: APIRouter, shape: Shape, service: Nested) -> None:
    """Add list/create/show/update/delete for `shape` at `shape.path`, which holds a
    `{parent_id}` parameter."""
    one = shape.path + "/{obj_id}"
    service = Audited(service, shape.root)  # one INFO line per change

    @router.get(
        shape.path,
        name=f"{shape.plural}-list",
        openapi_extra=oa.listing(shape.plural, shape.links, parent=True),
    )
    def list_(request: Request, svc: Svc, ctx: Ctx, parent_id: str) -> Response:
        page = service.listing(svc, ctx, parent_id, query_items(request), base_url(request))
        return listing(shape.plural, page)

    @router.post(
        shape.path,
        name=f"{shape.plural}-create",
        openapi_extra=oa.create(shape.root, shape.create),
    )
    def create(request: Request, svc: Svc, ctx: Ctx, raw: Raw, parent_id: str) -> Response:
        body = parse(raw, shape.root, shape.create, shape.param)
        return show(request, shape.root, service.create(svc, ctx, parent_id, body), 201)

    @router.get(one, name=f"{shape.plural}-show", openapi_extra=oa.show(shape.root))
    def show_(request: Request, svc: Svc, ctx: Ctx, parent_id: str, obj_id: str) -> Response:
        return show(request, shape.root, service.show(svc, ctx, parent_id, obj_id))

    @router.put(
        one, name=f"{shape.plural}-update", openapi_extra=oa.update(shape.root, shape.update)
    )
    def update(
        request: Request, svc: Svc, ctx: Ctx, raw: Raw, parent_id: str, obj_id: str
    ) -> Response:
        body = parse(raw, shape.root, shape.update, shape.param)
        return show(request, shape.root, service.update(svc, ctx, parent_id, obj_id, body))

    @router.delete(one, name=f"{shape.plural}-delete", openapi_extra=oa.delete())
    def delete(svc: Svc, ctx: Ctx, parent_id: str, obj_id: str) -> Response:
        service.delete(svc, ctx, parent_id, obj_id)
        return empty(204)
