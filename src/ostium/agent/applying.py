"""The apply pipeline: make one amphora run a new spec, safely.

Role: render a candidate file -> runtime API when only servers changed (haproxy judges
each server line itself) -> else `keepalived -t` (ACTIVE_STANDBY) -> nft rules ->
atomic rename -> seamless reload (or start), which is haproxy's own parse of the file:
a refused reload leaves the old workers serving, `haproxy -c` then says why (the file
kept as haproxy.cfg.failed) and the last-known-good config goes back. Then remember the
spec (spec.json, haproxy.cfg.lkg), start or reload keepalived, announce a new VIP.
Callers: `amphorae.apply`, which checks the generation and holds the amphora's lock.

The view of the spec is built once per apply: it is rendered, compared with the view of
the applied spec to plan a runtime update, and kept on the amphora for the next apply.
Errors of the swap are caught as the agent's exception tree (`errors`), which every
foreign error is translated into where it happens.

Must not decide whether a spec is wanted (generation, plumbing): that is `amphorae`'s.
"""

from __future__ import annotations

import grp
import logging
import resource
from collections.abc import Callable, Sequence

from ostium.agent import (
    firewall,
    garp,
    haproxy_process,
    haproxy_stats,
    keepalived,
    runtime_update,
    state_files,
    tls_files,
)
from ostium.agent.access_logs import haproxy_target
from ostium.agent.amphora import Amphora
from ostium.agent.amphora_keepalived import AmphoraKeepalived
from ostium.agent.errors import AgentFailure, InvalidConfig, InvalidSpec
from ostium.agent.naming import VIP_IFNAME
from ostium.agent.registry import AmphoraRegistry
from ostium.agent.render import MAX_GLOBAL_MAXCONN, RenderContext, View, build_view, render_view
from ostium.agent.settings import AgentSettings
from ostium.agent.supervising import Supervisor
from ostium.model.errors import OstiumError
from ostium.model.spec import AmphoraSpec
from ostium.model.timing import phase

LOG = logging.getLogger(__name__)
MIN_MAXCONN = 100
FDS_RESERVED = 1000
"""File descriptors left for haproxy's own use (logs, sockets, checks)."""


def _default_group() -> str | None:
    for name in ("nogroup", "nobody"):
        try:
            grp.getgrnam(name)
            return name
        except KeyError:
            continue
    return None


