"""The worker's only door to the compute driver, for one claimed load balancer.

Role: every call that changes the data plane (build, apply, destroy) first makes sure
the worker still holds its lease (`Lease.hold`, raises `LeaseLost`), so a worker that
lost its load balancer to another stops before pushing anything. It also owns the one
"destroy on failed build" rule: whatever a failed build left on the host is removed, so
no half-built amphora leaks. `destroy_later` is the one call without the lease: the
destroy of an amphora already forgotten (its row DELETED, nothing else will touch it)
on a host that went silent, in a thread of its own (at most `DEFERRED` at once), so no
worker slot waits on a dead agent; whatever it cannot remove, housekeeping's orphan job
does when the host answers again. Callers: the reconcile steps of both topologies
(`reconciling`, `pairing`, through `amphorae`). Must not touch the database.
"""

from __future__ import annotations

import logging
import threading

from ostium.control.worker.lease import Lease
from ostium.drivers.compute.base import AmphoraInfo, ComputeDriver
from ostium.model.spec import AmphoraPlug, AmphoraSpec

log = logging.getLogger("ostium.worker")
DEFERRED = 8
"""Deferred destroys running at once; more are left to housekeeping."""
_deferred = threading.BoundedSemaphore(DEFERRED)


class DataPlane:
    def __init__(self, driver: ComputeDriver, lease: Lease) -> None:
        self.driver = driver
        self.lease = lease

    def hosts(self) -> list[str]:
        return self.driver.hosts()

    def build(self, plug: AmphoraPlug, host: str | None) -> AmphoraInfo:
        self.lease.hold()
        target = self.driver.on(host)
        try:
            return target.build(plug)
        except Exception:
            # Never leak a half-built amphora: remove whatever the driver made. This
            # worker made it, so no lease check stands in the way of cleaning it up.
            try:
                target.destroy(plug.amphora_id)
            except Exception:  # pragma: no cover - best effort, logged
                log.exception("cleanup of amphora %s failed", plug.amphora_id)
            raise

    def apply(self, spec: AmphoraSpec, host: str | None) -> int:
        self.lease.hold()
        return self.driver.on(host).apply(spec)

    def destroy(self, amphora_id: str, host: str | None) -> None:
        self.lease.hold()
        self.driver.on(host).destroy(amphora_id)

    def destroy_later(self, amphora_id: str, host: str | None) -> None:
        """Try to destroy a forgotten amphora in the background; never raises."""
        if not _deferred.acquire(blocking=False):
            log.info("amphora %s on %s: left to housekeeping", amphora_id, host)
            return

        def attempt() -> None:
            try:
                self.driver.on(host).destroy(amphora_id)
                log.info("amphora %s destroyed on %s (deferred)", amphora_id, host)
            except Exception as exc:
                log.info(
                    "amphora %s not destroyed on %s (%s): housekeeping removes it when the "
                    "host answers",
                    amphora_id,
                    host,
                    exc,
                )
            finally:
                _deferred.release()

        threading.Thread(target=attempt, name="ostium-deferred-destroy", daemon=True).start()
