"""The agent's core: amphorae on this host, their state files, apply, delete, supervise.

Role: everything the HTTP routes do goes through `AmphoraManager`. It keeps one
directory per amphora under `<state_dir>/amphorae/<namespace>/` (plug.json, spec.json
= last applied spec, haproxy.cfg, haproxy.cfg.lkg, haproxy.cfg.failed, sockets, pid,
nftables rules, haproxy log), adopts running amphorae on start, removes namespaces with
its prefix that no amphora needs, and respawns haproxy if it dies.

Apply = render -> `haproxy -c` on a temp file (kept as haproxy.cfg.failed when refused)
-> nft rules -> atomic rename -> runtime API when only servers changed, else seamless
reload -> on failure restore the last-known-good config. Callers: `app`, tests.

ACTIVE_STANDBY (`spec.vrrp`): keepalived.conf is rendered and checked (`keepalived -t`)
together with haproxy.cfg, and keepalived is started (or reloaded when its config
changed) once haproxy serves. A `ProcessWatcher` reports the exit of every haproxy
master and keepalived at once: a dead haproxy is marked in the track file keepalived
watches (the amphora gives the VIP up within milliseconds) and both are respawned
without waiting for the next supervision pass.

Must not import the control plane; it knows the host only through `netns`,
`haproxy_process`, `keepalived`, `firewall` and `haproxy_runtime`.
"""

from __future__ import annotations

import contextlib
import grp
import logging
import os
import resource
import shutil
import threading
import time
from collections.abc import Callable, MutableSequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ostium.agent import (
    firewall,
    garp,
    haproxy_process,
    haproxy_runtime,
    haproxy_stats,
    keepalived,
    netns,
    runtime_update,
)
from ostium.agent.counters import CounterCarry
from ostium.agent.errors import AgentFailure, AmphoraNotFound, InvalidConfig, StaleGeneration
from ostium.agent.haproxy_process import HaproxyPaths
from ostium.agent.keepalived import KeepalivedPaths
from ostium.agent.keepalived_config import render_keepalived
from ostium.agent.naming import DEFAULT_PREFIX, VIP_IFNAME, Names
from ostium.agent.render import RenderContext, build_view, render_haproxy
from ostium.agent.watcher import ProcessWatcher
from ostium.model.enums import VrrpState
from ostium.model.spec import AmphoraPlug, AmphoraSpec, AmphoraState

