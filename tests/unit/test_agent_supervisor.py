"""The local agent is restarted when it dies (its amphorae keep serving meanwhile)."""

from __future__ import annotations

import subprocess
import sys
import time

from ostium.agent.main import AgentProcess
from ostium.control.netns_setup import AgentSupervisor


def _sleeper() -> AgentProcess:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    return AgentProcess(proc, "https://127.0.0.1:1", None)


def test_dead_agent_is_restarted_and_stop_ends_it() -> None:
    sup = AgentSupervisor(_sleeper, interval=0.05)
    first = sup.agent
    try:
        first.process.kill()
        deadline = time.monotonic() + 5
        while sup.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sup.restarts == 1 and sup.agent is not first and sup.agent.alive()
    finally:
        sup.stop()
    assert not sup.agent.alive()
    time.sleep(0.2)
    assert sup.restarts == 1  # stopped on purpose: not restarted
