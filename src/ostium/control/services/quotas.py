"""Quotas: the limits a project may use (checked atomically on every create) and the
quota API (defaults, show, list, update, reset).

The quota row is the lock: a create takes it (row lock on PostgreSQL, the write lock on
SQLite) before counting, so concurrent creates can never exceed a limit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import any_role, authorize, check
from ostium.control.schemas import admin as a
from ostium.control.services.context import ServiceContext
from ostium.control.services.listing import Collection, ListQuery, run, select_fields
from ostium.control.settings import Settings
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import Forbidden, NotFound

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
                .where(model.project_id == project_id, model.provisioning_status != PS.DELETED)
            )
            or 0
        )
        if used + n > limit:
            over.append(QUOTA_LABEL[kind])
    if over:
        raise Forbidden(f"Quota has been met for resources: {', '.join(over)}")


def _quota_view(project_id: str, values: dict[str, int | None]) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "tenant_id": project_id,
        "loadbalancer": values["load_balancer"],
        "load_balancer": values["load_balancer"],
        "listener": values["listener"],
        "pool": values["pool"],
        "member": values["member"],
        "healthmonitor": values["health_monitor"],
        "health_monitor": values["health_monitor"],
        "l7policy": values["l7policy"],
        "l7rule": values["l7rule"],
    }


def _effective(svc: ServiceContext, row: m.Quota | None) -> dict[str, int | None]:
    defaults = quota_defaults(svc.settings)
    if row is None:
        return dict(defaults)
    return {k: (getattr(row, k) if getattr(row, k) is not None else v) for k, v in defaults.items()}


def quota_defaults_view(svc: ServiceContext, ctx: RequestContext) -> dict[str, Any]:
    any_role(ctx)
    out = _quota_view("defaults", dict(quota_defaults(svc.settings)))
    return out


def quota_default_for(svc: ServiceContext, ctx: RequestContext, project: str) -> dict[str, Any]:
    authorize(ctx, "read-quota", project)
    return _quota_view(project, dict(quota_defaults(svc.settings)))


def quota_show(svc: ServiceContext, ctx: RequestContext, project: str) -> dict[str, Any]:
    authorize(ctx, "read-quota", project)
    with svc.db.read() as session:
        return _quota_view(project, _effective(svc, session.get(m.Quota, project)))


def quota_list(
    svc: ServiceContext, ctx: RequestContext, items: list[tuple[str, str]], base_url: str
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    any_role(ctx)
    q = ListQuery.parse(items, svc.settings.api.pagination_max_limit)
    wanted = q.filters.pop("project_id", None) or q.filters.pop("tenant_id", None)
    stmt = select(m.Quota).where(m.Quota.is_set.is_(True))
    if check(ctx, "read-quota-global"):
        if wanted:
            stmt = stmt.where(m.Quota.project_id == wanted)
    else:
        if wanted and wanted != ctx.project_id:
            raise Forbidden()
        stmt = stmt.where(m.Quota.project_id == ctx.project_id)
    coll = Collection(
        m.Quota,
        {"project_id": m.Quota.project_id},
        tagged=False,
        id_attr="project_id",
        has_created_at=False,
    )
    with svc.db.read() as session:
        rows, links = run(session, stmt, coll, q, base_url, sortable=False)
        return [
            select_fields(
                _quota_view(r.project_id, {k: getattr(r, k) for k in quota_defaults(svc.settings)}),
                q.fields,
            )
            for r in rows
        ], links


def quota_update(
    svc: ServiceContext, ctx: RequestContext, project: str, body: a.QuotaUpdate
) -> dict[str, Any]:
    authorize(ctx, "write-quota", project)
    sent = body.model_fields_set
    mapping = {
        "loadbalancer": "load_balancer",
        "load_balancer": "load_balancer",
        "listener": "listener",
        "member": "member",
        "pool": "pool",
        "healthmonitor": "health_monitor",
        "health_monitor": "health_monitor",
        "l7policy": "l7policy",
        "l7rule": "l7rule",
    }
    with svc.db.write() as session:
        row = session.get(m.Quota, project)
        if row is None:
            row = m.Quota(project_id=project)
            session.add(row)
        row.is_set = True
        for api_name in sent:
            setattr(row, mapping[api_name], getattr(body, api_name))
        session.flush()
        return _quota_view(project, _effective(svc, row))


def quota_delete(svc: ServiceContext, ctx: RequestContext, project: str) -> None:
    authorize(ctx, "write-quota", project)
    with svc.db.write() as session:
        row = session.get(m.Quota, project)
        # Like Octavia: 404 only for a project without a quota row; a reset keeps the
        # row (every limit back to the default), so a second DELETE succeeds too.
        if row is None:
            raise NotFound(f"Quotas {project} not found.")
        for k in quota_defaults(svc.settings):
            setattr(row, k, None)
        row.is_set = False
