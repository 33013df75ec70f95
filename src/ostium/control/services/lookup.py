"""Finding the object a request names: 404 when it is missing or DELETED, 403 when
it is not the caller's (the policy decides), and the plain `show` every resource has.

Every API write finds its target here (`rule="write"`), so this is where the lock
order is kept: the owning load balancer's row lock first (`db/locking.hold_lb`), then
the object read again, so a write never touches a child row before it holds the load
balancer, and an object deleted while we waited is a 404 rather than a failed flush.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.db.locking import hold_lb
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import authorize
from ostium.control.services.context import ServiceContext
from ostium.control.services.tags import tags_of
from ostium.control.services.writes import require_active
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import NotFound

LABELS: dict[type[m.Resource], str] = {
    m.LoadBalancer: "Load Balancer",
    m.Listener: "Listener",
    m.Pool: "Pool",
    m.Member: "Member",
    m.HealthMonitor: "Health Monitor",
    m.L7Policy: "L7 Policy",
    m.L7Rule: "L7 Rule",
}


R = TypeVar("R", bound=m.Resource)


def get_live(
    session: Session,
    model: type[R],
    obj_id: str,
    ctx: RequestContext | None = None,
    rule: str = "read",
) -> R:
    """The object, or 404 if it does not exist or is DELETED; 403 if not the caller's.
    For a write, the owning load balancer's row lock is held when this returns."""
    row = session.get(model, obj_id)
    if row is not None and rule == "write":
        hold_lb(session, owning_lb_id(row))
        row = session.get(model, obj_id, populate_existing=True)
    if row is None or row.provisioning_status == PS.DELETED:
        raise NotFound(f"{LABELS[model]} {obj_id} not found.")
    if ctx is not None:
        authorize(ctx, rule, row.project_id)
    return row


def owning_lb_id(row: m.Resource) -> str:
    """The id of the load balancer an lbaas object belongs to (itself for one)."""
    if isinstance(row, m.LoadBalancer):
        return row.id
    if isinstance(row, (m.Listener, m.Pool)):
        return row.load_balancer_id
    if isinstance(row, (m.Member, m.HealthMonitor)):
        return row.pool.load_balancer_id
    if isinstance(row, m.L7Policy):
        return row.listener.load_balancer_id
    if isinstance(row, m.L7Rule):
        return row.policy.listener.load_balancer_id
    raise TypeError(f"{type(row).__name__} has no load balancer")


P = TypeVar("P", bound=m.Resource)


def get_under(
    session: Session,
    ctx: RequestContext,
    parent: tuple[type[P], str],
    model: type[R],
    obj_id: str,
    parent_of: Callable[[R], str],
    rule: str = "read",
) -> R:
    """An object addressed under its parent (`/pools/{pool_id}/members/{id}`): 404 if
    either is missing or the object belongs to another parent."""
    get_live(session, parent[0], parent[1], ctx, rule)
    row = get_live(session, model, obj_id, ctx, rule)
    if parent_of(row) != parent[1]:
        raise NotFound(f"{LABELS[model]} {obj_id} not found.")
    return row


def get_writable(
    session: Session, ctx: RequestContext, model: type[R], obj_id: str, label: str
) -> R:
    """The object, for a change under it: 409 unless it is ACTIVE."""
    row = get_live(session, model, obj_id, ctx, "write")
    require_active(row, label)
    return row


def show_one(
    svc: ServiceContext,
    ctx: RequestContext,
    model: type[R],
    obj_id: str,
    view: Callable[[R, list[str]], dict[str, Any]],
) -> dict[str, Any]:
    with svc.db.read() as session:
        row = get_live(session, model, obj_id, ctx)
        return view(row, tags_of(session, row))
