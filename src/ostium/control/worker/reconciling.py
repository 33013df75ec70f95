"""Drive one load balancer from its desired generation to ACTIVE (or ERROR).

Called by the worker loop with a claimed lease. Steps are idempotent `ensure_*`
functions, so a worker killed mid-way leaves nothing another worker cannot finish:
ensure the amphora row, ensure the amphora exists (driver.build), ensure member-network
addresses, push the spec (driver.apply), then record the result. A failover builds the
replacement first and removes the old amphora only after the new one serves.
Transient errors are retried with back-off by the loop; anything else ends in ERROR
with the reason recorded. An amphora whose build failed is destroyed, never leaked.
ACTIVE_STANDBY load balancers are driven by `pairing.PairSteps` (two amphorae, VRRP).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload

from ostium.control.db import ipam
from ostium.control.db import models as m
from ostium.control.db.engine import Database
from ostium.control.settings import Settings
from ostium.control.worker import spec_builder
from ostium.drivers.compute.base import ComputeDriver
from ostium.model.errors import PermanentError
from ostium.model.ids import new_id
from ostium.model.spec import AmphoraPlug

log = logging.getLogger("ostium.worker")

LIVE_AMP = ("PENDING_CREATE", "ALLOCATED", "BOOTING", "READY", "ERROR", "FAILOVER_STOPPED")


@dataclass
class Reconciler:
    db: Database
    settings: Settings
    driver: ComputeDriver

    def run(self, lb_id: str, owner: str) -> None:
        with self.db.read() as session:
            lb = session.get(m.LoadBalancer, lb_id)
            if lb is None or lb.lease_owner != owner:
                return
            generation = lb.generation
            deleting = lb.provisioning_status == "PENDING_DELETE"
            failover = lb.failover_requested
            pair = lb.topology == "ACTIVE_STANDBY"
        if deleting:
            self._delete(lb_id)
            return
        if pair:
            from ostium.control.worker.pairing import PairSteps

            applied_pair = PairSteps(self).run(lb_id, generation, failover)
            self._finish(lb_id, owner, generation, applied_pair)
            return
        amp_id, built = self._ensure_amphora_row(lb_id, failover)
        if not built:
            self._ensure_built(lb_id, amp_id)
        with self.db.write() as session:  # one transaction, one tree load
            lb = load_tree(session, lb_id)
            addresses = self._member_addresses(session, lb, amp_id)
            spec = spec_builder.build(self.settings, lb, amp_id, generation, addresses)
        applied = self.driver.apply(spec)
        if failover:
            self._retire_others(lb_id, amp_id)
        self._finish(lb_id, owner, generation, {amp_id: applied})

    # ---- steps -----------------------------------------------------------------------

    def _ensure_amphora_row(self, lb_id: str, failover: bool) -> tuple[str, bool]:
        """The amphora to configure, and whether it is already built."""
        with self.db.write() as session:
            amps = session.scalars(
                select(m.Amphora).where(
                    m.Amphora.load_balancer_id == lb_id, m.Amphora.status.in_(LIVE_AMP)
                )
            ).all()
            current = [a for a in amps if a.role == "STANDALONE" and a.status != "ERROR"]
            if failover:
                # The old amphora keeps serving until the replacement is configured;
                # `_retire_others` removes it (and any leftover of an interrupted attempt).
                for a in current:
                    a.role = None
                    a.updated_at = m.utcnow()
            elif current:
                return current[0].id, current[0].status == "ALLOCATED"
            amp = m.Amphora(
                id=new_id(),
                load_balancer_id=lb_id,
                status="PENDING_CREATE",
                role="STANDALONE",
                cert_busy=False,
                created_at=m.utcnow(),
            )
            session.add(amp)
            return amp.id, False

    def _ensure_built(self, lb_id: str, amp_id: str) -> None:
        with self.db.read() as session:
            lb = session.get(m.LoadBalancer, lb_id)
            assert lb is not None
            plug = AmphoraPlug(
                amphora_id=amp_id,
                loadbalancer_id=lb_id,
                vip=spec_builder.vip_spec(self.settings, lb),
            )
        try:
            info = self.driver.build(plug)
        except Exception:
            # Never leak a half-built amphora: remove whatever the driver made.
            try:
                self.driver.destroy(amp_id)
            except Exception:  # pragma: no cover - best effort, logged
                log.exception("cleanup of amphora %s failed", amp_id)
            raise
        with self.db.write() as session:
            session.execute(
                update(m.Amphora)
                .where(m.Amphora.id == amp_id)
                .values(
                    status="ALLOCATED",
                    compute_id=info.compute_id,
                    lb_network_ip=info.lb_network_ip,
                    host=info.host,
                    cert_expiration=info.cert_expiration,
                    ha_ip=plug.vip.address.compressed,
                    vrrp_ip=None,
                )
            )

    def _ensure_member_addresses(self, lb_id: str, amp_id: str) -> dict[str, str]:
        with self.db.write() as session:
            return self._member_addresses(session, load_tree(session, lb_id), amp_id)

    def _member_addresses(
        self, session: Session, lb: m.LoadBalancer, amp_id: str
    ) -> dict[str, str]:
        """The amphora's address on each member subnet it must join (allocated once)."""
        wanted = spec_builder.member_subnets(self.settings, lb)
        have = {
            a.subnet_id: a
            for a in session.scalars(
                select(m.IpAllocation).where(
                    m.IpAllocation.owner_id == amp_id, m.IpAllocation.purpose == "member"
                )
            )
        }
        for subnet_id, alloc in have.items():
            if subnet_id not in wanted:
                session.delete(alloc)
        out: dict[str, str] = {}
        for subnet_id in sorted(wanted):
            if subnet_id in have:
                out[subnet_id] = have[subnet_id].address
                continue
            net = self.settings.network_by_subnet(subnet_id)
            if net is None:
                continue
            out[subnet_id] = ipam.allocate(session, net, amp_id, None, "member")
        return out

    def _retire_others(self, lb_id: str, keep: str) -> None:
        with self.db.read() as session:
            old = [
                a.id
                for a in session.scalars(
                    select(m.Amphora).where(
                        m.Amphora.load_balancer_id == lb_id,
                        m.Amphora.id != keep,
                        m.Amphora.status != "DELETED",
                    )
                )
            ]
        for amp_id in old:
            self.driver.destroy(amp_id)
            with self.db.write() as session:
                _amphora_deleted(session, amp_id)

    def _finish(self, lb_id: str, owner: str, generation: int, applied: dict[str, int]) -> None:
        """Record what each amphora applied; ACTIVE only if every one has `generation`."""
        with self.db.write() as session:
            lb = load_tree(session, lb_id)
            if lb.lease_owner != owner:
                return
            for amp_id, amp_generation in applied.items():
                session.execute(
                    update(m.Amphora)
                    .where(m.Amphora.id == amp_id)
                    .values(applied_generation=amp_generation, updated_at=m.utcnow())
                )
            if lb.generation != generation:
                # Something changed while we worked (e.g. an amphora config refresh):
                # release the lease and let the loop pick it up again.
                lb.lease_owner = None
                lb.lease_expires = None
                return
            # Once its amphorae send heartbeats, the health manager owns operating status.
            monitored = (
                session.scalar(
                    select(m.Amphora.id)
                    .where(
                        m.Amphora.load_balancer_id == lb_id,
                        m.Amphora.last_heartbeat.is_not(None),
                    )
                    .limit(1)
                )
                is not None
            )
            _settle_tree(session, lb, monitored)
            lb.provisioning_status = "ACTIVE"
            if not (monitored and lb.admin_state_up):
                lb.operating_status = "ONLINE" if lb.admin_state_up else "OFFLINE"
            lb.applied_generation = generation
            lb.failover_requested = False
            lb.attempts = 0
            lb.error_reason = None
            lb.lease_owner = None
            lb.lease_expires = None

    def _delete(self, lb_id: str) -> None:
        with self.db.read() as session:
            amp_ids = [
                a.id
                for a in session.scalars(
                    select(m.Amphora).where(
                        m.Amphora.load_balancer_id == lb_id, m.Amphora.status != "DELETED"
                    )
                )
            ]
        for amp_id in amp_ids:
            self.driver.destroy(amp_id)
            with self.db.write() as session:
                _amphora_deleted(session, amp_id)
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
            lb.provisioning_status = "DELETED"
            lb.operating_status = "OFFLINE"
            lb.applied_generation = lb.generation
            lb.lease_owner = None
            lb.lease_expires = None
            lb.updated_at = m.utcnow()


