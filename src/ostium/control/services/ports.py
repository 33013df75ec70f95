"""The other read-only Neutron answers clients ask for during load balancer workflows:
VIP ports, floating IPs, security groups.

Each load balancer's `vip_port_id` is shown as the port Octavia would have created in
Neutron (name `octavia-lb-<id>`, device `lb-<id>`, owner `Octavia`, administratively
down), scoped by project like the rest of the API; ostium has no floating IPs or
security groups, so those lists are empty (their filters are still checked as Neutron
checks them). Called by `api/routes/root.py`; nothing here writes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any, Literal

from sqlalchemy import select

from ostium.control.db import models as m
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import any_role, check
from ostium.control.services.context import ServiceContext
from ostium.control.services.listing import select_fields
from ostium.control.services.responses import ts
from ostium.model.enums import PortStatus
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import BadRequest, NotFound

# ---- VIP ports, floating IPs, security groups ------------------------------------------

# What Octavia's VIP port carries in Neutron (device and owner identify the load balancer).
VIP_PORT_OWNER = "Octavia"
# Neutron's default base MAC prefix; the rest is derived from the port id.
_MAC_PREFIX = "fa:16:3e"

PORT_FILTERS = {
    "id",
    "name",
    "network_id",
    "admin_state_up",
    "mac_address",
    "fixed_ips",
    "device_id",
    "device_owner",
    "project_id",
    "tenant_id",
    "status",
    "description",
    "security_groups",
    "binding:host_id",
    "binding:vnic_type",
    "binding:vif_type",
    "port_security_enabled",
    "dns_name",
    "qos_policy_id",
    "revision_number",
    "ip_allocation",
    "created_at",
    "updated_at",
}
FLOATINGIP_FILTERS = {
    "id",
    "floating_ip_address",
    "floating_network_id",
    "fixed_ip_address",
    "port_id",
    "router_id",
    "status",
    "project_id",
    "tenant_id",
    "description",
    "qos_policy_id",
    "dns_name",
    "dns_domain",
    "revision_number",
    "created_at",
    "updated_at",
}
SECURITY_GROUP_FILTERS = {
    "id",
    "name",
    "description",
    "project_id",
    "tenant_id",
    "stateful",
    "shared",
    "revision_number",
    "created_at",
    "updated_at",
}
# Paging and tag terms Neutron accepts on every collection: no object of ostium's
# Neutron views carries a tag, so `tags`/`tags-any` match nothing and `not-tags*` all.
_PAGING = {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}
_TAGS_NONE = {"tags", "tags-any"}
_TAGS_ALL = {"not-tags", "not-tags-any"}
_FIXED_IP_KEYS = {"ip_address", "subnet_id", "ip_address_substr"}


def _terms(
    query: list[tuple[str, str]], allowed: set[str]
) -> tuple[dict[str, list[str]], list[str]]:
    """Group a Neutron query: values of one attribute are alternatives (OR), different
    attributes must all match (AND); unknown attributes are refused as Neutron does."""
    terms: dict[str, list[str]] = defaultdict(list)
    fields: list[str] = []
    for k, v in query:
        if k == "fields":
            fields.extend(x for x in v.split(",") if x)
        elif k in _PAGING or k in _TAGS_ALL:
            continue
        elif k in allowed or k in _TAGS_NONE:
            terms[k].append(v)
        else:
            raise BadRequest(f"[{k}] is invalid attribute for filtering")
    return terms, fields


def _matches(value: Any, wanted: list[str]) -> bool:
    if isinstance(value, bool):
        return str(value).lower() in {w.lower() for w in wanted}
    if isinstance(value, list):
        return any(str(x) in wanted for x in value)
    return value is not None and str(value) in wanted


def _fixed_ip_terms(values: list[str]) -> dict[str, list[str]]:
    """`fixed_ips=ip_address=A&fixed_ips=subnet_id=S`: each key's values are OR'ed."""
    out: dict[str, list[str]] = defaultdict(list)
    for raw in values:
        key, sep, val = raw.partition("=")
        if not sep or key not in _FIXED_IP_KEYS:
            raise BadRequest(
                f"Invalid input for fixed_ips: {raw!r} is not one of "
                "ip_address=<address>, subnet_id=<id>, ip_address_substr=<text>."
            )
        out[key].append(val)
    return out


def _fixed_ips_match(port_ips: list[dict[str, str]], terms: dict[str, list[str]]) -> bool:
    for key, wanted in terms.items():
        if key == "ip_address_substr":
            ok = any(w in ip["ip_address"] for ip in port_ips for w in wanted)
        else:
            ok = any(ip[key] in wanted for ip in port_ips)
        if not ok:
            return False
    return True


def _port_filter(items: list[dict[str, Any]], terms: dict[str, list[str]]) -> list[dict[str, Any]]:
    if terms.keys() & _TAGS_NONE:
        return []
    fixed = _fixed_ip_terms(terms.pop("fixed_ips", []))
    return [
        i
        for i in items
        if all(_matches(i.get(k), v) for k, v in terms.items())
        and _fixed_ips_match(i["fixed_ips"], fixed)
    ]


def _mac(port_id: str) -> str:
    tail = hashlib.sha256(port_id.encode()).digest()[:3]
    return ":".join([_MAC_PREFIX, *(f"{b:02x}" for b in tail)])


def port_view(lb: m.LoadBalancer) -> dict[str, Any]:
    """The VIP port of a load balancer as Neutron shows the one Octavia creates."""
    port_id = lb.vip_port_id or ""
    fixed_ips = (
        [{"subnet_id": lb.vip_subnet_id, "ip_address": lb.vip_address}]
        if lb.vip_address and lb.vip_subnet_id
        else []
    )
    fixed_ips += [
        {"subnet_id": av["subnet_id"], "ip_address": av["ip_address"]}
        for av in lb.additional_vips or []
    ]
    created = f"{ts(lb.created_at)}Z"
    updated = f"{ts(lb.updated_at or lb.created_at)}Z"
    return {
        "id": port_id,
        "name": f"octavia-lb-{lb.id}",
        "network_id": lb.vip_network_id,
        "tenant_id": lb.project_id,
        "project_id": lb.project_id,
        "mac_address": _mac(port_id),
        "admin_state_up": False,
        "status": PortStatus.DOWN,
        "device_id": f"lb-{lb.id}",
        "device_owner": VIP_PORT_OWNER,
        "fixed_ips": fixed_ips,
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "security_groups": [],
        "description": "",
        "binding:vnic_type": lb.vip_vnic_type,
        "binding:host_id": "",
        "binding:vif_type": "unbound",
        "binding:vif_details": {},
        "binding:profile": {},
        "port_security_enabled": False,
        "dns_name": "",
        "dns_assignment": [],
        "qos_policy_id": None,
        "qos_network_policy_id": None,
        "ip_allocation": "immediate",
        "propagate_uplink_status": False,
        "tags": [],
        "revision_number": 0,
        "created_at": created,
        "updated_at": updated,
    }


def _visible_lbs(ctx: RequestContext) -> Any:
    """Load balancers whose VIP port the caller may see: an admin (or noauth) sees
    every project's, anyone else only their own project's (Neutron hides the rest)."""
    stmt = select(m.LoadBalancer).where(
        m.LoadBalancer.provisioning_status != PS.DELETED,
        m.LoadBalancer.vip_port_id.is_not(None),
    )
    if not check(ctx, "read-global"):
        stmt = stmt.where(m.LoadBalancer.project_id == ctx.project_id)
    return stmt


def port_listing(
    svc: ServiceContext, ctx: RequestContext, query: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """`GET /v2.0/ports`: ostium's VIP ports, filtered as Neutron filters."""
    any_role(ctx)
    terms, fields = _terms(query, PORT_FILTERS)
    stmt = _visible_lbs(ctx).order_by(m.LoadBalancer.vip_port_id)
    # Narrow in SQL on what identifies a port; everything else is compared on the views.
    if "id" in terms:
        stmt = stmt.where(m.LoadBalancer.vip_port_id.in_(terms["id"]))
    if "device_id" in terms:
        lb_ids = [d.removeprefix("lb-") for d in terms["device_id"] if d.startswith("lb-")]
        stmt = stmt.where(m.LoadBalancer.id.in_(lb_ids))
    with svc.db.read() as session:
        views = [port_view(lb) for lb in session.scalars(stmt)]
    return [select_fields(p, fields) for p in _port_filter(views, terms)]


def port_show(svc: ServiceContext, ctx: RequestContext, port_id: str) -> dict[str, Any]:
    """`GET /v2.0/ports/{id}`: one VIP port; 404 as Neutron words it, also for a port of
    another project (Neutron does not tell that it exists)."""
    any_role(ctx)
    stmt = _visible_lbs(ctx).where(m.LoadBalancer.vip_port_id == port_id)
    with svc.db.read() as session:
        lb = session.scalars(stmt).first()
        if lb is None:
            raise NotFound(f"Port {port_id} could not be found.")
        return port_view(lb)


def empty_listing(
    ctx: RequestContext, kind: Literal["floatingip", "security_group"], query: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """`GET /v2.0/floatingips` and `/v2.0/security-groups`: ostium has neither, so the
    answer is an empty list once the filters are known ones."""
    any_role(ctx)
    _terms(query, FLOATINGIP_FILTERS if kind == "floatingip" else SECURITY_GROUP_FILTERS)
    return []
