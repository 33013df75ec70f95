"""The agent's health checker for UDP/SCTP pools: verdicts into the nftables table.

Role: one thread for the agent (`LvsChecker`). Every `TICK` it looks at the amphorae's
applied specs, and runs, for every enabled member of a monitored UDP/SCTP pool, one
check every `delay` seconds (`checks.run_check`, at the member's monitor_address /
monitor_port when set). A UDP-CONNECT check also fails when the member refused one of
the balanced flows lately (see `ruleset.UNREACHABLE`). `max_retries_down` failures in
a row mark a member down, `max_retries` successes in a row mark it up again (haproxy's
fall and rise); a member not checked yet counts as up, as haproxy's servers start.
A verdict that changes is written into the amphora's `lvs_verdicts` and the table is
reloaded at once under the amphora's lock (`firewall.ensure_loaded`), so a member
leaves or rejoins the maps within one check of its verdict; the heartbeat reports it
(`statistics`). Every `LOADS_EVERY` seconds it also counts the flows of
LEAST_CONNECTIONS members in conntrack and reloads the table when their shares change.

Checks run in a pool of threads per amphora, each of which entered the amphora's
network namespace once (`setns`, which moves only the calling thread). Time and sleep
are injected. Must not import the control plane.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from ostium.agent import firewall
from ostium.agent.amphora import Amphora
from ostium.agent.errors import AgentFailure
from ostium.agent.nftables import checks, statistics
from ostium.agent.nftables.services import monitored, served
from ostium.agent.registry import AmphoraRegistry
from ostium.agent.setns import enter_namespace
from ostium.model.enums import HealthMonitorType, LbAlgorithm
from ostium.model.spec import AmphoraSpec, HealthMonitorSpec, MemberSpec

LOG = logging.getLogger(__name__)
TICK = 0.2
"""Seconds between two looks at what is due."""
LOADS_EVERY = 1.0
"""Seconds between two conntrack counts for LEAST_CONNECTIONS pools."""
WORKERS = 16
"""Checks in flight at once per amphora."""


_Key = tuple[str, str, str]
"""(pool id, member id, check target)."""
_Wanted = tuple[HealthMonitorSpec, MemberSpec]


@dataclass
class _MemberState:
    next_due: float
    successes: int = 0
    failures: int = 0
    running: Future[bool] | None = None
    refused: bool = False
    """UDP-CONNECT: the member refused a balanced flow lately (ICMP seen by nftables)."""


@dataclass
class _AmphoraChecks:
    namespace: str
    executor: ThreadPoolExecutor
    members: dict[_Key, _MemberState] = field(default_factory=dict)
    """(pool id, member id, target) -> state."""


class LvsChecker:
    def __init__(
        self,
        registry: AmphoraRegistry,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self._stop = threading.Event()
        self.sleep = sleep or self._stop.wait
        self._amphorae: dict[str, _AmphoraChecks] = {}
        self._wanted: dict[str, tuple[AmphoraSpec, dict[_Key, _Wanted]]] = {}
        """Amphora -> the spec its checks were worked out from, and those checks: a
        spec changes only on an apply, while every registry change makes
        `_to_look_at` ask again for every amphora of the host."""
        self._next_loads = 0.0
        self._seen_changes = -1
        self._busy: list[Amphora] = []
        """The amphorae with UDP/SCTP work (checks, or flows to count), as of
        `_seen_changes` of the registry."""
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="lvs-checks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for checks_ in self._amphorae.values():
            checks_.executor.shutdown(wait=False, cancel_futures=True)
        self._amphorae.clear()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the checker must outlive any single failure
                LOG.exception("UDP/SCTP health check round failed")
            self.sleep(TICK)

    # ----------------------------------------------------------------- one tick

    def tick(self) -> None:
        live: set[str] = set()
        refresh_loads = self.clock() >= self._next_loads
        if refresh_loads:
            self._next_loads = self.clock() + LOADS_EVERY
        for amp in self._to_look_at():
            spec = amp.spec
            if spec is None or amp.lost:
                continue
            if refresh_loads:
                self._refresh_loads(amp)
            wanted = self._checks_of(amp.amphora_id, spec)
            if not wanted:
                continue
            live.add(amp.amphora_id)
            state = self._amphorae.get(amp.amphora_id)
            if state is None:
                namespace = amp.names.namespace
                executor = ThreadPoolExecutor(
                    WORKERS,
                    thread_name_prefix=f"check-{namespace}",
                    initializer=enter_namespace,
                    initargs=(namespace,),
                )
                state = self._amphorae[amp.amphora_id] = _AmphoraChecks(namespace, executor)
            self._tick_amphora(amp, state, wanted)
        for gone in set(self._amphorae) - live:
            self._amphorae.pop(gone).executor.shutdown(wait=False, cancel_futures=True)
        if len(self._wanted) > len(self.registry):
            present = {amp.amphora_id for amp in self.registry.all()}
            for gone in set(self._wanted) - present:
                del self._wanted[gone]

    def _to_look_at(self) -> list[Amphora]:
        """The amphorae with UDP/SCTP work, worked out again only when the registry
        changed (an amphora added or removed, a spec applied): most hosts have a
        thousand HTTP amphorae and none of this work."""
        changes = self.registry.changes  # before the walk: a change during it shows next
        if changes != self._seen_changes:
            self._busy = [
                amp
                for amp in self.registry.all()
                if amp.spec is not None
                and (self._checks_of(amp.amphora_id, amp.spec) or _counts_flows(amp))
            ]
            self._seen_changes = changes
        return self._busy

    def _checks_of(self, amphora_id: str, spec: AmphoraSpec) -> dict[_Key, _Wanted]:
        """The member checks `spec` asks for (worked out again only when it changed)."""
        known = self._wanted.get(amphora_id)
        if known is not None and known[0] is spec:
            return known[1]
        wanted = {
            (pool.id, m.id, _target(m)): (pool.healthmonitor, m)
            for _listener, pool in served(spec)
            if monitored(pool) and pool.healthmonitor is not None
            for m in pool.members
            if m.admin_state_up
        }
        self._wanted[amphora_id] = (spec, wanted)
        return wanted

    def _refresh_loads(self, amp: Amphora) -> None:
        """LEAST_CONNECTIONS: new flows follow the members' conntrack counts."""
        loaded = amp.lvs_loaded
        lc = [
            s
            for s in (loaded.services if loaded is not None else ())
            if s.algorithm == LbAlgorithm.LEAST_CONNECTIONS
        ]
        if not lc:
            return
        try:
            flows = statistics.member_flows(amp.names.namespace)
        except AgentFailure as exc:
            LOG.info("amphora %s: conntrack unreadable: %s", amp.amphora_id, exc.message)
            return
        loads = {
            t.member_id: flows.get((s.mark, str(t.address), t.port), 0) for s in lc for t in s.slots
        }
        if loads == amp.lvs_loads:
            return
        with amp.lock:
            amp.lvs_loads = loads
            if amp.spec is not None and not amp.lost:
                try:
                    firewall.ensure_loaded(amp, amp.spec)  # a no-op when the slots stay
                except AgentFailure as exc:
                    LOG.error("amphora %s: %s", amp.amphora_id, exc.message)

    def _tick_amphora(
        self,
        amp: Amphora,
        state: _AmphoraChecks,
        wanted: dict[_Key, _Wanted],
    ) -> None:
        now = self.clock()
        for key in set(state.members) - set(wanted):
            del state.members[key]
        changed = False
        refused: set[tuple[str, int]] | None = None  # read once per tick, when needed
        for key, (hm, member) in wanted.items():
            ms = state.members.get(key)
            if ms is None:
                ms = state.members[key] = _MemberState(next_due=now)
            if ms.running is not None:
                if not ms.running.done():
                    continue
                try:
                    ok = ms.running.result()
                except Exception as exc:  # e.g. setns refused: the member is not reachable
                    LOG.info("amphora %s: check of %s failed: %s", amp.amphora_id, member.id, exc)
                    ok = False
                ms.running = None
                changed |= self._record(amp, hm, member, ms, ok and not ms.refused)
            if now >= ms.next_due:
                ms.next_due = now + max(hm.delay, 1)
                if hm.type == HealthMonitorType.UDP_CONNECT:
                    if refused is None:
                        refused = statistics.unreachable(state.namespace)
                    ms.refused = (str(member.address), member.protocol_port) in refused
                address, port = _address(member), member.monitor_port or member.protocol_port
                ms.running = state.executor.submit(checks.run_check, hm, address, port)
        if changed:
            with amp.lock:
                if amp.spec is not None and not amp.lost:
                    try:
                        firewall.ensure_loaded(amp, amp.spec)
                    except AgentFailure as exc:
                        LOG.error("amphora %s: %s", amp.amphora_id, exc.message)

    def _record(
        self, amp: Amphora, hm: HealthMonitorSpec, member: MemberSpec, ms: _MemberState, ok: bool
    ) -> bool:
        """Count one result; True when the member's verdict changed."""
        if ok:
            ms.successes, ms.failures = ms.successes + 1, 0
        else:
            ms.successes, ms.failures = 0, ms.failures + 1
        current = amp.lvs_verdicts.get(member.id, True)
        if current and ms.failures >= hm.max_retries_down:
            verdict = False
        elif not current and ms.successes >= hm.max_retries:
            verdict = True
        else:
            return False
        amp.lvs_verdicts = {**amp.lvs_verdicts, member.id: verdict}  # readers copy it unlocked
        LOG.info(
            "amphora %s: member %s %s",
            amp.amphora_id,
            member.id,
            "up" if verdict else f"down after {ms.failures} failed checks",
        )
        return True


def _address(member: MemberSpec) -> str:
    return str(member.monitor_address or member.address)


def _counts_flows(amp: Amphora) -> bool:
    """Whether the amphora's loaded table has LEAST_CONNECTIONS services."""
    loaded = amp.lvs_loaded
    return loaded is not None and any(
        s.algorithm == LbAlgorithm.LEAST_CONNECTIONS for s in loaded.services
    )


def _target(member: MemberSpec) -> str:
    return f"{_address(member)}:{member.monitor_port or member.protocol_port}"
