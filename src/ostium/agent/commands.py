"""Run host commands (ip, nft, haproxy, sysctl) and translate their failures once.

Role: the only place the agent starts short-lived subprocesses. Callers: `netns`,
`firewall`, `haproxy_process`. Commands are argument lists, never shell strings, so
nothing a user sends can reach a shell. Long-running processes are not started here.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence

from ostium.agent.errors import CommandFailed

LOG = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 30.0


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    input_text: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run `argv`; raise `CommandFailed` (with stderr lines) if it fails and `check`."""
    try:
        proc = subprocess.run(
            list(argv),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandFailed(f"could not run {argv[0]!r}: {exc}", {"argv": list(argv)}) from exc
    if check and proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        LOG.warning("command failed rc=%s: %s: %s", proc.returncode, " ".join(argv), lines[-5:])
        raise CommandFailed(
            f"{' '.join(argv[:4])} exited with {proc.returncode}",
            {"argv": list(argv), "output": lines[-40:]},
        )
    return proc


def in_netns(namespace: str, argv: Sequence[str]) -> list[str]:
    """`argv` wrapped to run inside network namespace `namespace` (only the network
    namespace: `nsenter --net`, ~3 ms, where `ip netns exec` also makes a mount
    namespace and mounts the namespace's own /sys, ~13 ms; haproxy, nft, sysctl and
    conntrack need none of that)."""
    if argv and argv[0] == "ip":  # `ip -n` switches by itself: one exec less (~4 ms)
        return ["ip", "-n", namespace, *argv[1:]]
    return ["nsenter", f"--net=/run/netns/{namespace}", "--", *argv]


def in_netns_with_sysfs(namespace: str, argv: Sequence[str]) -> list[str]:
    """`ip netns exec`: for programs that may read the namespace's interfaces in /sys
    (keepalived)."""
    return ["ip", "netns", "exec", namespace, *argv]
