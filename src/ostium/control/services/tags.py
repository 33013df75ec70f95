"""Tags of any resource: read in bulk, replace on write (rows of `tag`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from ostium.control.db import models as m


def load_tags(session: Session, ids: Iterable[str]) -> dict[str, list[str]]:
    ids = list(ids)
    out: dict[str, list[str]] = {i: [] for i in ids}
    if not ids:
        return out
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        for rid, tag in session.execute(
            select(m.Tag.resource_id, m.Tag.tag)
            .where(m.Tag.resource_id.in_(part))
            .order_by(m.Tag.resource_id, m.Tag.tag)
        ):
            out[rid].append(tag)
    return out


def add_tags(session: Session, rid: str, tags: list[str] | None) -> None:
    """The tags of a row created in this transaction (it has none yet): added to the
    session, so they are written with the next flush, no statement of their own."""
    session.add_all(m.Tag(resource_id=rid, tag=t) for t in dict.fromkeys(tags or ()))


def set_tags(session: Session, rid: str, tags: list[str] | None) -> None:
    session.execute(delete(m.Tag).where(m.Tag.resource_id == rid))
    if tags:
        session.execute(insert(m.Tag), [{"resource_id": rid, "tag": t} for t in tags])


def tags_of(session: Session, row: Any) -> list[str]:
    """The tags of one row."""
    return load_tags(session, [row.id])[row.id]
