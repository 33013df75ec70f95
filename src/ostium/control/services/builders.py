"""Schema -> row for creates, shared by standalone POSTs and the graph create.

Each builder validates the cross-field rules, fills defaults and returns a new row
(already added to the session). Callers own locking and quotas.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.schemas import resources as s
from ostium.control.services import rules
from ostium.control.services.common import set_tags
from ostium.control.settings import Settings
from ostium.model.enums import PORT_FAMILY
from ostium.model.errors import BadRequest, Conflict
from ostium.model.ids import new_id

PENDING_CREATE = "PENDING_CREATE"
OFFLINE = "OFFLINE"


def listener(
    session: Session, lb: m.LoadBalancer, body: s._ListenerFields, project_id: str
) -> m.Listener:
    data = body.model_dump()
    rules.listener_protocol(body.protocol)
    rules.listener_tls_fields(body.protocol, data)
    headers = body.insert_headers or {}
    rules.insert_headers(headers, body.protocol)
    cidrs = rules.allowed_cidrs(body.allowed_cidrs or [], lb.vip_address)
    family = PORT_FAMILY[body.protocol]
    clash = session.scalar(
        select(m.Listener.id).where(
            m.Listener.load_balancer_id == lb.id,
            m.Listener.port_family == family,
            m.Listener.protocol_port == body.protocol_port,
        )
    )
    if clash:
        raise Conflict(
            f"Another Listener on this Load Balancer is already using protocol "
            f"{body.protocol} and protocol_port {body.protocol_port}"
        )
    row = m.Listener(
        id=new_id(),
        project_id=project_id,
        load_balancer_id=lb.id,
        name=body.name or "",
        description=body.description or "",
        admin_state_up=body.admin_state_up,
        provisioning_status=PENDING_CREATE,
        operating_status=OFFLINE,
        protocol=body.protocol,
        protocol_port=body.protocol_port,
        port_family=family,
        connection_limit=-1 if body.connection_limit is None else body.connection_limit,
        insert_headers=headers,
        sni_container_refs=[],
        timeout_client_data=_or(body.timeout_client_data, 50000),
        timeout_member_connect=_or(body.timeout_member_connect, 5000),
        timeout_member_data=_or(body.timeout_member_data, 50000),
        timeout_tcp_inspect=_or(body.timeout_tcp_inspect, 0),
        client_authentication="NONE",
        allowed_cidrs=cidrs,
        hsts_include_subdomains=False,
        hsts_preload=False,
        created_at=m.utcnow(),
    )
    session.add(row)
    set_tags(session, row.id, body.tags)
    return row


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def pool(
    session: Session,
    lb: m.LoadBalancer,
    body: s._PoolFields,
    protocol: str,
    algorithm: str,
    project_id: str,
) -> m.Pool:
    rules.pool_protocol(protocol)
    rules.lb_algorithm(algorithm)
    rules.pool_tls_fields(body.model_dump())
    sp = rules.session_persistence(
        body.session_persistence.model_dump() if body.session_persistence else None, protocol
    )
    row = m.Pool(
        id=new_id(),
        project_id=project_id,
        load_balancer_id=lb.id,
        name=body.name or "",
        description=body.description or "",
        admin_state_up=body.admin_state_up,
        provisioning_status=PENDING_CREATE,
        operating_status=OFFLINE,
        protocol=protocol,
        lb_algorithm=algorithm,
        session_persistence=sp,
        tls_enabled=False,
        created_at=m.utcnow(),
    )
    session.add(row)
    set_tags(session, row.id, body.tags)
    return row


def member(
    session: Session,
    settings: Settings,
    pool_row: m.Pool,
    body: s.MemberCreate,
    project_id: str,
    has_monitor: bool,
) -> m.Member:
    if body.address in settings.reserved_ips:
        raise BadRequest(f"{body.address} is not a valid option for member address")
    if body.subnet_id and settings.network_by_subnet(body.subnet_id) is None:
        raise BadRequest(f"Subnet {body.subnet_id} not found.")
    if body.request_sriov:
        raise BadRequest(
            "Validation failure: request_sriov is not allowed: the load "
            "balancer's flavor does not have allow_member_sriov enabled."
        )
    clash = session.scalar(
        select(m.Member.id).where(
            m.Member.pool_id == pool_row.id,
            m.Member.address == body.address,
            m.Member.protocol_port == body.protocol_port,
        )
    )
    if clash:
        raise Conflict(
            f"Another member on this pool is already using ip {body.address} on "
            f"protocol_port {body.protocol_port}"
        )
    row = m.Member(
        id=new_id(),
        project_id=project_id,
        pool_id=pool_row.id,
        name=body.name or "",
        admin_state_up=body.admin_state_up,
        provisioning_status=PENDING_CREATE,
        operating_status="OFFLINE" if has_monitor else "NO_MONITOR",
        address=body.address,
        protocol_port=body.protocol_port,
        weight=1 if body.weight is None else body.weight,
        backup=body.backup,
        subnet_id=body.subnet_id,
        monitor_address=body.monitor_address,
        monitor_port=body.monitor_port,
        vnic_type="normal",
        created_at=m.utcnow(),
    )
    session.add(row)
    set_tags(session, row.id, body.tags)
    return row


def healthmonitor(
    session: Session, pool_row: m.Pool, body: s._HealthMonitorFields, project_id: str
) -> m.HealthMonitor:
    data = rules.healthmonitor(body.model_dump(), pool_row.protocol)
    row = m.HealthMonitor(
        id=new_id(),
        project_id=project_id,
        pool_id=pool_row.id,
        name=body.name or "",
        admin_state_up=body.admin_state_up,
        provisioning_status=PENDING_CREATE,
        operating_status=OFFLINE,
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
        created_at=m.utcnow(),
    )
    session.add(row)
    set_tags(session, row.id, body.tags)
    return row


def normalise_policy(data: dict[str, Any], sent: set[str]) -> dict[str, Any]:
    """Octavia's normalisation: a redirect target decides the action and clears the rest."""
    if data.get("redirect_pool_id") and (
        ("redirect_url" in sent and data.get("redirect_url"))
        or ("redirect_prefix" in sent and data.get("redirect_prefix"))
    ):
        raise BadRequest(
            "Validation failure: Cannot specify redirect_pool_id and redirect_url "
            "or redirect_prefix at the same time"
        )
    if "redirect_pool_id" in sent and data.get("redirect_pool_id"):
        data["action"] = "REDIRECT_TO_POOL"
    elif "redirect_url" in sent and data.get("redirect_url"):
        data["action"] = "REDIRECT_TO_URL"
    elif "redirect_prefix" in sent and data.get("redirect_prefix"):
        data["action"] = "REDIRECT_PREFIX"
    action = data["action"]
    if action == "REDIRECT_TO_POOL":
        data["redirect_url"] = data["redirect_prefix"] = data["redirect_http_code"] = None
        if not data.get("redirect_pool_id"):
            raise BadRequest("Invalid L7 Policy arguments: redirect_pool_id must not be None")
    elif action == "REDIRECT_TO_URL":
        data["redirect_pool_id"] = data["redirect_prefix"] = None
        if not data.get("redirect_url"):
            raise BadRequest("Invalid L7 Policy arguments: redirect_url must not be None")
        rules.redirect_url("redirect_url", data["redirect_url"])
        data["redirect_http_code"] = data.get("redirect_http_code") or 302
    elif action == "REDIRECT_PREFIX":
        data["redirect_pool_id"] = data["redirect_url"] = None
        if not data.get("redirect_prefix"):
            raise BadRequest("Invalid L7 Policy arguments: redirect_prefix must not be None")
        rules.redirect_url("redirect_prefix", data["redirect_prefix"])
        data["redirect_http_code"] = data.get("redirect_http_code") or 302
    else:
        data["redirect_pool_id"] = data["redirect_url"] = data["redirect_prefix"] = None
        data["redirect_http_code"] = None
    return data


