"""The load balancer row is the lock (DESIGN decision 3).

`lock_lb` moves a load balancer from an allowed state (ACTIVE unless told otherwise) to
a PENDING state and bumps `generation` in one conditional UPDATE, so of N concurrent
writers exactly one wins and the others get 409. Called by the services (every change)
and by the health watchdog (failover); the worker finds the bumped generation.

Lock order, the same in every API write: the load balancer row first, then the rows
under it. `hold_lb` takes the load balancer's row lock (`SELECT ... FOR UPDATE` on
PostgreSQL; SQLite's `BEGIN IMMEDIATE` already serialises writers) before a write
touches any child row, so a child update and a load balancer delete never wait on each
other in opposite orders (deadlock).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.model.enums import ProvisioningStatus
from ostium.model.errors import Conflict


def hold_lb(session: Session, lb_id: str) -> None:
    """Wait for and hold the load balancer's row lock until the transaction ends."""
    session.execute(select(m.LoadBalancer.id).where(m.LoadBalancer.id == lb_id).with_for_update())


def lock_lb(
    session: Session,
    lb_id: str,
    *,
    to: ProvisioningStatus = ProvisioningStatus.PENDING_UPDATE,
    allowed: tuple[ProvisioningStatus, ...] = (ProvisioningStatus.ACTIVE,),
    lb_level: bool = False,
    failover: bool = False,
) -> None:
    values: dict[str, Any] = {
        "provisioning_status": to,
        "generation": m.LoadBalancer.generation + 1,
        "updated_at": m.utcnow(),
        "attempts": 0,
        "error_reason": None,
    }
    if failover:
        values["failover_requested"] = True
    res = session.execute(
        update(m.LoadBalancer)
        .where(m.LoadBalancer.id == lb_id, m.LoadBalancer.provisioning_status.in_(allowed))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        if lb_level:
            status = session.scalar(
                select(m.LoadBalancer.provisioning_status).where(m.LoadBalancer.id == lb_id)
            )
            raise Conflict(f"Invalid state {status} of loadbalancer resource {lb_id}")
        raise Conflict(f"Load Balancer {lb_id} is immutable and cannot be updated.")


def bump_generation(session: Session, lb_id: str) -> None:
    """Ask the worker to push the load balancer's spec again, without taking the lock
    (an amphora's configuration refresh or deletion changes no object under it)."""
    session.execute(
        update(m.LoadBalancer)
        .where(m.LoadBalancer.id == lb_id)
        .values(generation=m.LoadBalancer.generation + 1)
    )
