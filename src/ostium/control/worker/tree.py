"""The load balancer's object tree as the worker sees it: load it, settle it, fail it.

Role: the end of every reconcile, for both topologies. `load_tree` reads the load
balancer with everything under it; `finish` records what each amphora applied and, when
every one has the wanted generation, settles the tree (deletes become real, pending
creates and updates become ACTIVE, operating statuses follow admin states and the
member rule of `model.member_status`); `mark_error` ends a failed reconcile in ERROR
with the reason, never PENDING. Both give the lease back. Callers: `reconciling`,
`pairing`, `loop`. Must not call drivers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ostium.control.db import models as m
from ostium.control.db.engine import Database
from ostium.model.enums import L7Action
from ostium.model.enums import OperatingStatus as OS
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import PermanentError
from ostium.model.member_status import member_operating_status

T = TypeVar("T")

Row = m.Listener | m.Pool | m.Member | m.HealthMonitor | m.L7Policy | m.L7Rule


def load_tree(session: Session, lb_id: str) -> m.LoadBalancer:
    """The load balancer with everything under it: one SELECT per table, each filtered
    by the load balancer (joins through the parent's foreign key), and the relations
    filled in from the results (`set_committed_value`, as a loader would). Same rows and
    order as the relations' own `order_by`, at about 60 % of the cost of `selectinload`
    chains: this runs twice in every reconcile (spec, finish), so it was about half of
    the worker's time per change. Call it in a fresh session (it sets the relations
    as loaded, over any pending change to them)."""
    lb = session.get(m.LoadBalancer, lb_id)
    if lb is None:
        raise PermanentError(f"load balancer {lb_id} disappeared")
    listeners = list(
        session.scalars(
            select(m.Listener)
            .where(m.Listener.load_balancer_id == lb_id)
            .order_by(m.Listener.created_at)
        )
    )
    pools = list(
        session.scalars(
            select(m.Pool).where(m.Pool.load_balancer_id == lb_id).order_by(m.Pool.created_at)
        )
    )
    set_committed_value(lb, "listeners", listeners)
    set_committed_value(lb, "pools", pools)
    _fill_pools(session, lb_id, pools)
    _fill_listeners(session, lb_id, listeners)
    return lb


def _group(
    session: Session, query: Select[T], parent: Callable[[T], str], into: dict[str, list[T]]
) -> None:
    """Each row of `query`, in its order, appended to its parent's list in `into`."""
    for row in session.scalars(query):
        into[parent(row)].append(row)


def _fill_pools(session: Session, lb_id: str, pools: list[m.Pool]) -> None:
    members: dict[str, list[m.Member]] = {p.id: [] for p in pools}
    monitors: dict[str, list[m.HealthMonitor]] = {p.id: [] for p in pools}
    if pools:
        of_lb = m.Pool.load_balancer_id == lb_id
        _group(
            session,
            select(m.Member)
            .join(m.Pool, m.Member.pool_id == m.Pool.id)
            .where(of_lb)
            .order_by(m.Member.created_at),
            lambda mb: mb.pool_id,
            members,
        )
        _group(
            session,
            select(m.HealthMonitor).join(m.Pool, m.HealthMonitor.pool_id == m.Pool.id).where(of_lb),
            lambda hm: hm.pool_id,
            monitors,
        )
    for p in pools:
        set_committed_value(p, "members", members[p.id])
        set_committed_value(p, "health_monitor", next(iter(monitors[p.id]), None))


def _fill_listeners(session: Session, lb_id: str, listeners: list[m.Listener]) -> None:
    policies: dict[str, list[m.L7Policy]] = {li.id: [] for li in listeners}
    if listeners:
        _group(
            session,
            select(m.L7Policy)
            .join(m.Listener, m.L7Policy.listener_id == m.Listener.id)
            .where(m.Listener.load_balancer_id == lb_id)
            .order_by(m.L7Policy.position),
            lambda pol: pol.listener_id,
            policies,
        )
    rules: dict[str, list[m.L7Rule]] = {pol.id: [] for pols in policies.values() for pol in pols}
    if rules:
        _group(
            session,
            select(m.L7Rule)
            .join(m.L7Policy, m.L7Rule.l7policy_id == m.L7Policy.id)
            .join(m.Listener, m.L7Policy.listener_id == m.Listener.id)
            .where(m.Listener.load_balancer_id == lb_id)
            .order_by(m.L7Rule.created_at),
            lambda r: r.l7policy_id,
            rules,
        )
    for li in listeners:
        set_committed_value(li, "l7policies", policies[li.id])
        for pol in policies[li.id]:
            set_committed_value(pol, "rules", rules[pol.id])


def _release(lb: m.LoadBalancer) -> None:
    lb.lease_owner = None
    lb.lease_expires = None


def finish(db: Database, lb_id: str, owner: str, generation: int, applied: dict[str, int]) -> None:
    """Record what each amphora applied; ACTIVE only if every one has `generation`."""
    with db.write() as session:
        lb = load_tree(session, lb_id)
        if lb.lease_owner != owner:
            return
        for amp_id, amp_generation in applied.items():
            session.execute(
                update(m.Amphora)
                .where(m.Amphora.id == amp_id)
                .values(applied_generation=amp_generation, updated_at=m.utcnow())
            )
        if lb.generation != generation:
            # Something changed while we worked (e.g. an amphora config refresh):
            # release the lease and let the loop pick it up again.
            _release(lb)
            return
        # Once its amphorae send heartbeats, the health manager owns operating status.
        monitored = (
            session.scalar(
                select(m.Amphora.id)
                .where(m.Amphora.load_balancer_id == lb_id, m.Amphora.last_heartbeat.is_not(None))
                .limit(1)
            )
            is not None
        )
        settle_tree(session, lb, monitored)
        lb.provisioning_status = PS.ACTIVE
        if not (monitored and lb.admin_state_up):
            lb.operating_status = _online(lb.admin_state_up)
        lb.applied_generation = generation
        lb.failover_requested = False
        lb.attempts = 0
        lb.error_reason = None
        _release(lb)


