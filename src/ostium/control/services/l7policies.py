"""L7 policies: Octavia's normalisation of redirects, create (also used by the graph
create), show, update (with repositioning), delete.
"""

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
from ostium.control.services.lookup import get_live, show_one
from ostium.control.services.quotas import check_quota
from ostium.control.services.tags import add_tags, tags_of
from ostium.control.services.writes import (
    apply_fields,
    mark_pending,
    new_resource,
)
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import BadRequest, NotFound


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
        validation.redirect_url("redirect_url", data["redirect_url"])
        data["redirect_http_code"] = data.get("redirect_http_code") or 302
    elif action == "REDIRECT_PREFIX":
        data["redirect_pool_id"] = data["redirect_url"] = None
        if not data.get("redirect_prefix"):
            raise BadRequest("Invalid L7 Policy arguments: redirect_prefix must not be None")
        validation.redirect_url("redirect_prefix", data["redirect_prefix"])
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

    p = session.get(m.Pool, pool_id)
    if (
        p is None
        or p.load_balancer_id != li.load_balancer_id
        or p.provisioning_status == PS.DELETED
    ):
        raise NotFound(f"Pool {pool_id} not found.")
    validation.pool_compat(p.protocol, li.protocol, p.session_persistence)


def new_l7policy(
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
        **new_resource(project_id, body.admin_state_up),
        listener_id=li.id,
        name=body.name or "",
        description=body.description or "",
        action=data["action"],
        redirect_url=data["redirect_url"],
        redirect_prefix=data["redirect_prefix"],
        redirect_pool_id=data["redirect_pool_id"],
        redirect_http_code=data["redirect_http_code"],
        position=pos,
    )
    session.add(row)
    session.flush()
    add_tags(session, row.id, body.tags)
    return row


def show(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> dict[str, Any]:
    return show_one(svc, ctx, m.L7Policy, obj_id, responses.l7policy)


def create(svc: ServiceContext, ctx: RequestContext, body: s.L7PolicyCreate) -> dict[str, Any]:
    with svc.db.write() as session:
        li: m.Listener = get_live(session, m.Listener, body.listener_id, ctx, "write")
        row = new_l7policy(session, li, body, li.project_id)
        check_quota(session, svc, ctx, li.project_id, {"l7policy": 1})
        lock_lb(session, li.load_balancer_id)
        mark_pending(session, [li])
        session.flush()
        out = responses.l7policy(row, tags_of(session, row))
    svc.wake()
    return out


def _reposition(session: Session, pol: m.L7Policy, new_pos: int) -> None:
    others = [
        p
        for p in session.scalars(
            select(m.L7Policy)
            .where(m.L7Policy.listener_id == pol.listener_id, m.L7Policy.id != pol.id)
            .order_by(m.L7Policy.position)
        )
    ]
    new_pos = max(1, min(new_pos, len(others) + 1))
    others.insert(new_pos - 1, pol)
    for i, p in enumerate(others, start=1):
        p.position = i


def update(
    svc: ServiceContext, ctx: RequestContext, obj_id: str, body: s.L7PolicyUpdate
) -> dict[str, Any]:
    sent = set(body.model_fields_set)
    with svc.db.write() as session:
        pol: m.L7Policy = get_live(session, m.L7Policy, obj_id, ctx, "write")
        li = pol.listener
        data = {
            f: getattr(pol, f)
            for f in (
                "action",
                "redirect_url",
                "redirect_prefix",
                "redirect_pool_id",
                "redirect_http_code",
            )
        }
        for f in sent & set(data):
            data[f] = getattr(body, f)
        if "action" in sent and body.action is None:
            raise BadRequest(
                "Invalid input for field/attribute action. Value: 'None'. Mandatory field missing."
            )
        data = normalise_policy(data, sent)
        if data.get("redirect_pool_id") and "redirect_pool_id" in sent:
            check_redirect_pool(session, li, data["redirect_pool_id"])
        for f, v in data.items():
            setattr(pol, f, v)
        apply_fields(session, pol, body, sent, ("name", "description", "admin_state_up"))
        if "position" in sent and body.position is not None:
            _reposition(session, pol, body.position)
        lock_lb(session, li.load_balancer_id)
        mark_pending(session, [li, pol])
        session.flush()
        out = responses.l7policy(pol, tags_of(session, pol))
    svc.wake()
    return out


def delete(svc: ServiceContext, ctx: RequestContext, obj_id: str) -> None:
    with svc.db.write() as session:
        pol: m.L7Policy = get_live(session, m.L7Policy, obj_id, ctx, "write")
        lock_lb(session, pol.listener.load_balancer_id)
        mark_pending(session, [pol.listener])
        pol.provisioning_status = PS.PENDING_DELETE
    svc.wake()


def listing(
    svc: ServiceContext, ctx: RequestContext, items: list[tuple[str, str]], base_url: str
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    return collections.list_lbaas(
        svc, ctx, collections.L7POLICIES, items, base_url, responses.l7policy
    )
