"""Health monitors: create (also used by the graph create), show, update, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.identity.context import RequestContext
from ostium.control.schemas import resources as s
from ostium.control.services import collections, responses, validation
from ostium.control.services.context import ServiceContext
from ostium.control.services.lookup import get_live, show_one
from ostium.control.services.pools import lock_under_pool
from ostium.control.services.quotas import check_quota
from ostium.control.services.tags import tags_of
from ostium.control.services.writes import (
    add_new,
    apply_fields,
    mark_pending,
    new_resource,
    require_active,
)
from ostium.model import defaults
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import BadRequest, Conflict


def new_healthmonitor(
    session: Session,
    pool_row: m.Pool,
    body: s._HealthMonitorFields,
    project_id: str,
    data: dict[str, Any] | None = None,
    udp_min_delay: int = defaults.UDP_CONNECT_MIN_INTERVAL_HEALTH_MONITOR,
) -> m.HealthMonitor:
    """The new monitor's row; `data` is the body as `validation.healthmonitor` returned
    it, when the caller validated it already."""
    if data is None:
        data = validation.healthmonitor(body.model_dump(), pool_row.protocol, udp_min_delay)
    row = m.HealthMonitor(
        **new_resource(project_id, body.admin_state_up),
        pool_id=pool_row.id,
        name=body.name or "",
        type=data["type"],
        delay=data["delay"],
        timeout=data["timeout"],
        max_retries=data["max_retries"],
        max_retries_down=data["max_retries_down"],
        http_method=data["http_method"],
        url_path=data["url_path"],
        expected_codes=data["expected_codes"],
        http_version=data["http_version"],
        domain_name=data["domain_name"],
    )
    return add_new(session, row, body.tags)


def show(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> dict[str, Any]:
    return show_one(svc, ctx, m.HealthMonitor, obj_id, responses.healthmonitor)


def create(svc: ServiceContext, ctx: RequestContext, body: s.HealthMonitorCreate) -> dict[str, Any]:
    with svc.db.write() as session:
        p: m.Pool = get_live(session, m.Pool, body.pool_id, ctx, "write")
        # Octavia validates the body first: an invalid one is a 400 even on a pool that
        # has a monitor already or is busy.
        data = validation.healthmonitor(
            body.model_dump(), p.protocol, svc.settings.api.udp_connect_min_interval_health_monitor
        )
        if p.health_monitor is not None and p.health_monitor.provisioning_status != PS.DELETED:
            raise Conflict("This pool already has a health monitor")
        require_active(p, "Pool")
        row = new_healthmonitor(session, p, body, p.project_id, data)
        check_quota(session, svc, ctx, p.project_id, {"health_monitor": 1})
        lock_under_pool(session, p)
        session.flush()
        out = responses.healthmonitor(row, tags_of(session, row))
    svc.wake()
    return out


HM_FIELDS = (
    "type",
    "delay",
    "timeout",
    "max_retries",
    "max_retries_down",
    "http_method",
    "url_path",
    "expected_codes",
    "http_version",
    "domain_name",
)


def update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: s.HealthMonitorUpdate
) -> dict[str, Any]:
    sent = set(body.model_fields_set)
    for f in ("delay", "timeout", "max_retries"):
        if f in sent and getattr(body, f) is None:
            raise BadRequest(f"None is not a valid option for {f}")
    with svc.db.write() as session:
        hm: m.HealthMonitor = get_live(session, m.HealthMonitor, obj_id, ctx, "write")
        merged = {f: getattr(hm, f) for f in HM_FIELDS}
        http = hm.type in ("HTTP", "HTTPS")
        for f in sent & set(HM_FIELDS):
            value = getattr(body, f)
            if value is None and f in ("http_method", "url_path", "expected_codes") and http:
                value = defaults.HM_HTTP_RESETS[f]
            merged[f] = value
        merged = validation.healthmonitor(
            merged, hm.pool.protocol, svc.settings.api.udp_connect_min_interval_health_monitor
        )
        require_active(hm.pool, "Pool")  # after the body's checks, as in Octavia
        for f in HM_FIELDS:
            setattr(hm, f, merged[f])
        apply_fields(session, hm, body, sent, ("name", "admin_state_up"))
        lock_under_pool(session, hm.pool)
        mark_pending(session, [hm])
        session.flush()
        out = responses.healthmonitor(hm, tags_of(session, hm))
    svc.wake()
    return out


def delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    with svc.db.write() as session:
        hm: m.HealthMonitor = get_live(session, m.HealthMonitor, obj_id, ctx, "write")
        require_active(hm.pool, "Pool")
        lock_under_pool(session, hm.pool)
        hm.provisioning_status = PS.PENDING_DELETE
    svc.wake()


def listing(
    svc: ServiceContext, ctx: RequestContext, items: list[tuple[str, str]], base_url: str
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    return collections.list_lbaas(
        svc, ctx, collections.HEALTHMONITORS, items, base_url, responses.healthmonitor
    )
