"""keepalived of an ACTIVE_STANDBY amphora: its config in each apply, its process, and
the track file that tells it whether haproxy runs.

Role: what the agent does with keepalived for one amphora. `applying` calls `check`
(render + `keepalived -t`, alongside `haproxy -c`) and then `swap_in` once haproxy
serves; `supervising` calls `ensure_running`, `restart_due` and `sync_track`, and
`demote_if_haproxy_dead` the moment a haproxy master exits. Process lifecycle is
`keepalived`'s, rendering `keepalived_config`'s: this module only decides when.
Callers hold the amphora's lock, except for `demote_if_haproxy_dead` (see there).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from ostium.agent import haproxy_process, keepalived, state_files
from ostium.agent.amphora import Amphora
from ostium.agent.errors import InvalidConfig, StateFileError
from ostium.agent.keepalived_config import render_keepalived
from ostium.agent.watcher import ProcessWatcher
from ostium.model.enums import VrrpState
from ostium.model.spec import AmphoraSpec

LOG = logging.getLogger(__name__)
TAKEOVER_ADVERTS = 4
"""Adverts a peer needs to notice a silent MASTER and take over (3 + skew, rounded up)."""


class AmphoraKeepalived:
    def __init__(self, keepalived_bin: str, watcher: ProcessWatcher, wake: Callable[[], None]):
        self.keepalived_bin = keepalived_bin
        self._watcher = watcher
        self._wake = wake
        """Wakes the supervisor (a watched keepalived exited, a grace period ended)."""

    # ----------------------------------------------------------------- apply

    def check(self, amp: Amphora, spec: AmphoraSpec) -> str | None:
        """The new keepalived.conf if it differs from the running one (checked), else None.

        A refused config is kept as keepalived.conf.failed and raises `InvalidConfig`."""
        if spec.vrrp is None:
            return None
        kp = amp.kpaths
        text = render_keepalived(spec, kp.files())
        try:
            if kp.config.read_text() == text and keepalived.running_pid(kp) is not None:
                return None
        except OSError:
            pass  # no config yet
        keepalived.write_scripts(kp, amp.paths.stats_socket)
        candidate = kp.config.with_name("keepalived.conf.new")
        state_files.write(candidate, text)
        try:
            keepalived.check_config(self.keepalived_bin, amp.names.namespace, candidate)
        except InvalidConfig:
            state_files.replace(candidate, kp.config.with_name("keepalived.conf.failed"))
            raise
        return text

    def swap_in(self, amp: Amphora, text: str | None) -> None:
        """Put the config `check` returned in place and reload (or start) keepalived."""
        kp = amp.kpaths
        self.sync_track(amp)
        if text is not None:
            state_files.replace(kp.config.with_name("keepalived.conf.new"), kp.config)
            if keepalived.running_pid(kp) is not None:
                keepalived.reload(kp)
                return
        self.ensure_running(amp)

    # ----------------------------------------------------------------- process

    def ensure_running(self, amp: Amphora) -> None:
        """keepalived runs (and is watched) for an ACTIVE_STANDBY amphora whose config is
        in place."""
        kp = amp.kpaths
        if not amp.vrrp or not kp.config.exists():
            return
        self.sync_track(amp)
        pid = keepalived.running_pid(kp)
        if pid is None:
            keepalived.stop(kp)  # a VRRP child left without its parent
            pid = keepalived.start(self.keepalived_bin, amp.names.namespace, kp)
            LOG.info("amphora %s: keepalived started (pid %s)", amp.amphora_id, pid)
        if not self._watcher.watching(pid):
            self._watcher.watch(pid, lambda _pid: self._wake())

    def restart_due(self, amp: Amphora) -> bool:
        """True when a dead keepalived should be started again now.

        A keepalived killed while MASTER leaves the VIP configured (haproxy keeps
        serving it) and a new one would start by removing it: wait until the peer has
        had time to notice the silence and take over, then restart."""
        spec = amp.spec
        if keepalived.running_pid(amp.kpaths) is not None or spec is None or spec.vrrp is None:
            amp.keepalived_dead_since = None
            return False
        now = time.monotonic()
        if amp.keepalived_dead_since is None:
            amp.keepalived_dead_since = now
        was_master = keepalived.last_reported(amp.kpaths) == VrrpState.MASTER
        grace = TAKEOVER_ADVERTS * spec.vrrp.advert_interval + 0.05 if was_master else 0.0
        waited = now - amp.keepalived_dead_since
        if waited < grace:
            timer = threading.Timer(grace - waited, self._wake)
            timer.daemon = True
            timer.start()
            return False
        amp.keepalived_dead_since = None
        return True

    # ----------------------------------------------------------------- haproxy watch

    def sync_track(self, amp: Amphora) -> None:
        """The track file says whether haproxy runs (only when the spec asks for it)."""
        spec = amp.spec
        if spec is None or spec.vrrp is None:
            return
        up = haproxy_process.master_pid(amp.paths) is not None or not spec.vrrp.watch_haproxy
        keepalived.set_track(amp.kpaths, up)

    def demote_if_haproxy_dead(self, amp: Amphora) -> None:
        """On the watcher thread, without the amphora's lock (this must not wait for an
        apply): mark haproxy dead in the track file, so the pair's peer takes over."""
        spec = amp.spec
        if (
            spec is not None
            and spec.vrrp is not None
            and spec.vrrp.watch_haproxy
            and haproxy_process.master_pid(amp.paths) is None
        ):
            with contextlib.suppress(StateFileError):  # the amphora was just deleted
                keepalived.set_track(amp.kpaths, False)