LOG = logging.getLogger(__name__)
MAX_SOCKET_PATH = 100
ZERO_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class AgentSettings:
    state_dir: Path
    name_prefix: str = DEFAULT_PREFIX
    haproxy_bin: str = "haproxy"
    keepalived_bin: str = "keepalived"
    respawn_count: int = 3
    """Respawns allowed within `respawn_window` seconds before the supervisor gives up."""
    respawn_interval: float = 2.0
    """Seconds between supervision passes."""
    respawn_window: float = 60.0
    del_server_wait: float = 3.0
    """How long a removed server may take to lose its connections before we reload."""
    rebuild_lost_namespaces: bool = True
    """Recreate an amphora whose namespace vanished. False when heartbeats go to a
    health manager: a lost amphora then goes silent and is failed over instead."""


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
        return 1_000_000
    return max(100, (hard - 1000) // 2)


def _write_json(path: Path, data: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(data)
    os.replace(tmp, path)


@dataclass
class _Amphora:
    names: Names
    directory: Path
    plug: AmphoraPlug
    spec: AmphoraSpec | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    respawns: list[float] = field(default_factory=list)
    total_respawns: int = 0
    keepalived_respawns: list[float] = field(default_factory=list)
    keepalived_dead_since: float | None = None
    lost: bool = False
    plumbed: AmphoraPlug | None = None
    """The last plug fully ensured by this process (fast path for repeated ensures)."""
    firewall_loaded: str | None = None
    """The nftables ruleset this process last loaded into the namespace."""

    @cached_property
    def counters(self) -> CounterCarry:
        return CounterCarry(self.directory / "counters.json")

    @property
    def paths(self) -> HaproxyPaths:
        d = self.directory
        return HaproxyPaths(
            config=d / "haproxy.cfg",
            pidfile=d / "haproxy.pid",
            master_socket=d / "master.sock",
            stats_socket=d / "stats.sock",
            log=d / "haproxy.log",
        )

    @property
    def kpaths(self) -> KeepalivedPaths:
        return KeepalivedPaths.in_dir(self.directory)

    @property
    def vrrp(self) -> bool:
        return self.spec is not None and self.spec.vrrp is not None


@dataclass(frozen=True)
class AmphoraProbe:
    """What the heartbeat sender needs to look at one amphora without its lock."""

    amphora_id: str
    namespace: str
    generation: int | None
    paths: HaproxyPaths
    counters: CounterCarry
    keepalived: KeepalivedPaths | None = None
    """ACTIVE_STANDBY amphorae only: where keepalived's state is."""


class AmphoraManager:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.root = Path(settings.state_dir) / "amphorae"
        self.root.mkdir(parents=True, exist_ok=True)
        if len(str(self.root)) + 30 > MAX_SOCKET_PATH:
            raise ValueError(f"state dir {settings.state_dir} is too long for unix sockets")
        self._group = _default_group()
        self._max_maxconn = _fd_maxconn()
        self._amphorae: dict[str, _Amphora] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._watcher = ProcessWatcher()
        self._supervisor: threading.Thread | None = None
        self.on_applied: list[Callable[[str], None]] = []
        """Called with the amphora id after each successful apply (must not block)."""

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Adopt amphorae from the state dir, clean orphans, start supervising."""
        self._watcher.start()
        self.adopt()
        self._stop.clear()
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._supervisor.start()

    def close(self) -> None:
        """Stop supervising. Running haproxy processes are left alone on purpose."""
        self._stop.set()
        self._wake.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        self._watcher.stop()
        with self._lock:
            amps = list(self._amphorae.values())
        for amp in amps:
            with amp.counters.lock:
                amp.counters.save()

    def adopt(self) -> None:
        known: set[str] = set()
        for directory in sorted(self.root.iterdir()):
            plug_file = directory / "plug.json"
            if not plug_file.exists():
                shutil.rmtree(directory, ignore_errors=True)
                continue
            plug = AmphoraPlug.model_validate_json(plug_file.read_text())
            amp = _Amphora(self._names(plug.amphora_id), directory, plug)
            spec_file = directory / "spec.json"
            if spec_file.exists():
                amp.spec = AmphoraSpec.model_validate_json(spec_file.read_text())
            known.add(amp.names.namespace)
            with self._lock:
                self._amphorae[plug.amphora_id] = amp
            try:
                self._converge_after_restart(amp)
            except AgentFailure as exc:
                LOG.error("could not restore amphora %s: %s", plug.amphora_id, exc.message)
        for ns in netns.list_namespaces():
            if self._names(ZERO_ID).owns_namespace(ns) and ns not in known:
                LOG.warning("removing orphan namespace %s", ns)
                haproxy_process.kill_namespace_processes(ns)
                netns.delete_namespace(ns)

    def _converge_after_restart(self, amp: _Amphora) -> None:
        with amp.lock:
            running = haproxy_process.master_pid(amp.paths)
            if running is not None and netns.namespace_exists(amp.names.namespace):
                LOG.info("adopted amphora %s (haproxy pid %s)", amp.plug.amphora_id, running)
                self._watch_haproxy(amp)
                self._ensure_keepalived(amp)
                return
            netns.ensure_amphora(amp.names, amp.plug)
            if amp.spec is not None and amp.paths.config.exists():
                haproxy_process.stop(amp.paths)
                self._apply_firewall(amp, amp.spec)
                haproxy_process.start(self.settings.haproxy_bin, amp.names.namespace, amp.paths)
                self._watch_haproxy(amp)
                self._ensure_keepalived(amp)

    # ----------------------------------------------------------------- queries

    def _names(self, amphora_id: str) -> Names:
        return Names(self.settings.name_prefix, amphora_id)

    def _find(self, amphora_id: str) -> _Amphora:
        with self._lock:
            amp = self._amphorae.get(amphora_id)
        if amp is None:
            raise AmphoraNotFound(f"amphora {amphora_id} is not on this agent")
        return amp

    def _state(self, amp: _Amphora) -> AmphoraState:
        pid = haproxy_process.master_pid(amp.paths)
        return AmphoraState(
            amphora_id=amp.plug.amphora_id,
            loadbalancer_id=amp.plug.loadbalancer_id,
            namespace=amp.names.namespace,
            applied_generation=amp.spec.generation if amp.spec else None,
            haproxy_running=pid is not None,
            haproxy_pid=pid,
            respawns=amp.total_respawns,
            vrrp_state=keepalived.current_state(amp.kpaths) if amp.vrrp else None,
        )

    def get(self, amphora_id: str) -> AmphoraState:
        return self._state(self._find(amphora_id))

    def list(self) -> list[AmphoraState]:
        with self._lock:
            amps = list(self._amphorae.values())
        return [self._state(a) for a in amps]

    def probes(self) -> tuple[AmphoraProbe, ...]:
        with self._lock:
            amps = list(self._amphorae.values())
        return tuple(
            AmphoraProbe(
                a.plug.amphora_id,
                a.names.namespace,
                a.spec.generation if a.spec else None,
                a.paths,
                a.counters,
                a.kpaths if a.vrrp else None,
            )
            for a in amps
        )

    # ----------------------------------------------------------------- ensure / delete

    def ensure(self, plug: AmphoraPlug) -> AmphoraState:
        names = self._names(plug.amphora_id)
        with self._lock:
            amp = self._amphorae.get(plug.amphora_id)
            if amp is None:
                directory = self.root / names.namespace
                directory.mkdir(parents=True, exist_ok=True)
                amp = _Amphora(names, directory, plug)
                self._amphorae[plug.amphora_id] = amp
        with amp.lock:
            amp.plug = plug
            _write_json(amp.directory / "plug.json", plug.model_dump_json())
            if not self._still_plumbed(amp, plug):
                # ~20 ip commands: only when something is new or missing (every spec
                # push ensures again, so this is on the path of each member change).
                amp.firewall_loaded = None  # the namespace may be new: load rules again
                netns.ensure_amphora(names, plug)
                amp.plumbed = plug
        return self._state(amp)

    @staticmethod
    def _still_plumbed(amp: _Amphora, plug: AmphoraPlug) -> bool:
        done = amp.plumbed
        if done is None or done.vip != plug.vip or done.vrrp_ip != plug.vrrp_ip:
            return False
        if any(net not in done.member_networks for net in plug.member_networks):
            return False
        return netns.plumbing_present(amp.names, done)

    def delete(self, amphora_id: str) -> None:
        names = self._names(amphora_id)
        with self._lock:
            amp = self._amphorae.get(amphora_id)
        directory = self.root / names.namespace
        subnets: list[str] = []
        if amp is not None:
            subnets = [n.subnet_id for n in amp.plug.member_networks]
            if amp.spec is not None:
                subnets += [n.subnet_id for n in amp.spec.member_networks]
        lock = amp.lock if amp is not None else threading.RLock()
        with lock:
            placeholder = _Amphora(names, directory, _placeholder_plug(amphora_id))
            # keepalived first: it hands the VIP to the peer while haproxy still serves.
            keepalived.stop(placeholder.kpaths)
            paths = placeholder.paths
            haproxy_process.stop(paths)
            if netns.namespace_exists(names.namespace):
                haproxy_process.kill_namespace_processes(names.namespace)
            netns.delete_amphora(names, subnets)
            shutil.rmtree(directory, ignore_errors=True)
            with self._lock:
                self._amphorae.pop(amphora_id, None)

    # ----------------------------------------------------------------- apply

    def _context(self, amp: _Amphora) -> RenderContext:
        return RenderContext(
            stats_socket=str(amp.paths.stats_socket),
            group=self._group,
            max_maxconn=self._max_maxconn,
        )

    def apply(self, spec: AmphoraSpec) -> AmphoraState:
        with self._lock:
            amp = self._amphorae.get(spec.amphora_id)
        if amp is not None and amp.spec is not None and spec.generation < amp.spec.generation:
            raise StaleGeneration(
                f"generation {spec.generation} is older than applied {amp.spec.generation}",
                {"applied_generation": amp.spec.generation},
            )
        self.ensure(spec.plug())
        amp = self._find(spec.amphora_id)
        with amp.lock:
            if amp.spec is not None and spec.generation < amp.spec.generation:
                raise StaleGeneration(
                    f"generation {spec.generation} is older than applied {amp.spec.generation}",
                    {"applied_generation": amp.spec.generation},
                )
            self._apply_locked(amp, spec)
        return self._state(amp)

    def _apply_locked(self, amp: _Amphora, spec: AmphoraSpec) -> None:
        paths = amp.paths
        ctx = self._context(amp)
        view = build_view(spec, ctx)
        text = render_haproxy(spec, ctx)
        candidate = paths.config.with_name("haproxy.cfg.new")
        candidate.write_text(text)
        try:
            haproxy_process.check_config(self.settings.haproxy_bin, candidate)
        except InvalidConfig:
            os.replace(candidate, paths.config.with_name("haproxy.cfg.failed"))
            raise
        vrrp_config = self._check_keepalived(amp, spec)
        self._apply_firewall(amp, spec)
        old_view = build_view(amp.spec, ctx) if amp.spec is not None else None
        running = haproxy_process.master_pid(paths)
        os.replace(candidate, paths.config)
        try:
            if running is None:
                haproxy_process.stop(paths)  # stray workers of a dead master
                haproxy_process.start(self.settings.haproxy_bin, amp.names.namespace, paths)
            else:
                plan = runtime_update.plan(old_view, view) if old_view is not None else None
                if plan is None or not self._run_plan(amp, plan):
                    self._carry_counters(amp)
                    haproxy_process.reload(paths)
        except AgentFailure:
            self._restore_last_known_good(amp)
            raise
        shutil.copyfile(paths.config, paths.config.with_name("haproxy.cfg.lkg"))
        first = amp.spec is None
        amp.spec = spec.model_copy(deep=True)
        _write_json(amp.directory / "spec.json", spec.model_dump_json())
        amp.respawns.clear()
        self._watch_haproxy(amp)
        if spec.vrrp is None:
            keepalived.stop(amp.kpaths)  # (a pair is never turned SINGLE; be safe anyway)
        else:
            self._apply_keepalived(amp, vrrp_config)
        if first and spec.vrrp is None:
            # A new amphora (maybe a failover): tell the neighbours the VIP moved. In a
            # pair keepalived does that, and only on the one that takes the VIP.
            garp.announce(amp.names.namespace, VIP_IFNAME, str(spec.vip.address))
        for hook in self.on_applied:  # e.g. the heartbeat sender: report it right away
            hook(amp.plug.amphora_id)

    # ----------------------------------------------------------------- keepalived

    def _check_keepalived(self, amp: _Amphora, spec: AmphoraSpec) -> str | None:
        """The new keepalived.conf if it differs from the running one (checked), else None."""
        if spec.vrrp is None:
            return None
        kp = amp.kpaths
        text = render_keepalived(spec, kp.files())
        try:
            if kp.config.read_text() == text and keepalived.running_pid(kp) is not None:
                return None
        except OSError:
            pass
        keepalived.write_scripts(kp, amp.paths.stats_socket)
        candidate = kp.config.with_name("keepalived.conf.new")
        candidate.write_text(text)
        try:
            keepalived.check_config(self.settings.keepalived_bin, amp.names.namespace, candidate)
        except InvalidConfig:
            os.replace(candidate, kp.config.with_name("keepalived.conf.failed"))
            raise
        return text

    def _apply_keepalived(self, amp: _Amphora, text: str | None) -> None:
        kp = amp.kpaths
        self._sync_track(amp)
        if text is not None:
            os.replace(kp.config.with_name("keepalived.conf.new"), kp.config)
            if keepalived.running_pid(kp) is not None:
                keepalived.reload(kp)
                return
        self._ensure_keepalived(amp)

    def _ensure_keepalived(self, amp: _Amphora) -> None:
        """keepalived runs for an ACTIVE_STANDBY amphora whose config is in place."""
        kp = amp.kpaths
        if not amp.vrrp or not kp.config.exists():
            return
        self._sync_track(amp)
        pid = keepalived.running_pid(kp)
        if pid is None:
            keepalived.stop(kp)  # a VRRP child left without its parent
            pid = keepalived.start(self.settings.keepalived_bin, amp.names.namespace, kp)
            LOG.info("amphora %s: keepalived started (pid %s)", amp.plug.amphora_id, pid)
        if not self._watcher.watching(pid):
            self._watcher.watch(pid, lambda _pid: self._wake.set())

    def _sync_track(self, amp: _Amphora) -> None:
        """The track file says whether haproxy runs (only when the spec asks for it)."""
        spec = amp.spec
        if spec is None or spec.vrrp is None:
            return
        up = haproxy_process.master_pid(amp.paths) is not None or not spec.vrrp.watch_haproxy
        keepalived.set_track(amp.kpaths, up)

    def _watch_haproxy(self, amp: _Amphora) -> None:
        pid = haproxy_process.master_pid(amp.paths)
        if pid is not None and not self._watcher.watching(pid):
            self._watcher.watch(pid, lambda _pid: self._haproxy_exited(amp))

    def _haproxy_exited(self, amp: _Amphora) -> None:
        """On the watcher thread: demote at once (no lock: this must not wait for an
        apply), then let the supervisor respawn."""
        spec = amp.spec
        if (
            spec is not None
            and spec.vrrp is not None
            and spec.vrrp.watch_haproxy
            and haproxy_process.master_pid(amp.paths) is None
        ):
            with contextlib.suppress(OSError):  # OSError: the amphora was just deleted
                keepalived.set_track(amp.kpaths, False)
        self._wake.set()

    def _carry_counters(self, amp: _Amphora) -> None:
        """Read the current worker's counters right before it is replaced."""
        with amp.counters.lock:
            try:
                amp.counters.observe(haproxy_stats.read(str(amp.paths.stats_socket)))
            except AgentFailure as exc:
                LOG.info("amphora %s: counters not carried: %s", amp.plug.amphora_id, exc.message)

    def _apply_firewall(self, amp: _Amphora, spec: AmphoraSpec) -> None:
        ruleset = firewall.render_ruleset(spec)
        if ruleset == amp.firewall_loaded and netns.namespace_exists(amp.names.namespace):
            return
        amp.firewall_loaded = None
        try:
            firewall.apply_ruleset(amp.names.namespace, amp.directory / "nftables.conf", ruleset)
        except AgentFailure as exc:
            raise InvalidConfig("nftables refused the allowed_cidrs rules", exc.details) from exc
        amp.firewall_loaded = ruleset

    def _run_plan(self, amp: _Amphora, plan: runtime_update.RuntimePlan) -> bool:
        """Apply server changes at runtime; False means "reload instead"."""
        sock = str(amp.paths.stats_socket)
        try:
            for command in plan.add:
                answer = haproxy_runtime.send(sock, command).strip()
                if answer and "registered" not in answer:
                    LOG.info("runtime command %r refused: %s; reloading", command, answer)
                    return False
            for backend, server in plan.remove:
                haproxy_runtime.send(sock, f"set server {backend}/{server} state maint")
            deadline = time.monotonic() + self.settings.del_server_wait
            pending = list(plan.remove)
            while pending:
                backend, server = pending[0]
                answer = haproxy_runtime.send(sock, f"del server {backend}/{server}").strip()
                if "deleted" in answer.lower():
                    pending.pop(0)
                    continue
                if time.monotonic() > deadline:
                    LOG.info("del server %s/%s: %s; reloading", backend, server, answer)
                    return False
                time.sleep(0.1)
        except AgentFailure as exc:
            LOG.info("runtime update failed (%s); reloading", exc.message)
            return False
        return True

    def _restore_last_known_good(self, amp: _Amphora) -> None:
        paths = amp.paths
        lkg = paths.config.with_name("haproxy.cfg.lkg")
        failed = paths.config.with_name("haproxy.cfg.failed")
        shutil.copyfile(paths.config, failed)
        if not lkg.exists():
            haproxy_process.stop(paths)
            paths.config.unlink(missing_ok=True)
            return
        shutil.copyfile(lkg, paths.config)
        try:
            if haproxy_process.master_pid(paths) is None:
                haproxy_process.start(self.settings.haproxy_bin, amp.names.namespace, paths)
            else:
                haproxy_process.reload(paths)
        except AgentFailure as exc:
            LOG.error("restoring last-known-good config failed: %s", exc.message)
        if amp.spec is not None:
            self._apply_firewall(amp, amp.spec)
        self._watch_haproxy(amp)
        self._sync_track(amp)

    # ----------------------------------------------------------------- supervision

    def _supervise(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.respawn_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                amps = list(self._amphorae.values())
            for amp in amps:
                if not amp.lock.acquire(blocking=False):
                    continue
                try:
                    self._check_one(amp)
                except Exception:  # the supervisor must outlive any single failure
                    LOG.exception("supervising amphora %s", amp.plug.amphora_id)
                finally:
                    amp.lock.release()

    def _check_one(self, amp: _Amphora) -> None:
        if amp.spec is None or not amp.paths.config.exists():
            return
        if not self.settings.rebuild_lost_namespaces:
            if not netns.namespace_exists(amp.names.namespace):
                if not amp.lost:
                    LOG.error(
                        "amphora %s lost its namespace %s; leaving it to failover",
                        amp.plug.amphora_id,
                        amp.names.namespace,
                    )
                amp.lost = True
                return
            amp.lost = False
        try:
            self._respawn_haproxy(amp, amp.spec)
        finally:
            self._sync_track(amp)
            if (
                amp.vrrp
                and self._keepalived_may_restart(amp)
                and self._may_respawn(amp.keepalived_respawns, "keepalived", amp, True)
            ):
                self._ensure_keepalived(amp)

    def _keepalived_may_restart(self, amp: _Amphora) -> bool:
        """True when a dead keepalived should be started again now.

        A keepalived killed while MASTER leaves the VIP configured (haproxy keeps
        serving it) and a new one would start by removing it: wait until the peer has
        had time to notice the silence and take over (4 adverts), then restart."""
        if keepalived.running_pid(amp.kpaths) is not None:
            amp.keepalived_dead_since = None
            return False
        now = time.monotonic()
        if amp.keepalived_dead_since is None:
            amp.keepalived_dead_since = now
        assert amp.spec is not None and amp.spec.vrrp is not None
        was_master = keepalived.last_reported(amp.kpaths) == VrrpState.MASTER
        grace = 4 * amp.spec.vrrp.advert_interval + 0.05 if was_master else 0.0
        waited = now - amp.keepalived_dead_since
        if waited < grace:
            timer = threading.Timer(grace - waited, self._wake.set)
            timer.daemon = True
            timer.start()
            return False
        amp.keepalived_dead_since = None
        return True

    def _may_respawn(
        self, history: MutableSequence[float], what: str, amp: _Amphora, dead: bool
    ) -> bool:
        """Whether a dead process may be respawned now (and count it if so)."""
        if not dead:
            return False
        now = time.monotonic()
        history[:] = [t for t in history if now - t < self.settings.respawn_window]
        if len(history) >= self.settings.respawn_count:
            return False
        history.append(now)
        LOG.warning("%s of amphora %s is not running; respawning", what, amp.plug.amphora_id)
        return True

    def _respawn_haproxy(self, amp: _Amphora, spec: AmphoraSpec) -> None:
        if not self._may_respawn(
            amp.respawns, "haproxy", amp, haproxy_process.master_pid(amp.paths) is None
        ):
            return
        amp.total_respawns += 1
        if not netns.namespace_exists(amp.names.namespace):
            netns.ensure_amphora(amp.names, amp.plug)
            self._apply_firewall(amp, spec)
        haproxy_process.stop(amp.paths)
        haproxy_process.start(self.settings.haproxy_bin, amp.names.namespace, amp.paths)
        self._watch_haproxy(amp)

    def sweep(self) -> tuple[str, ...]:
        """Remove what this agent's prefix owns but no amphora of it needs: namespaces,
        haproxy processes of unknown amphora directories, those directories. Returns a
        description of each thing removed (housekeeping reports it)."""
        namespaces = netns.list_namespaces()
        with self._lock:  # registered before anything is created: no race with ensure()
            known = {a.names.namespace for a in self._amphorae.values()}
        removed: list[str] = []
        probe = self._names(ZERO_ID)
        for ns in namespaces:
            if probe.owns_namespace(ns) and ns not in known:
                haproxy_process.kill_namespace_processes(ns)
                netns.delete_namespace(ns)
                removed.append(f"namespace {ns}")
        for directory in sorted(self.root.iterdir()):
            if directory.name in known or not probe.owns_namespace(directory.name):
                continue
            kpaths = KeepalivedPaths.in_dir(directory)
            if keepalived.pids_for_config(kpaths):
                keepalived.stop(kpaths)
                removed.append(f"keepalived {kpaths.config}")
            pids = haproxy_process.pids_for_config(directory / "haproxy.cfg")
            if pids:
                haproxy_process.stop(
                    _Amphora(self._names(ZERO_ID), directory, _placeholder_plug(ZERO_ID)).paths
                )
                removed.append(f"haproxy {directory / 'haproxy.cfg'} (pids {pids})")
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(f"state directory {directory}")
        for item in removed:
            LOG.warning("sweep removed %s", item)
        return tuple(removed)

    def describe(self) -> dict[str, Any]:
        return {"amphorae": len(self._amphorae), "prefix": self.settings.name_prefix}


def _placeholder_plug(amphora_id: str) -> AmphoraPlug:
    """A plug used only to compute file paths of an amphora we know nothing else about."""
    return AmphoraPlug.model_validate(
        {
            "amphora_id": amphora_id,
            "loadbalancer_id": amphora_id,
            "vip": {"network_id": "x", "bridge": "x", "address": "0.0.0.0", "prefixlen": 0},
        }
    )