def _online(admin: bool) -> OS:
    return OS.ONLINE if admin else OS.OFFLINE


def _served_pools(lb: m.LoadBalancer) -> set[str]:
    """The pools an enabled listener sends traffic to: its default pool, or the target
    of an enabled REDIRECT_TO_POOL policy that has a rule (spec 2.3), leaving out what
    is being deleted. Any other pool is OFFLINE, as in Octavia, whose health manager
    finds it in no listener's report."""
    served: set[str] = set()
    if not lb.admin_state_up:
        return served
    for li in lb.listeners:
        if li.provisioning_status == PS.PENDING_DELETE or not li.admin_state_up:
            continue
        if li.default_pool_id:
            served.add(li.default_pool_id)
        for pol in li.l7policies:
            if (
                pol.action == L7Action.REDIRECT_TO_POOL
                and pol.redirect_pool_id
                and pol.admin_state_up
                and pol.provisioning_status != PS.PENDING_DELETE
                and any(r.provisioning_status != PS.PENDING_DELETE for r in pol.rules)
            ):
                served.add(pol.redirect_pool_id)
    return served


def settle_tree(session: Session, lb: m.LoadBalancer, monitored: bool = False) -> None:
    """Apply the outcome to every object under the load balancer: deletes become real,
    pending creates and updates become ACTIVE, positions stay contiguous. When
    `monitored` (heartbeats arrive), listeners and pools keep the operating status the
    health manager gave them, unless they were just created or disabled; a pool that no
    listener serves is OFFLINE either way."""
    served = _served_pools(lb)
    deleted = False
    for li in list(lb.listeners):
        if li.provisioning_status == PS.PENDING_DELETE:
            session.delete(li)
            deleted = True
            continue
        for pol in list(li.l7policies):
            if pol.provisioning_status == PS.PENDING_DELETE:
                session.delete(pol)
                deleted = True
                continue
            for r in list(pol.rules):
                if r.provisioning_status == PS.PENDING_DELETE:
                    session.delete(r)
                    deleted = True
                    continue
                _activate(r)
                r.operating_status = _online(r.admin_state_up)
            _activate(pol)
            pol.operating_status = _online(pol.admin_state_up)
        up = li.admin_state_up and lb.admin_state_up
        if not (monitored and up and li.provisioning_status != PS.PENDING_CREATE):
            li.operating_status = _online(up)
        _activate(li)
    if deleted:
        # Listeners and policies point at pools by plain foreign keys (no relation the
        # flush could order by): they go before any pool is deleted below.
        session.flush()
    for li in lb.listeners:
        live = sorted(
            (p for p in li.l7policies if p.provisioning_status != PS.PENDING_DELETE),
            key=lambda p: p.position,
        )
        for i, pol in enumerate(live, start=1):
            pol.position = i
    for p in list(lb.pools):
        if p.provisioning_status == PS.PENDING_DELETE:
            session.delete(p)
            continue
        hm = p.health_monitor
        if hm is not None and hm.provisioning_status == PS.PENDING_DELETE:
            session.delete(hm)
            hm = None
        elif hm is not None:
            _activate(hm)
            hm.operating_status = _online(hm.admin_state_up)
        for mb in list(p.members):
            if mb.provisioning_status == PS.PENDING_DELETE:
                session.delete(mb)
                continue
            _activate(mb)
            mb.operating_status = member_operating_status(
                mb.operating_status, admin_state_up=mb.admin_state_up, monitored=hm is not None
            )
        up = p.admin_state_up and p.id in served
        if not (monitored and up and p.provisioning_status != PS.PENDING_CREATE):
            p.operating_status = _online(up)
        _activate(p)
    session.flush()


def _activate(row: Row) -> None:
    if row.provisioning_status in (PS.PENDING_CREATE, PS.PENDING_UPDATE):
        row.provisioning_status = PS.ACTIVE


def mark_error(db: Database, lb_id: str, owner: str, reason: str) -> None:
    """The end of every failed reconcile: ERROR with the reason, never PENDING."""
    with db.write() as session:
        lb = session.get(m.LoadBalancer, lb_id)
        if lb is None or lb.lease_owner != owner:
            return
        deleting = lb.provisioning_status == PS.PENDING_DELETE
        lb.provisioning_status = PS.ERROR
        lb.operating_status = OS.ERROR
        lb.error_reason = reason[:2000]
        lb.applied_generation = lb.generation
        lb.failover_requested = False
        _release(lb)
        if deleting:
            return
        for li in lb.listeners:
            _error_if_pending(li)
            for pol in li.l7policies:
                _error_if_pending(pol)
                for r in pol.rules:
                    _error_if_pending(r)
        for p in lb.pools:
            _error_if_pending(p)
            if p.health_monitor is not None:
                _error_if_pending(p.health_monitor)
            for mb in p.members:
                _error_if_pending(mb)


def _error_if_pending(row: Row) -> None:
    if row.provisioning_status in (PS.PENDING_CREATE, PS.PENDING_UPDATE):
        row.provisioning_status = PS.ERROR
