"""Start, find, reload and stop one master-worker haproxy inside an amphora namespace.

Role: process lifecycle only. Callers: `applying`, `supervising`, `amphorae` (delete),
`sweeping`.
haproxy runs as `ip netns exec <ns> haproxy -W -D -S <master.sock> -p <pidfile> -f
<cfg>`: daemonised in its own session so it keeps serving while the agent restarts;
the master pid (from the pidfile, checked against /proc cmdline) is what we supervise.
Reloads go through the master CLI (`reload`); listening sockets pass to the new worker
(`expose-fd listeners` on the stats socket), so no connection is refused.

Must not render configs (that is `render`); `check_config` only runs `haproxy -c`.
Subprocess errors become `CommandFailed` or `AgentFailure` here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ostium.agent import haproxy_runtime
from ostium.agent.commands import in_netns, run
from ostium.agent.errors import AgentFailure, CommandFailed, InvalidConfig

LOG = logging.getLogger(__name__)
POLL = 0.002
"""Seconds between two looks at the master CLI while haproxy starts or reloads (each
look is one local socket round trip; every API change that reloads waits on this)."""


@dataclass(frozen=True)
class HaproxyPaths:
    config: Path
    pidfile: Path
    master_socket: Path
    stats_socket: Path
    log: Path


def check_config(haproxy_bin: str, config: Path) -> None:
    """`haproxy -c`; raises `InvalidConfig` with haproxy's messages."""
    proc = run([haproxy_bin, "-c", "-f", str(config)], check=False)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
        raise InvalidConfig("haproxy refused the rendered configuration", lines[-60:])


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def pids_for_config(config: Path) -> list[int]:
    """Every live haproxy process (master or worker) started with `config`."""
    found: list[int] = []
    needle = f"-f {config}"
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            pid = int(entry)
            if needle in _cmdline(pid) and _proc_state(pid) not in (None, "Z"):
                found.append(pid)
    return found


def master_pid(paths: HaproxyPaths) -> int | None:
    """The running master's pid, or None if haproxy for this config is not running."""
    try:
        pid = int(paths.pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if _proc_state(pid) in (None, "Z") or f"-f {paths.config}" not in _cmdline(pid):
        return None
    return pid


def start(haproxy_bin: str, namespace: str, paths: HaproxyPaths, timeout: float = 10.0) -> int:
    """Start haproxy; return the master pid once its master CLI answers."""
    argv = in_netns(
        namespace,
        [
            haproxy_bin,
            "-W",
            "-D",
            "-S",
            str(paths.master_socket),
            "-p",
            str(paths.pidfile),
            "-f",
            str(paths.config),
        ],
    )
    try:
        paths.pidfile.unlink(missing_ok=True)
        with paths.log.open("ab") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
            rc = proc.wait(timeout=timeout)  # -D: returns once the master daemonised
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandFailed(f"could not start haproxy in {namespace}: {exc}") from exc
    if rc != 0:
        raise AgentFailure(
            f"haproxy failed to start in {namespace} (exit {rc})",
            {"log": _tail(paths.log)},
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = master_pid(paths)
        if pid is not None:
            try:
                info = haproxy_runtime.show_proc(str(paths.master_socket))
                if info.workers:
                    return pid
            except AgentFailure:
                pass
        time.sleep(POLL)
    raise AgentFailure(f"haproxy in {namespace} did not come up", {"log": _tail(paths.log)})


def reload(paths: HaproxyPaths, timeout: float = 15.0) -> None:
    """Seamless reload through the master CLI; raises `AgentFailure` if it failed."""
    before = haproxy_runtime.show_proc(str(paths.master_socket))
    # The master closes the CLI connection when it re-executes: no answer is expected.
    with contextlib.suppress(AgentFailure):
        haproxy_runtime.send(str(paths.master_socket), "reload", timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(POLL)
        try:
            info = haproxy_runtime.show_proc(str(paths.master_socket))
        except AgentFailure:
            continue
        if info.reloads > before.reloads:
            new_workers = [p for p, n in info.workers.items() if n == 0 and p not in before.workers]
            if info.failed_reloads > before.failed_reloads or not new_workers:
                raise AgentFailure("haproxy reload failed", {"log": _tail(paths.log)})
            return
    raise AgentFailure("haproxy reload did not complete in time", {"log": _tail(paths.log)})


def stop(paths: HaproxyPaths, timeout: float = 5.0) -> None:
    """Stop master and workers (SIGTERM, then SIGKILL); fine if nothing runs."""
    pids = pids_for_config(paths.config)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pids_for_config(paths.config):
        time.sleep(0.05)
    for pid in pids_for_config(paths.config):
        _signal(pid, signal.SIGKILL)


def kill_namespace_processes(namespace: str) -> None:
    """SIGKILL whatever still runs inside `namespace` (after a graceful stop)."""
    proc = run(["ip", "netns", "pids", namespace], check=False)
    for word in proc.stdout.split():
        if word.isdigit():
            _signal(int(word), signal.SIGKILL)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _tail(path: Path, lines: int = 30) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []
