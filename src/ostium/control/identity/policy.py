"""Default RBAC rules (API spec section 6), evaluated against a RequestContext.

Routes call `authorize(ctx, rule, target_project)`; a denial raises Forbidden (403).
In noauth mode every check passes, as in Octavia.
"""

from __future__ import annotations

from ostium.control.identity.context import RequestContext
from ostium.model.errors import Forbidden


def _owner(ctx: RequestContext, target: str | None) -> bool:
    return target is None or ctx.project_id == target


def check(ctx: RequestContext, rule: str, target: str | None = None) -> bool:
    if ctx.noauth or "admin" in ctx.roles:
        return True
    roles = ctx.roles
    if rule == "read":
        return ("reader" in roles or "member" in roles) and _owner(ctx, target)
    if rule == "write":
        return "member" in roles and _owner(ctx, target)
    if rule == "read-quota":
        return ("reader" in roles or "member" in roles) and _owner(ctx, target)
    # admin, read-global, read-quota-global, write-quota: admin only (handled above)
    return False


def authorize(ctx: RequestContext, rule: str, target: str | None = None) -> None:
    if not check(ctx, rule, target):
        raise Forbidden()


def any_role(ctx: RequestContext) -> None:
    """A caller with no recognised role gets 403 everywhere except version documents."""
    if not (ctx.noauth or ctx.roles & {"admin", "member", "reader"}):
        raise Forbidden()
