"""One amphora as the agent knows it: its names, its files, and what this process
remembers about it.

Role: the record every part of the agent passes around (`registry` keeps them,
`applying`, `supervising`, `amphora_keepalived`, `sweeping` act on them) and the layout
of an amphora's directory under `<state_dir>/amphorae/<namespace>/`: plug.json,
spec.json (last applied spec), haproxy.cfg (+ .new while checked, .failed when refused,
.lkg = last known good), sockets, pid files, nftables rules, logs, keepalived files.
Pure data and paths: no process is started and no file is written here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ostium.agent.counters import CounterCarry
from ostium.agent.haproxy_process import HaproxyPaths
from ostium.agent.keepalived import KeepalivedPaths
from ostium.agent.naming import Names
from ostium.agent.nftables.ruleset import Ruleset
from ostium.model.spec import AmphoraPlug, AmphoraSpec


def haproxy_paths(directory: Path) -> HaproxyPaths:
    """Where haproxy's files of the amphora kept in `directory` are."""
    return HaproxyPaths(
        config=directory / "haproxy.cfg",
        pidfile=directory / "haproxy.pid",
        stats_socket=directory / "stats.sock",
        log=directory / "haproxy.log",
    )


@dataclass
class Amphora:
    names: Names
    directory: Path
    plug: AmphoraPlug
    spec: AmphoraSpec | None = None
    """The last spec applied (None before the first one)."""
    lock: threading.RLock = field(default_factory=threading.RLock)
    """Held while anything changes this amphora (apply, delete, supervision pass)."""
    view: dict[str, Any] | None = None
    """The haproxy view `spec` was rendered from in this process (None after a restart:
    rebuilt once, when the next apply needs to compare)."""
    respawns: list[float] = field(default_factory=list)
    total_respawns: int = 0
    keepalived_respawns: list[float] = field(default_factory=list)
    keepalived_dead_since: float | None = None
    lost: bool = False
    plumbed: AmphoraPlug | None = None
    """The last plug fully ensured by this process (fast path for repeated ensures)."""
    firewall_loaded: str | None = None
    """The nftables ruleset this process last loaded into the namespace."""
    lvs_loaded: Ruleset | None = None
    """That ruleset as loaded (its UDP/SCTP services and persistence maps)."""
    lvs_verdicts: dict[str, bool] = field(default_factory=dict)
    """UDP/SCTP members' health by member id (False: down); unknown means up."""
    lvs_loads: dict[str, int] = field(default_factory=dict)
    """Active flows per member of LEAST_CONNECTIONS UDP/SCTP pools (from conntrack)."""
    plumbing_repairs: int = 0
    plumbing_fault: str | None = None
    """The last lost piece of plumbing found and what became of it (`repairing`)."""

    @cached_property
    def counters(self) -> CounterCarry:
        return CounterCarry(self.directory / "counters.json")

    @property
    def amphora_id(self) -> str:
        return self.plug.amphora_id

    # Made once: the heartbeat round, the supervisor's pass and the checker's tick ask
    # every amphora for them every few seconds (pathlib objects are not cheap).
    @cached_property
    def paths(self) -> HaproxyPaths:
        return haproxy_paths(self.directory)

    @cached_property
    def kpaths(self) -> KeepalivedPaths:
        return KeepalivedPaths.in_dir(self.directory)

    @property
    def vrrp(self) -> bool:
        return self.spec is not None and self.spec.vrrp is not None

    @property
    def config_lkg(self) -> Path:
        return self.directory / "haproxy.cfg.lkg"

    @property
    def config_failed(self) -> Path:
        return self.directory / "haproxy.cfg.failed"

    @property
    def config_candidate(self) -> Path:
        return self.directory / "haproxy.cfg.new"


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
    spec: AmphoraSpec | None = None
    """The applied spec (its UDP/SCTP listeners are reported from nftables)."""
    lvs_verdicts: dict[str, bool] = field(default_factory=dict)
    """A copy of the UDP/SCTP members' health verdicts."""
