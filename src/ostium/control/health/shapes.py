"""Read the load balancers a heartbeat batch speaks of, as the shapes `status` derives
from: admin states and current operating statuses of the tree, in four plain queries.

Role: the health updater's reader (inside its transaction). Plain SQL rows, not ORM
objects nor typed Core rows: this runs for every batch, and turning status words into
enums row by row costs more than the queries. Objects being deleted are left out. Also
`chunks`, `any_of` and `ids_param`, the one-parameter "id in a list" every reader of the
health manager uses. Callers: `updater`, `statistics`. Must not write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from ostium.control.health.status import LbShape, ListenerShape, MemberShape, PoolShape
from ostium.model.enums import ProvisioningStatus as PS


def chunks(items: list[str], size: int = 1000) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def any_of(session: Session) -> str:
    """SQL text for "one of the ids in parameter `:ids`" (pass `ids_param(session, ids)`):
    `= ANY(array)` on PostgreSQL, `IN (SELECT value FROM json_each(...))` on SQLite. One
    parameter and one statement text whatever the number of ids, for plain-SQL readers
    whose rows skip the ORM's result processing (a few microseconds a row)."""
    if session.get_bind().dialect.name == "postgresql":
        return "= ANY(CAST(:ids AS VARCHAR[]))"
    return "IN (SELECT value FROM json_each(:ids))"


def ids_param(session: Session, ids: list[str]) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return ids
    return orjson.dumps(ids).decode()


_GONE_SQL = "provisioning_status NOT IN ('PENDING_DELETE', 'DELETED')"


def load_shapes(session: Session, lb_ids: set[str]) -> dict[str, LbShape]:
    ids = sorted(lb_ids)
    if not ids:
        return {}
    # Plain SQL, rows as they are: the ORM's result processing (status words turned
    # into enums, one by one) costs more than the queries.
    one = any_of(session)
    queries = [
        text(
            "SELECT id, admin_state_up, provisioning_status, operating_status "
            f"FROM load_balancer WHERE id {one}"
        ),
        text(
            "SELECT load_balancer_id, id, admin_state_up, operating_status FROM listener "
            f"WHERE load_balancer_id {one} AND {_GONE_SQL} ORDER BY id"
        ),
        text(
            "SELECT load_balancer_id, id, admin_state_up, operating_status FROM pool "
            f"WHERE load_balancer_id {one} AND {_GONE_SQL} ORDER BY id"
        ),
        text(
            "SELECT m.pool_id, m.id, m.admin_state_up, m.operating_status FROM member m "
            f"JOIN pool p ON p.id = m.pool_id WHERE p.load_balancer_id {one} "
            "AND m.provisioning_status NOT IN ('PENDING_DELETE', 'DELETED') ORDER BY m.id"
        ),
    ]
    conn = session.connection()
    lbs: dict[str, tuple[bool, str, str]] = {}
    listeners: dict[str, list[ListenerShape]] = {}
    pools: dict[str, list[tuple[str, bool, str]]] = {}
    members: dict[str, list[MemberShape]] = {}
    for part in chunks(ids):
        param = {"ids": ids_param(session, part)}
        for lb_id, admin, prov, op in conn.execute(queries[0], param):
            lbs[lb_id] = (bool(admin), prov, op)
        for lb_id, li_id, admin, op in conn.execute(queries[1], param):
            listeners.setdefault(lb_id, []).append(ListenerShape(li_id, bool(admin), op))
        for lb_id, pool_id, admin, op in conn.execute(queries[2], param):
            pools.setdefault(lb_id, []).append((pool_id, bool(admin), op))
        for pool_id, mb_id, admin, op in conn.execute(queries[3], param):
            members.setdefault(pool_id, []).append(MemberShape(mb_id, bool(admin), op))
    return {
        lb_id: LbShape(
            id=lb_id,
            admin_state_up=admin,
            provisioning_status=prov,
            operating_status=op,
            listeners=tuple(listeners.get(lb_id, ())),
            pools=tuple(
                PoolShape(pid, p_admin, p_op, tuple(members.get(pid, ())))
                for pid, p_admin, p_op in pools.get(lb_id, ())
            ),
        )
        for lb_id, (admin, prov, op) in lbs.items()
        if prov != PS.DELETED
    }
