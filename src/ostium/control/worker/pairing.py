"""Drive an ACTIVE_STANDBY load balancer: two amphorae, keepalived VRRP, one spec each.

Called by `Reconciler.run` (with the lease held) for load balancers whose topology is
ACTIVE_STANDBY; returns the generation each amphora applied, and the reconciler records
ACTIVE only when both have the new one. Every step is idempotent, so a run interrupted
anywhere (agent away, worker killed) is simply run again until both converge.

One run:

1. replace failed amphorae (`pair_plan.victims`): each is destroyed first (keepalived
   stops with it, so the survivor holds the VIP), then the pair is completed again;
2. complete the pair: rows for missing amphorae, a `vrrp_ip` for each from the VIP
   subnet (IPAM, owner = amphora, purpose "vrrp"), roles and priorities
   (`pair_plan.roles`: the amphora holding the VIP stays MASTER, a new one is BACKUP),
   a host for each new amphora (`pair_plan.place`), then build the new ones;
3. push both specs, MASTER first: it learns its new peer's address before the new
   amphora's keepalived starts listening for adverts, so the newcomer sees a MASTER at
   once and stays BACKUP instead of timing out and taking the VIP.

Only the worker calls this; it talks to amphorae through the compute driver only.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from ostium.control.db import ipam
from ostium.control.db import models as m
from ostium.control.worker import pair_plan, spec_builder
from ostium.control.worker.reconciling import LIVE_AMP, _amphora_deleted, load_tree
from ostium.model.errors import PermanentError, TransientError
from ostium.model.ids import new_id
from ostium.model.spec import AmphoraPlug, AmphoraSpec

if TYPE_CHECKING:
    from ostium.control.worker.reconciling import Reconciler

log = logging.getLogger("ostium.worker")


def driver_hosts(driver: object) -> list[str]:
    """The hosts a compute driver can place amphorae on ([] if it does not say)."""
    hosts = getattr(driver, "hosts", None)
    return list(hosts()) if callable(hosts) else []


class PairSteps:
    def __init__(self, rec: Reconciler) -> None:
        self.rec = rec
        self.db = rec.db
        self.settings = rec.settings
        self.driver = rec.driver

    def run(self, lb_id: str, generation: int, failover: bool) -> dict[str, int]:
        if (
            self.settings.worker.anti_affinity == "required"
            and len(driver_hosts(self.driver)) < pair_plan.PAIR_SIZE
        ):
            hosts = driver_hosts(self.driver)
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
        for victim in failed or (pair_plan.victims(members, True) if failover else []):
            log.warning("load balancer %s: replacing amphora %s", lb_id, victim)
            try:
                self._destroy(victim, where.get(victim))
            except TransientError as exc:
                if not failed:
                    raise
                # Its host may be gone with it: the pair must not wait for it.
                # Housekeeping's sweep removes what is left if the host comes back.
                log.warning("amphora %s not destroyed (%s); replacing it anyway", victim, exc)
            with self.db.write() as session:
                _amphora_deleted(session, victim)
            if not failed:
                self._converge(lb_id, generation)
        return self._converge(lb_id, generation)

    def _destroy(self, amp_id: str, host: str | None) -> None:
        destroy_on = getattr(self.driver, "destroy_on", None)
        if callable(destroy_on):
            destroy_on(amp_id, host)
        else:
            self.driver.destroy(amp_id)

    # ---- which amphorae -------------------------------------------------------------

    def _members(
        self, session: Any, lb_id: str, failover: bool = False
    ) -> list[tuple[m.Amphora, pair_plan.PairMember]]:
        """The live amphorae and whether each failed: ERROR, or its agent said its
        namespace is gone; when a failover was asked for (the health manager does, with
        its circuit breaker), also silent for longer than the heartbeat timeout."""
        rows = list(
            session.scalars(
                select(m.Amphora)
                .where(m.Amphora.load_balancer_id == lb_id, m.Amphora.status.in_(LIVE_AMP))
                .order_by(m.Amphora.created_at, m.Amphora.id)
            )
        )
        cutoff = m.utcnow() - dt.timedelta(seconds=self.settings.health.heartbeat_timeout)
        out = []
        for order, a in enumerate(rows):
            silent = failover and a.last_heartbeat is not None and a.last_heartbeat < cutoff
            failed = a.status == "ERROR" or a.haproxy_state == "NO_NAMESPACE" or silent
            out.append(
                (
                    a,
                    pair_plan.PairMember(
                        id=a.id,
                        role=a.role,
                        vrrp_state=a.vrrp_state,
                        failed=failed,
                        host=a.host,
                        created_order=order,
                    ),
                )
            )
        return out

    # ---- complete, build, push ------------------------------------------------------

    def _converge(self, lb_id: str, generation: int) -> dict[str, int]:
        order, unbuilt = self._ensure_rows(lb_id)
        for amp_id in unbuilt:
            self._build(lb_id, amp_id)
        addresses = {a: self.rec._ensure_member_addresses(lb_id, a) for a in order}
        with self.db.read() as session:
            lb = load_tree(session, lb_id)
            rows = {
                a.id: a for a in session.scalars(select(m.Amphora).where(m.Amphora.id.in_(order)))
            }
            specs: list[tuple[AmphoraSpec, str | None]] = []
            for amp_id in order:
                peers = [rows[o] for o in order if o != amp_id]
                vrrp = spec_builder.vrrp_spec(self.settings, rows[amp_id], peers)
                specs.append(
                    (
                        spec_builder.build(
                            self.settings, lb, amp_id, generation, addresses[amp_id], vrrp
                        ),
                        rows[amp_id].host,
                    )
                )
        apply_on = getattr(self.driver, "apply_on", None)
        return {
            spec.amphora_id: apply_on(spec, host) if callable(apply_on) else self.driver.apply(spec)
            for spec, host in specs
        }

    def _ensure_rows(self, lb_id: str) -> tuple[list[str], list[str]]:
        """Rows, roles, priorities, vrrp addresses and hosts for a whole pair; returns
        the amphora ids MASTER first, and those still to build."""
        with self.db.write() as session:
            lb = session.get(m.LoadBalancer, lb_id)
            if lb is None:
                raise PermanentError(f"load balancer {lb_id} disappeared")
            net = self.settings.network_by_subnet(lb.vip_subnet_id or "")
            if net is None:
                raise PermanentError(f"VIP subnet {lb.vip_subnet_id} is no longer configured")
            members = [(a, pm) for a, pm in self._members(session, lb_id) if not pm.failed]
            rows = [a for a, _ in members]
            plans = [pm for _, pm in members]
            while len(rows) < pair_plan.PAIR_SIZE:
                amp = m.Amphora(
                    id=new_id(),
                    load_balancer_id=lb_id,
                    status="PENDING_CREATE",
                    cert_busy=False,
                    created_at=m.utcnow(),
                )
                session.add(amp)
                rows.append(amp)
                plans.append(
                    pair_plan.PairMember(
                        id=amp.id,
                        role=None,
                        vrrp_state=None,
                        failed=False,
                        created_order=len(plans),
                    )
                )
            assigned = pair_plan.roles(plans)
            hosts = driver_hosts(self.driver)
            load = self._host_load(session)
            for amp in rows:
                role, priority = assigned[amp.id]
                amp.role, amp.vrrp_priority = role.value, priority
                amp.vrrp_id = pair_plan.vrrp_id(lb_id)
                amp.ha_ip = lb.vip_address
                if amp.vrrp_ip is None:
                    amp.vrrp_ip = ipam.allocate(session, net, amp.id, None, "vrrp")
                if amp.status != "ALLOCATED" and amp.host is None:
                    amp.host = pair_plan.place(
                        hosts,
                        [o.host for o in rows if o is not amp],
                        load,
                        self.settings.worker.anti_affinity,
                    )
                    if amp.host is not None:
                        load[amp.host] = load.get(amp.host, 0) + 1
                amp.updated_at = m.utcnow()
            session.flush()
            ordered = sorted(rows, key=lambda a: a.role != "MASTER")
            return [a.id for a in ordered], [a.id for a in ordered if a.status != "ALLOCATED"]

    def _host_load(self, session: Any) -> dict[str, int]:
        return {
            host: count
            for host, count in session.execute(
                select(m.Amphora.host, func.count())
                .where(m.Amphora.status.in_(LIVE_AMP), m.Amphora.host.is_not(None))
                .group_by(m.Amphora.host)
            )
            if host is not None
        }

    def _build(self, lb_id: str, amp_id: str) -> None:
        with self.db.read() as session:
            lb = session.get(m.LoadBalancer, lb_id)
            amp = session.get(m.Amphora, amp_id)
            assert lb is not None and amp is not None and amp.vrrp_ip is not None
            plug = AmphoraPlug(
                amphora_id=amp_id,
                loadbalancer_id=lb_id,
                vip=spec_builder.vip_spec(self.settings, lb),
                vrrp_ip=amp.vrrp_ip,
            )
            host = amp.host
        build_on = getattr(self.driver, "build_on", None)
        try:
            info = build_on(plug, host) if callable(build_on) else self.driver.build(plug)
        except Exception:
            try:  # never leak a half-built amphora
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
                    vrrp_interface="eth1",
                    updated_at=m.utcnow(),
                )
            )
