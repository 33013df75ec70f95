"""Admin-only CRUD shared by the deployment catalogues (flavors, flavor profiles,
availability zones and their profiles): lookup, list, show, delete-unless-in-use.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ostium.control.db import models as m
from ostium.control.identity.context import RequestContext
from ostium.control.identity.policy import authorize
from ostium.control.services.context import ServiceContext
from ostium.control.services.listing import Collection, ListQuery, run, select_fields
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import BadRequest, Conflict, NotFound
from ostium.model.ids import new_id

NIL = "00000000-0000-0000-0000-000000000000"


def json_object(value: str, field: str) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except ValueError:
        raise BadRequest(f"{value} is not a valid option for {field}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"{value} is not a valid option for {field}")
    return data


class Catalog:
    """Generic admin-only CRUD for the four deployment catalogues."""

    def __init__(
        self,
        model: Any,
        label: str,
        columns: list[str],
        read_rule: str = "admin",
        key: str = "id",
    ) -> None:
        self.model, self.label, self.key = model, label, key
        self.columns, self.read_rule = columns, read_rule

    def render(self, row: Any) -> dict[str, Any]:
        """The API's view of a row: its columns, a missing description as ""."""
        out = {c: getattr(row, c) for c in self.columns}
        if "description" in out:
            out["description"] = out["description"] or ""
        return out

    def add(self, session: Any, body: BaseModel) -> dict[str, Any]:
        """Insert a new row from a create body (its fields are the row's columns)."""
        values = body.model_dump()
        if "description" in values:
            values["description"] = values["description"] or ""
        if self.key == "id":
            values["id"] = new_id()
        row = self.model(**values, created_at=m.utcnow())
        session.add(row)
        session.flush()
        return self.render(row)

    def get(self, session: Any, obj_id: str) -> Any:
        row = None if obj_id == NIL else session.get(self.model, obj_id)
        if row is None:
            raise NotFound(f"{self.label} {obj_id} not found.")
        return row

    def list(
        self,
        svc: ServiceContext,
        ctx: RequestContext,
        items: list[tuple[str, str]],
        base_url: str,
    ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        authorize(ctx, self.read_rule, ctx.project_id)
        q = ListQuery.parse(items, svc.settings.api.pagination_max_limit)
        # Octavia's catalogue tables have no timestamps, so its default order is the
        # key alone (id; an availability zone's name), not creation order.
        coll = Collection(
            self.model,
            {c: getattr(self.model, c) for c in self.columns},
            tagged=False,
            id_attr=self.key,
            has_created_at=False,
        )
        with svc.db.read() as session:
            rows, links = run(session, select(self.model), coll, q, base_url)
            return [select_fields(self.render(r), q.fields) for r in rows], links

    def show(self, svc: ServiceContext, ctx: RequestContext, obj_id: str) -> dict[str, Any]:
        authorize(ctx, self.read_rule, ctx.project_id)
        with svc.db.read() as session:
            return dict(self.render(self.get(session, obj_id)))


def delete_in_use(
    svc: ServiceContext,
    catalog: Catalog,
    obj_id: str,
    in_use: Any,
    message: str,
    lb_column: Any = None,
) -> None:
    """Delete the row unless `in_use` finds a user (409 `message`). `lb_column` is the
    load balancer column that names the row: DELETED load balancers, kept until
    housekeeping purges them, let go of it first (Octavia points them at the nil id)."""
    with svc.db.write() as session:
        row = catalog.get(session, obj_id)
        if session.scalar(select(in_use).limit(1)):
            raise Conflict(message)
        if lb_column is not None:
            session.execute(
                update(m.LoadBalancer)
                .where(lb_column == obj_id, m.LoadBalancer.provisioning_status == PS.DELETED)
                # updated_at as it was: letting go restarts no housekeeping clock.
                .values({lb_column: None, m.LoadBalancer.updated_at: m.LoadBalancer.updated_at})
                .execution_options(synchronize_session=False)
            )
        session.delete(row)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(message) from None
