"""Finding the object a request names: 404 when it is missing or DELETED, 403 when
it is not the caller's (the policy decides), and the plain `show` every resource has.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import authorize
from ostium.control.services.context import ServiceContext
from ostium.control.services.tags import tags_of
from ostium.model.errors import NotFound

LABELS = {
    m.LoadBalancer: "Load Balancer",
    m.Listener: "Listener",
    m.Pool: "Pool",
    m.Member: "Member",
    m.HealthMonitor: "Health Monitor",
    m.L7Policy: "L7 Policy",
    m.L7Rule: "L7 Rule",
}


def get_live(
    session: Session, model: Any, obj_id: str, ctx: RequestContext | None = None, rule: str = "read"
) -> Any:
    """The object, or 404 if it does not exist or is DELETED; 403 if not the caller's."""
    row = session.get(model, obj_id)
    if row is None or row.provisioning_status == "DELETED":
        raise NotFound(f"{LABELS[model]} {obj_id} not found.")
    if ctx is not None:
        authorize(ctx, rule, row.project_id)
    return row


def show_one(
    svc: ServiceContext, ctx: RequestContext, model: Any, obj_id: str, view: Any
) -> dict[str, Any]:
    with svc.db.read() as session:
        row = get_live(session, model, obj_id, ctx)
        return dict(view(row, tags_of(session, row)))
