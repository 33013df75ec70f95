"""The amphora steps both topologies share: build, push, retire, member addresses.

Role: what SINGLE (`reconciling`) and ACTIVE_STANDBY (`pairing`) do the same way to an
amphora, each an idempotent step that goes through the lease-checked `DataPlane` and
records the outcome in the amphora's row:

- `build`: create the amphora on the host its row names (None: the driver chooses) and
  record it ALLOCATED with what the driver says (a failed build is destroyed by
  `DataPlane.build`);
- `member_addresses`: the amphora's address on each member subnet it must join,
  allocated once (IPAM, owner = amphora, purpose "member");
- `push`: one spec per amphora, in the order given, each to its host;
- `retire`: destroy an amphora and mark its row DELETED (its addresses released, its
  open connections no longer counted); on a silent host (dead: the health manager heard
  none of its amphorae within `heartbeat_timeout`) it marks the row at once and leaves
  the destroy to a background attempt (`DataPlane.destroy_later`), so failovers never
  queue behind calls to a dead agent; housekeeping removes what is left when the host
  answers again. `forget` only marks it, for a host that is gone.

Callers: `reconciling`, `pairing`. Must not decide topology (roles, placement).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ostium.control.db import ipam
from ostium.control.db import models as m
from ostium.control.db.engine import Database
from ostium.control.settings import Settings
from ostium.control.worker import host_choice, spec_builder
from ostium.control.worker.dataplane import DataPlane
from ostium.model.enums import AmphoraStatus as AS
from ostium.model.spec import AmphoraPlug, AmphoraSpec

LIVE = (
    AS.PENDING_CREATE,
    AS.ALLOCATED,
    AS.BOOTING,
    AS.READY,
    AS.ERROR,
    AS.FAILOVER_STOPPED,
)
"""Amphora statuses that still hold (or may hold) something on a host."""

log = logging.getLogger("ostium.worker")

MEMBER = "member"
"""`ip_allocation.purpose` of an amphora's address on a member subnet."""


@dataclass
class AmphoraSteps:
    db: Database
    settings: Settings
    plane: DataPlane

    def build(self, lb_id: str, amp_id: str, **recorded: Any) -> None:
        """Build the amphora where its row says and record it ALLOCATED (with the
        topology's own columns in `recorded`)."""
        with self.db.read() as session:
            lb = session.get(m.LoadBalancer, lb_id)
            amp = session.get(m.Amphora, amp_id)
            assert lb is not None and amp is not None
            plug = AmphoraPlug(
                amphora_id=amp_id,
                loadbalancer_id=lb_id,
                vip=spec_builder.vip_spec(self.settings, lb),
                vrrp_ip=amp.vrrp_ip,
            )
            host = amp.host
        info = self.plane.build(plug, host)
        with self.db.write() as session:
            session.execute(
                update(m.Amphora)
                .where(m.Amphora.id == amp_id)
                .values(
                    status=AS.ALLOCATED,
                    compute_id=info.compute_id,
                    lb_network_ip=info.lb_network_ip,
                    host=info.host,
                    cert_expiration=info.cert_expiration,
                    **recorded,
                )
            )

    def member_addresses(self, session: Session, lb: m.LoadBalancer, amp_id: str) -> dict[str, str]:
        """The amphora's address on each member subnet it must join (allocated once);
        addresses on subnets it no longer needs are released."""
        wanted = spec_builder.member_subnets(self.settings, lb)
        have = self._member_allocations(session, amp_id)
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
            out[subnet_id] = ipam.allocate(session, net, amp_id, None, MEMBER)
        return out

    def member_addresses_as_allocated(
        self, session: Session, lb: m.LoadBalancer, amp_id: str
    ) -> dict[str, str] | None:
        """`member_addresses` when they need no change (a read is enough), else None."""
        wanted = spec_builder.member_subnets(self.settings, lb)
        have = self._member_allocations(session, amp_id)
        known = {s for s in wanted if self.settings.network_by_subnet(s) is not None}
        if set(have) != known:
            return None
        return {subnet_id: have[subnet_id].address for subnet_id in sorted(known)}

    @staticmethod
    def _member_allocations(session: Session, amp_id: str) -> dict[str, m.IpAllocation]:
        return {
            a.subnet_id: a
            for a in session.scalars(
                select(m.IpAllocation).where(
                    m.IpAllocation.owner_id == amp_id, m.IpAllocation.purpose == MEMBER
                )
            )
        }

    def push(self, specs: list[tuple[AmphoraSpec, str | None]]) -> dict[str, int]:
        """Apply each (spec, host) in order; the generation each amphora applied."""
        return {spec.amphora_id: self.plane.apply(spec, host) for spec, host in specs}

    def retire(self, amp_id: str, host: str | None) -> None:
        """Destroy the amphora, then mark its row DELETED. On a silent host (dead, as
        the health manager sees it) the row is marked first and the destroy runs in the
        background: no worker waits on a host that does not answer (housekeeping removes
        the amphora if the host returns and the attempt failed)."""
        if host is not None:
            with self.db.read() as session:
                dead = host in host_choice.silent_hosts(session, self.settings, [host])
            if dead:
                log.warning("amphora %s: its host %s is silent; forgotten", amp_id, host)
                self.forget(amp_id)
                self.plane.destroy_later(amp_id, host)
                return
        self.plane.destroy(amp_id, host)
        self.forget(amp_id)

    def forget(self, amp_id: str) -> None:
        """Mark the row DELETED without destroying the amphora (its host is gone)."""
        with self.db.write() as session:
            amphora_deleted(session, amp_id)

    def others(self, lb_id: str, keep: str | None = None) -> list[tuple[str, str | None]]:
        """(id, host) of the load balancer's amphorae not yet DELETED, except `keep`."""
        query = select(m.Amphora.id, m.Amphora.host).where(
            m.Amphora.load_balancer_id == lb_id, m.Amphora.status != AS.DELETED
        )
        if keep is not None:
            query = query.where(m.Amphora.id != keep)
        with self.db.read() as session:
            return [(amp_id, host) for amp_id, host in session.execute(query)]


def amphora_deleted(session: Session, amp_id: str) -> None:
    """Mark the row DELETED; its addresses go back to IPAM."""
    ipam.release(session, amp_id)
    session.execute(
        update(m.Amphora)
        .where(m.Amphora.id == amp_id)
        .values(status=AS.DELETED, role=None, updated_at=m.utcnow())
    )
    # Its counted traffic stays in the totals; its open connections are gone.
    session.execute(
        update(m.ListenerStatistics)
        .where(m.ListenerStatistics.amphora_id == amp_id)
        .values(active_connections=0)
    )
