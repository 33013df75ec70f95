"""Pagination, sorting, field selection and filters for every collection (spec 1.5-1.8).

`ListQuery.parse` turns query parameters into a validated request (400 on anything
unknown); `run` executes it against a base SELECT and returns rows plus the
`<plural>_links` entries. Links carry every original parameter except
`marker`/`page_reverse` (a superset of the reference, which drops filters).

A list request is bounded (`model/limits`): query parameters, sort keys and tag values
over their caps are a 400 naming the cap, and integer filters outside the column's
range a 400 naming the value, so no request builds a statement the database refuses
(SQLite's expression depth, 32-bit columns).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Boolean, Integer, Select, and_, exists, false, not_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ostium.control.db.models import Tag
from ostium.control.services import plain_rows
from ostium.control.services.plain_rows import Relation
from ostium.model.errors import BadRequest
from ostium.model.limits import (
    DB_INT_MAX,
    DB_INT_MIN,
    MAX_FILTER_TERMS,
    MAX_SORT_KEYS,
    MAX_TAG_FILTER_VALUES,
)

RESERVED = {"limit", "marker", "sort", "sort_key", "sort_dir", "fields", "page_reverse"}
TAG_FILTERS = {"tags", "tags-any", "not-tags", "not-tags-any"}


class WebobError(BadRequest):
    """A 400 rendered in the webob shape (errors raised before the handler)."""


@dataclass
class ListQuery:
    limit: int | None
    marker: str | None
    page_reverse: bool
    sort: list[tuple[str, str]]
    fields: list[str]
    filters: dict[str, str]
    tag_filters: dict[str, list[str]] = field(default_factory=dict)
    raw: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, items: Sequence[tuple[str, str]], max_limit: int) -> ListQuery:
        if len(items) > MAX_FILTER_TERMS:
            raise BadRequest(
                f"Too many query parameters: {len(items)}; at most {MAX_FILTER_TERMS} "
                "are accepted in one request."
            )
        single: dict[str, str] = {}
        fields: list[str] = []
        tags: dict[str, list[str]] = {}
        for k, v in items:
            if k == "fields":
                fields.extend(x for x in v.split(",") if x)
            elif k in TAG_FILTERS:
                tags.setdefault(k, []).extend(x for x in v.split(",") if x)
            else:
                single[k] = v
        limit: int | None = max_limit if max_limit > 0 else None
        if "limit" in single:
            try:
                n = -1 if single["limit"] == "infinite" else int(single["limit"])
            except ValueError:
                raise WebobError(f"Limit '{single['limit']}' is not valid.") from None
            limit = None if n <= 0 else min(n, DB_INT_MAX)
            if max_limit > 0:
                limit = max_limit if limit is None else min(limit, max_limit)
        sort: list[tuple[str, str]] = []
        if single.get("sort"):
            for part in single["sort"].split(","):
                key, _, direction = part.strip().partition(":")
                sort.append((key.strip(), (direction or "asc").strip().lower()))
        elif single.get("sort_key"):
            keys = [k.strip() for k in single["sort_key"].split(",")]
            dirs = [d.strip().lower() for d in single.get("sort_dir", "").split(",") if d.strip()]
            sort = [(k, dirs[i] if i < len(dirs) else "asc") for i, k in enumerate(keys)]
        if len(sort) > MAX_SORT_KEYS:
            raise BadRequest(
                f"Too many sort keys: {len(sort)}; at most {MAX_SORT_KEYS} are accepted."
            )
        tag_count = sum(len(v) for v in tags.values())
        if tag_count > MAX_TAG_FILTER_VALUES:
            raise BadRequest(
                f"Too many tag values: {tag_count}; at most {MAX_TAG_FILTER_VALUES} are "
                "accepted over tags, tags-any, not-tags and not-tags-any."
            )
        for _, d in sort:
            if d not in ("asc", "desc"):
                raise WebobError(f"Supplied sort direction '{d}' is not valid.")
        if "sort_dir" in single and not single.get("sort_key") and not single.get("sort"):
            for d in single["sort_dir"].split(","):
                if d.strip().lower() not in ("asc", "desc"):
                    raise WebobError(f"Supplied sort direction '{d}' is not valid.")
        filters = {k: v for k, v in single.items() if k not in RESERVED}
        return cls(
            limit=limit,
            marker=single.get("marker"),
            page_reverse=single.get("page_reverse") == "True",
            sort=sort,
            fields=fields,
            filters=filters,
            tag_filters=tags,
            raw=list(items),
        )


def _convert(col: InstrumentedAttribute[Any], value: str) -> Any:
    ctype = col.property.columns[0].type
    if isinstance(ctype, Boolean):
        low = value.lower()
        if low in ("true", "t", "1", "yes", "y", "on"):
            return True
        if low in ("false", "f", "0", "no", "n", "off"):
            return False
        raise BadRequest(
            f"Invalid input for field/attribute {col.key}. Value: '{value}'. "
            "Value not an unambiguous boolean"
        )
    if isinstance(ctype, Integer):
        try:
            number = int(value)
        except ValueError:
            raise BadRequest(
                f"Invalid input for field/attribute {col.key}. Value: "
                f"'{value[:300]}'. Value should be an integer"
            ) from None
        if not DB_INT_MIN <= number <= DB_INT_MAX:
            raise BadRequest(
                f"Invalid input for field/attribute {col.key}. Value: '{value[:300]}'. "
                f"Value should be between {DB_INT_MIN} and {DB_INT_MAX}"
            )
        return number
    return value


@dataclass
class Collection:
    """What a resource exposes to listing: filterable/sortable attributes."""

    model: Any
    columns: dict[str, InstrumentedAttribute[Any]]
    tagged: bool = True
    id_attr: str = "id"
    has_created_at: bool = True
    extra_filters: dict[str, Callable[[str], Any]] = field(default_factory=dict)
    # Loader options (e.g. selectinload of the relations a view renders), so a page of
    # N objects costs a handful of queries instead of one per relation per object.
    options: list[Any] = field(default_factory=list)
    # Set for views that read only columns and child ids: the page is then built
    # without ORM instances (`plain_rows`), several times faster on long pages.
    relations: list[Relation] | None = None


def apply_filters(stmt: Select[Any], coll: Collection, q: ListQuery) -> Select[Any]:
    for k, v in q.filters.items():
        if k in coll.extra_filters:
            stmt = stmt.where(coll.extra_filters[k](v))
            continue
        col = coll.columns.get(k)
        if col is None:
            raise BadRequest("One or more arguments are either duplicate or invalid")
        stmt = stmt.where(col == _convert(col, v))
    if q.tag_filters:
        if not coll.tagged:
            raise BadRequest("One or more arguments are either duplicate or invalid")
        rid = getattr(coll.model, coll.id_attr)

        def has(tag: str) -> Any:
            return exists().where(Tag.resource_id == rid, Tag.tag == tag)

        for kind, tags in q.tag_filters.items():
            if not tags:
                continue
            if kind == "tags":
                stmt = stmt.where(and_(*[has(t) for t in tags]))
            elif kind == "tags-any":
                stmt = stmt.where(or_(*[has(t) for t in tags]))
            elif kind == "not-tags":
                stmt = stmt.where(not_(and_(*[has(t) for t in tags])))
            else:
                stmt = stmt.where(not_(or_(*[has(t) for t in tags])))
    return stmt


def run(
    session: Session,
    stmt: Select[Any],
    coll: Collection,
    q: ListQuery,
    base_url: str,
    sortable: bool = True,
) -> tuple[list[Any], list[dict[str, str]]]:
    stmt = apply_filters(stmt, coll, q)
    if coll.options and coll.relations is None:
        stmt = stmt.options(*coll.options)
    keys: list[tuple[InstrumentedAttribute[Any], str]] = []
    for name, direction in q.sort if sortable else []:
        col = coll.columns.get(name)
        if col is None:
            raise BadRequest(f"Supplied sort key '{name}' is not valid.")
        keys.append((col, direction))
    names = {c.key for c, _ in keys}
    if coll.has_created_at and "created_at" not in names:
        keys.append((coll.model.created_at, "asc"))
    idcol = getattr(coll.model, coll.id_attr)
    if idcol.key not in names:
        keys.append((idcol, "asc"))
    if q.marker:
        marker_row = session.scalar(select(coll.model).where(idcol == q.marker))
        if marker_row is None:
            raise BadRequest(f"Supplied pagination marker '{q.marker}' is not valid.")
        ors = []
        for i, (col, direction) in enumerate(keys):
            forward = (direction == "asc") != q.page_reverse
            val = getattr(marker_row, col.key)
            eqs = [c == getattr(marker_row, c.key) for c, _ in keys[:i]]
            if val is None:
                cmp = col.is_not(None) if forward else false()
            else:
                cmp = col > val if forward else col < val
            ors.append(and_(*eqs, cmp))
        stmt = stmt.where(or_(*ors))
    order = []
    for col, direction in keys:
        asc = (direction == "asc") != q.page_reverse
        order.append(col.asc() if asc else col.desc())
    stmt = stmt.order_by(*order)
    if q.limit is not None:
        stmt = stmt.limit(q.limit)
    if coll.relations is not None:
        rows = plain_rows.page(session, stmt, coll.model, coll.relations)
    else:
        rows = list(session.scalars(stmt).unique().all())
    if q.page_reverse:
        rows.reverse()
    links: list[dict[str, str]] = []
    if rows:
        keep = [(k, v) for k, v in q.raw if k not in ("marker", "page_reverse", "limit")]
        if q.limit is not None and len(rows) >= q.limit:
            params = [("limit", str(q.limit)), *keep, ("marker", getattr(rows[-1], coll.id_attr))]
            links.append({"href": f"{base_url}?{urlencode(params)}", "rel": "next"})
        if q.marker:
            params = [
                *([("limit", str(q.limit))] if q.limit else []),
                *keep,
                ("marker", getattr(rows[0], coll.id_attr)),
                ("page_reverse", "True"),
            ]
            links.append({"href": f"{base_url}?{urlencode(params)}", "rel": "previous"})
    return rows, links


def select_fields(obj: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    if not fields:
        return obj
    return {k: v for k, v in obj.items() if k in fields}
