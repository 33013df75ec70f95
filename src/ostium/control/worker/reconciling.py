"""Drive one load balancer from its desired generation to ACTIVE (or ERROR).

Role: called by the worker loop with a claimed, kept-alive lease. It reads what the load
balancer wants and hands it to the steps of its topology, both built on the shared
amphora steps (`amphorae`) and ending the same way (`tree.finish`):

- delete: every amphora is destroyed and its row marked DELETED, the tree removed;
- SINGLE (`SingleSteps`, here): ensure the STANDALONE amphora row, build it if needed,
  allocate its member-network addresses and push its spec in one transaction with one
  tree load. The usual change (amphora built, addresses allocated) reads the row and
  builds the spec in one read transaction. A failover builds the replacement first
  and removes the old amphora only after the new one serves;
- ACTIVE_STANDBY: `pairing.PairSteps` (two amphorae, VRRP).

Steps are idempotent, so a worker killed mid-way leaves nothing another worker cannot
finish. Every data-plane change goes through `dataplane.DataPlane`, which stops a worker
that lost its lease (`LeaseLost`) before it pushes. Transient errors are retried with
back-off by the loop; anything else ends in ERROR with the reason (`tree.mark_error`).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ostium.control.db import ipam
from ostium.control.db import models as m
from ostium.control.db.engine import Database
from ostium.control.settings import Settings
from ostium.control.worker import host_choice, spec_builder
from ostium.control.worker.amphorae import LIVE, AmphoraSteps
from ostium.control.worker.dataplane import DataPlane
from ostium.control.worker.lease import Lease
from ostium.control.worker.pairing import PairSteps
from ostium.control.worker.placement import place
from ostium.control.worker.tree import finish, load_tree
from ostium.drivers.compute.base import ComputeDriver
from ostium.model.enums import AmphoraRole, AmphoraStatus, Topology
from ostium.model.enums import OperatingStatus as OS
from ostium.model.enums import ProvisioningStatus as PS
from ostium.model.errors import TransientError
from ostium.model.ids import new_id
from ostium.model.spec import AmphoraSpec
from ostium.model.timing import phase

log = logging.getLogger("ostium.worker")


@dataclass
class Reconciler:
    db: Database
    settings: Settings
    driver: ComputeDriver

    def run(self, lb_id: str, lease: Lease) -> None:
        with phase("load"), self.db.read() as session:
            lb = session.get(m.LoadBalancer, lb_id)
            if lb is None or lb.lease_owner != lease.owner:
                return
            generation = lb.generation
            deleting = lb.provisioning_status == PS.PENDING_DELETE
            failover = lb.failover_requested
            pair = lb.topology == Topology.ACTIVE_STANDBY
        steps = AmphoraSteps(self.db, self.settings, DataPlane(self.driver, lease))
        if deleting:
            self._delete(steps, lb_id)
            return
        if pair:
            applied = PairSteps(steps).run(lb_id, generation, failover)
        else:
            applied = SingleSteps(steps).run(lb_id, generation, failover)
        with phase("finish"):
            finish(self.db, lb_id, lease.owner, generation, applied)

    def _delete(self, steps: AmphoraSteps, lb_id: str) -> None:
        for amp_id, host in steps.others(lb_id):
            steps.retire(amp_id, host)
        with self.db.write() as session:
            lb = session.get(m.LoadBalancer, lb_id)
            assert lb is not None
            for li in lb.listeners:
                session.delete(li)
            session.flush()
            for p in lb.pools:
                session.delete(p)
            session.execute(
                delete(m.ListenerStatistics).where(m.ListenerStatistics.load_balancer_id == lb_id)
            )
            ipam.release(session, lb_id)
            lb.provisioning_status = PS.DELETED
            lb.operating_status = OS.OFFLINE
            lb.applied_generation = lb.generation
            lb.lease_owner = None
            lb.lease_expires = None
            lb.updated_at = m.utcnow()


class SingleSteps:
    """A SINGLE load balancer: one STANDALONE amphora."""

    def __init__(self, steps: AmphoraSteps) -> None:
        self.steps = steps
        self.db = steps.db
        self.settings = steps.settings

    def run(self, lb_id: str, generation: int, failover: bool) -> dict[str, int]:
        ready = None
        if not failover:
            with phase("spec"):
                ready = self._spec_of_running(lb_id, generation)
        if ready is not None:
            spec, host = ready
        else:
            with phase("row"):
                amp_id, built = self._ensure_row(lb_id, failover)
            if not built:
                with self.db.read() as session:
                    lb = session.get(m.LoadBalancer, lb_id)
                    assert lb is not None
                    vip = ipaddress.ip_address(lb.vip_address or "").compressed
                with phase("build"):
                    self.steps.build(lb_id, amp_id, ha_ip=vip, vrrp_ip=None)
            with phase("spec"):
                spec, host = self._spec(lb_id, amp_id, generation)
        amp_id = spec.amphora_id
        with phase("push"):
            applied = self.steps.push([(spec, host)])
        if failover:
            for old, old_host in self.steps.others(lb_id, keep=amp_id):
                try:
                    self.steps.retire(old, old_host)
                except TransientError as exc:
                    # Its host may be gone with it (a dead host's amphorae are failed
                    # over): the replacement serves already. Housekeeping's sweep removes
                    # what is left if the host comes back.
                    log.warning("amphora %s not destroyed (%s); forgotten", old, exc)
                    self.steps.forget(old)
        return applied

    def _spec_of_running(
        self, lb_id: str, generation: int
    ) -> tuple[AmphoraSpec, str | None] | None:
        """The usual change, to a load balancer whose amphora is built and has its
        member-network addresses: its spec and host from one read transaction (the lease
        keeps other workers away). None when anything is missing: `run` then takes the
        steps one by one."""
        with self.db.read() as session:
            current = self._current(session, lb_id)
            if not current or current[0].status != AmphoraStatus.ALLOCATED:
                return None
            amp = current[0]
            lb = load_tree(session, lb_id)
            addresses = self.steps.member_addresses_as_allocated(session, lb, amp.id)
            if addresses is None:
                return None
            spec = spec_builder.build(self.settings, lb, amp.id, generation, addresses)
            return spec, amp.host

    def _spec(self, lb_id: str, amp_id: str, generation: int) -> tuple[AmphoraSpec, str | None]:
        """The amphora's spec and host, from one transaction and one tree load: a read
        when its member-network addresses are all allocated already (the usual change),
        a write (no lock taken on SQLite otherwise) when one must be allocated or freed."""
        with self.db.read() as session:
            lb = load_tree(session, lb_id)
            addresses = self.steps.member_addresses_as_allocated(session, lb, amp_id)
            if addresses is not None:
                return self._build(session, lb, amp_id, generation, addresses)
        with self.db.write() as session:
            lb = load_tree(session, lb_id)
            addresses = self.steps.member_addresses(session, lb, amp_id)
            return self._build(session, lb, amp_id, generation, addresses)

    def _build(
        self,
        session: Session,
        lb: m.LoadBalancer,
        amp_id: str,
        generation: int,
        addresses: dict[str, str],
    ) -> tuple[AmphoraSpec, str | None]:
        spec = spec_builder.build(self.settings, lb, amp_id, generation, addresses)
        return spec, session.scalar(select(m.Amphora.host).where(m.Amphora.id == amp_id))

    def _ensure_row(self, lb_id: str, failover: bool) -> tuple[str, bool]:
        """The amphora to configure, and whether it is already built."""
        if not failover:
            # The usual case, a change to a running load balancer: its amphora exists
            # and a read says so (no write lock taken; the lease keeps others away).
            with self.db.read() as session:
                current = self._current(session, lb_id)
                if current:
                    return current[0].id, current[0].status == AmphoraStatus.ALLOCATED
        hosts = self.steps.plane.hosts()  # before the write: the driver may read the database
        with self.db.write() as session:
            current = self._current(session, lb_id)
            if failover:
                # The old amphora keeps serving until the replacement is configured;
                # `run` then removes it (and any leftover of an interrupted attempt).
                for a in current:
                    a.role = None
                    a.updated_at = m.utcnow()
            elif current:
                return current[0].id, current[0].status == AmphoraStatus.ALLOCATED
            amp = m.Amphora(
                id=new_id(),
                load_balancer_id=lb_id,
                status=AmphoraStatus.PENDING_CREATE,
                role=AmphoraRole.STANDALONE,
                cert_busy=False,
                created_at=m.utcnow(),
                host=self._place(session, lb_id, hosts),
            )
            session.add(amp)
            return amp.id, False

    @staticmethod
    def _current(session: Session, lb_id: str) -> list[m.Amphora]:
        """The load balancer's STANDALONE amphorae that may serve (not in ERROR)."""
        amps = session.scalars(
            select(m.Amphora).where(m.Amphora.load_balancer_id == lb_id, m.Amphora.status.in_(LIVE))
        ).all()
        return [
            a for a in amps if a.role == AmphoraRole.STANDALONE and a.status != AmphoraStatus.ERROR
        ]

    def _place(self, session: Session, lb_id: str, hosts: list[str]) -> str | None:
        """The least loaded host that may take the new amphora (None: the driver's
        choice, e.g. its only host)."""
        lb = session.get(m.LoadBalancer, lb_id)
        if lb is None or (len(hosts) < 2 and not host_choice.zoned(session, lb)):
            return None
        choice = host_choice.eligible(session, self.settings, hosts, lb)
        return place(choice, [], host_choice.load(session), "preferred") if choice else None
