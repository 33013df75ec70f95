"""Housekeeping: purge old DELETED rows, rotate agent certificates, remove orphans.

Role: what `ostium housekeeping` runs alone and `ostium serve` runs in a thread. Three
jobs, each on its own period (`[house_keeping]`):

- `purge` (every `cleanup_interval`): amphora rows DELETED for longer than
  `amphora_expiry_age`, load balancer rows DELETED for longer than
  `load_balancer_expiry_age` (with their tags and leftover statistics). Statistics of
  a retired amphora of a live load balancer stay: they are part of its totals.
- `rotate_certificates` (every `cert_interval`, local agent only): when the agent's
  server certificate (or the controller's client certificate) expires within
  `cert_expiry_buffer`, issue new ones from the local CA; the agent loads its new
  certificate into its running TLS server (`agent.tls`), so nothing restarts and no
  haproxy is touched; the amphorae rows get the new `cert_expiration`.
- `remove_orphans` (every `orphan_interval`, on every agent that answers: the local
  one and those of the other hosts): amphorae the agent runs that have no live row are
  deleted through the agent, and the agent sweeps namespaces, haproxy processes and
  state it does not know. This is how the amphorae of a host that went silent (failed
  over, their rows only marked DELETED) are removed once the host answers again. An
  agent that does not answer is skipped until the next round. Everything removed is
  logged, counted and returned.

The agent comes from the compute driver (`ComputeDriver.local_agent`, in `ostium serve`,
with the other hosts' agents as `more_agents`) or from `netns_setup.connect_local_agent`
(alone). Clock and sleep are injected; each job
catches its own failures. Must not import the API or the services, nor reconcile
anything (the worker does).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import delete, select, update

from ostium.agent_client import AgentClient, AgentUnavailable
from ostium.control import metrics
from ostium.control.background import Background
from ostium.control.db import models as m
from ostium.control.db.engine import Database
from ostium.control.settings import Settings
from ostium.model.enums import AmphoraStatus, ProvisioningStatus

log = logging.getLogger("ostium.housekeeping")


@dataclass
class Report:
    """What one round removed or renewed (ids and descriptions)."""

    load_balancers: list[str] = field(default_factory=list)
    amphorae: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    certificates: list[str] = field(default_factory=list)


def purge(db: Database, settings: Settings, now: dt.datetime) -> Report:
    hk = settings.housekeeping
    amp_cutoff = now - dt.timedelta(seconds=hk.amphora_expiry_age)
    lb_cutoff = now - dt.timedelta(seconds=hk.load_balancer_expiry_age)
    report = Report()
    with db.write() as session:
        report.amphorae = list(
            session.scalars(
                select(m.Amphora.id).where(
                    m.Amphora.status == AmphoraStatus.DELETED,
                    (m.Amphora.updated_at.is_(None) & (m.Amphora.created_at < amp_cutoff))
                    | (m.Amphora.updated_at < amp_cutoff),
                )
            )
        )
        if report.amphorae:
            session.execute(delete(m.Amphora).where(m.Amphora.id.in_(report.amphorae)))
        report.load_balancers = list(
            session.scalars(
                select(m.LoadBalancer.id).where(
                    m.LoadBalancer.provisioning_status == ProvisioningStatus.DELETED,
                    m.LoadBalancer.updated_at < lb_cutoff,
                )
            )
        )
        if report.load_balancers:
            ids = report.load_balancers
            session.execute(
                delete(m.ListenerStatistics).where(m.ListenerStatistics.load_balancer_id.in_(ids))
            )
            session.execute(delete(m.Tag).where(m.Tag.resource_id.in_(ids)))
            session.execute(
                update(m.Amphora)
                .where(m.Amphora.load_balancer_id.in_(ids))
                .values(load_balancer_id=None)
            )
            session.execute(delete(m.LoadBalancer).where(m.LoadBalancer.id.in_(ids)))
    if report.amphorae or report.load_balancers:
        log.warning(
            "housekeeping purged %d amphorae and %d load balancers deleted long ago",
            len(report.amphorae),
            len(report.load_balancers),
        )
    return report


def rotate_certificates(db: Database, settings: Settings) -> Report:
    """Renew the local agent's certificates when they expire within the buffer."""
    from ostium.control.netns_setup import ensure_certificates
    from ostium.drivers.certificates.local_ca import cert_expiration

    pki = settings.state_dir / "pki"
    agent_cert = pki / "agent.pem"
    if not agent_cert.exists():
        return Report()
    files = [agent_cert, pki / "controller.pem"]
    before = {p: cert_expiration(p) if p.exists() else None for p in files}
    buffer = dt.timedelta(seconds=settings.housekeeping.cert_expiry_buffer)
    ensure_certificates(settings, renew_before=buffer)
    report = Report()
    for path in files:
        after = cert_expiration(path)
        if after != before[path]:
            report.certificates.append(f"{path.name} (now valid until {after:%Y-%m-%d %H:%M})")
    if report.certificates:
        log.warning("housekeeping rotated certificates: %s", "; ".join(report.certificates))
    # Every round, not only after a rotation: amphorae built by a worker that started
    # before the last rotation were recorded with the certificate it knew.
    expires = cert_expiration(agent_cert).replace(tzinfo=None)
    with db.write() as session:
        session.execute(
            update(m.Amphora)
            .where(
                m.Amphora.status != AmphoraStatus.DELETED,
                m.Amphora.host.startswith("https://"),
                (m.Amphora.cert_expiration.is_(None)) | (m.Amphora.cert_expiration != expires),
            )
            .values(cert_expiration=expires)
        )
    return report