def check_policy_listener(li: m.Listener) -> None:
    if li.protocol == "PROMETHEUS":
        raise BadRequest("Protocol PROMETHEUS listeners cannot have child objects.")
    if li.protocol not in ("HTTP", "TERMINATED_HTTPS"):
        from ostium.model.errors import NotImplementedByProvider

        raise NotImplementedByProvider(
            f"Provider 'amphora' does not support a requested action: {li.protocol} protocol "
            "listeners do not support L7 policies"
        )


def check_redirect_pool(session: Session, li: m.Listener, pool_id: str | None) -> None:
    if not pool_id:
        return
    from ostium.model.errors import NotFound

    p = session.get(m.Pool, pool_id)
    if p is None or p.load_balancer_id != li.load_balancer_id or p.provisioning_status == "DELETED":
        raise NotFound(f"Pool {pool_id} not found.")
    rules.pool_compat(p.protocol, li.protocol, p.session_persistence)


def l7policy(
    session: Session,
    li: m.Listener,
    body: s._L7PolicyFields,
    project_id: str,
    redirect_pool_id: str | None = None,
) -> m.L7Policy:
    check_policy_listener(li)
    data = body.model_dump()
    sent = set(body.model_fields_set)
    if redirect_pool_id:
        data["redirect_pool_id"] = redirect_pool_id
        sent.add("redirect_pool_id")
    data = normalise_policy(data, sent)
    if not redirect_pool_id:
        check_redirect_pool(session, li, data.get("redirect_pool_id"))
    count = (
        session.scalar(
            select(func.count()).select_from(m.L7Policy).where(m.L7Policy.listener_id == li.id)
        )
        or 0
    )
    count += sum(1 for o in session.new if isinstance(o, m.L7Policy) and o.listener_id == li.id)
    pos = body.position
    if pos is None or pos > count:
        pos = count + 1
    else:
        for other in session.scalars(
            select(m.L7Policy).where(m.L7Policy.listener_id == li.id, m.L7Policy.position >= pos)
        ):
            other.position += 1
    row = m.L7Policy(
        id=new_id(),
        project_id=project_id,
        listener_id=li.id,
        name=body.name or "",
        description=body.description or "",
        admin_state_up=body.admin_state_up,
        provisioning_status=PENDING_CREATE,
        operating_status=OFFLINE,
        action=data["action"],
        redirect_url=data["redirect_url"],
        redirect_prefix=data["redirect_prefix"],
        redirect_pool_id=data["redirect_pool_id"],
        redirect_http_code=data["redirect_http_code"],
        position=pos,
        created_at=m.utcnow(),
    )
    session.add(row)
    session.flush()
    set_tags(session, row.id, body.tags)
    return row


def l7rule(session: Session, pol: m.L7Policy, body: s.L7RuleCreate, project_id: str) -> m.L7Rule:
    data = body.model_dump()
    rules.l7rule(data)
    count = (
        session.scalar(
            select(func.count()).select_from(m.L7Rule).where(m.L7Rule.l7policy_id == pol.id)
        )
        or 0
    )
    count += sum(1 for o in session.new if isinstance(o, m.L7Rule) and o.l7policy_id == pol.id)
    if count >= 50:
        raise Conflict(f"Too many rules on L7 policy {pol.id}")
    row = m.L7Rule(
        id=new_id(),
        project_id=project_id,
        l7policy_id=pol.id,
        admin_state_up=body.admin_state_up,
        provisioning_status=PENDING_CREATE,
        operating_status=OFFLINE,
        type=body.type,
        compare_type=body.compare_type,
        key=body.key,
        value=body.value,
        invert=body.invert,
        created_at=m.utcnow(),
    )
    session.add(row)
    set_tags(session, row.id, body.tags)
    return row
