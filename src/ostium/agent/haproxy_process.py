"""Start, find, reload and stop the one haproxy process of an amphora namespace.

Role: process lifecycle only. Callers: `applying`, `supervising`, `amphorae` (delete),
`sweeping`.
haproxy runs as ONE daemonised process per amphora (`ip netns exec <ns> haproxy -D -p
<pidfile> -f <cfg>`), not master + worker: a master is a second copy of the parsed
configuration (~2 MB private memory per load balancer) that only relays reloads. The pid
in the pidfile (checked against /proc cmdline) is what we supervise.
A reload starts a new process with `-x <stats socket>`: it takes the listening sockets
of the running one (`expose-fd listeners` on the stats socket), so the kernel's accept
queues carry over and no connection is refused; once it runs, the pidfile names it and
the old process gets SIGUSR1 (soft stop: it stops accepting and exits when its last
connection ends). A new process that refuses the file exits before it touches anything,
and the old one keeps serving: the reload is the validation.

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

from ostium.agent import procfs
from ostium.agent.commands import in_netns, run
from ostium.agent.errors import AgentFailure, CommandFailed, InvalidConfig

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class HaproxyPaths:
    config: Path
    pidfile: Path
    stats_socket: Path
    log: Path


def check_config(haproxy_bin: str, config: Path) -> None:
    """`haproxy -c`; raises `InvalidConfig` with haproxy's messages."""
    proc = run([haproxy_bin, "-c", "-f", str(config)], check=False)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
        raise InvalidConfig("haproxy refused the rendered configuration", lines[-60:])


def pids_for_config(config: Path) -> list[int]:
    """Every live haproxy process started with `config` (old ones still finishing their
    connections after a reload included)."""
    found: list[int] = []
    needle = f"-f {config}"
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            pid = int(entry)
            if needle in procfs.cmdline(pid) and procfs.alive(pid):
                found.append(pid)
    return found


def master_pid(paths: HaproxyPaths) -> int | None:
    """The serving haproxy's pid (from the pidfile), or None if it is not running."""
    try:
        with open(paths.pidfile, "rb") as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if not procfs.alive(pid) or f"-f {paths.config}" not in procfs.cmdline(pid):
        return None
    return pid


def start(haproxy_bin: str, namespace: str, paths: HaproxyPaths, timeout: float = 10.0) -> int:
    """Start haproxy; return its pid once it listens (its stats socket included)."""
    paths.pidfile.unlink(missing_ok=True)
    return _launch(haproxy_bin, namespace, paths, [], timeout)


def reload(haproxy_bin: str, namespace: str, paths: HaproxyPaths, timeout: float = 15.0) -> int:
    """Seamless reload: a new process with the listening sockets of the running one,
    then a soft stop of the old one; the new pid. Raises `AgentFailure` (the old process
    still serving) if the new one refused the configuration or could not start."""
    old = master_pid(paths)
    inherit = ["-x", str(paths.stats_socket)] if old is not None else []
    new = _launch(haproxy_bin, namespace, paths, inherit, timeout)
    if old is not None and old != new:
        _signal(old, signal.SIGUSR1)  # soft stop: finish the connections it holds
        _wait_listeners_released(old)
    return new


def _listening_inodes(pid: int) -> set[str]:
    """Inodes of the TCP sockets in LISTEN state in `pid`'s network namespace."""
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == "0A":
                    found.add(fields[9])
    return found


def holds_listeners(pid: int) -> bool:
    """Whether `pid` still has one of its namespace's listening sockets open (it may
    accept new connections)."""
    listening = _listening_inodes(pid)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:[") and target[8:-1] in listening:
                return True
    return False


def _wait_listeners_released(pid: int, timeout: float = 2.0) -> None:
    """Return once the old process of a reload has closed its copies of the listening
    sockets (it handles SIGUSR1 on its next loop turn): until then it still accepts new
    connections under the old configuration, with balancing state of its own (a
    least-connections pool would not count the new process's connections). Bounded: a
    process that never lets go only delays the answer."""
    deadline = time.monotonic() + timeout
    while holds_listeners(pid) and time.monotonic() < deadline:
        time.sleep(0.002)


def _launch(
    haproxy_bin: str, namespace: str, paths: HaproxyPaths, extra: list[str], timeout: float
) -> int:
    """Run `haproxy -D` until it has daemonised (its listeners are bound then), and only
    then point the pidfile at the new process (the old pid stays in it meanwhile, so
    nothing ever sees "no haproxy" during a reload)."""
    pending = paths.pidfile.with_name(paths.pidfile.name + ".new")
    argv = in_netns(
        namespace,
        [haproxy_bin, "-D", "-p", str(pending), *extra, "-f", str(paths.config)],
    )
    try:
        pending.unlink(missing_ok=True)
        with paths.log.open("ab") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
            rc = proc.wait(timeout=timeout)  # -D: returns once the process daemonised
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandFailed(f"could not start haproxy in {namespace}: {exc}") from exc
    if rc != 0:
        pending.unlink(missing_ok=True)
        what = "reload" if extra else "start"
        raise AgentFailure(
            f"haproxy {what} failed in {namespace} (exit {rc})", {"log": _tail(paths.log)}
        )
    try:
        pid = int(pending.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pid = 0
    if not pid or not procfs.alive(pid):
        raise AgentFailure(f"haproxy in {namespace} did not come up", {"log": _tail(paths.log)})
    os.replace(pending, paths.pidfile)
    return pid


def stop(paths: HaproxyPaths, timeout: float = 5.0) -> None:
    """Stop every process of this config (SIGTERM, then SIGKILL); fine if none runs.

    One scan of /proc finds them (its cost grows with the processes on the host, one
    per amphora); then only those are watched. None can start meanwhile: the callers
    hold the amphora's lock."""
    pids = pids_for_config(paths.config)
    if not pids:
        return
    needle = f"-f {paths.config}"

    def running() -> list[int]:
        return [p for p in pids if procfs.alive(p) and needle in procfs.cmdline(p)]

    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running():
        time.sleep(0.01)
    for pid in running():
        _signal(pid, signal.SIGKILL)


def stop_leftovers(paths: HaproxyPaths) -> None:
    """Before a start: stop what may still run with this config (old processes finishing
    their connections after the serving one died). Without a pidfile haproxy never ran
    here (a new amphora): nothing to look for, and no scan of /proc, whose cost grows
    with the number of processes on the host (one per amphora)."""
    if paths.pidfile.exists():
        stop(paths)


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
