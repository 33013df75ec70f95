"""Keep every amphora's haproxy (and keepalived) running: adopt them when the agent
starts, respawn them when they die.

Role: a thread of the agent. On start it adopts the amphorae of the state directory
(a running haproxy is kept as is; a missing one is started again from the last applied
config) and removes namespaces of our prefix that no amphora needs. A `ProcessWatcher`
reports the exit of each haproxy process and keepalived at once: a dead haproxy is marked
in the track file keepalived watches (the amphora gives the VIP up within milliseconds)
and the supervision pass runs right away instead of at its next `respawn_interval`.
Each pass also repairs lost plumbing (a bridge or veth deleted under the amphora:
`repairing`). Respawns are bounded (`respawn_count` per `respawn_window`).

Callers: `amphorae` (start, stop, adoption), `applying` (`watch_haproxy` after a start).
Must not apply specs: it only restarts what the last applied spec already describes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import MutableSequence

from ostium.agent import firewall, haproxy_process, netns, repairing, sweeping
from ostium.agent.amphora import Amphora
from ostium.agent.amphora_keepalived import AmphoraKeepalived
from ostium.agent.errors import AgentFailure
from ostium.agent.registry import AmphoraRegistry
from ostium.agent.settings import AgentSettings
from ostium.agent.watcher import ProcessWatcher

LOG = logging.getLogger(__name__)


class Supervisor:
    def __init__(
        self,
        settings: AgentSettings,
        registry: AmphoraRegistry,
        keepalived: AmphoraKeepalived,
        watcher: ProcessWatcher,
        wake: threading.Event,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.keepalived = keepalived
        self._watcher = watcher
        self._wake = wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Adopt amphorae from the state dir, clean orphans, start supervising."""
        self._watcher.start()
        for amp in self.registry.load():
            try:
                self._adopt(amp)
            except AgentFailure as exc:
                LOG.error("could not restore amphora %s: %s", amp.amphora_id, exc.message)
        sweeping.remove_orphan_namespaces(self.registry)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop supervising. Running haproxy processes are left alone on purpose."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._watcher.stop()

    def _adopt(self, amp: Amphora) -> None:
        with amp.lock:
            running = haproxy_process.master_pid(amp.paths)
            if running is not None and netns.namespace_exists(amp.names.namespace):
                LOG.info("adopted amphora %s (haproxy pid %s)", amp.amphora_id, running)
                self.watch_haproxy(amp)
                self.keepalived.ensure_running(amp)
                return
            netns.ensure_amphora(amp.names, amp.plug)
            if amp.spec is not None and amp.paths.config.exists():
                haproxy_process.stop(amp.paths)
                firewall.ensure_loaded(amp, amp.spec)
                haproxy_process.start(self.settings.haproxy_bin, amp.names.namespace, amp.paths)
                self.watch_haproxy(amp)
                self.keepalived.ensure_running(amp)

    # ----------------------------------------------------------------- watching

    def watch_haproxy(self, amp: Amphora) -> None:
        """Learn the moment this amphora's serving haproxy exits."""
        pid = haproxy_process.master_pid(amp.paths)
        if pid is not None and not self._watcher.watching(pid):
            self._watcher.watch(pid, lambda _pid: self._haproxy_exited(amp))

    def _haproxy_exited(self, amp: Amphora) -> None:
        """On the watcher thread: demote at once, then let the supervision pass respawn.
        The old process of a reload exits once the pidfile names its successor: no pass
        for that (a pass looks at every amphora of the host)."""
        if haproxy_process.master_pid(amp.paths) is not None:
            return
        self.keepalived.demote_if_haproxy_dead(amp)
        self._wake.set()

    # ----------------------------------------------------------------- passes

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.respawn_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            for amp in self.registry.all():
                if not amp.lock.acquire(blocking=False):
                    continue  # an apply or delete holds it: the next pass looks again
                try:
                    self._check_one(amp)
                except Exception:  # the supervisor must outlive any single failure
                    LOG.exception("supervising amphora %s", amp.amphora_id)
                finally:
                    amp.lock.release()

    def _check_one(self, amp: Amphora) -> None:
        if amp.spec is None or not amp.paths.config.exists():
            return
        if not self.settings.rebuild_lost_namespaces:
            if not netns.namespace_exists(amp.names.namespace):
                if not amp.lost:
                    LOG.error(
                        "amphora %s lost its namespace %s; leaving it to failover",
                        amp.amphora_id,
                        amp.names.namespace,
                    )
                amp.lost = True
                return
            amp.lost = False
        repairing.repair_plumbing(amp)
        try:
            self._respawn_haproxy(amp)
        finally:
            self.keepalived.sync_track(amp)
            if (
                amp.vrrp
                and self.keepalived.restart_due(amp)
                and self._may_respawn(amp.keepalived_respawns, "keepalived", amp, True)
            ):
                self.keepalived.ensure_running(amp)

    def _may_respawn(
        self, history: MutableSequence[float], what: str, amp: Amphora, dead: bool
    ) -> bool:
        """Whether a dead process may be respawned now (and count it if so)."""
        if not dead:
            return False
        now = time.monotonic()
        history[:] = [t for t in history if now - t < self.settings.respawn_window]
        if len(history) >= self.settings.respawn_count:
            return False
        history.append(now)
        LOG.warning("%s of amphora %s is not running; respawning", what, amp.amphora_id)
        return True

    def _respawn_haproxy(self, amp: Amphora) -> None:
        spec = amp.spec
        dead = haproxy_process.master_pid(amp.paths) is None
        if spec is None or not self._may_respawn(amp.respawns, "haproxy", amp, dead):
            return
        amp.total_respawns += 1
        if not netns.namespace_exists(amp.names.namespace):
            netns.ensure_amphora(amp.names, amp.plug)
            firewall.ensure_loaded(amp, spec)
        haproxy_process.stop(amp.paths)
        haproxy_process.start(self.settings.haproxy_bin, amp.names.namespace, amp.paths)
        self.watch_haproxy(amp)
