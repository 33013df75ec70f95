"""The dashboard's routes (`/dashboard`): thin, as the API's: who is asking
(`session`), what to show (`services.overview`) or do (`actions`), rendered (`render`).

Pages: the load balancer list (with the create form), one load balancer (status tree,
amphorae, charts, forms), the login page. Fragments that the pages poll with htmx: the
list rows and the tree (every 2 s). `stats` answers JSON for the charts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from ostium.control.api.dashboard import actions, render, session
from ostium.control.api.dashboard.forms import CREATE, UPDATE, field_of
from ostium.control.api.deps import Svc
from ostium.control.identity.context import RequestContext
from ostium.control.services import access_logs, overview
from ostium.model.errors import ApiError

router = APIRouter(prefix=session.PATH, include_in_schema=False)
R = session.PATH


async def _values(request: Request) -> dict[str, str]:
    return dict(
        parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    )


Values = Annotated[dict[str, str], Depends(_values)]


def _as_user(request: Request, svc: Svc, fn: Callable[[RequestContext], Response]) -> Response:
    """Run `fn` for the caller; a caller who must log in is sent to the login page."""
    try:
        ctx = session.context(svc, request)
    except session.LoginNeeded:
        return render.go(request, f"{R}/login")
    return fn(ctx)


def _choices(svc: Svc, ctx: RequestContext, lb_id: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"subnets": [], "listeners": [], "pools": []}
    if lb_id is None:
        out["subnets"] = overview.subnets(svc, ctx)
    else:
        view = overview.load_balancer(svc, ctx, lb_id)
        out["listeners"], out["pools"] = view["listeners"], view["pools"]
    return out


@router.get("/static/{name}")
def static(name: str) -> Response:
    return render.static(name)


@router.get("/login")
def login_page(svc: Svc) -> Response:
    fields = session.LOGIN_FIELDS.get(svc.settings.api.auth_strategy, ())
    return render.html("login.html", fields=fields, error="")


@router.post("/login")
def login(request: Request, svc: Svc, values: Values) -> Response:
    token = session.log_in(svc, values)
    if token is None:
        fields = session.LOGIN_FIELDS.get(svc.settings.api.auth_strategy, ())
        return render.html(
            "login.html", 401, fields=fields, error="Those credentials were not accepted."
        )
    response = render.go(request, R)
    secure = request.url.scheme == "https"
    response.set_cookie(
        session.COOKIE, token, httponly=True, samesite="strict", path=R, secure=secure
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    response = render.go(request, f"{R}/login")
    response.delete_cookie(session.COOKIE, path=R)
    return response


@router.get("")
def index(request: Request, svc: Svc) -> Response:
    def page(ctx: RequestContext) -> Response:
        lbs = overview.load_balancers(svc, ctx)
        return render.html(
            "index.html",
            lbs=lbs,
            form=CREATE["loadbalancer"],
            choices=_choices(svc, ctx, None),
            auth=svc.settings.api.auth_strategy,
        )

    return _as_user(request, svc, page)


@router.get("/rows")
def rows(request: Request, svc: Svc) -> Response:
    return _as_user(
        request, svc, lambda ctx: render.html("rows.html", lbs=overview.load_balancers(svc, ctx))
    )


@router.get("/lbs/{lb_id}")
def lb_page(request: Request, svc: Svc, lb_id: str) -> Response:
    def page(ctx: RequestContext) -> Response:
        try:
            view = overview.load_balancer(svc, ctx, lb_id)
        except ApiError as exc:
            return render.html("gone.html", exc.status, message=exc.message)
        return render.html("lb.html", view=view, forms=CREATE, auth=svc.settings.api.auth_strategy)

    return _as_user(request, svc, page)


@router.get("/lbs/{lb_id}/tree")
def tree(request: Request, svc: Svc, lb_id: str) -> Response:
    def fragment(ctx: RequestContext) -> Response:
        try:
            view = overview.load_balancer(svc, ctx, lb_id)
        except ApiError:  # deleted meanwhile: back to the list
            return render.go(request, R)
        return render.html("tree.html", view=view)

    return _as_user(request, svc, fragment)


@router.get("/lbs/{lb_id}/logs")
def logs(request: Request, svc: Svc, lb_id: str) -> Response:
    def fragment(ctx: RequestContext) -> Response:
        page = access_logs.lines(svc, ctx, lb_id, {"limit": "40"})
        return render.html("logs.html", lines=[x["line"] for x in reversed(page["lines"])])

    return _as_user(request, svc, fragment)


@router.get("/lbs/{lb_id}/stats")
def stats(request: Request, svc: Svc, lb_id: str) -> Response:
    return _as_user(request, svc, lambda ctx: JSONResponse(overview.statistics(svc, ctx, lb_id)))


@router.get("/forms/{kind}")
def form(
    request: Request, svc: Svc, kind: str, lb: str = "", obj: str = "", pool: str = ""
) -> Response:
    """An empty create form, or an edit form filled with the object's values."""

    def fragment(ctx: RequestContext) -> Response:
        choices = _choices(svc, ctx, lb or None)
        if obj:
            current = actions.current(svc, ctx, kind, obj, pool)
            action = f"{R}/lbs/{quote(lb)}/{quote(kind)}/{quote(obj)}?pool={quote(pool)}"
            return render.form(UPDATE[kind], action, "put", current, choices)
        action = f"{R}/lbs/{quote(lb)}/{quote(kind)}" if lb else f"{R}/lbs"
        return render.form(CREATE[kind], action, "post", {}, choices)

    if kind not in CREATE:
        return Response(status_code=404)
    return _as_user(request, svc, fragment)


