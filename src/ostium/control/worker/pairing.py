"""Drive an ACTIVE_STANDBY load balancer: two amphorae, keepalived VRRP, one spec each.

Role: called by `Reconciler.run` (with the lease held) for load balancers whose topology
is ACTIVE_STANDBY; returns the generation each amphora applied, and the reconciler
records ACTIVE only when both have the new one. Every step is idempotent, so a run
interrupted anywhere (agent away, worker killed) is simply run again until both converge.
It uses the shared amphora steps (`amphorae`) for build, push and retire, like SINGLE.

One run:

1. replace failed amphorae (`pair_roles.victims`): each is destroyed first (keepalived
   stops with it, so the survivor holds the VIP), then the pair is completed again;
2. complete the pair: rows for missing amphorae, a `vrrp_ip` for each from the VIP
   subnet (IPAM, owner = amphora, purpose "vrrp"), roles and priorities
   (`pair_roles.roles`: the amphora holding the VIP stays MASTER, a new one is BACKUP),
   a host for each new amphora (`placement.place`), then build the new ones;
3. push both specs, MASTER first: it learns its new peer's address before the new
   amphora's keepalived starts listening for adverts, so the newcomer sees a MASTER at
   once and stays BACKUP instead of timing out and taking the VIP.

Must not talk to amphorae but through the shared steps (lease-checked data plane).
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostium.control.db import ipam
from ostium.control.db import models as m
from ostium.control.worker import host_choice, pair_roles, spec_builder
from ostium.control.worker.amphorae import LIVE, AmphoraSteps
from ostium.control.worker.placement import REQUIRED, place
from ostium.control.worker.tree import load_tree
from ostium.model.enums import AmphoraRole, AmphoraStatus
from ostium.model.errors import PermanentError, TransientError
from ostium.model.heartbeat import HaproxyState
from ostium.model.ids import new_id
from ostium.model.spec import AmphoraSpec

log = logging.getLogger("ostium.worker")

VRRP = "vrrp"
"""`ip_allocation.purpose` of an amphora's own address on the VIP subnet."""
VRRP_INTERFACE = "eth1"


