"""The worker's lease on a load balancer (DESIGN decision 2): claim, keep, lose, release.

Role: the rule that no two workers push the same load balancer at once. A worker claims
a load balancer with one conditional UPDATE (only while no live lease exists), then
holds a `Lease` for as long as it works on it:

- a keeper thread renews it every third of `lease_seconds`, also while a slow agent call
  blocks the worker, so a live worker never loses it by running long;
- `hold()` renews it (one conditional UPDATE: still mine?) right before every call that
  changes the data plane (`dataplane.DataPlane` calls it before build, apply, destroy)
  and raises `LeaseLost` if another worker has it: that worker pushes, this one stops;
- a dead worker renews nothing: its lease expires and another worker claims the load
  balancer.

Callers: `loop` (claim, keep alive) and `dataplane` (hold). Time is injected (`clock`).
Must not call drivers.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import or_, update

from ostium.control.db import models as m
from ostium.control.db.engine import Database
from ostium.model.errors import OstiumError

log = logging.getLogger("ostium.worker")

RENEWALS_PER_LEASE = 3


class LeaseLost(OstiumError):
    """Another worker holds the load balancer now: stop without pushing anything more.
    Not an error of the load balancer (the new holder finishes it), so it is neither
    retried nor recorded as ERROR."""


def claim(
    db: Database, lb_id: str, owner: str, seconds: float, clock: Callable[[], dt.datetime]
) -> bool:
    """Take the lease if the load balancer has work and no live lease; True if taken."""
    now = clock()
    with db.write() as session:
        res = session.execute(
            update(m.LoadBalancer)
            .where(
                m.LoadBalancer.id == lb_id,
                m.LoadBalancer.generation != m.LoadBalancer.applied_generation,
                or_(m.LoadBalancer.lease_expires.is_(None), m.LoadBalancer.lease_expires < now),
            )
            .values(lease_owner=owner, lease_expires=now + dt.timedelta(seconds=seconds))
        )
        return res.rowcount == 1  # type: ignore[attr-defined,no-any-return]


class Lease:
    """A claimed lease on one load balancer, renewed while the worker works."""

    def __init__(
        self,
        db: Database,
        lb_id: str,
        owner: str,
        seconds: float,
        clock: Callable[[], dt.datetime] = m.utcnow,
    ) -> None:
        self.db = db
        self.lb_id = lb_id
        self.owner = owner
        self.seconds = seconds
        self.clock = clock
        self.lost = False

    def renew(self) -> bool:
        """Extend the lease if this worker still holds it; False (and `lost`) if not.

        Still held means still named owner: a lease that ran out but was not claimed by
        anyone else is taken back, atomically with respect to `claim`.
        """
        if self.lost:
            return False
        expires = self.clock() + dt.timedelta(seconds=self.seconds)
        with self.db.write() as session:
            res = session.execute(
                update(m.LoadBalancer)
                .where(m.LoadBalancer.id == self.lb_id, m.LoadBalancer.lease_owner == self.owner)
                .values(lease_expires=expires)
            )
            held: bool = res.rowcount == 1  # type: ignore[attr-defined]
        # Not held also once the reconcile gave the lease back (finish, mark_error): only
        # `hold`, before a push, makes it an event.
        self.lost = not held
        return held

    def hold(self) -> None:
        """Make sure the lease is held for the next `seconds`; raise `LeaseLost` if not."""
        if not self.renew():
            raise LeaseLost(f"load balancer {self.lb_id}: lease no longer held by {self.owner}")

    @contextmanager
    def kept_alive(self) -> Iterator[Lease]:
        """Renew the lease in the background for as long as the block runs."""
        stop = threading.Event()
        keeper = threading.Thread(
            target=self._keep, args=(stop,), name=f"lease-{self.lb_id[:8]}", daemon=True
        )
        keeper.start()
        try:
            yield self
        finally:
            stop.set()
            keeper.join()

    def _keep(self, stop: threading.Event) -> None:
        interval = self.seconds / RENEWALS_PER_LEASE
        while not stop.wait(interval):
            try:
                if not self.renew():
                    return
            except Exception:  # a database hiccup: try again at the next tick
                log.exception("load balancer %s: lease renewal failed", self.lb_id)