def _submit(
    request: Request,
    svc: Svc,
    values: dict[str, str],
    kind: str,
    lb_id: str | None,
    obj_id: str = "",
    pool: str = "",
) -> Response:
    session.require_own_page(request)
    table = UPDATE if obj_id else CREATE
    if kind not in table:
        return Response(status_code=404)

    def run(ctx: RequestContext) -> Response:
        try:
            if obj_id:
                actions.update(svc, ctx, kind, obj_id, pool, values)
                target = lb_id
            else:
                target = actions.create(svc, ctx, kind, lb_id, values)
        except ApiError as exc:
            field = field_of(exc.message, table[kind])
            errors = {field: exc.message} if field else {}
            action = str(request.url.path) + (f"?pool={quote(pool)}" if pool else "")
            method = "put" if obj_id else "post"
            return render.form(
                table[kind],
                action,
                method,
                values,
                _choices(svc, ctx, lb_id),
                errors,
                "" if field else exc.message,
            )
        return render.go(request, f"{R}/lbs/{target}")

    return _as_user(request, svc, run)


@router.post("/lbs")
def create_lb(request: Request, svc: Svc, values: Values) -> Response:
    return _submit(request, svc, values, "loadbalancer", None)


@router.post("/lbs/{lb_id}/{kind}")
def create_child(request: Request, svc: Svc, values: Values, lb_id: str, kind: str) -> Response:
    return _submit(request, svc, values, kind, lb_id)


@router.put("/lbs/{lb_id}/{kind}/{obj_id}")
def update(
    request: Request, svc: Svc, values: Values, lb_id: str, kind: str, obj_id: str, pool: str = ""
) -> Response:
    return _submit(request, svc, values, kind, lb_id, obj_id, pool)


@router.delete("/lbs/{lb_id}/{kind}/{obj_id}")
def delete(
    request: Request, svc: Svc, lb_id: str, kind: str, obj_id: str, pool: str = ""
) -> Response:
    session.require_own_page(request)

    def run(ctx: RequestContext) -> Response:
        try:
            actions.delete(svc, ctx, kind, obj_id, pool)
        except ApiError as exc:
            return render.html("flash.html", message=exc.message, headers={"HX-Retarget": "#flash"})
        return render.go(request, R if kind == "loadbalancer" else f"{R}/lbs/{lb_id}")

    return _as_user(request, svc, run)