def load_tree(session: Session, lb_id: str) -> m.LoadBalancer:
    """The load balancer with everything under it, in a few queries."""
    lb = session.scalar(
        select(m.LoadBalancer)
        .where(m.LoadBalancer.id == lb_id)
        .options(
            selectinload(m.LoadBalancer.listeners)
            .selectinload(m.Listener.l7policies)
            .selectinload(m.L7Policy.rules),
            selectinload(m.LoadBalancer.pools).selectinload(m.Pool.members),
            selectinload(m.LoadBalancer.pools).selectinload(m.Pool.health_monitor),
        )
    )
    if lb is None:
        raise PermanentError(f"load balancer {lb_id} disappeared")
    return lb


def _amphora_deleted(session: Session, amp_id: str) -> None:
    ipam.release(session, amp_id)
    session.execute(
        update(m.Amphora)
        .where(m.Amphora.id == amp_id)
        .values(status="DELETED", role=None, updated_at=m.utcnow())
    )
    # Its counted traffic stays in the totals; its open connections are gone.
    session.execute(
        update(m.ListenerStatistics)
        .where(m.ListenerStatistics.amphora_id == amp_id)
        .values(active_connections=0)
    )


def _online(admin: bool) -> str:
    return "ONLINE" if admin else "OFFLINE"


