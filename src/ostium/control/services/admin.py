"""Quotas, providers, flavors, flavor profiles, availability zones, AZ profiles, amphorae."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ostium.control.db import models as m
from ostium.control.db.locking import lock_lb
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import any_role, authorize, check
from ostium.control.schemas import admin as a
from ostium.control.services import views
from ostium.control.services.common import ServiceContext, quota_defaults
from ostium.control.services.listing import Collection, ListQuery, run, select_fields
from ostium.control.services.loadbalancers import PROVIDERS
from ostium.model.errors import BadRequest, Conflict, Forbidden, NotFound
from ostium.model.ids import new_id

NIL = "00000000-0000-0000-0000-000000000000"

FLAVOR_CAPABILITIES = [
    (
        "loadbalancer_topology",
        "The load balancer topology. One of: SINGLE - One amphora per "
        "load balancer. ACTIVE_STANDBY - Two amphora per load balancer (not yet supported).",
    ),
    ("compute_flavor", "The compute driver flavor ID (ignored by the netns driver)."),
    ("amp_image_tag", "The amphora image tag (ignored by the netns driver)."),
    (
        "sriov_vip",
        "When true, the VIP port will be created using an SR-IOV VF port (not supported).",
    ),
    ("allow_member_sriov", "When true, users can request SR-IOV member ports (not supported)."),
]
AZ_CAPABILITIES = [
    ("compute_zone", "The compute availability zone."),
    ("volume_zone", "The volume availability zone."),
    ("management_network", "The management network ID for the amphora."),
    ("valid_vip_networks", "List of network IDs that are allowed for VIP use."),
]


# ---- quotas ---------------------------------------------------------------------------


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
        if row is None or not row.is_set:
            raise NotFound(f"Quotas {project} not found.")
        for k in quota_defaults(svc.settings):
            setattr(row, k, None)
        row.is_set = False


# ---- providers --------------------------------------------------------------------------


def providers(ctx: RequestContext) -> list[dict[str, str]]:
    authorize(ctx, "read", ctx.project_id)
    return [{"name": n, "description": d} for n, d in PROVIDERS.items()]


def capabilities(
    ctx: RequestContext, provider: str, kind: str, items: list[tuple[str, str]]
) -> list[dict[str, str]]:
    authorize(ctx, "admin")
    if provider not in PROVIDERS:
        raise BadRequest(f"Provider '{provider}' is not enabled.")
    source = FLAVOR_CAPABILITIES if kind == "flavor" else AZ_CAPABILITIES
    out = [{"name": n, "description": d} for n, d in source]
    fields: list[str] = []
    for k, v in items:
        if k == "fields":
            fields.extend(x for x in v.split(",") if x)
        elif k in ("name", "description"):
            out = [c for c in out if c[k] == v]
        else:
            raise BadRequest("One or more arguments are either duplicate or invalid")
    return [select_fields(c, fields) for c in out]


# ---- flavors and profiles ----------------------------------------------------------------


def _json_object(value: str, field: str) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except ValueError:
        raise BadRequest(f"{value} is not a valid option for {field}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"{value} is not a valid option for {field}")
    return data


def _check_flavor_data(value: str) -> None:
    data = _json_object(value, "flavor_data")
    known = {n for n, _ in FLAVOR_CAPABILITIES}
    for key in data:
        if key not in known:
            from ostium.model.errors import NotImplementedByProvider

            raise NotImplementedByProvider(
                f"Provider 'amphora' does not support a requested option: {key}"
            )
    topo = data.get("loadbalancer_topology")
    if topo is not None and topo not in ("SINGLE", "ACTIVE_STANDBY"):
        raise BadRequest(f"{topo} is not a valid option for loadbalancer_topology")


def _check_provider(name: str) -> None:
    if name not in PROVIDERS:
        raise BadRequest(f"Provider '{name}' is not enabled.")


class _Admin:
    """Generic admin-only CRUD for the four deployment catalogues."""

    def __init__(self, model: Any, label: str, view: Any, key: str = "id") -> None:
        self.model, self.label, self.view, self.key = model, label, view, key

    def get(self, session: Any, obj_id: str) -> Any:
        row = None if obj_id == NIL else session.get(self.model, obj_id)
        if row is None:
            raise NotFound(f"{self.label} {obj_id} not found.")
        return row

    def list(
        self,
        svc: ServiceContext,
        ctx: RequestContext,
        rule: str,
        items: list[tuple[str, str]],
        base_url: str,
        columns: list[str],
    ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        authorize(ctx, rule, ctx.project_id)
        q = ListQuery.parse(items, svc.settings.api.pagination_max_limit)
        coll = Collection(
            self.model, {c: getattr(self.model, c) for c in columns}, tagged=False, id_attr=self.key
        )
        with svc.db.read() as session:
            rows, links = run(session, select(self.model), coll, q, base_url)
            return [select_fields(self.view(r), q.fields) for r in rows], links

    def show(
        self, svc: ServiceContext, ctx: RequestContext, rule: str, obj_id: str
    ) -> dict[str, Any]:
        authorize(ctx, rule, ctx.project_id)
        with svc.db.read() as session:
            return dict(self.view(self.get(session, obj_id)))


FLAVORS = _Admin(m.Flavor, "Flavor", views.flavor)
FLAVOR_PROFILES = _Admin(m.FlavorProfile, "Flavor profile", views.flavorprofile)
AZS = _Admin(m.AvailabilityZone, "Availability Zone", views.availability_zone, key="name")
AZ_PROFILES = _Admin(
    m.AvailabilityZoneProfile, "Availability zone profile", views.availability_zone_profile
)


def flavor_create(svc: ServiceContext, ctx: RequestContext, body: a.FlavorCreate) -> dict[str, Any]:
    authorize(ctx, "admin")
    with svc.db.write() as session:
        FLAVOR_PROFILES.get(session, body.flavor_profile_id)
        if session.scalar(select(m.Flavor.id).where(m.Flavor.name == body.name)):
            raise Conflict(f"A flavor of {body.name} already exists.")
        row = m.Flavor(
            id=new_id(),
            name=body.name,
            description=body.description or "",
            enabled=body.enabled,
            flavor_profile_id=body.flavor_profile_id,
            created_at=m.utcnow(),
        )
        session.add(row)
        session.flush()
        return views.flavor(row)


def flavor_update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: a.FlavorUpdate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    sent = body.model_fields_set
    with svc.db.write() as session:
        row = FLAVORS.get(session, obj_id)
        if "name" in sent:
            if body.name is None:
                raise BadRequest(
                    "Invalid input for field/attribute name. Value: 'None'. "
                    "Mandatory field missing."
                )
            if session.scalar(
                select(m.Flavor.id).where(m.Flavor.name == body.name, m.Flavor.id != obj_id)
            ):
                raise Conflict(f"A flavor of {body.name} already exists.")
            row.name = body.name
        if "description" in sent:
            row.description = body.description or ""
        if "enabled" in sent:
            row.enabled = bool(body.enabled)
        session.flush()
        return views.flavor(row)


def _delete_in_use(
    svc: ServiceContext, catalog: _Admin, obj_id: str, in_use: Any, message: str
) -> None:
    with svc.db.write() as session:
        row = catalog.get(session, obj_id)
        if session.scalar(select(in_use).limit(1)):
            raise Conflict(message)
        session.delete(row)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(message) from None


def flavor_delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    authorize(ctx, "admin")
    _delete_in_use(
        svc,
        FLAVORS,
        obj_id,
        select(m.LoadBalancer.id)
        .where(m.LoadBalancer.flavor_id == obj_id, m.LoadBalancer.provisioning_status != "DELETED")
        .exists(),
        f"Flavor {obj_id} is in use and cannot be modified.",
    )


def flavorprofile_create(
    svc: ServiceContext, ctx: RequestContext, body: a.FlavorProfileCreate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    _check_provider(body.provider_name)
    _check_flavor_data(body.flavor_data)
    with svc.db.write() as session:
        row = m.FlavorProfile(
            id=new_id(),
            name=body.name,
            provider_name=body.provider_name,
            flavor_data=body.flavor_data,
            created_at=m.utcnow(),
        )
        session.add(row)
        session.flush()
        return views.flavorprofile(row)


def flavorprofile_update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: a.FlavorProfileUpdate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    sent = body.model_fields_set
    for f in sent:
        if getattr(body, f) is None:
            raise BadRequest(
                f"Invalid input for field/attribute {f}. Value: 'None'. Mandatory field missing."
            )
    with svc.db.write() as session:
        row = FLAVOR_PROFILES.get(session, obj_id)
        if sent & {"flavor_data", "provider_name"} and session.scalar(
            select(m.Flavor.id).where(m.Flavor.flavor_profile_id == obj_id).limit(1)
        ):
            raise Conflict(f"Flavor profile {obj_id} is in use and cannot be modified.")
        if "provider_name" in sent:
            _check_provider(body.provider_name or "")
            row.provider_name = body.provider_name
        if "flavor_data" in sent:
            _check_flavor_data(body.flavor_data or "")
            row.flavor_data = body.flavor_data
        if "name" in sent:
            row.name = body.name
        session.flush()
        return views.flavorprofile(row)


def flavorprofile_delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    authorize(ctx, "admin")
    _delete_in_use(
        svc,
        FLAVOR_PROFILES,
        obj_id,
        select(m.Flavor.id).where(m.Flavor.flavor_profile_id == obj_id).exists(),
        f"Flavor profile {obj_id} is in use and cannot be modified.",
    )


def az_create(
    svc: ServiceContext, ctx: RequestContext, body: a.AvailabilityZoneCreate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    with svc.db.write() as session:
        AZ_PROFILES.get(session, body.availability_zone_profile_id)
        if session.get(m.AvailabilityZone, body.name) is not None:
            raise Conflict(f"An availability zone of {body.name} already exists.")
        row = m.AvailabilityZone(
            name=body.name,
            description=body.description or "",
            enabled=body.enabled,
            availability_zone_profile_id=body.availability_zone_profile_id,
            created_at=m.utcnow(),
        )
        session.add(row)
        session.flush()
        return views.availability_zone(row)


def az_update(
    svc: ServiceContext, ctx: RequestContext, name: str, body: a.AvailabilityZoneUpdate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    sent = body.model_fields_set
    with svc.db.write() as session:
        row = AZS.get(session, name)
        if "description" in sent:
            row.description = body.description or ""
        if "enabled" in sent:
            row.enabled = bool(body.enabled)
        session.flush()
        return views.availability_zone(row)


def az_delete(svc: ServiceContext, ctx: RequestContext, name: str) -> None:
    authorize(ctx, "admin")
    _delete_in_use(
        svc,
        AZS,
        name,
        select(m.LoadBalancer.id)
        .where(
            m.LoadBalancer.availability_zone == name,
            m.LoadBalancer.provisioning_status != "DELETED",
        )
        .exists(),
        f"Availability Zone {name} is in use and cannot be modified.",
    )


def azprofile_create(
    svc: ServiceContext, ctx: RequestContext, body: a.AvailabilityZoneProfileCreate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    _check_provider(body.provider_name)
    _json_object(body.availability_zone_data, "availability_zone_data")
    with svc.db.write() as session:
        row = m.AvailabilityZoneProfile(
            id=new_id(),
            name=body.name,
            provider_name=body.provider_name,
            availability_zone_data=body.availability_zone_data,
            created_at=m.utcnow(),
        )
        session.add(row)
        session.flush()
        return views.availability_zone_profile(row)


def azprofile_update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: a.AvailabilityZoneProfileUpdate
) -> dict[str, Any]:
    authorize(ctx, "admin")
    sent = body.model_fields_set
    with svc.db.write() as session:
        row = AZ_PROFILES.get(session, obj_id)
        if sent & {"availability_zone_data", "provider_name"} and session.scalar(
            select(m.AvailabilityZone.name)
            .where(m.AvailabilityZone.availability_zone_profile_id == obj_id)
            .limit(1)
        ):
            raise Conflict(f"Availability zone profile {obj_id} is in use and cannot be modified.")
        for f in sent:
            value = getattr(body, f)
            if value is None:
                raise BadRequest(
                    f"Invalid input for field/attribute {f}. Value: 'None'. "
                    "Mandatory field missing."
                )
            if f == "provider_name":
                _check_provider(value)
            if f == "availability_zone_data":
                _json_object(value, f)
            setattr(row, f, value)
        session.flush()
        return views.availability_zone_profile(row)


def azprofile_delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    authorize(ctx, "admin")
    _delete_in_use(
        svc,
        AZ_PROFILES,
        obj_id,
        select(m.AvailabilityZone.name)
        .where(m.AvailabilityZone.availability_zone_profile_id == obj_id)
        .exists(),
        f"Availability zone profile {obj_id} is in use and cannot be modified.",
    )


# ---- amphorae -----------------------------------------------------------------------------

AMPHORAE = Collection(
    m.Amphora,
    {
        c: getattr(m.Amphora, c)
        for c in (
            "id",
            "compute_id",
            "lb_network_ip",
            "vrrp_ip",
            "ha_ip",
            "vrrp_port_id",
            "ha_port_id",
            "role",
            "status",
            "vrrp_interface",
            "vrrp_id",
            "vrrp_priority",
            "cached_zone",
            "image_id",
            "compute_flavor",
            "created_at",
            "updated_at",
            "cert_busy",
        )
    }
    | {"loadbalancer_id": m.Amphora.load_balancer_id},
    tagged=False,
)
AMPHORAE.extra_filters["project_id"] = lambda v: m.Amphora.load_balancer_id.in_(
    select(m.LoadBalancer.id).where(m.LoadBalancer.project_id == v)
)


def amphora_list(
    svc: ServiceContext, ctx: RequestContext, items: list[tuple[str, str]], base_url: str
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    authorize(ctx, "admin")
    q = ListQuery.parse(items, svc.settings.api.pagination_max_limit)
    stmt = select(m.Amphora).where(m.Amphora.status != "DELETED")
    with svc.db.read() as session:
        rows, links = run(session, stmt, AMPHORAE, q, base_url)
        return [select_fields(views.amphora(r), q.fields) for r in rows], links


def _amphora(session: Any, amp_id: str) -> m.Amphora:
    row = session.get(m.Amphora, amp_id)
    if row is None or row.status == "DELETED":
        raise NotFound(f"Amphora {amp_id} not found.")
    return row  # type: ignore[no-any-return]


def amphora_show(svc: ServiceContext, ctx: RequestContext, amp_id: str) -> dict[str, Any]:
    authorize(ctx, "admin")
    with svc.db.read() as session:
        return views.amphora(_amphora(session, amp_id))


def amphora_delete(svc: ServiceContext, ctx: RequestContext, amp_id: str) -> None:
    authorize(ctx, "admin")
    with svc.db.write() as session:
        row = _amphora(session, amp_id)
        res = session.execute(
            update(m.Amphora)
            .where(m.Amphora.id == amp_id, m.Amphora.status == "ERROR")
            .values(status="PENDING_DELETE", updated_at=m.utcnow())
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"amphora {amp_id} is immutable and cannot be updated.")
        if row.load_balancer_id:
            session.execute(
                update(m.LoadBalancer)
                .where(m.LoadBalancer.id == row.load_balancer_id)
                .values(generation=m.LoadBalancer.generation + 1)
            )
    svc.wake()


def amphora_failover(svc: ServiceContext, ctx: RequestContext, amp_id: str) -> None:
    authorize(ctx, "admin")
    with svc.db.write() as session:
        row = _amphora(session, amp_id)
        if row.load_balancer_id is None:
            raise Conflict(f"amphora {amp_id} is immutable and cannot be updated.")
        lock_lb(session, row.load_balancer_id, lb_level=True, failover=True)
    svc.wake()


def amphora_config(svc: ServiceContext, ctx: RequestContext, amp_id: str) -> None:
    authorize(ctx, "admin")
    with svc.db.write() as session:
        row = _amphora(session, amp_id)
        if row.load_balancer_id:
            session.execute(
                update(m.LoadBalancer)
                .where(m.LoadBalancer.id == row.load_balancer_id)
                .values(generation=m.LoadBalancer.generation + 1)
            )
    svc.wake()


def amphora_stats(svc: ServiceContext, ctx: RequestContext, amp_id: str) -> list[dict[str, Any]]:
    authorize(ctx, "admin")
    fields = ("active_connections", "bytes_in", "bytes_out", "request_errors", "total_connections")
    with svc.db.read() as session:
        _amphora(session, amp_id)
        rows = session.scalars(
            select(m.ListenerStatistics).where(m.ListenerStatistics.amphora_id == amp_id)
        ).all()
        if not rows:
            raise NotFound(f"Amphora stats for {amp_id} not found.")
        return [
            {
                "id": amp_id,
                "listener_id": r.listener_id,
                "loadbalancer_id": r.load_balancer_id,
                **{f: getattr(r, f) for f in fields},
            }
            for r in rows
        ]
