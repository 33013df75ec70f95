"""Read the load balancers a heartbeat batch speaks of, as the shapes `status` derives
from: admin states and current operating statuses of the tree, in a few Core queries.

Role: the health updater's reader (inside its transaction). Core rows, not ORM objects:
this runs for every batch, and the ORM layer costs more than the queries. Objects being
deleted are left out. Also `chunks` and `one_of`, the batched `IN` both readers use.
Callers: `updater`, `statistics`. Must not write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.health.status import LbShape, ListenerShape, MemberShape, PoolShape
from ostium.model.enums import ProvisioningStatus as PS

GONE = (PS.PENDING_DELETE, PS.DELETED)


def chunks(items: list[str], size: int = 1000) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def one_of(column: Any, ids: list[str], session: Session) -> ColumnElement[bool]:
    """`column IN ids`; on PostgreSQL `column = ANY(:array)`: one parameter and the same
    SQL text every time, instead of a new statement with a thousand parameters to parse."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", ids, type_=ARRAY(String)))  # type: ignore[no-any-return]
    return column.in_(ids)  # type: ignore[no-any-return]


def load_shapes(session: Session, lb_ids: set[str]) -> dict[str, LbShape]:
    ids = sorted(lb_ids)
    if not ids:
        return {}
    conn = session.connection()  # Core rows: the ORM layer costs more than the query
    lbs: dict[str, dict[str, Any]] = {}
    listeners: dict[str, list[ListenerShape]] = {}
    pools: dict[str, list[tuple[str, bool, str]]] = {}
    members: dict[str, list[MemberShape]] = {}
    for part in chunks(ids):
        for lb_id, admin, prov, op in conn.execute(
            select(
                m.LoadBalancer.id,
                m.LoadBalancer.admin_state_up,
                m.LoadBalancer.provisioning_status,
                m.LoadBalancer.operating_status,
            ).where(one_of(m.LoadBalancer.id, part, session))
        ).all():
            lbs[lb_id] = {"admin": admin, "prov": prov, "op": op}
        for li in conn.execute(
            select(
                m.Listener.load_balancer_id,
                m.Listener.id,
                m.Listener.admin_state_up,
                m.Listener.operating_status,
            )
            .where(
                one_of(m.Listener.load_balancer_id, part, session),
                m.Listener.provisioning_status.not_in(GONE),
            )
            .order_by(m.Listener.id)
        ).all():
            listeners.setdefault(li[0], []).append(ListenerShape(li[1], li[2], li[3]))
        for po in conn.execute(
            select(
                m.Pool.load_balancer_id, m.Pool.id, m.Pool.admin_state_up, m.Pool.operating_status
            )
            .where(
                one_of(m.Pool.load_balancer_id, part, session),
                m.Pool.provisioning_status.not_in(GONE),
            )
            .order_by(m.Pool.id)
        ).all():
            pools.setdefault(po[0], []).append((po[1], po[2], po[3]))
        for mb in conn.execute(
            select(
                m.Member.pool_id, m.Member.id, m.Member.admin_state_up, m.Member.operating_status
            )
            .join(m.Pool, m.Pool.id == m.Member.pool_id)
            .where(
                one_of(m.Pool.load_balancer_id, part, session),
                m.Member.provisioning_status.not_in(GONE),
            )
            .order_by(m.Member.id)
        ).all():
            members.setdefault(mb[0], []).append(MemberShape(mb[1], mb[2], mb[3]))
    return {
        lb_id: LbShape(
            id=lb_id,
            admin_state_up=v["admin"],
            provisioning_status=v["prov"],
            operating_status=v["op"],
            listeners=tuple(listeners.get(lb_id, ())),
            pools=tuple(
                PoolShape(pid, admin, op, tuple(members.get(pid, ())))
                for pid, admin, op in pools.get(lb_id, ())
            ),
        )
        for lb_id, v in lbs.items()
        if v["prov"] != PS.DELETED
    }
