"""Steps every write shares: the columns of a new object, mark parents pending, refuse
changes under a pending parent, turn a unique-constraint clash into 409, copy the
fields (and tags) a request sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.services.tags import add_tags, set_tags
from ostium.model.enums import OperatingStatus as OS
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import Conflict
from ostium.model.ids import new_id


def mark_pending(session: Session, rows: Iterable[Any], status: PS = PS.PENDING_UPDATE) -> None:
    for row in rows:
        if row.provisioning_status in (PS.ACTIVE, PS.ERROR):
            row.provisioning_status = status
            row.updated_at = m.utcnow()


def require_active(row: Any, label: str) -> None:
    if row.provisioning_status != PS.ACTIVE:
        raise Conflict(f"{label} {row.id} is immutable and cannot be updated.")


def flush_or_conflict(session: Session, message: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(message) from None


def apply_fields(
    session: Session,
    row: Any,
    body: Any,
    sent: set[str],
    names: tuple[str, ...],
    resets: dict[str, Any] | None = None,
) -> None:
    """Copy the fields of `names` that the request sent (a null resets to `resets`, or
    to "" for a name or description), and the tags when they were sent."""
    for f in names:
        if f in sent:
            value = getattr(body, f)
            if value is None and resets and f in resets:
                value = resets[f]
            if f in ("name", "description") and value is None:
                value = ""
            setattr(row, f, value)
    if "tags" in sent:
        set_tags(session, row.id, body.tags)


def new_resource(
    project_id: str, admin_state_up: bool, operating_status: OS = OS.OFFLINE
) -> dict[str, Any]:
    """The columns every new lbaas object starts with: a fresh id, PENDING_CREATE."""
    return {
        "id": new_id(),
        "project_id": project_id,
        "admin_state_up": admin_state_up,
        "provisioning_status": PS.PENDING_CREATE,
        "operating_status": operating_status,
        "created_at": m.utcnow(),
    }


R = TypeVar("R", bound=m.Resource)


def add_new(session: Session, row: R, tags: list[str] | None) -> R:
    """Add a new row and its tags to the session."""
    session.add(row)
    add_tags(session, row.id, tags)
    return row
