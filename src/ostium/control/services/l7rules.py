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
from ostium.control.services.lookup import get_live
from ostium.control.services.quotas import check_quota
from ostium.control.services.tags import set_tags, tags_of
from ostium.control.services.writes import (
    apply_fields,
    mark_pending,
    require_active,
)
from ostium.model.enums import OperatingStatus as OS
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import BadRequest, Conflict, NotFound
from ostium.model.ids import new_id


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
        id=new_id(),
        project_id=project_id,
        l7policy_id=pol.id,
        admin_state_up=body.admin_state_up,
        provisioning_status=PS.PENDING_CREATE,
        operating_status=OS.OFFLINE,
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


def _policy_for_write(session: Session, ctx: RequestContext, pol_id: str) -> m.L7Policy:
    pol: m.L7Policy = get_live(session, m.L7Policy, pol_id, ctx, "write")
    require_active(pol, "L7Policy")
    return pol


def get(
    session: Session, ctx: RequestContext, pol_id: str, rule_id: str, rule: str = "read"
) -> m.L7Rule:
    get_live(session, m.L7Policy, pol_id, ctx, rule)
    r: m.L7Rule = get_live(session, m.L7Rule, rule_id, ctx, rule)
    if r.l7policy_id != pol_id:
        raise NotFound(f"L7 Rule {rule_id} not found.")
    return r


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
        pol = _policy_for_write(session, ctx, pol_id)
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
        apply_fields(r, body, sent, ("admin_state_up",))
        if "invert" in sent:
            r.invert = bool(body.invert)
        if "tags" in sent:
            set_tags(session, r.id, body.tags)
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


def listing(
    svc: ServiceContext,
    ctx: RequestContext,
    pol_id: str,
    items: list[tuple[str, str]],
    base_url: str,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    with svc.db.read() as session:
        get_live(session, m.L7Policy, pol_id, ctx)
    return collections.list_lbaas(
        svc,
        ctx,
        collections.L7RULES,
        items,
        base_url,
        responses.l7rule,
        where=m.L7Rule.l7policy_id == pol_id,
        scoped=False,
    )