def _fd_maxconn() -> int:
    """The largest global maxconn haproxy can honour under this host's fd hard limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        return MAX_GLOBAL_MAXCONN
    return max(MIN_MAXCONN, (hard - FDS_RESERVED) // 2)  # about 2 fds per connection


class ApplyPipeline:
    def __init__(
        self,
        settings: AgentSettings,
        registry: AmphoraRegistry,
        keepalived: AmphoraKeepalived,
        supervisor: Supervisor,
        on_applied: Sequence[Callable[[str], None]],
        before_apply: Sequence[Callable[[str], None]] = (),
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.keepalived = keepalived
        self.supervisor = supervisor
        self._on_applied = on_applied
        self._before_apply = before_apply
        self._group = _default_group()
        self._max_maxconn = _fd_maxconn()

    def context(self, amp: Amphora) -> RenderContext:
        return RenderContext(
            stats_socket=str(amp.paths.stats_socket),
            group=self._group,
            max_maxconn=self._max_maxconn,
            log_target=haproxy_target() if self.settings.access_logs else None,
            log_facility=self.settings.user_log_facility,
            tls_dir=str(tls_files.tls_dir(amp.directory)),
        )

    def apply(self, amp: Amphora, spec: AmphoraSpec, reload: bool = False) -> None:
        """Run `spec` on `amp` (the caller holds `amp.lock`); `reload`: load the file
        even if only servers changed (or nothing did)."""
        paths = amp.paths
        with phase("render"):
            view = build_view(spec, self.context(amp))
            tls_files.write(amp.directory, spec)  # haproxy reads them when it loads
            candidate = amp.config_candidate
            state_files.write(candidate, render_view(view))
        for hook in self._before_apply:
            hook(amp.amphora_id)
        running = haproxy_process.master_pid(paths)
        # Only servers changed: the runtime API takes them first. haproxy parses each
        # server line itself (the same words as in the file), so no `haproxy -c` run is
        # needed (the slowest step of a member change); a later reload checks the file.
        if (
            not reload
            and running is not None
            and self._update_at_runtime(amp, self._applied_view(amp), view)
        ):
            vrrp_config = self.keepalived.check(amp, spec)
            firewall.ensure_loaded(amp, spec)
            state_files.replace(candidate, paths.config)
        else:
            vrrp_config = self._swap(amp, spec, running)
        state_files.copy(paths.config, amp.config_lkg)
        tls_files.prune(amp.directory, spec)
        first = amp.spec is None
        with phase("record"):
            self._record(amp, spec, view, vrrp_config, first)

    def refresh(self, amp: Amphora) -> bool:
        """Load this agent's rendering of the spec `amp` already runs, when the file on
        disk differs (one seamless reload); whether it reloaded. The caller holds
        `amp.lock`. For an amphora adopted after an upgrade or a settings change: an
        older agent's file (its access-log target, say) would otherwise stay until the
        amphora's next change."""
        spec = amp.spec
        if spec is None or haproxy_process.master_pid(amp.paths) is None:
            return False
        text = render_view(build_view(spec, self.context(amp)))
        try:
            if amp.paths.config.read_text() == text:
                return False
        except OSError:
            pass
        self.apply(amp, spec, reload=True)
        return True

    def _swap(self, amp: Amphora, spec: AmphoraSpec, running: int | None) -> str | None:
        """Put the candidate in place and start or reload haproxy with it; the new
        keepalived config, if any.

        The start or reload is the validation: haproxy parses the file before it
        touches anything, and a new process that refuses it exits while the old one serves
        the old config. Only then does `haproxy -c` run, to say why (`InvalidConfig`,
        the file kept as haproxy.cfg.failed), and the last-known-good config goes back.
        A separate check before every reload would parse the file twice on the path of
        every change."""
        paths = amp.paths
        with phase("check"):
            vrrp_config = self.keepalived.check(amp, spec)
        with phase("firewall"):
            firewall.ensure_loaded(amp, spec)
        state_files.replace(amp.config_candidate, paths.config)
        try:
            if running is None:
                with phase("start"):
                    haproxy_process.stop_leftovers(paths)
                    haproxy_process.start(self.settings.haproxy_bin, amp.names.namespace, paths)
            else:
                with phase("reload"):
                    self._carry_counters(amp)
                    haproxy_process.reload(self.settings.haproxy_bin, amp.names.namespace, paths)
        except OstiumError as exc:
            refused = self._refusal(amp)
            self.restore_last_known_good(amp)
            if refused is not None:
                raise refused from exc
            raise
        return vrrp_config

    def _refusal(self, amp: Amphora) -> InvalidConfig | None:
        """Why haproxy refused the config in place, if it is the config's fault."""
        try:
            haproxy_process.check_config(self.settings.haproxy_bin, amp.paths.config)
        except InvalidConfig as exc:
            return exc
        return None

    def _record(
        self, amp: Amphora, spec: AmphoraSpec, view: View, vrrp_config: str | None, first: bool
    ) -> None:
        """Remember what now runs; start what goes with it; tell who wants to know."""
        amp.spec = spec.model_copy(deep=True)
        amp.view = view
        self.registry.save_spec(amp, spec)
        amp.respawns.clear()
        self.supervisor.watch_haproxy(amp)
        if spec.vrrp is None:
            # (a pair is never turned SINGLE; be safe anyway, without a /proc scan when
            # keepalived never ran here)
            if amp.kpaths.pidfile.exists() or amp.kpaths.config.exists():
                keepalived.stop(amp.kpaths)
        else:
            self.keepalived.swap_in(amp, vrrp_config)
        if first and spec.vrrp is None:
            # A new amphora (maybe a failover): tell the neighbours the VIP moved. In a
            # pair keepalived does that, and only on the one that takes the VIP.
            for vip in spec.vip.addresses():
                garp.announce(amp.names.namespace, VIP_IFNAME, str(vip))
        for hook in self._on_applied:  # e.g. the heartbeat sender: report it right away
            hook(amp.amphora_id)

    def _applied_view(self, amp: Amphora) -> View | None:
        """The view haproxy runs now; rebuilt from spec.json once after an agent restart."""
        if amp.view is None and amp.spec is not None:
            try:
                amp.view = build_view(amp.spec, self.context(amp))
            except InvalidSpec:  # written by an older agent with other rules: reload
                return None
        return amp.view

    def _update_at_runtime(self, amp: Amphora, old: View | None, new: View) -> bool:
        """Apply server changes through the runtime API; False means "reload instead"."""
        plan = runtime_update.plan(old, new) if old is not None else None
        if plan is None:
            return False
        try:
            with phase("runtime"):
                runtime_update.execute(
                    plan, str(amp.paths.stats_socket), self.settings.del_server_wait
                )
        except OstiumError as exc:
            # haproxy may have taken part of the plan: the reload of the checked config
            # that follows puts every server where the new spec wants it.
            LOG.info("amphora %s: runtime update failed (%s); reloading", amp.amphora_id, exc)
            return False
        return True

    def _carry_counters(self, amp: Amphora) -> None:
        """Read the current worker's counters right before it is replaced."""
        with amp.counters.lock:
            try:
                amp.counters.observe(haproxy_stats.read(str(amp.paths.stats_socket)))
            except AgentFailure as exc:
                LOG.info("amphora %s: counters not carried: %s", amp.amphora_id, exc.message)

    def restore_last_known_good(self, amp: Amphora) -> None:
        """Put haproxy.cfg.lkg back and make haproxy run it (stop haproxy if there is none);
        the config that failed is kept as haproxy.cfg.failed."""
        paths = amp.paths
        state_files.copy(paths.config, amp.config_failed)
        if not amp.config_lkg.exists():
            haproxy_process.stop(paths)
            paths.config.unlink(missing_ok=True)
            return
        state_files.copy(amp.config_lkg, paths.config)
        try:
            if haproxy_process.master_pid(paths) is None:
                haproxy_process.start(self.settings.haproxy_bin, amp.names.namespace, paths)
            else:
                haproxy_process.reload(self.settings.haproxy_bin, amp.names.namespace, paths)
        except AgentFailure as exc:
            LOG.error("restoring last-known-good config failed: %s", exc.message)
        if amp.spec is not None:
            firewall.ensure_loaded(amp, amp.spec)
        self.supervisor.watch_haproxy(amp)
        self.keepalived.sync_track(amp)
