"""A page of a listing as plain objects: columns and child ids, without ORM instances.

Role: the listing of a thousand load balancers spent most of its time building ORM
instances (identity map, instance state, collections of children loaded by
`selectinload`) that the response views only read. Here the page is one SELECT of the
columns plus one SELECT of (parent id, child id) per relation the view renders, and
each row becomes a `SimpleNamespace` with the same attribute names as the ORM row, so
the views in `responses` serve both shapes unchanged. Children keep the order of the
ORM relationship (its `order_by`).

Used by `listing.run` for the collections that declare `Collection.relations`; a view
that walks further than one level (pools: their listeners through L7 policies) keeps
the ORM path. Read-only: the objects are never written back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, inspect, select
from sqlalchemy.orm import Session

CHUNK = 500
"""Parent ids per IN (...) query (SQLite allows 32,766 parameters; stay far below)."""


@dataclass(frozen=True)
class Relation:
    """A list of children the view renders as `[{"id": ...}]`."""

    name: str
    """Attribute name on the parent (e.g. `listeners`)."""
    parent_key: Any
    """The child's column holding the parent id (e.g. `Listener.load_balancer_id`)."""
    child_id: Any
    order_by: Sequence[Any]


class IdRow(SimpleNamespace):
    id: str


def page(
    session: Session, stmt: Select[Any], model: Any, relations: Sequence[Relation]
) -> list[Any]:
    """Run `stmt` (a `select(model)` with its filters, order and limit) for the
    columns only; attach the children's ids of every relation."""
    keys = [attr.key for attr in inspect(model).column_attrs]
    columns = [getattr(model, key) for key in keys]
    rows = [
        SimpleNamespace(**dict(zip(keys, values, strict=True)))
        for values in session.execute(stmt.with_only_columns(*columns))
    ]
    if not rows:
        return rows
    ids = [row.id for row in rows]
    for rel in relations:
        children: dict[str, list[IdRow]] = {i: [] for i in ids}
        for start in range(0, len(ids), CHUNK):
            part = ids[start : start + CHUNK]
            query = (
                select(rel.parent_key, rel.child_id)
                .where(rel.parent_key.in_(part))
                .order_by(*rel.order_by)
            )
            for parent_id, child_id in session.execute(query):
                children[parent_id].append(IdRow(id=child_id))
        for row in rows:
            setattr(row, rel.name, children[row.id])
    return rows
