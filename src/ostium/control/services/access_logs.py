"""`GET /v2/lbaas/loadbalancers/{id}/logs` (an ostium extension): the access log lines
the receiver holds for one load balancer, to whoever may read that load balancer.

Role: checks the caller against the load balancer (RBAC, 404 for a missing one) and
reads the receiver's store (`access_log_receiver`), which the process that serves the
API owns; a process without one answers an empty list.
"""

from __future__ import annotations

import math
from typing import Any

from ostium.control.db import models as m
from ostium.control.identity.context import RequestContext
from ostium.control.services.context import ServiceContext
from ostium.control.services.lookup import get_live
from ostium.model.errors import BadRequest

MAX_WAIT = 10.0
MAX_LIMIT = 1000


def _number(value: str | None, name: str, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise BadRequest(
            f"Invalid input for field/attribute {name}. Value: '{value[:64]}'. "
            "Value should be a number"
        )
    return number


def lines(
    svc: ServiceContext, ctx: RequestContext, lb_id: str, query: dict[str, str]
) -> dict[str, Any]:
    after = int(_number(query.get("after"), "after", 0))
    limit = int(min(MAX_LIMIT, max(0, _number(query.get("limit"), "limit", 100))))
    wait = min(MAX_WAIT, max(0.0, _number(query.get("wait"), "wait", 0)))
    with svc.db.read() as session:
        get_live(session, m.LoadBalancer, lb_id, ctx)
    store = svc.access_logs
    if store is None:
        return {"lines": [], "next": after}
    result: dict[str, Any] = store.since(lb_id, after, limit, wait)
    return result
