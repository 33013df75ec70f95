"""Steps every write shares: mark parents pending, refuse changes under a pending
parent, turn a unique-constraint clash into 409, copy the fields a request sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import Conflict


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
    row: Any,
    body: Any,
    sent: set[str],
    names: tuple[str, ...],
    resets: dict[str, Any] | None = None,
) -> None:
    for f in names:
        if f in sent:
            value = getattr(body, f)
            if value is None and resets and f in resets:
                value = resets[f]
            if f in ("name", "description") and value is None:
                value = ""
            setattr(row, f, value)
