"""ACTIVE_STANDBY: keep the amphora rows' MASTER/BACKUP roles on what keepalived reports.

Role: after a takeover the BACKUP holds the VIP. When its heartbeat says MASTER while
its row says BACKUP, `follow_masters` makes it the MASTER and every other amphora of
its pair BACKUP, so `GET /v2/octavia/amphorae` (and the status tree) show which one
serves now; the configured `vrrp_priority` is left to the worker, which aligns it with
the roles on its next change of the pair. Callers: `updater`, inside its transaction,
only for load balancers that are not PENDING_* (then the worker owns the rows).
"""

from __future__ import annotations

import logging

from sqlalchemy import case, update
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.model.enums import AmphoraRole, AmphoraStatus

log = logging.getLogger("ostium.health")


def follow_masters(session: Session, promoted: list[tuple[str, str]]) -> None:
    """`promoted`: (amphora id, load balancer id) of amphorae reporting MASTER."""
    for amp_id, lb_id in promoted:
        session.execute(
            update(m.Amphora)
            .where(
                m.Amphora.load_balancer_id == lb_id,
                m.Amphora.role.in_((AmphoraRole.MASTER, AmphoraRole.BACKUP)),
                m.Amphora.status != AmphoraStatus.DELETED,
            )
            .values(
                role=case(
                    (m.Amphora.id == amp_id, AmphoraRole.MASTER.value),
                    else_=AmphoraRole.BACKUP.value,
                )
            )
            .execution_options(synchronize_session=False)
        )
        log.info("health: amphora %s of load balancer %s holds the VIP: now MASTER", amp_id, lb_id)
