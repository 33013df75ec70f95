"""The agent's settings: one typed group, built once by `main` and passed down.

Role: what the amphora manager and its parts need to know about this host's agent
(state directory, name prefix, binaries, supervision limits). Callers: `main` builds it
from the command line, tests build it directly. Nothing here reads the environment or
files: settings are never read at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ostium.agent.naming import DEFAULT_PREFIX


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
    access_logs: bool = False
    """haproxy sends access-log lines to the agent (`access_logs`), which forwards them."""
    user_log_facility: int = 0
    """Syslog facility (local0..local7) of the access log lines."""
    rebuild_lost_namespaces: bool = True
    """Recreate an amphora whose namespace vanished. False when heartbeats go to a
    health manager: a lost amphora then goes silent and is failed over instead."""
