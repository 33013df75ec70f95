"""`GET /metrics`: the in-memory figures of this process plus those kept in the database.

Role: called by the root route at scrape time. The database figures are the same for
every process (queue depth, amphorae by status, silent amphorae), so any API process
answers them; counters of the health manager, the worker and housekeeping are those of
this process (`ostium serve` runs them all in one).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from ostium.control import metrics
from ostium.control.db import models as m
from ostium.control.health.watchdog import count_silent
from ostium.control.services import object_metrics
from ostium.control.services.context import ServiceContext
from ostium.model.enums import AmphoraStatus
from ostium.model.enums import ProvisioningStatus as PS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def collect(svc: ServiceContext, registry: metrics.Registry) -> None:
    depth = registry.gauge(
        "ostium_reconcile_queue_depth", "Load balancers whose desired generation is not applied yet"
    )
    amps = registry.gauge("ostium_amphorae", "Amphorae by status", ("status",))
    silent = registry.gauge(
        "ostium_stale_amphorae",
        "Amphorae silent for longer than heartbeat_timeout, by status",
        ("status",),
    )
    cutoff = m.utcnow() - dt.timedelta(seconds=svc.settings.health.heartbeat_timeout)
    with svc.db.read() as session:
        depth.set(
            session.execute(
                select(func.count())
                .select_from(m.LoadBalancer)
                .where(
                    m.LoadBalancer.generation != m.LoadBalancer.applied_generation,
                    m.LoadBalancer.provisioning_status != PS.DELETED,
                )
            ).scalar_one()
        )
        counts: dict[str, int] = {
            status: n
            for status, n in session.execute(
                select(m.Amphora.status, func.count())
                .where(m.Amphora.status != AmphoraStatus.DELETED)
                .group_by(m.Amphora.status)
            )
        }
        for status in (
            AmphoraStatus.ALLOCATED,
            AmphoraStatus.PENDING_CREATE,
            AmphoraStatus.ERROR,
            AmphoraStatus.FAILOVER_STOPPED,
        ):
            amps.set(counts.get(status, 0), status=status)
        for status in (AmphoraStatus.ALLOCATED, AmphoraStatus.FAILOVER_STOPPED):
            silent.set(count_silent(session, cutoff, (status,)), status=status)


def render(svc: ServiceContext, registry: metrics.Registry = metrics.REGISTRY) -> str:
    collect(svc, registry)
    return registry.render() + object_metrics.render(svc)
