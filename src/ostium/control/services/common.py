"""What every service needs: the write transaction helpers, the LB lock, tags, quotas.

The load balancer row is the lock (DESIGN decision 3): `lock_lb` moves it from ACTIVE
(or another allowed state) to a PENDING state and bumps `generation` in one
conditional UPDATE, so of N concurrent writers exactly one wins; the others get 409.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.db.engine import Database
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import authorize
from ostium.control.settings import Settings
from ostium.model.errors import Conflict, Forbidden, NotFound

ACTIVE = "ACTIVE"


@dataclass
class ServiceContext:
    db: Database
    settings: Settings
    wake: Callable[[], None]


# ---- lookups ------------------------------------------------------------------------

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


def load_tags(session: Session, ids: Iterable[str]) -> dict[str, list[str]]:
    ids = list(ids)
    out: dict[str, list[str]] = {i: [] for i in ids}
    if not ids:
        return out
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        for rid, tag in session.execute(
            select(m.Tag.resource_id, m.Tag.tag)
            .where(m.Tag.resource_id.in_(part))
            .order_by(m.Tag.resource_id, m.Tag.tag)
        ):
            out[rid].append(tag)
    return out


def set_tags(session: Session, rid: str, tags: list[str] | None) -> None:
    session.execute(delete(m.Tag).where(m.Tag.resource_id == rid))
    if tags:
        session.execute(insert(m.Tag), [{"resource_id": rid, "tag": t} for t in tags])


# ---- the lock ------------------------------------------------------------------------


def mark_pending(session: Session, rows: Iterable[Any], status: str = "PENDING_UPDATE") -> None:
    for row in rows:
        if row.provisioning_status in (ACTIVE, "ERROR"):
            row.provisioning_status = status
            row.updated_at = m.utcnow()


def require_active(row: Any, label: str) -> None:
    if row.provisioning_status != ACTIVE:
        raise Conflict(f"{label} {row.id} is immutable and cannot be updated.")


def flush_or_conflict(session: Session, message: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(message) from None


# ---- quotas --------------------------------------------------------------------------

QUOTA_LABEL = {
    "load_balancer": "Load Balancer",
    "listener": "Listener",
    "pool": "Pool",
    "health_monitor": "Health Monitor",
    "member": "Member",
    "l7policy": "L7 Policy",
    "l7rule": "L7 Rule",
}

_COUNTERS: dict[str, Any] = {
    "load_balancer": m.LoadBalancer,
    "listener": m.Listener,
    "pool": m.Pool,
    "health_monitor": m.HealthMonitor,
    "member": m.Member,
    "l7policy": m.L7Policy,
    "l7rule": m.L7Rule,
}


def quota_defaults(settings: Settings) -> dict[str, int]:
    q = settings.quotas
    return {
        "load_balancer": q.default_load_balancer_quota,
        "listener": q.default_listener_quota,
        "pool": q.default_pool_quota,
        "health_monitor": q.default_health_monitor_quota,
        "member": q.default_member_quota,
        "l7policy": q.default_l7policy_quota,
        "l7rule": q.default_l7rule_quota,
    }


def _lock_quota_row(session: Session, project_id: str) -> m.Quota:
    """Serialise quota checks per project: the quota row is the lock."""
    stmt = select(m.Quota).where(m.Quota.project_id == project_id)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(
            pg_insert(m.Quota).values(project_id=project_id, is_set=False).on_conflict_do_nothing()
        )
        row = session.scalar(stmt.with_for_update())
    else:
        row = session.scalar(stmt)
        if row is None:
            row = m.Quota(project_id=project_id, is_set=False)
            session.add(row)
            session.flush()
    assert row is not None
    return row


def check_quota(
    session: Session,
    svc: ServiceContext,
    ctx: RequestContext,
    project_id: str,
    wanted: dict[str, int],
) -> None:
    if not (ctx.enforce_quota or svc.settings.api.enforce_quotas_in_noauth):
        return
    wanted = {k: v for k, v in wanted.items() if v > 0}
    if not wanted:
        return
    row = _lock_quota_row(session, project_id)
    defaults = quota_defaults(svc.settings)
    over: list[str] = []
    for kind, n in wanted.items():
        limit = getattr(row, kind)
        limit = defaults[kind] if limit is None else limit
        if limit < 0:
            continue
        model = _COUNTERS[kind]
        used = (
            session.scalar(
                select(func.count())
                .select_from(model)
                .where(model.project_id == project_id, model.provisioning_status != "DELETED")
            )
            or 0
        )
        if used + n > limit:
            over.append(QUOTA_LABEL[kind])
    if over:
        raise Forbidden(f"Quota has been met for resources: {', '.join(over)}")
