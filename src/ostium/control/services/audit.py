"""One INFO line per change a user makes: `created listener http (1a2b3c4d) on load
balancer 9f0e1d2c: PENDING_CREATE`.

Role: `Audited` wraps a resource's service module (the five functions every one has,
plus anything else it offers, passed through untouched) and logs after each create,
update and delete that succeeded; a refused request logs nothing here (its 4xx is the
answer). The routes and the dashboard call the wrapped modules, so every door is
covered. Never logs a request body: names and ids only, so no secret can leak.
"""

from __future__ import annotations

import logging
from typing import Any

from ostium.control.logs import named
from ostium.model.errors import ApiError

log = logging.getLogger("ostium.changes")

LABELS = {
    "loadbalancer": "load balancer",
    "healthmonitor": "health monitor",
    "l7policy": "L7 policy",
    "l7rule": "L7 rule",
}


def _parent(obj: dict[str, Any]) -> str:
    lbs = obj.get("loadbalancers") or []
    if obj.get("loadbalancer_id"):
        return f" on load balancer {named(None, obj['loadbalancer_id'])}"
    if lbs and isinstance(lbs[0], dict):
        return f" on load balancer {named(None, lbs[0].get('id'))}"
    if obj.get("pool_id"):
        return f" in pool {named(None, obj['pool_id'])}"
    return ""


def change(action: str, kind: str, obj: dict[str, Any]) -> None:
    log.info(
        "%s %s %s%s: %s",
        action,
        LABELS.get(kind, kind),
        named(obj.get("name"), obj.get("id")),
        _parent(obj),
        obj.get("provisioning_status", ""),
    )


class Audited:
    """A service module whose writes are logged."""

    def __init__(self, module: Any, kind: str) -> None:
        self._module = module
        self._kind = kind

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def listing(self, *args: Any) -> Any:
        return self._module.listing(*args)

    def show(self, *args: Any) -> Any:
        return self._module.show(*args)

    def create(self, *args: Any) -> Any:
        out = self._module.create(*args)
        change("created", self._kind, out)
        return out

    def update(self, *args: Any) -> Any:
        out = self._module.update(*args)
        change("updated", self._kind, out)
        return out

    def failover(self, svc: Any, ctx: Any, obj_id: str) -> Any:
        out = self._module.failover(svc, ctx, obj_id)
        log.info(
            "failover of %s %s requested through the API",
            LABELS.get(self._kind, self._kind),
            named(None, obj_id),
        )
        return out

    def delete(self, svc: Any, ctx: Any, *args: Any) -> Any:
        ids = [a for a in args if isinstance(a, str)]
        try:
            before = dict(self._module.show(svc, ctx, *ids))
        except ApiError:
            before = {"id": ids[-1] if ids else ""}
        out = self._module.delete(svc, ctx, *args)
        before["provisioning_status"] = "deletion requested"
        change("deleting", self._kind, before)
        return out
