"""The amphorae of this host: the one object the agent's routes and threads talk to.

Role: `AmphoraManager` answers the agent API (`app`) and the heartbeat sender:
ensure (namespace and plumbing), apply (a spec, through `applying`), delete, sweep
(`sweeping`), state and probes. It wires the parts together: the `registry` of
amphorae, the `supervising` thread that adopts and respawns, the keepalived steps of
`amphora_keepalived`. It decides whether a request is wanted (a stale generation is
refused before the host is touched) and takes each amphora's lock; the parts do the work.

Must not import the control plane; it knows the host only through `netns`,
`haproxy_process` and `keepalived` (and the parts above).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ostium.agent import haproxy_process, keepalived, netns, repairing, sweeping
from ostium.agent.amphora import Amphora, AmphoraProbe, haproxy_paths
from ostium.agent.amphora_keepalived import AmphoraKeepalived
from ostium.agent.applying import ApplyPipeline
from ostium.agent.errors import StaleGeneration
from ostium.agent.keepalived import KeepalivedPaths
from ostium.agent.nftables.checking import LvsChecker
from ostium.agent.registry import AmphoraRegistry
from ostium.agent.settings import AgentSettings
from ostium.agent.supervising import Supervisor
from ostium.agent.watcher import ProcessWatcher
from ostium.model.errors import OstiumError
from ostium.model.spec import AmphoraNetwork, AmphoraPlug, AmphoraSpec, AmphoraState
from ostium.model.timing import phase

__all__ = ["AgentSettings", "AmphoraManager", "AmphoraProbe"]

LOG = logging.getLogger(__name__)


class AmphoraManager:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.registry = AmphoraRegistry(settings.state_dir, settings.name_prefix)
        self.on_applied: list[Callable[[str], None]] = []
        """Called with the amphora id after each successful apply (must not block)."""
        self.before_apply: list[Callable[[str], None]] = []
        """Called with the amphora id before haproxy loads a config (e.g. the access-log
        socket it will send to must exist by then)."""
        watcher = ProcessWatcher()
        wake = threading.Event()
        self.keepalived = AmphoraKeepalived(settings.keepalived_bin, watcher, wake.set)
        self.supervisor = Supervisor(settings, self.registry, self.keepalived, watcher, wake)
        self.pipeline = ApplyPipeline(
            settings,
            self.registry,
            self.keepalived,
            self.supervisor,
            self.on_applied,
            self.before_apply,
        )
        self.lvs_checker = LvsChecker(self.registry)
        """Health checks of UDP/SCTP pools (no haproxy checks them)."""

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Adopt amphorae from the state dir, clean orphans, start supervising."""
        self.supervisor.start()
        self.lvs_checker.start()

    def refresh(self) -> int:
        """After an agent start, once the apply hooks are in place: reload each amphora
        whose haproxy.cfg this agent would render differently (`ApplyPipeline.refresh`);
        how many were reloaded. A failure is logged and leaves that amphora as it was."""
        reloaded = 0
        for amp in self.registry.all():
            with amp.lock:
                try:
                    if self.pipeline.refresh(amp):
                        reloaded += 1
                        LOG.info("amphora %s: reloaded with this agent's rendering", amp.amphora_id)
                except OstiumError as exc:
                    LOG.error("amphora %s: not re-rendered: %s", amp.amphora_id, exc)
        return reloaded

    def close(self) -> None:
        """Stop supervising. Running haproxy processes are left alone on purpose."""
        self.supervisor.stop()
        self.lvs_checker.stop()
        for amp in self.registry.all():
            with amp.counters.lock:
                amp.counters.save()

    # ----------------------------------------------------------------- queries

    def _state(self, amp: Amphora) -> AmphoraState:
        pid = haproxy_process.master_pid(amp.paths)
        return AmphoraState(
            amphora_id=amp.amphora_id,
            loadbalancer_id=amp.plug.loadbalancer_id,
            namespace=amp.names.namespace,
            applied_generation=amp.spec.generation if amp.spec else None,
            haproxy_running=pid is not None,
            haproxy_pid=pid,
            respawns=amp.total_respawns,
            vrrp_state=keepalived.current_state(amp.kpaths) if amp.vrrp else None,
            plumbing_repairs=amp.plumbing_repairs,
            plumbing_fault=amp.plumbing_fault,
        )

    def get(self, amphora_id: str) -> AmphoraState:
        return self._state(self.registry.find(amphora_id))

    def list(self) -> list[AmphoraState]:
        return [self._state(a) for a in self.registry.all()]

    def probes(self) -> tuple[AmphoraProbe, ...]:
        return tuple(
            AmphoraProbe(
                a.amphora_id,
                a.names.namespace,
                a.spec.generation if a.spec else None,
                a.paths,
                a.counters,
                a.kpaths if a.vrrp else None,
                a.spec,
                dict(a.lvs_verdicts),
            )
            for a in self.registry.all()
        )

    def describe(self) -> dict[str, Any]:
        return {"amphorae": len(self.registry), "prefix": self.settings.name_prefix}

    # ----------------------------------------------------------------- ensure / delete

    def ensure(self, plug: AmphoraPlug) -> AmphoraState:
        amp = self.registry.get_or_create(plug)
        with amp.lock:
            amp.plug = plug
            self.registry.save_plug(amp)
            if not self._still_plumbed(amp, plug):
                # ~10 ip commands: only when something is new or missing (every spec
                # push ensures again, so this is on the path of each member change).
                done = amp.plumbed
                lost = None if done is None else netns.plumbing_fault(amp.names, done)
                new_networks = new_member_networks(done, plug) if lost is None else None
                if new_networks is not None:
                    # Only member networks were added (a pool's first member on a new
                    # subnet): plug those, leave the namespace and VIP port alone.
                    for net in new_networks:
                        netns.ensure_member_network(amp.names, net)
                else:
                    amp.firewall_loaded = None  # the namespace may be new: load rules again
                    netns.ensure_amphora(amp.names, plug)
                amp.plumbed = plug
                if lost is not None:  # found by this push before the supervisor's pass
                    repairing.record_repair(amp, lost)
        return self._state(amp)

    @staticmethod
    def _still_plumbed(amp: Amphora, plug: AmphoraPlug) -> bool:
        done = amp.plumbed
        if done is None or done.vip != plug.vip or done.vrrp_ip != plug.vrrp_ip:
            return False
        if any(net not in done.member_networks for net in plug.member_networks):
            return False
        return netns.plumbing_present(amp.names, done)

    def delete(self, amphora_id: str) -> None:
        names = self.registry.names(amphora_id)
        amp = self.registry.get(amphora_id)
        directory = self.registry.directory(amphora_id)
        subnets: list[str] = []
        if amp is not None:
            subnets = [n.subnet_id for n in amp.plug.member_networks]
            if amp.spec is not None:
                subnets += [n.subnet_id for n in amp.spec.member_networks]
        lock = amp.lock if amp is not None else threading.RLock()
        with lock:
            # keepalived first: it hands the VIP to the peer while haproxy still serves.
            keepalived.stop(KeepalivedPaths.in_dir(directory))
            haproxy_process.stop(haproxy_paths(directory))
            if netns.namespace_exists(names.namespace):
                haproxy_process.kill_namespace_processes(names.namespace)
            netns.delete_amphora(names, subnets)
            sweeping.remove_directory(directory)
            self.registry.remove(amphora_id)

    def sweep(self) -> tuple[str, ...]:
        """Remove what this agent's prefix owns but no amphora of it needs (namespaces,
        processes, state directories); returns a description of each thing removed."""
        return sweeping.sweep(self.registry)

    # ----------------------------------------------------------------- apply

    def apply(self, spec: AmphoraSpec) -> AmphoraState:
        self._refuse_stale(self.registry.get(spec.amphora_id), spec)
        with phase("plug"):
            self.ensure(spec.plug())
        amp = self.registry.find(spec.amphora_id)
        with phase("lock"):
            amp.lock.acquire()
        try:
            self._refuse_stale(amp, spec)  # again: another apply may have won meanwhile
            self.pipeline.apply(amp, spec)
        finally:
            amp.lock.release()
        return self._state(amp)

    @staticmethod
    def _refuse_stale(amp: Amphora | None, spec: AmphoraSpec) -> None:
        if amp is not None and amp.spec is not None and spec.generation < amp.spec.generation:
            raise StaleGeneration(
                f"generation {spec.generation} is older than applied {amp.spec.generation}",
                {"applied_generation": amp.spec.generation},
            )


def new_member_networks(done: AmphoraPlug | None, plug: AmphoraPlug) -> list[AmphoraNetwork] | None:
    """The member networks `plug` adds to a fully plugged `done`; None when anything
    else differs (the VIP, the VRRP address, a network gone or changed)."""
    if done is None or done.vip != plug.vip or done.vrrp_ip != plug.vrrp_ip:
        return None
    if any(net not in plug.member_networks for net in done.member_networks):
        return None
    return [net for net in plug.member_networks if net not in done.member_networks]
