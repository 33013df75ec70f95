"""Listing of every lbaas collection: project scoping + the generic ListQuery runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ostium.control.db import models as m
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import any_role, check
from ostium.control.services.context import ServiceContext
from ostium.control.services.listing import Collection, ListQuery, run, select_fields
from ostium.control.services.lookup import get_live
from ostium.control.services.plain_rows import Relation
from ostium.control.services.tags import load_tags
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import Forbidden


def _cols(model: Any, names: list[str], **aliases: str) -> dict[str, Any]:
    out = {n: getattr(model, n) for n in names}
    for api, col in aliases.items():
        out[api] = getattr(model, col)
    return out


_BASE = [
    "id",
    "project_id",
    "provisioning_status",
    "operating_status",
    "admin_state_up",
    "created_at",
    "updated_at",
]

LOADBALANCERS = Collection(
    m.LoadBalancer,
    _cols(
        m.LoadBalancer,
        [
            *_BASE,
            "name",
            "description",
            "vip_address",
            "vip_port_id",
            "vip_subnet_id",
            "vip_network_id",
            "vip_qos_policy_id",
            "provider",
            "flavor_id",
            "availability_zone",
            "vip_vnic_type",
        ],
        tenant_id="project_id",
    ),
)
# `load_balancer_id` (the reference's column name, which its filter code accepts) is an
# alias of `loadbalancer_id`: openstacksdk's listeners()/pools() filter with it.
LISTENERS = Collection(
    m.Listener,
    _cols(
        m.Listener,
        [
            *_BASE,
            "name",
            "description",
            "protocol",
            "protocol_port",
            "connection_limit",
            "default_pool_id",
            "default_tls_container_ref",
            "timeout_client_data",
            "timeout_member_connect",
            "timeout_member_data",
            "timeout_tcp_inspect",
            "client_authentication",
            "hsts_max_age",
        ],
        tenant_id="project_id",
        loadbalancer_id="load_balancer_id",
        load_balancer_id="load_balancer_id",
    ),
)
POOLS = Collection(
    m.Pool,
    _cols(
        m.Pool,
        [*_BASE, "name", "description", "protocol", "lb_algorithm", "tls_enabled"],
        tenant_id="project_id",
        loadbalancer_id="load_balancer_id",
        load_balancer_id="load_balancer_id",
    ),
)
MEMBERS = Collection(
    m.Member,
    _cols(
        m.Member,
        [
            *_BASE,
            "name",
            "address",
            "protocol_port",
            "weight",
            "backup",
            "subnet_id",
            "monitor_address",
            "monitor_port",
            "vnic_type",
        ],
        tenant_id="project_id",
    ),
)
HEALTHMONITORS = Collection(
    m.HealthMonitor,
    _cols(
        m.HealthMonitor,
        [
            *_BASE,
            "name",
            "type",
            "delay",
            "timeout",
            "max_retries",
            "max_retries_down",
            "http_method",
            "url_path",
            "expected_codes",
            "domain_name",
        ],
        tenant_id="project_id",
        pool_id="pool_id",
    ),
)
L7POLICIES = Collection(
    m.L7Policy,
    _cols(
        m.L7Policy,
        [
            *_BASE,
            "name",
            "description",
            "listener_id",
            "action",
            "redirect_url",
            "redirect_prefix",
            "redirect_pool_id",
            "redirect_http_code",
            "position",
        ],
        tenant_id="project_id",
    ),
)
L7RULES = Collection(
    m.L7Rule,
    _cols(
        m.L7Rule,
        [*_BASE, "type", "compare_type", "key", "value", "invert", "l7policy_id"],
        tenant_id="project_id",
    ),
)

_ID_ONLY = {
    m.LoadBalancer: [
        selectinload(m.LoadBalancer.listeners).load_only(m.Listener.id),
        selectinload(m.LoadBalancer.pools).load_only(m.Pool.id),
    ],
    m.Listener: [selectinload(m.Listener.l7policies).load_only(m.L7Policy.id)],
    m.Pool: [
        selectinload(m.Pool.members).load_only(m.Member.id),
        selectinload(m.Pool.health_monitor).load_only(m.HealthMonitor.id),
        selectinload(m.Pool.load_balancer)
        .selectinload(m.LoadBalancer.listeners)
        .selectinload(m.Listener.l7policies)
        .selectinload(m.L7Policy.rules)
        .load_only(m.L7Rule.id),
    ],
    m.L7Policy: [selectinload(m.L7Policy.rules).load_only(m.L7Rule.id)],
}
for _coll in (LOADBALANCERS, LISTENERS, POOLS, L7POLICIES):
    _coll.options = _ID_ONLY[_coll.model]

# Views that read only columns and child ids are built without ORM instances; the
# children keep their relationship's order.
LOADBALANCERS.relations = [
    Relation("listeners", m.Listener.load_balancer_id, m.Listener.id, [m.Listener.created_at]),
    Relation("pools", m.Pool.load_balancer_id, m.Pool.id, [m.Pool.created_at]),
]
LISTENERS.relations = [
    Relation("l7policies", m.L7Policy.listener_id, m.L7Policy.id, [m.L7Policy.position]),
]
L7POLICIES.relations = [
    Relation("rules", m.L7Rule.l7policy_id, m.L7Rule.id, [m.L7Rule.created_at]),
]
for _coll in (MEMBERS, HEALTHMONITORS, L7RULES):
    _coll.relations = []

# Pools are also filterable by the id of their health monitor.
POOLS.extra_filters["healthmonitor_id"] = lambda v: m.Pool.id.in_(
    select(m.HealthMonitor.pool_id).where(m.HealthMonitor.id == v)
)
LISTENERS.extra_filters["l7policy_id"] = lambda v: m.Listener.id.in_(
    select(m.L7Policy.listener_id).where(m.L7Policy.id == v)
)


def list_lbaas(
    svc: ServiceContext,
    ctx: RequestContext,
    coll: Collection,
    items: list[tuple[str, str]],
    base_url: str,
    view: Callable[[Any, list[str]], dict[str, Any]],
    where: Any = None,
    scoped: bool = True,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    any_role(ctx)
    q = ListQuery.parse(items, svc.settings.api.pagination_max_limit)
    stmt = select(coll.model).where(coll.model.provisioning_status != PS.DELETED)
    if where is not None:
        stmt = stmt.where(where)
    wanted = q.filters.pop("project_id", None) or q.filters.pop("tenant_id", None)
    if scoped:
        if check(ctx, "read-global"):
            if wanted:
                stmt = stmt.where(coll.model.project_id == wanted)
        else:
            if wanted and wanted != ctx.project_id:
                raise Forbidden()
            if not check(ctx, "read", ctx.project_id):
                raise Forbidden()
            stmt = stmt.where(coll.model.project_id == ctx.project_id)
    elif wanted:
        stmt = stmt.where(coll.model.project_id == wanted)
    with svc.db.read() as session:
        rows, links = run(session, stmt, coll, q, base_url)
        tags = load_tags(session, [r.id for r in rows])
        return [select_fields(view(r, tags[r.id]), q.fields) for r in rows], links


Page = tuple[list[dict[str, Any]], list[dict[str, str]]]


def nested_listing(
    parent: type[m.Resource],
    coll: Collection,
    parent_column: Any,
    view: Callable[[Any, list[str]], dict[str, Any]],
) -> Callable[[ServiceContext, RequestContext, str, list[tuple[str, str]], str], Page]:
    """The listing of the objects under one parent (members of a pool, rules of a
    policy): 404 when the parent is missing, 403 when it is not the caller's."""

    def listing(
        svc: ServiceContext,
        ctx: RequestContext,
        parent_id: str,
        items: list[tuple[str, str]],
        base_url: str,
    ) -> Page:
        with svc.db.read() as session:
            get_live(session, parent, parent_id, ctx)
        where = parent_column == parent_id
        return list_lbaas(svc, ctx, coll, items, base_url, view, where=where, scoped=False)

    return listing
