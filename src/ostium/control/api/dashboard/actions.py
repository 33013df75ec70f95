"""What a submitted dashboard form does: the service call behind each kind of object.

Role: the dashboard's only door to the write services, the same five functions the
`/v2` routes call, so a form obeys every rule the API enforces (409 lock, quotas, RBAC,
validation). `submit` returns the load balancer to show next, or raises the service's
`ApiError` for the form to display.
"""

from __future__ import annotations

from typing import Any

from ostium.control.api.body import validate
from ostium.control.api.dashboard.forms import CREATE, UPDATE, body_of
from ostium.control.identity.context import RequestContext
from ostium.control.services import healthmonitors as _healthmonitors
from ostium.control.services import listeners as _listeners
from ostium.control.services import loadbalancers as _loadbalancers
from ostium.control.services import members as _members
from ostium.control.services import pools as _pools
from ostium.control.services.audit import Audited
from ostium.control.services.context import ServiceContext
from ostium.model.errors import NotFound

KINDS = ("loadbalancer", "listener", "pool", "member", "healthmonitor")
# the same logged services the API's routes call
lbs = Audited(_loadbalancers, "loadbalancer")
listeners = Audited(_listeners, "listener")
pools = Audited(_pools, "pool")
members = Audited(_members, "member")
healthmonitors = Audited(_healthmonitors, "healthmonitor")


def _form(table: dict[str, Any], kind: str) -> Any:
    if kind not in table:
        raise NotFound(f"No form for {kind!r}.")
    return table[kind]


def create(
    svc: ServiceContext, ctx: RequestContext, kind: str, lb_id: str | None, values: dict[str, str]
) -> str:
    """Create one object from a form; the id of its load balancer."""
    form = _form(CREATE, kind)
    body = body_of(form, values)
    if kind == "loadbalancer":
        return str(lbs.create(svc, ctx, validate(body, form.root, form.model, form.param))["id"])
    assert lb_id is not None
    if kind == "listener":
        body["loadbalancer_id"] = lb_id
        listeners.create(svc, ctx, validate(body, form.root, form.model))
    elif kind == "pool":
        body.setdefault("loadbalancer_id", lb_id)
        pools.create(svc, ctx, validate(body, form.root, form.model))
    elif kind == "member":
        pool_id = str(body.pop("pool_id", ""))
        members.create(svc, ctx, pool_id, validate(body, form.root, form.model))
    else:
        healthmonitors.create(svc, ctx, validate(body, form.root, form.model))
    return lb_id


def update(
    svc: ServiceContext,
    ctx: RequestContext,
    kind: str,
    obj_id: str,
    pool_id: str,
    values: dict[str, str],
) -> None:
    form = _form(UPDATE, kind)
    body = validate(body_of(form, values), form.root, form.model, form.param)
    if kind == "loadbalancer":
        lbs.update(svc, ctx, obj_id, body)
    elif kind == "listener":
        listeners.update(svc, ctx, obj_id, body)
    elif kind == "pool":
        pools.update(svc, ctx, obj_id, body)
    elif kind == "member":
        members.update(svc, ctx, pool_id, obj_id, body)
    else:
        healthmonitors.update(svc, ctx, obj_id, body)


def delete(svc: ServiceContext, ctx: RequestContext, kind: str, obj_id: str, pool_id: str) -> None:
    if kind == "loadbalancer":
        lbs.delete(svc, ctx, obj_id, True)  # cascade
    elif kind == "listener":
        listeners.delete(svc, ctx, obj_id)
    elif kind == "pool":
        pools.delete(svc, ctx, obj_id)
    elif kind == "member":
        members.delete(svc, ctx, pool_id, obj_id)
    elif kind == "healthmonitor":
        healthmonitors.delete(svc, ctx, obj_id)
    else:
        raise NotFound(f"No such kind of object: {kind!r}.")


def current(svc: ServiceContext, ctx: RequestContext, kind: str, obj_id: str, pool_id: str) -> Any:
    """The object as the API shows it, to fill an edit form."""
    if kind == "loadbalancer":
        return lbs.show(svc, ctx, obj_id)
    if kind == "listener":
        return listeners.show(svc, ctx, obj_id)
    if kind == "pool":
        return pools.show(svc, ctx, obj_id)
    if kind == "member":
        return members.show(svc, ctx, pool_id, obj_id)
    if kind == "healthmonitor":
        return healthmonitors.show(svc, ctx, obj_id)
    raise NotFound(f"No such kind of object: {kind!r}.")
