"""L7 rules: create (also used by the graph create), show, update, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.db.locking import lock_lb
from ostium.control.identity.context import RequestContext
from ostium.control.schemas import resources as s
from ostium.control.services import collections, responses, validation
from ostium.control.services.context import ServiceContext
from ostium.control.services.lookup import get_under, get_writable
from ostium.control.services.quotas import check_quota
from ostium.control.services.tags import tags_of
from ostium.control.services.writes import (
    add_new,
    apply_fields,
    mark_pending,
    new_resource,
    require_active,
)
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import BadRequest, Conflict


def new_l7rule(
    session: Session, pol: m.L7Policy, body: s.L7RuleCreate, project_id: str
) -> m.L7Rule:
    data = body.model_dump()
    validation.l7rule(data)
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
        **new_resource(project_id, body.admin_state_up),
        l7policy_id=pol.id,
        type=body.type,
        compare_type=body.compare_type,
        key=body.key,
        value=body.value,
        invert=body.invert,
    )
    return add_new(session, row, body.tags)


def get(
    session: Session, ctx: RequestContext, pol_id: str, rule_id: str, rule: str = "read"
) -> m.L7Rule:
    return get_under(
        session, ctx, (m.L7Policy, pol_id), m.L7Rule, rule_id, lambda r: r.l7policy_id, rule
    )


def show(svc: ServiceContext, ctx: RequestContext, pol_id: str, rule_id: str) -> dict[str, Any]:
    with svc.db.read() as session:
        r = get(session, ctx, pol_id, rule_id)
        return responses.l7rule(r, tags_of(session, r))


def _lock_under_policy(session: Session, pol: m.L7Policy) -> None:
    lock_lb(session, pol.listener.load_balancer_id)
    mark_pending(session, [pol.listener, pol])


def create(
    svc: ServiceContext, ctx: RequestContext, pol_id: str, body: s.L7RuleCreate
) -> dict[str, Any]:
    with svc.db.write() as session:
        pol = get_writable(session, ctx, m.L7Policy, pol_id, "L7Policy")
        row = new_l7rule(session, pol, body, pol.project_id)
        check_quota(session, svc, ctx, pol.project_id, {"l7rule": 1})
        _lock_under_policy(session, pol)
        session.flush()
        out = responses.l7rule(row, tags_of(session, row))
    svc.wake()
    return out


def update(
    svc: ServiceContext, ctx: RequestContext, pol_id: str, rule_id: str, body: s.L7RuleUpdate
) -> dict[str, Any]:
    sent = set(body.model_fields_set)
    with svc.db.write() as session:
        r = get(session, ctx, pol_id, rule_id, "write")
        pol = r.policy
        require_active(pol, "L7Policy")
        merged = {f: getattr(r, f) for f in ("type", "compare_type", "key", "value")}
        for f in sent & set(merged):
            merged[f] = getattr(body, f)
        for f in ("type", "compare_type", "value"):
            if merged[f] is None:
                raise BadRequest(
                    f"Invalid input for field/attribute {f}. Value: 'None'. "
                    "Mandatory field missing."
                )
        validation.l7rule(merged)
        for f, v in merged.items():
            setattr(r, f, v)
        apply_fields(session, r, body, sent, ("admin_state_up",))
        if "invert" in sent:
            r.invert = bool(body.invert)
        _lock_under_policy(session, pol)
        mark_pending(session, [r])
        session.flush()
        out = responses.l7rule(r, tags_of(session, r))
    svc.wake()
    return out


def delete(svc: ServiceContext, ctx: RequestContext, pol_id: str, rule_id: str) -> None:
    with svc.db.write() as session:
        r = get(session, ctx, pol_id, rule_id, "write")
        require_active(r.policy, "L7Policy")
        _lock_under_policy(session, r.policy)
        r.provisioning_status = PS.PENDING_DELETE
    svc.wake()


listing = collections.nested_listing(
    m.L7Policy, collections.L7RULES, m.L7Rule.l7policy_id, responses.l7rule
)