class PairSteps:
    def __init__(self, steps: AmphoraSteps) -> None:
        self.steps = steps
        self.db = steps.db
        self.settings = steps.settings

    def run(self, lb_id: str, generation: int, failover: bool) -> dict[str, int]:
        hosts = self.steps.plane.hosts()
        if self.settings.worker.anti_affinity == REQUIRED and len(hosts) < pair_roles.PAIR_SIZE:
            raise PermanentError(
                f"anti-affinity is required ([controller_worker] anti_affinity = required) "
                f"but {len(hosts)} host(s) are registered ({', '.join(hosts) or 'none'}): "
                f"the two amphorae of an ACTIVE_STANDBY load balancer need two"
            )
        with self.db.read() as session:
            members = [pm for _, pm in self._members(session, lb_id, failover)]
        failed = [a.id for a in members if a.failed]
        # Failed amphorae go at once (they serve nothing); a failover of a healthy pair
        # replaces one amphora at a time, the BACKUP first, so the VIP always has a home.
        where = {a.id: a.host for a in members}
        for victim in failed or (pair_roles.victims(members, True) if failover else []):
            log.warning("load balancer %s: replacing amphora %s", lb_id, victim)
            try:
                self.steps.retire(victim, where.get(victim))
            except TransientError as exc:
                if not failed:
                    raise
                # Its host may be gone with it: the pair must not wait for it.
                # Housekeeping's sweep removes what is left if the host comes back.
                log.warning("amphora %s not destroyed (%s); replacing it anyway", victim, exc)
                self.steps.forget(victim)
            if not failed:
                self._converge(lb_id, generation, hosts)
        return self._converge(lb_id, generation, hosts)

    # ---- which amphorae -------------------------------------------------------------

    def _members(
        self, session: Session, lb_id: str, failover: bool = False
    ) -> list[tuple[m.Amphora, pair_roles.PairMember]]:
        """The live amphorae and whether each failed: ERROR, or its agent said its
        namespace is gone; when a failover was asked for (the health manager does, with
        its circuit breaker), also silent for longer than the heartbeat timeout."""
        rows = list(
            session.scalars(
                select(m.Amphora)
                .where(m.Amphora.load_balancer_id == lb_id, m.Amphora.status.in_(LIVE))
                .order_by(m.Amphora.created_at, m.Amphora.id)
            )
        )
        cutoff = m.utcnow() - dt.timedelta(seconds=self.settings.health.heartbeat_timeout)
        out = []
        for order, a in enumerate(rows):
            silent = failover and a.last_heartbeat is not None and a.last_heartbeat < cutoff
            failed = (
                a.status == AmphoraStatus.ERROR
                or a.haproxy_state == HaproxyState.NO_NAMESPACE
                or silent
            )
            member = pair_roles.PairMember(
                id=a.id,
                role=a.role,
                vrrp_state=a.vrrp_state,
                failed=failed,
                host=a.host,
                created_order=order,
            )
            out.append((a, member))
        return out

    # ---- complete, build, push ------------------------------------------------------

    def _converge(self, lb_id: str, generation: int, hosts: list[str]) -> dict[str, int]:
        order, unbuilt = self._ensure_rows(lb_id, hosts)
        for amp_id in unbuilt:
            self.steps.build(lb_id, amp_id, vrrp_interface=VRRP_INTERFACE, updated_at=m.utcnow())
        specs: list[tuple[AmphoraSpec, str | None]] = []
        with self.db.write() as session:  # one transaction, one tree load
            lb = load_tree(session, lb_id)
            rows = {
                a.id: a for a in session.scalars(select(m.Amphora).where(m.Amphora.id.in_(order)))
            }
            for amp_id in order:
                addresses = self.steps.member_addresses(session, lb, amp_id)
                peers = [rows[o] for o in order if o != amp_id]
                vrrp = spec_builder.vrrp_spec(self.settings, rows[amp_id], peers)
                spec = spec_builder.build(self.settings, lb, amp_id, generation, addresses, vrrp)
                specs.append((spec, rows[amp_id].host))
        return self.steps.push(specs)

    def _ensure_rows(self, lb_id: str, hosts: list[str]) -> tuple[list[str], list[str]]:
        """Rows, roles, priorities, vrrp addresses and hosts for a whole pair; returns
        the amphora ids MASTER first, and those still to build."""
        with self.db.write() as session:
            lb = session.get(m.LoadBalancer, lb_id)
            if lb is None:
                raise PermanentError(f"load balancer {lb_id} disappeared")
            net = self.settings.network_by_subnet(lb.vip_subnet_id or "")
            if net is None:
                raise PermanentError(f"VIP subnet {lb.vip_subnet_id} is no longer configured")
            hosts = host_choice.eligible(session, self.settings, hosts, lb)
            members = [(a, pm) for a, pm in self._members(session, lb_id) if not pm.failed]
            rows = [a for a, _ in members]
            plans = [pm for _, pm in members]
            while len(rows) < pair_roles.PAIR_SIZE:
                amp = m.Amphora(
                    id=new_id(),
                    load_balancer_id=lb_id,
                    status=AmphoraStatus.PENDING_CREATE,
                    cert_busy=False,
                    created_at=m.utcnow(),
                )
                session.add(amp)
                rows.append(amp)
                plans.append(
                    pair_roles.PairMember(
                        id=amp.id,
                        role=None,
                        vrrp_state=None,
                        failed=False,
                        created_order=len(plans),
                    )
                )
            assigned = pair_roles.roles(plans)
            load = _host_load(session)
            for amp in rows:
                role, priority = assigned[amp.id]
                amp.role, amp.vrrp_priority = role, priority
                amp.vrrp_id = pair_roles.vrrp_id(lb_id)
                amp.ha_ip = lb.vip_address
                if amp.vrrp_ip is None:
                    amp.vrrp_ip = ipam.allocate(session, net, amp.id, None, VRRP)
                if amp.status != AmphoraStatus.ALLOCATED and amp.host is None:
                    amp.host = place(
                        hosts,
                        [o.host for o in rows if o is not amp],
                        load,
                        self.settings.worker.anti_affinity,
                    )
                    if amp.host is not None:
                        load[amp.host] = load.get(amp.host, 0) + 1
                amp.updated_at = m.utcnow()
            session.flush()
            ordered = sorted(rows, key=lambda a: a.role != AmphoraRole.MASTER)
            return (
                [a.id for a in ordered],
                [a.id for a in ordered if a.status != AmphoraStatus.ALLOCATED],
            )


def _host_load(session: Session) -> dict[str, int]:
    """How many live amphorae each host holds."""
    return {
        host: count
        for host, count in session.execute(
            select(m.Amphora.host, func.count())
            .where(m.Amphora.status.in_(LIVE), m.Amphora.host.is_not(None))
            .group_by(m.Amphora.host)
        )
        if host is not None
    }