def remove_orphans(db: Database, agent: AgentClient) -> Report:
    """Delete amphorae the agent runs but the database does not know (or knows as
    DELETED), then have the agent sweep what it does not know itself."""
    running = [a.amphora_id for a in agent.list_amphorae()]
    with db.read() as session:
        live = (
            set(
                session.scalars(
                    select(m.Amphora.id).where(
                        m.Amphora.id.in_(running), m.Amphora.status != AmphoraStatus.DELETED
                    )
                )
            )
            if running
            else set()
        )
    report = Report()
    for amp_id in running:
        if amp_id not in live:
            agent.delete_amphora(amp_id)
            report.orphans.append(f"amphora {amp_id}")
    report.orphans += agent.sweep()
    if report.orphans:
        log.warning("housekeeping removed orphans: %s", "; ".join(report.orphans))
    return report


class Housekeeping(Background):
    thread_name = "housekeeping"

    def __init__(
        self,
        db: Database,
        settings: Settings,
        agent: AgentClient | None = None,
        certificates: bool = False,
        more_agents: Callable[[], list[AgentClient]] | None = None,
        registry: metrics.Registry = metrics.REGISTRY,
        clock: Callable[[], dt.datetime] = m.utcnow,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        super().__init__(sleep)
        self.db = db
        self.settings = settings
        self.agent = agent
        self.certificates = certificates
        self.more_agents = more_agents
        self.clock = clock
        self.removed = metrics.housekeeping_removed(registry)
        self._due: dict[str, float] = {}

    def jobs(self) -> dict[str, tuple[float, Callable[[], Report]]]:
        hk = self.settings.housekeeping
        out: dict[str, tuple[float, Callable[[], Report]]] = {
            "purge": (hk.cleanup_interval, lambda: purge(self.db, self.settings, self.clock())),
        }
        if self.certificates:
            out["certificates"] = (
                hk.cert_interval,
                lambda: rotate_certificates(self.db, self.settings),
            )
        if self.agent is not None or self.more_agents is not None:
            out["orphans"] = (hk.orphan_interval, self._orphans_everywhere)
        return out

    def _orphans_everywhere(self) -> Report:
        """`remove_orphans` on the local agent (its failure is the job's), then on each
        other host's agent that answers."""
        total = Report()
        if self.agent is not None:
            total.orphans += remove_orphans(self.db, self.agent).orphans
        for agent in self.more_agents() if self.more_agents is not None else []:
            try:
                total.orphans += remove_orphans(self.db, agent).orphans
            except AgentUnavailable as exc:  # a silent host: next round
                log.info("housekeeping: orphans of an agent not checked: %s", exc)
        return total

    def run_once(self, now: float) -> Report:
        """Run every job that is due at monotonic time `now`; return what they did."""
        total = Report()
        for name, (interval, job) in self.jobs().items():
            if now < self._due.get(name, 0.0):
                continue
            self._due[name] = now + interval
            try:
                report = job()
            except Exception:  # one failed job must not stop the others
                log.exception("housekeeping job %s failed", name)
                continue
            for what in ("load_balancers", "amphorae", "orphans", "certificates"):
                items = getattr(report, what)
                getattr(total, what).extend(items)
                if items:
                    self.removed.inc(len(items), what=what)
        return total

    def run(self) -> None:
        import time

        while not self.stopping:
            self.run_once(time.monotonic())
            self.sleep(1.0)
