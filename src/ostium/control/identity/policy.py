"""Default RBAC rules (API spec section 6), evaluated against a RequestContext.

Routes call `authorize(ctx, rule, target_project)`; a denial raises Forbidden (403).
In noauth mode every check passes, as in Octavia. The new defaults use Keystone's
roles (admin, member, reader; a token lists implied roles, so admin is also member and
reader); with `ctx.legacy_roles` Octavia's deprecated `load-balancer_*` roles count as
well, as oslo.policy ORs a deprecated rule with its new one when
`enforce_new_defaults` is off.
"""

from __future__ import annotations

from ostium.control.identity.context import RequestContext
from ostium.model.errors import Forbidden

LEGACY_ROLES = frozenset(
    {
        "load-balancer_admin",
        "load-balancer_member",
        "load-balancer_observer",
        "load-balancer_global_observer",
        "load-balancer_quota_admin",
    }
)


def _owner(ctx: RequestContext, target: str | None) -> bool:
    return target is None or ctx.project_id == target


def check(ctx: RequestContext, rule: str, target: str | None = None) -> bool:
    if ctx.is_admin:
        return True
    roles = ctx.roles
    legacy = ctx.legacy_roles
    owner = _owner(ctx, target)
    member = owner and ("member" in roles or (legacy and "load-balancer_member" in roles))
    observer = owner and ("reader" in roles or (legacy and "load-balancer_observer" in roles))
    global_observer = legacy and "load-balancer_global_observer" in roles
    quota_admin = legacy and "load-balancer_quota_admin" in roles
    if rule == "read":
        return member or observer or global_observer
    if rule == "write":
        return member
    if rule == "read-global":
        return global_observer
    if rule == "read-quota":
        return member or observer or global_observer or quota_admin
    if rule == "read-quota-global":
        return global_observer or quota_admin
    if rule == "write-quota":
        return quota_admin
    return False  # admin: handled above


def authorize(ctx: RequestContext, rule: str, target: str | None = None) -> None:
    if not check(ctx, rule, target):
        raise Forbidden()


def any_role(ctx: RequestContext) -> None:
    """A caller with no recognised role gets 403 everywhere except version documents."""
    known = {"admin", "member", "reader"} | (LEGACY_ROLES if ctx.legacy_roles else set())
    if not (ctx.noauth or ctx.roles & known):
        raise Forbidden()
