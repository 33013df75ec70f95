"""Traffic statistics summed from the rows the health manager writes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostium.control.db import models as m

STAT_FIELDS = ("active_connections", "bytes_in", "bytes_out", "request_errors", "total_connections")


def sum_stats(session: Session, where: Any) -> dict[str, int]:
    cols = [func.coalesce(func.sum(getattr(m.ListenerStatistics, f)), 0) for f in STAT_FIELDS]
    row = session.execute(select(*cols).where(where)).one()
    return {f: int(v) for f, v in zip(STAT_FIELDS, row, strict=True)}
