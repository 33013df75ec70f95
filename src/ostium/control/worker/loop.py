"""The worker loop: find load balancers whose generation is ahead of the applied one,
claim each with a lease in the database, reconcile with bounded concurrency.

Claiming is a conditional UPDATE (only when no live lease exists), so any number of
workers in any number of processes can run against one database. While a load balancer
is reconciled its lease is renewed in the background and checked before every push
(`lease`); a worker that lost it stops there, one that dies loses it when it expires
and another one takes over. Time and sleep are injected so tests can drive the loop
deterministically. Callers: `cli` (serve, worker), tests and benchmarks. Must not call
drivers itself (the reconcile steps do, through `dataplane`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import or_, select

from ostium.control import metrics
from ostium.control.db import models as m
from ostium.control.db.engine import Database
from ostium.control.logs import named
from ostium.control.settings import Settings
from ostium.control.worker import lease
from ostium.control.worker.reconciling import Reconciler
from ostium.control.worker.tree import mark_error
from ostium.drivers.compute.base import ComputeDriver
from ostium.model import timing
from ostium.model.errors import TransientError

log = logging.getLogger("ostium.worker")


class WorkerLoop:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        driver: ComputeDriver,
        clock: Callable[[], dt.datetime] = m.utcnow,
        registry: metrics.Registry = metrics.REGISTRY,
    ) -> None:
        self.db = db
        self.durations = metrics.reconcile_duration(registry)
        self.settings = settings
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.reconciler = Reconciler(db, settings, driver)
        self.wake_event = threading.Event()
        self.stop_event = threading.Event()
        self.pool = ThreadPoolExecutor(
            max_workers=max(1, settings.worker.workers), thread_name_prefix="ostium-reconcile"
        )
        self.inflight: dict[str, Future[None]] = {}
        self.thread: threading.Thread | None = None
        self.woken_at: float | None = None

    def wake(self) -> None:
        if not self.wake_event.is_set():
            self.woken_at = time.perf_counter()
        self.wake_event.set()

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name="ostium-worker", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.wake_event.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.pool.shutdown(wait=True, cancel_futures=True)

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("worker tick failed")
            self.wake_event.wait(self.settings.worker.poll_interval)
            self.wake_event.clear()

    def candidates(self) -> list[str]:
        return list(self._candidates())

    def _candidates(self) -> dict[str, str | None]:
        """Load balancers with work and no live lease -> the worker that held the lease
        last (None: nobody), oldest change first."""
        now = self.clock()
        with self.db.read() as session:
            rows = session.execute(
                select(m.LoadBalancer.id, m.LoadBalancer.lease_owner)
                .where(
                    m.LoadBalancer.generation != m.LoadBalancer.applied_generation,
                    or_(
                        m.LoadBalancer.lease_expires.is_(None),
                        m.LoadBalancer.lease_expires < now,
                    ),
                )
                .order_by(m.LoadBalancer.updated_at)
                .limit(64)
            )
            return {lb_id: owner for lb_id, owner in rows}

    def claim(self, lb_id: str, previous: str | None = None) -> bool:
        """Take the lease; `previous` is the worker that held it last (for the log)."""
        taken = lease.claim(
            self.db, lb_id, self.owner, self.settings.worker.lease_seconds, self.clock
        )
        if taken and previous and previous != self.owner:
            log.info(
                "load balancer %s: taking over from worker %s, whose lease ran out",
                named(None, lb_id),
                previous,
            )
        return taken

    def tick(self) -> None:
        started = time.perf_counter()
        woken, self.woken_at = self.woken_at, None
        for lb_id, fut in list(self.inflight.items()):
            if fut.done():
                del self.inflight[lb_id]
        free = self.settings.worker.workers - len(self.inflight)
        for lb_id, previous in self._candidates().items():
            if free <= 0:
                break
            if lb_id in self.inflight or not self.claim(lb_id, previous):
                continue
            steps = timing.Phases()
            if woken is not None:
                steps.add("wake", started - woken)
            steps.add("claim", time.perf_counter() - started)
            self.inflight[lb_id] = self.pool.submit(self.process, lb_id, steps)
            free -= 1

    def process(self, lb_id: str, steps: timing.Phases | None = None) -> None:
        held = lease.Lease(
            self.db, lb_id, self.owner, self.settings.worker.lease_seconds, self.clock
        )
        steps = steps if steps is not None else timing.Phases()
        started = time.monotonic()
        with timing.recording(steps), held.kept_alive():
            outcome = self._reconcile(lb_id, held)
        took = time.monotonic() - started
        self.durations.observe(took, outcome=outcome)
        self._report(lb_id, outcome, took, steps)
        self.wake()  # look again: another change may be waiting

    def _reconcile(self, lb_id: str, held: lease.Lease) -> str:
        """Run the reconciler until done, retrying transient errors; the outcome."""
        cfg = self.settings.worker
        attempt = 0
        while True:
            try:
                self.reconciler.run(lb_id, held)
                return "done"
            except lease.LeaseLost as exc:
                log.warning("load balancer %s: stopped, another worker has it: %s", lb_id, exc)
                return "lost"
            except TransientError as exc:
                attempt += 1
                if attempt > cfg.max_retries or self.stop_event.is_set():
                    log.warning(
                        "load balancer %s: giving up after %d attempts: %s", lb_id, attempt, exc
                    )
                    mark_error(self.db, lb_id, self.owner, f"transient error: {exc}")
                    return "error"
                log.info("load balancer %s: retrying after transient error: %s", lb_id, exc)
                self.stop_event.wait(cfg.retry_backoff * (2 ** (attempt - 1)))
            except Exception as exc:
                log.exception("load balancer %s: reconcile failed", lb_id)
                mark_error(self.db, lb_id, self.owner, f"{type(exc).__name__}: {exc}")
                return "error"

    def _report(self, lb_id: str, outcome: str, took: float, steps: timing.Phases) -> None:
        """The INFO line of a reconcile: which load balancer, how long, where it ended,
        and where its time went (bench/dataplane.py reads it)."""
        with self.db.read() as session:
            row = session.execute(
                select(m.LoadBalancer.name, m.LoadBalancer.provisioning_status).where(
                    m.LoadBalancer.id == lb_id
                )
            ).one_or_none()
        name, status = row if row is not None else (None, "gone")
        log.info(
            "load balancer %s: reconcile %s in %.1f ms, now %s: %s",
            named(name, lb_id),
            outcome,
            took * 1000,
            status,
            steps.describe(),
        )

    def drain(self, timeout: float = 10.0) -> None:
        """Run until no work is left (tests and benchmarks)."""
        deadline = dt.datetime.now() + dt.timedelta(seconds=timeout)
        while dt.datetime.now() < deadline:
            self.tick()
            for fut in list(self.inflight.values()):
                fut.result(timeout=timeout)
            self.tick()
            if not self.inflight and not self.candidates():
                return