def _settle_tree(session: Session, lb: m.LoadBalancer, monitored: bool = False) -> None:
    """Apply the outcome to every object under the load balancer: deletes become real,
    pending creates and updates become ACTIVE, positions stay contiguous. When
    `monitored` (heartbeats arrive), listeners and pools keep the operating status the
    health manager gave them, unless they were just created or disabled."""
    for li in list(lb.listeners):
        if li.provisioning_status == "PENDING_DELETE":
            session.delete(li)
            continue
        for pol in list(li.l7policies):
            if pol.provisioning_status == "PENDING_DELETE":
                session.delete(pol)
                continue
            for r in list(pol.rules):
                if r.provisioning_status == "PENDING_DELETE":
                    session.delete(r)
                    continue
                _activate(r)
                r.operating_status = _online(r.admin_state_up)
            _activate(pol)
            pol.operating_status = _online(pol.admin_state_up)
        up = li.admin_state_up and lb.admin_state_up
        if not (monitored and up and li.provisioning_status != "PENDING_CREATE"):
            li.operating_status = "ONLINE" if up else "OFFLINE"
        _activate(li)
    session.flush()
    for li in lb.listeners:
        live = sorted(
            (p for p in li.l7policies if p.provisioning_status != "PENDING_DELETE"),
            key=lambda p: p.position,
        )
        for i, pol in enumerate(live, start=1):
            pol.position = i
    for p in list(lb.pools):
        if p.provisioning_status == "PENDING_DELETE":
            session.delete(p)
            continue
        hm = p.health_monitor
        if hm is not None:
            if hm.provisioning_status == "PENDING_DELETE":
                session.delete(hm)
                hm = None
                for mb in p.members:
                    if mb.operating_status == "OFFLINE" and mb.admin_state_up:
                        mb.operating_status = "NO_MONITOR"
            else:
                _activate(hm)
                hm.operating_status = _online(hm.admin_state_up)
        for mb in list(p.members):
            if mb.provisioning_status == "PENDING_DELETE":
                session.delete(mb)
                continue
            _activate(mb)
            if not mb.admin_state_up:
                mb.operating_status = "OFFLINE"
            elif hm is None:
                mb.operating_status = "NO_MONITOR"
            elif mb.operating_status == "NO_MONITOR":
                mb.operating_status = "OFFLINE"
        if not (monitored and p.admin_state_up and p.provisioning_status != "PENDING_CREATE"):
            p.operating_status = "ONLINE" if p.admin_state_up else "OFFLINE"
        _activate(p)
    session.flush()


def _activate(
    row: m.Listener | m.Pool | m.Member | m.HealthMonitor | m.L7Policy | m.L7Rule,
) -> None:
    if row.provisioning_status in ("PENDING_CREATE", "PENDING_UPDATE"):
        row.provisioning_status = "ACTIVE"


def mark_error(db: Database, lb_id: str, owner: str, reason: str) -> None:
    """The end of every failed reconcile: ERROR with the reason, never PENDING."""
    with db.write() as session:
        lb = session.get(m.LoadBalancer, lb_id)
        if lb is None or lb.lease_owner != owner:
            return
        deleting = lb.provisioning_status == "PENDING_DELETE"
        lb.provisioning_status = "ERROR"
        lb.operating_status = "ERROR"
        lb.error_reason = reason[:2000]
        lb.applied_generation = lb.generation
        lb.lease_owner = None
        lb.lease_expires = None
        lb.failover_requested = False
        if deleting:
            return
        for li in lb.listeners:
            _error_if_pending(li)
            for pol in li.l7policies:
                _error_if_pending(pol)
                for r in pol.rules:
                    _error_if_pending(r)
        for p in lb.pools:
            _error_if_pending(p)
            if p.health_monitor is not None:
                _error_if_pending(p.health_monitor)
            for mb in p.members:
                _error_if_pending(mb)


def _error_if_pending(
    row: m.Listener | m.Pool | m.Member | m.HealthMonitor | m.L7Policy | m.L7Rule,
) -> None:
    if row.provisioning_status in ("PENDING_CREATE", "PENDING_UPDATE"):
        row.provisioning_status = "ERROR"
