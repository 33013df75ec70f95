"""Start, find, reload and stop one keepalived (VRRP only) inside an amphora namespace.

Role: process lifecycle and the small files around it. Callers: `amphora_keepalived`
(apply, adoption, supervision), `amphorae` and `sweeping` (stop), `heartbeat` (state).
keepalived runs as `ip netns exec <ns> keepalived -n -l -D -P -f <conf> -p <pid> -r
<vrrp pid>` in its own session, logging to `keepalived.log`, so it keeps holding (or
waiting for) the VIP while the agent restarts. Reload is SIGHUP (the instance keeps its
state); stop is SIGTERM, on which keepalived removes the VIP and sends a priority 0
advert so the peer takes over at once. A keepalived started over a VIP left behind by a
killed one starts as BACKUP and removes it.

Files in the amphora directory: `keepalived.conf` (+ `.new` while checked, `.failed`
when refused), pid files, `vrrp_check.sh` (asks haproxy's stats socket), `vrrp_notify.sh`
(writes each state change to `vrrp.state`), `haproxy.track` ("0" while haproxy runs,
"1" when the agent saw it exit: keepalived demotes the amphora at once).

Must not render configs (that is `keepalived_config`). Process and file errors become
`CommandFailed`, `AgentFailure` or `StateFileError` here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ostium.agent import procfs, state_files
from ostium.agent.commands import in_netns_with_sysfs, run
from ostium.agent.errors import AgentFailure, CommandFailed, InvalidConfig, StateFileError
from ostium.agent.keepalived_config import KeepalivedFiles
from ostium.model.enums import VrrpState

LOG = logging.getLogger(__name__)
POLL = 0.01
MAX_LOG = 1 << 20
"""keepalived.log is cut back to nothing when a keepalived starts over a bigger one."""


@dataclass(frozen=True)
class KeepalivedPaths:
    config: Path
    pidfile: Path
    vrrp_pidfile: Path
    log: Path
    state: Path
    track: Path
    check_script: Path
    notify_script: Path

    @classmethod
    def in_dir(cls, directory: Path) -> KeepalivedPaths:
        return cls(
            config=directory / "keepalived.conf",
            pidfile=directory / "keepalived.pid",
            vrrp_pidfile=directory / "keepalived.vrrp.pid",
            log=directory / "keepalived.log",
            state=directory / "vrrp.state",
            track=directory / "haproxy.track",
            check_script=directory / "vrrp_check.sh",
            notify_script=directory / "vrrp_notify.sh",
        )

    def files(self) -> KeepalivedFiles:
        return KeepalivedFiles(
            check_script=str(self.check_script),
            notify_script=str(self.notify_script),
            track_file=str(self.track),
        )


# --------------------------------------------------------------------------- scripts


def _check_script(stats_socket: Path) -> str:
    sock = shlex.quote(str(stats_socket))
    socat = shutil.which("socat")
    if socat is not None:
        ask = (
            f"printf 'show info\\n' | {shlex.quote(socat)} -T1 - UNIX-CONNECT:{sock} "
            "2>/dev/null | grep -q '^Pid:'"
        )
    else:  # slower (an interpreter per check) but needs nothing else installed
        code = (
            "import socket,sys;s=socket.socket(socket.AF_UNIX);s.settimeout(1);"
            "s.connect(sys.argv[1]);s.sendall(b'show info\\n');"
            "sys.exit(0 if b'Pid:' in s.recv(65536) else 1)"
        )
        ask = f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} {sock} 2>/dev/null"
    return (
        "#!/bin/sh\n# keepalived's periodic check: exit 0 only if haproxy answers on "
        f"its stats socket.\n{ask}\n"
    )


def _notify_script(state: Path) -> str:
    tmp, final = shlex.quote(str(state) + ".tmp"), shlex.quote(str(state))
    return (
        "#!/bin/sh\n# keepalived runs: vrrp_notify.sh INSTANCE|GROUP NAME STATE PRIORITY\n"
        f"printf '%s\\n' \"$3\" > {tmp} && mv -f {tmp} {final}\n"
    )


def _write_if_changed(path: Path, text: str, mode: int = 0o644) -> None:
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    state_files.write(tmp, text)
    try:
        tmp.chmod(mode)
    except OSError as exc:
        raise StateFileError(f"cannot chmod {tmp}: {exc}") from exc
    state_files.replace(tmp, path)


def write_scripts(paths: KeepalivedPaths, stats_socket: Path) -> None:
    """The check and notify scripts (root-owned, not writable by others)."""
    _write_if_changed(paths.check_script, _check_script(stats_socket), 0o755)
    _write_if_changed(paths.notify_script, _notify_script(paths.state), 0o755)


def set_track(paths: KeepalivedPaths, haproxy_ok: bool) -> None:
    """Tell keepalived whether haproxy runs ("0") or not ("1"); written only on change
    (keepalived rereads the file on every modification)."""
    _write_if_changed(paths.track, "0\n" if haproxy_ok else "1\n")


# --------------------------------------------------------------------------- processes


def _is_ours(pid: int, paths: KeepalivedPaths) -> bool:
    cmd = procfs.cmdline(pid)
    return "keepalived" in cmd and f"-f {paths.config} " in cmd + " " and procfs.alive(pid)


def running_pid(paths: KeepalivedPaths) -> int | None:
    """The keepalived parent's pid if it runs with this config, else None."""
    try:
        pid = int(paths.pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _is_ours(pid, paths) else None


def pids_for_config(paths: KeepalivedPaths) -> list[int]:
    """Every live keepalived process (parent or VRRP child) started with this config."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _is_ours(int(entry), paths):
            found.append(int(entry))
    return found


def check_config(keepalived_bin: str, namespace: str, candidate: Path) -> None:
    """`keepalived -t` inside the namespace (it checks the interfaces exist)."""
    proc = run(
        in_netns_with_sysfs(namespace, [keepalived_bin, "-t", "-f", str(candidate)]), check=False
    )
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
        raise InvalidConfig("keepalived refused the rendered configuration", lines[-40:])


def start(
    keepalived_bin: str, namespace: str, paths: KeepalivedPaths, timeout: float = 10.0
) -> int:
    """Start keepalived; return the parent's pid once its VRRP process runs."""
    for stale in (paths.pidfile, paths.vrrp_pidfile):
        stale.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        if paths.log.stat().st_size > MAX_LOG:
            paths.log.write_bytes(b"")
    argv = in_netns_with_sysfs(
        namespace,
        [
            keepalived_bin,
            "-n",
            "-l",
            "-D",
            "-P",
            "-f",
            str(paths.config),
            "-p",
            str(paths.pidfile),
            "-r",
            str(paths.vrrp_pidfile),
        ],
    )
    try:
        with paths.log.open("ab") as log:
            # Not waited for: Popen reaps it later if it exits while we run, init otherwise.
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
    except OSError as exc:
        raise CommandFailed(f"could not start keepalived in {namespace}: {exc}") from exc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AgentFailure(
                f"keepalived in {namespace} exited with {proc.returncode}",
                {"log": _tail(paths.log)},
            )
        pid = running_pid(paths)
        if pid is not None and _vrrp_child(paths) is not None:
            return pid
        time.sleep(POLL)
    raise AgentFailure(f"keepalived in {namespace} did not come up", {"log": _tail(paths.log)})


def _vrrp_child(paths: KeepalivedPaths) -> int | None:
    try:
        pid = int(paths.vrrp_pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if procfs.alive(pid) else None


def reload(paths: KeepalivedPaths) -> None:
    pid = running_pid(paths)
    if pid is None:
        raise AgentFailure("keepalived is not running: nothing to reload")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:  # died since running_pid looked
        raise AgentFailure(f"keepalived (pid {pid}) exited before its reload") from None


def stop(paths: KeepalivedPaths, timeout: float = 5.0, found: list[int] | None = None) -> None:
    """SIGTERM (keepalived gives the VIP up cleanly), then SIGKILL; fine if none runs.

    `found`: the processes a caller's scan of /proc found already. Otherwise, where
    keepalived never ran (no config, no pidfile: every SINGLE amphora) there is nothing
    to look for, and no scan; else one scan finds them. Only those are watched."""
    if found is None and not paths.config.exists() and not paths.pidfile.exists():
        paths.state.unlink(missing_ok=True)
        return
    pids = pids_for_config(paths) if found is None else found
    parent = running_pid(paths)
    for pid in [parent] if parent is not None else pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)

    def running() -> list[int]:
        return [p for p in pids if _is_ours(p, paths)]

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running():
        time.sleep(0.02)
    for pid in running():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    paths.state.unlink(missing_ok=True)


def last_reported(paths: KeepalivedPaths) -> VrrpState | None:
    """The last state keepalived wrote (whether or not it still runs)."""
    try:
        word = paths.state.read_text().strip()
    except OSError:
        return None
    return VrrpState(word) if word in VrrpState.__members__ else None


def current_state(paths: KeepalivedPaths) -> VrrpState:
    """What keepalived last reported, or STOP when it does not run."""
    if running_pid(paths) is None:
        return VrrpState.STOP
    # Started and no transition yet: every instance starts as BACKUP.
    return last_reported(paths) or VrrpState.BACKUP


def _tail(path: Path, lines: int = 30) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []
